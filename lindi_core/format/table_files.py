"""Where a saved reference file puts its binary chunk tables: inline, or in files beside it.

A table of up to :data:`TABLE_FILE_THRESHOLD` encoded bytes stays inline (base64 in the
``.lindi.json``): one file, one fetch. A larger one goes to a *table file* beside the reference
file, named from it and from the table's SHA-256 (``<reference name>.<32 hex digits>.lct``),
and the descriptor keeps the table's header, so that opening reads no table byte and a read
fetches only the blocks it needs (spec §13).

Naming by content means a save never changes a file that an older version of the reference
file (still open elsewhere, or being read over HTTP) may name: a table either keeps its name and
its bytes, or gets a new file. Old table files are left in place for the same reason.
The table streams to a temporary beside its final name (:mod:`lindi_core.format.temporaries`),
block by block, and is renamed once complete and synced. A save where the file already is
(same name, same size) keeps it without reading it again.

In a ``.lindi.tar`` the same content names make members (:class:`ContentNamedTables`), from
:data:`CONTAINER_TABLE_THRESHOLD` on: an archive only grows, so a table is appended only when no
member holds it yet.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

from lindi_core.format import chunk_table_forms, temporaries
from lindi_core.format.refs import ReferenceFileSystem

# 1 MiB of encoded table: about 500,000 chunks of varied lengths, or millions of evenly laid
# out ones. Below it a second file costs more (one more name to copy, one more fetch) than
# carrying the table in the JSON; above it the JSON would grow by 1.33x the table as base64,
# parsed and held as text at every open (spec §13).
TABLE_FILE_THRESHOLD = 1 << 20
# In a .lindi.tar the balance differs: the archive only grows, and an inline table is appended
# again, as base64 inside the reference file, at every commit, whatever the commit changed (a
# 900 kB table: 1.2 MB per commit). A member is appended only when its table changes. Below
# 64 KiB an inline table costs a commit no more than the padding its reference file may keep
# anyway (write/lindi_tar.py's COMMIT_SLACK), and saves the extra round trip of a member at the
# first read of its array; from there a member costs that one round trip and saves the table's
# transfer at every open and its bytes at every commit that leaves it unchanged.
CONTAINER_TABLE_THRESHOLD = 64 << 10
TABLE_FILE_SUFFIX = ".lct"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def table_file_name(reference_name: str, sha256: str) -> str:
    """The name of a table file beside the reference file ``reference_name`` (a plain name,
    as spec §13 requires of ``ref``)."""
    stem = _UNSAFE.sub("_", reference_name).lstrip(".-") or "lindi"
    return f"{stem[:180]}.{sha256[:32]}{TABLE_FILE_SUFFIX}"


class TableFileWriter:
    """Places the binary tables of one reference file being written to ``reference_path``."""

    def __init__(self, reference_path: str, threshold: int | None = None):
        self.folder, self.reference_name = os.path.split(reference_path)
        self.threshold = TABLE_FILE_THRESHOLD if threshold is None else threshold

    def __call__(self, rfs: ReferenceFileSystem, array_path: str) -> dict:
        kept = chunk_table_forms.unchanged_table_file(rfs, array_path)
        if kept is not None and self._holds(kept):
            return kept  # its file is here already (named by its content): nothing to read or write
        sink = _SpillingSink(self.threshold, os.path.join(self.folder, self.reference_name + TABLE_FILE_SUFFIX))
        try:
            header = chunk_table_forms.write_table(rfs, array_path, sink.write)
            if sink.in_memory is not None:
                return chunk_table_forms.descriptor(b"".join(sink.in_memory))
            sha256 = sink.digest.hexdigest()
            name = table_file_name(self.reference_name, sha256)
            sink.finish(os.path.join(self.folder, name))
            return chunk_table_forms.file_descriptor(header, name, sink.size, sha256)
        finally:
            sink.discard()

    def _holds(self, kept: dict) -> bool:
        """Whether the table file a kept descriptor names is in this folder, under the name this
        writer gives that content: the file a save where the reference file was read keeps."""
        sha256 = kept.get("sha256")
        if sha256 is None or kept["ref"] != table_file_name(self.reference_name, sha256):
            return False
        try:
            return os.path.getsize(os.path.join(self.folder, kept["ref"])) == kept["size"]
        except OSError:
            return False


class ContentNamedTables:
    """Places the binary tables of a reference file written into a container (a ``.lindi.tar``):
    a table of at least ``threshold`` encoded bytes (default :data:`CONTAINER_TABLE_THRESHOLD`)
    becomes the member ``<reference name>.<32 hex digits of its SHA-256>.lct`` (spec §13), added
    through ``add`` only when ``has`` says no member of that name exists, so that an unchanged
    table is never added twice and no member a commit names is ever written again; smaller ones
    stay inline. :attr:`placed` is the set of member names the written reference file names."""

    def __init__(self, has: Callable[[str], bool], add: Callable[[str, bytes], object],
                 reference_name: str, threshold: int | None = None):
        self.has, self.add, self.reference_name = has, add, reference_name
        self.threshold = CONTAINER_TABLE_THRESHOLD if threshold is None else threshold
        self.placed: set[str] = set()

    def __call__(self, rfs: ReferenceFileSystem, array_path: str) -> dict:
        kept = chunk_table_forms.unchanged_table_file(rfs, array_path)
        if kept is not None and kept.get("sha256") is not None \
                and kept["ref"] == table_file_name(self.reference_name, kept["sha256"]) and self.has(kept["ref"]):
            self.placed.add(kept["ref"])
            return kept
        pieces: list[bytes] = []
        header = chunk_table_forms.write_table(rfs, array_path, pieces.append)
        data = b"".join(pieces)
        del pieces
        if len(data) < self.threshold:
            return chunk_table_forms.descriptor(data)
        sha256 = hashlib.sha256(data).hexdigest()
        name = table_file_name(self.reference_name, sha256)
        if not self.has(name):
            self.add(name, data)
        self.placed.add(name)
        return chunk_table_forms.file_descriptor(header, name, len(data), sha256)


def is_table_file_name(name: str) -> bool:
    """Whether a container member's name is that of a table (a plain name ending in ``.lct``)."""
    return "/" not in name and name.endswith(TABLE_FILE_SUFFIX)


class _SpillingSink:
    """Bytes kept in memory until they reach ``threshold``, then streamed to a temporary."""

    def __init__(self, threshold: int, temporary_for: str):
        self.threshold = threshold
        self.temporary_for = temporary_for
        self.in_memory: list[bytes] | None = []
        self.size = 0
        self.digest = hashlib.sha256()
        self._file = None
        self._temporary: str | None = None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.digest.update(data)
        if self.in_memory is not None:
            self.in_memory.append(data)
            if self.size < self.threshold:
                return
            fd, self._temporary = temporaries.create(self.temporary_for)
            self._file = os.fdopen(fd, "wb")
            pieces, self.in_memory = self.in_memory, None
            for piece in pieces:
                self._file.write(piece)
            return
        self._file.write(data)

    def finish(self, path: str) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        os.chmod(self._temporary, 0o644 & ~_umask())
        # Same name, same bytes: replacing a file of this name changes no reader's table.
        os.replace(self._temporary, path)
        self._temporary = None

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._temporary is not None:
            try:
                os.unlink(self._temporary)
            except FileNotFoundError:
                pass
            self._temporary = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
