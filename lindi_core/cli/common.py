"""What every command shares: opening whatever file the user names (an HDF5 file, a reference
file or a container, local or at a URL) as one h5py-like file, the options several commands
take, and where their output goes (``-`` is standard output; ``--quiet`` silences notes)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import urllib.parse
from collections.abc import Iterator
from typing import IO, Any

# Names that an HDF5 file at a URL goes by (a local file is recognised by its content).
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".nwb")


def names_hdf5(path_or_url: str) -> bool:
    """Whether ``path_or_url`` is an HDF5 file: a local file by its signature (h5py's check,
    which finds it after a user block too), a URL by its name."""
    from lindi_core.io.locations import is_url, name_of

    if is_url(path_or_url) or "://" in path_or_url:
        return name_of(path_or_url).lower().endswith(HDF5_SUFFIXES)
    if os.path.isdir(path_or_url):
        return False
    import h5py

    return os.path.isfile(path_or_url) and h5py.is_hdf5(path_or_url)


def reference_location(path_or_url: str) -> str:
    """Where the reference file of ``path_or_url`` is read from: a ``.lindi.d`` at a URL is
    its ``lindi.json`` (a web server lists no folders; the refs inside name the folder's files
    relative to it, so they resolve against the folder's URL), anything else is itself."""
    from lindi_core.format.lindi_tar import REFERENCE_NAME
    from lindi_core.io.folder_container import names_folder
    from lindi_core.io.locations import is_url, name_of

    if not (is_url(path_or_url) and names_folder(name_of(path_or_url))):
        return path_or_url
    parts = urllib.parse.urlsplit(path_or_url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + REFERENCE_NAME))


def open_file(path_or_url: str, timeout: float | None = None) -> Any:
    """The file as a read-only ``LindiH5pyFile``: an HDF5 file translated in memory, a reference
    file or a container (``.lindi.tar``, ``.lindi.d``) opened as it is."""
    from lindi_core import LindiH5pyFile

    if names_hdf5(path_or_url):
        return LindiH5pyFile.from_hdf5_file(path_or_url, timeout=timeout)
    return LindiH5pyFile.from_lindi_file(reference_location(path_or_url), timeout=timeout)


class Reporter:
    """Where a command's notes go: standard error, unless ``--quiet``."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def note(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr)


@contextlib.contextmanager
def output_stream(path: str, binary: bool = False) -> Iterator[IO]:
    """An output file, or standard output for ``-``."""
    if path == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    with open(path, "wb" if binary else "w") as f:
        yield f


def add_file_argument(p: argparse.ArgumentParser, help_text: str | None = None) -> None:
    p.add_argument("file", help=help_text or "an HDF5/NWB file, a .lindi.json, a .lindi.tar or a .lindi.d: a local "
                                             "path or an http(s) URL")


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=positive_seconds, default=None, metavar="SECONDS",
                        help="most seconds one read of a URL may take, retries included (default 60)")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value
    return parse
