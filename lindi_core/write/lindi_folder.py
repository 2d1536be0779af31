"""Writing ``.lindi.d`` folders: new ones, and existing ones edited in place.

A ``.lindi.d`` (LINDI's directory form, :mod:`lindi_core.io.folder_container`) holds the
reference file ``lindi.json`` and chunk files. Writing keeps two rules, so that a reader that
opened the folder earlier, or a reference file that copied refs to its files, keeps reading the
bytes it was given:

1. a chunk file, once written, is never written again nor removed: a rewritten chunk goes to a
   new file (``blobs/<key>.v2``, ``.v3``..., as LINDI names them), a deleted one stays on disk;
2. every file is written whole before it gets its name (:func:`temporaries.atomic_output`: a
   synced temporary renamed into place), the chunk files before the reference file that names
   them, and the reference file last, by the same atomic replace as a ``.lindi.json``.

So a crash leaves the folder's last reference file whole, with every file it names; at worst
some chunk files no reference file names (they waste space, and are never overwritten: their
names stay taken).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from lindi_core.errors import FolderFormatError
from lindi_core.format import jsonio, temporaries
from lindi_core.format.lindi_tar import BLOB_PREFIX, REFERENCE_NAME, member_url
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.format.table_files import TableFileWriter
from lindi_core.io import folder_container
from lindi_core.io.locations import Location, LocationPolicy
from lindi_core.write.self_contained import ReadBytes, plan_self_contained
from lindi_core.write.staging import StagingArea

_LONGEST_PART = 200  # bytes of a file name part (file systems allow 255; ".v123" and temporaries need room)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask  # as open() would make it: the folder is shared as the user shares files


def _write_file(folder: str, name: str, data: bytes, mode: int, cleaned: set[str]) -> None:
    """Write ``data`` as the new file ``name`` of ``folder``, atomically."""
    path = os.path.join(folder, *name.split("/"))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    if parent not in cleaned:  # what writers killed here left, looked for once a session
        temporaries.remove_stale_in(parent)
        cleaned.add(parent)
    # A name no other writer uses (the folder's writer lock is held): no look for stale
    # temporaries at every write (done once above), no old file to keep the permissions of.
    with temporaries.atomic_output(path, unique_name=True) as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)


class FolderNames:
    """Which chunk file names are free in a folder: neither taken in this session nor on disk,
    with no file where a folder of the path must be."""

    def __init__(self, folder: str):
        self.folder = folder

    def blocked(self, name: str, taken: Iterable[str] = ()) -> bool:
        return name in taken or self._parents_blocked(name) or os.path.lexists(os.path.join(self.folder, name))

    def free(self, wanted: str, taken: Iterable[str] = ()) -> str:
        """``wanted`` (``blobs/<key>``) when free, else ``.v2``, ``.v3``... after it; a name made
        of a hash of it when its path is blocked (a file where a folder must be) or too long."""
        base = wanted
        if any(len(part.encode()) > _LONGEST_PART for part in base.split("/")) or self._parents_blocked(base):
            base = BLOB_PREFIX + hashlib.sha256(wanted.encode("utf-8")).hexdigest()[:40]
        name, version = base, 1
        while self.blocked(name, taken):
            version += 1
            name = f"{base}.v{version}"
        return name

    def _parents_blocked(self, name: str) -> bool:
        path = self.folder
        for part in name.split("/")[:-1]:
            path = os.path.join(path, part)
            if os.path.lexists(path) and not os.path.isdir(path):
                return True
        return False


def _prepare_folder(path: str) -> str:
    """The real path of the folder at ``path``, made if missing; an existing folder must be empty
    or a ``.lindi.d`` (its files stay: they may be read still)."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path!r} exists and is not a folder: a .lindi.d is a folder (remove the file first)")
    os.makedirs(path, exist_ok=True)
    folder_container.check_writable(path)
    return os.path.realpath(path)


def write_new_folder(rfs: ReferenceFileSystem, path: str | os.PathLike, *, read: ReadBytes, container=None,
                     staging: StagingArea | None = None, policy: LocationPolicy | None = None,
                     inline_limit: int | None = None, staged_only=None) -> None:
    """Write ``rfs`` as the ``.lindi.d`` at ``path``, self-contained as a new ``.lindi.tar`` is
    (:mod:`lindi_core.write.self_contained`). An existing ``.lindi.d`` there gets the new
    reference file and new chunk files beside its old ones, which stay (the folder ``rfs`` was
    read from keeps its chunk files where they are: nothing to copy)."""
    folder = _prepare_folder(os.fspath(path))
    names = FolderNames(folder)
    in_place = isinstance(container, folder_container.FolderContainer) and container.folder == folder
    rfs, members = plan_self_contained(rfs, read=read, name_for=names.free, container=container, staging=staging,
                                       policy=policy, inline_limit=inline_limit, staged_only=staged_only,
                                       in_place=in_place)
    mode, cleaned = _new_file_mode(), set()
    for name, size, produce in members:
        data = produce()
        if len(data) != size:
            raise FolderFormatError(f"chunk file {name!r} was to hold {size} bytes but got {len(data)}")
        _write_file(folder, name, data, mode, cleaned)
    jsonio.write_atomic(rfs, os.path.join(folder, REFERENCE_NAME))


class LindiFolderWriter:
    """A local ``.lindi.d`` open for writing: the chunk sink of a writable store (each new chunk
    a new file) and the committer of its reference file. The caller holds the folder's writer
    lock (:class:`~lindi_core.write.writer_lock.WriterLock` on its reference file)."""

    def __init__(self, path: str, opened: folder_container.OpenedFolder):
        self.path = path
        self.container = opened.container
        self.reference_text = opened.reference_text
        self._names = FolderNames(self.container.folder)
        self._mode = _new_file_mode()
        self._cleaned: set[str] = set()
        self._normalized_text: bytes | None = None

    @classmethod
    def open(cls, path: str | os.PathLike) -> LindiFolderWriter:
        path = os.path.abspath(os.fspath(path))
        return cls(path, folder_container.open_local(path))

    @classmethod
    def create(cls, path: str | os.PathLike, rfs: ReferenceFileSystem) -> LindiFolderWriter:
        """A new reference file ``rfs`` in the folder at ``path`` (made if missing), open for
        writing. The chunk files an earlier ``.lindi.d`` there held stay (never overwritten)."""
        folder = _prepare_folder(os.fspath(path))
        jsonio.write_atomic(rfs, os.path.join(folder, REFERENCE_NAME))
        return cls.open(path)

    def store_chunk(self, key: str, data: bytes) -> ChunkRef:
        """Write a chunk as a new file ``blobs/<key>`` (a free name after it when taken)."""
        name = self._names.free(BLOB_PREFIX + key.lstrip("/"))
        _write_file(self.container.folder, name, bytes(data), self._mode, self._cleaned)
        return ChunkRef(member_url(name), 0, len(data))

    def commit_rfs(self, rfs: ReferenceFileSystem) -> bool:
        """Publish ``rfs`` as the reference file (see :meth:`commit`), its binary chunk tables of
        at least 1 MiB in table files of the folder named by their content (spec §13), written
        before the reference file that names them; an unchanged table keeps its file."""
        placer = TableFileWriter(self.container.reference_path)
        return self.commit(b"".join(jsonio.iter_json_text(rfs, place_table=placer)))

    def commit(self, reference_text: bytes, used_urls: Iterable[str] | None = None) -> bool:
        """Replace the reference file with ``reference_text`` (atomically); False when it says
        what the committed one says."""
        text = reference_text.rstrip()
        if text == self.reference_text.rstrip() or text == self._normalized():
            return False
        reference = self.container.reference_path
        temporaries.write_bytes(reference, text)
        self.reference_text = self._normalized_text = text
        return True

    def _normalized(self) -> bytes:
        """The committed reference file as this library writes it (LINDI formats its JSON
        otherwise): opening a folder for writing and closing it unchanged leaves it untouched."""
        if self._normalized_text is None:
            self._normalized_text = jsonio.dumps(jsonio.loads(self.reference_text)).rstrip()
        return self._normalized_text

    def close(self) -> None:
        return None

    @property
    def location(self) -> Location:
        return self.container.location
