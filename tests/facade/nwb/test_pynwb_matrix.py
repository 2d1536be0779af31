"""pynwb reads every translated NWB file through the facade exactly as it reads the HDF5 file.

For every builder in ``builders.BUILDERS`` and every way of opening the file, the test reads the
file directly from HDF5 with pynwb (the reference) and through the other route, snapshots both
reads in full with ``compare.snapshot`` and asserts they are identical, and that the route emits
no hdmf / pynwb warning the direct read does not. The routes:

* ``hdf5``: a second direct read (the comparison's own control: two direct reads are equal);
* ``facade_from_hdf5``: ``LindiH5pyFile.from_hdf5_file(path)`` (translated in memory);
* ``lindi_json``: a ``.lindi.json`` written by ``translate_to_file`` and opened with
  ``LindiH5pyFile.from_lindi_file(json_path)``;
* ``lindi_json_http``: the ``.nwb`` and its ``.lindi.json`` (translated from the served URL, so
  its chunk references name the HTTP URL) both served on 127.0.0.1, opened from the JSON's URL;
* ``lindi_json_http_all_chunks``: the same with nothing inlined and 64 KiB virtual chunks, so
  every dataset's bytes, not only the big ones, are range requests to the served ``.nwb``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import pynwb
import pytest

import lindi_core
from lindi_core import ChunkOptions
from tests.facade.nwb.builders import BUILDERS, build_all
from tests.facade.nwb.compare import ContainerSnapshot, assert_same, snapshot

SOURCES = ["hdf5", "facade_from_hdf5", "lindi_json", "lindi_json_http", "lindi_json_http_all_chunks"]
ALL_CHUNKS = ChunkOptions(inline_threshold=0, contiguous_chunk_target=64 * 1024)

# Warnings coming from these packages are compared between the direct read and the facade read.
WARNING_PACKAGES = ("hdmf", "pynwb")


@pytest.fixture(scope="module")
def nwb_folder(tmp_path_factory) -> Path:
    """Every builder's file, written once for the module."""
    folder = tmp_path_factory.mktemp("nwb_matrix")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # write-time warnings are not what this module checks
        build_all(folder)
    return folder


def open_direct(path: Path) -> Callable[[], contextlib.AbstractContextManager[pynwb.NWBHDF5IO]]:
    return lambda: pynwb.NWBHDF5IO(path, "r")


def open_through_facade(open_file: Callable[[], lindi_core.LindiH5pyFile]
                        ) -> Callable[[], contextlib.AbstractContextManager[pynwb.NWBHDF5IO]]:
    """An opener giving an ``NWBHDF5IO`` over the facade file ``open_file()`` returns."""

    @contextlib.contextmanager
    def opener() -> Iterator[pynwb.NWBHDF5IO]:
        with contextlib.closing(open_file()) as facade_file:
            with pynwb.NWBHDF5IO(file=facade_file, mode="r") as io:
                yield io

    return opener


def read_snapshot(opener: Callable[[], contextlib.AbstractContextManager[pynwb.NWBHDF5IO]]
                  ) -> tuple[dict[str, ContainerSnapshot], list[str]]:
    """Open, read and snapshot a file (everything, datasets in full), recording the hdmf / pynwb
    warnings emitted on the way as ``Category: message`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with opener() as io:
            result = snapshot(io.read())
    return result, [describe_warning(w) for w in caught if is_from_packages(w, WARNING_PACKAGES)]


def is_from_packages(warning: warnings.WarningMessage, packages: tuple[str, ...]) -> bool:
    """Whether the warning was raised in, or its category belongs to, one of ``packages``."""
    category_package = warning.category.__module__.split(".")[0]
    filename_parts = Path(warning.filename).parts
    return category_package in packages or any(package in filename_parts for package in packages)


def describe_warning(warning: warnings.WarningMessage) -> str:
    message = re.sub(r" at 0x[0-9a-fA-F]+", " at 0x…", str(warning.message))
    return f"{warning.category.__name__}: {message}"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("builder_name", list(BUILDERS))
def test_pynwb_reads_the_same_through_every_route(builder_name, source, nwb_folder, tmp_path, serve):
    path = nwb_folder / f"{builder_name}.nwb"
    if source == "hdf5":
        opener = open_direct(path)
    elif source == "facade_from_hdf5":
        opener = open_through_facade(lambda: lindi_core.LindiH5pyFile.from_hdf5_file(path))
    elif source == "lindi_json":
        json_path = tmp_path / f"{builder_name}.nwb.lindi.json"
        lindi_core.translate_to_file(path, json_path, progress=False)
        opener = open_through_facade(lambda: lindi_core.LindiH5pyFile.from_lindi_file(json_path))
    else:
        server = serve(nwb_folder)
        json_name = f"{builder_name}.{source}.{server.port}.nwb.lindi.json"
        options = ALL_CHUNKS if source == "lindi_json_http_all_chunks" else None
        rfs = lindi_core.translate_to_file(server.url_for(path.name), nwb_folder / json_name, progress=False,
                                           options=options)
        assert set(rfs.urls) <= {server.url_for(path.name)}
        has_chunk_references = bool(rfs.loose_refs) or any(len(table) for table in rfs.tables.values())
        server.stats.reset()
        json_url = server.url_for(json_name)
        opener = open_through_facade(lambda: lindi_core.LindiH5pyFile.from_lindi_file(json_url))

    expected, expected_warnings = read_snapshot(open_direct(path))
    actual, actual_warnings = read_snapshot(opener)

    assert_same(expected, actual)
    if source.startswith("lindi_json_http") and has_chunk_references:
        assert f"/{path.name}" in server.stats.paths, "chunks were not read over HTTP"
    new_warnings = Counter(actual_warnings) - Counter(expected_warnings)
    assert not new_warnings, f"warnings the direct HDF5 read does not emit: {sorted(new_warnings)}"


def test_warning_filter_keeps_hdmf_and_pynwb_warnings_only():
    def message(category, filename):
        return warnings.WarningMessage("text", category, filename, 1)

    assert is_from_packages(message(UserWarning, "/site-packages/hdmf/container.py"), WARNING_PACKAGES)
    assert is_from_packages(message(DeprecationWarning, "/site-packages/pynwb/core.py"), WARNING_PACKAGES)
    assert not is_from_packages(message(UserWarning, "/site-packages/zarr/core.py"), WARNING_PACKAGES)
    assert describe_warning(message(UserWarning, "x.py")) == "UserWarning: text"


def test_matrix_comparison_fails_when_the_facade_reads_something_else(nwb_folder, tmp_path):
    """Negative control: the facade reading a copy with one changed sample must not compare equal."""
    original = nwb_folder / "ecephys.nwb"
    changed = tmp_path / "ecephys-changed.nwb"
    shutil.copyfile(original, changed)
    with h5py.File(changed, "r+") as f:
        f["acquisition/ElectricalSeries/data"][0, 0] += 1

    expected, _ = read_snapshot(open_direct(original))
    actual, _ = read_snapshot(open_through_facade(lambda: lindi_core.LindiH5pyFile.from_hdf5_file(changed)))
    with pytest.raises(AssertionError, match=r"1 difference\(s\):\n.*ElectricalSeries.*\(0, 0\)"):
        assert_same(expected, actual)
