"""Opening a ``.lindi.d`` folder, and finding the files its refs name.

A ``.lindi.d`` is LINDI's directory form of a reference file: a folder holding the reference
file ``lindi.json`` and chunk files beside it (LINDI and lindi-core put new chunks at
``blobs/<zarr key>``, ``blobs/<zarr key>.v2`` when rewritten). A chunk ref whose target is
relative (``./blobs/x/0``) names a file of the folder; absolute paths and URLs are read as a
local ``.lindi.json``'s are.

The folder is local and trusted like a local ``.lindi.json``, with one rule more: a relative
target must stay inside the folder. ``..``, empty or ``.`` parts (``.//etc/passwd`` would join
to an absolute path) and symlinks that lead out of the folder are refused with a
:class:`~lindi_core.errors.FolderFormatError` (a symlink out with an
:class:`~lindi_core.errors.AccessDeniedError`), so a folder copied from elsewhere cannot make its
reader hand back a file beside it by a relative name.

A folder at an http(s) URL (:class:`RemoteFolderContainer`) is read through its ``lindi.json``
(a web server lists no folders), untrusted as any reference file from a URL: its relative
targets name URLs inside the folder's URL and nothing else.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lindi_core.errors import AccessDeniedError, ByteSourceError, FolderFormatError
from lindi_core.format.lindi_tar import REFERENCE_NAME
from lindi_core.format.refs import ChunkRef
from lindi_core.io.locations import Location, is_url, name_of

FOLDER_SUFFIX = ".d"  # a new reference file whose name ends so is a folder (as LINDI decides it)


@dataclass(frozen=True)
class FolderMember:
    """A file of the folder a ref names: ``name`` relative to the folder, ``path`` its real path."""

    name: str
    path: str

    @property
    def size(self) -> int:
        return os.path.getsize(self.path)


@dataclass(frozen=True)
class FolderContainer:
    """The folder a reference file lives in (``location.where``: its real path)."""

    location: Location

    @property
    def folder(self) -> str:
        return self.location.where

    @property
    def reference_path(self) -> str:
        return os.path.join(self.folder, REFERENCE_NAME)

    def member_for(self, url: str) -> FolderMember | None:
        """The file a ref target names inside the folder; None when the target is absolute (a
        path or a URL), which the reference file's own trust decides."""
        if "://" in url or url.startswith("/"):
            return None
        name = url[2:] if url.startswith("./") else url
        parts = name.split("/")
        if not name or any(part in ("", ".", "..") for part in parts):
            raise FolderFormatError(f"chunk reference target {url!r} is not the name of a file inside the "
                                    f"folder {self.folder!r} (no '..', '.' or empty parts)")
        path = os.path.realpath(os.path.join(self.folder, *parts))
        if os.path.commonpath([self.folder, path]) != self.folder:
            raise AccessDeniedError(f"chunk reference target {url!r} leads out of the folder {self.folder!r} "
                                    f"(to {path!r}, through a symlink)")
        return FolderMember(name, path)

    def locate(self, ref: ChunkRef) -> tuple[Location, int, int] | None:
        """(file, offset, length) of a ref into a file of the folder (length -1: the whole file);
        None for other refs."""
        member = self.member_for(ref.url)
        if member is None:
            return None
        return Location("local", member.path), ref.offset, ref.length

    def whole(self, member: FolderMember) -> tuple[Location, int, int]:
        """Where the whole file ``member`` is."""
        return Location("local", member.path), 0, member.size

    def moves_outside(self, urls: Iterable[str]) -> dict[str, tuple[str, int]]:
        """For each of ``urls`` that names a file of the folder: (its absolute path, 0), the
        change that keeps refs to it readable from a reference file elsewhere."""
        moves = {}
        for url in urls:
            member = self.member_for(url)
            if member is not None:
                moves[url] = (member.path, 0)
        return moves


@dataclass(frozen=True)
class OpenedFolder:
    container: FolderContainer
    reference_text: bytes


def names_folder(path: str | os.PathLike) -> bool:
    """By its name: whether a new local reference file at ``path`` is a folder (``x.lindi.d``)."""
    return name_of(os.fspath(path)).rstrip("/").endswith(FOLDER_SUFFIX)


def holds_folder(path: str | os.PathLike) -> bool:
    """Whether an existing local path is a folder (a ``.lindi.d`` whatever its name)."""
    return os.path.isdir(path)


def is_empty(path: str | os.PathLike) -> bool:
    """Whether the folder at ``path`` holds no reference file and nothing else but hidden files
    (a writer's lock, temporaries): a folder a new ``.lindi.d`` may be made in."""
    return not any(not name.startswith(".") for name in os.listdir(path))


def check_writable(path: str) -> None:
    """Refuse to write into an existing folder that is not a ``.lindi.d`` (files there, but no
    reference file): its files are someone else's."""
    if not os.path.exists(os.path.join(path, REFERENCE_NAME)) and not is_empty(path):
        raise FolderFormatError(f"{path!r} is a folder with files but no {REFERENCE_NAME}: not a .lindi.d "
                                "reference file, not written into")


def open_local(path: str | os.PathLike) -> OpenedFolder:
    """Read the reference file of the folder at ``path``."""
    folder = os.path.realpath(os.fspath(path))
    reference = os.path.join(folder, REFERENCE_NAME)
    try:
        with open(reference, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise FolderFormatError(f"{os.fspath(path)!r} is a folder without {REFERENCE_NAME}: not a .lindi.d "
                                "reference file") from None
    except OSError as exc:
        raise ByteSourceError(f"cannot read {reference!r}: {exc}") from exc
    return OpenedFolder(FolderContainer(Location("local", folder)), text)



@dataclass(frozen=True)
class RemoteFolderMember:
    """A file of a folder at a URL a ref names: ``name`` relative to the folder, ``url`` its URL."""

    name: str
    url: str


@dataclass(frozen=True)
class RemoteFolderContainer:
    """A ``.lindi.d`` at an http(s) URL (``location.where``: the folder's URL, ending in ``/``).

    A web server lists no folders, but the folder's ``lindi.json`` is at a known URL and its
    relative targets name its files: ``./blobs/x/0`` is the URL ``<folder URL>blobs/x/0``. They
    are trusted exactly as that ``lindi.json`` is: a relative target made of plain parts (no
    ``..``, ``.`` or empty part), each percent-encoded, so that it can only name a URL inside the
    folder (``%2e%2e`` stays a literal name, ``a:b`` is no scheme, ``//host`` no other host).
    Absolute targets are as in any reference file read from a URL (local paths refused)."""

    location: Location

    @property
    def folder_url(self) -> str:
        return self.location.where

    @property
    def reference_url(self) -> str:
        return self.folder_url + REFERENCE_NAME

    def member_for(self, url: str) -> RemoteFolderMember | None:
        if "://" in url or url.startswith("/"):
            return None
        name = url[2:] if url.startswith("./") else url
        if not name or any(part in ("", ".", "..") for part in name.split("/")) or "\\" in name:
            raise FolderFormatError(f"chunk reference target {url!r} is not the name of a file inside the "
                                    f"folder {self.folder_url!r} (no '..', '.' or empty parts)")
        return RemoteFolderMember(name, self.folder_url + urllib.parse.quote(name, safe="/"))

    def locate(self, ref: ChunkRef) -> tuple[Location, int, int] | None:
        """(file URL, offset, length) of a ref into a file of the folder; None for other refs."""
        member = self.member_for(ref.url)
        if member is None:
            return None
        return Location("http", member.url), ref.offset, ref.length

    def moves_outside(self, urls: Iterable[str]) -> dict[str, tuple[str, int]]:
        """For each of ``urls`` that names a file of the folder: (its URL, 0), the change that
        keeps refs to it readable from a reference file elsewhere."""
        moves = {}
        for url in urls:
            member = self.member_for(url)
            if member is not None:
                moves[url] = (member.url, 0)
        return moves


def folder_url(url: str) -> str | None:
    """The folder URL (ending in ``/``) of a ``.lindi.d`` named by an http(s) URL: the folder
    itself (``.../x.lindi.d``, ``.../x.lindi.d/``) or its reference file
    (``.../x.lindi.d/lindi.json``); None for other URLs. Query and fragment are dropped (the
    folder's files could not carry them)."""
    if not is_url(url):
        return None
    parts = urllib.parse.urlsplit(url)
    path = parts.path
    if path.endswith("/" + REFERENCE_NAME) and path[: -len(REFERENCE_NAME) - 1].endswith(FOLDER_SUFFIX):
        path = path[: -len(REFERENCE_NAME)]
    elif path.rstrip("/").endswith(FOLDER_SUFFIX):
        path = path.rstrip("/") + "/"
    else:
        return None
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def remote_container(url: str) -> RemoteFolderContainer | None:
    """The folder at an http(s) URL naming a ``.lindi.d`` (see :func:`folder_url`), else None."""
    base = folder_url(url)
    return None if base is None else RemoteFolderContainer(Location("http", base))


def open_url(url: str, fetch: Callable[[str], bytes]) -> OpenedFolder:
    """Read the reference file of the folder at ``url`` (see :func:`folder_url`) with
    ``fetch(url) -> bytes``."""
    container = remote_container(url)
    if container is None:
        raise FolderFormatError(f"{url!r} does not name a .lindi.d folder")
    return OpenedFolder(container, fetch(container.reference_url))
