"""The in-memory model of a reference file system.

A reference file system maps Zarr keys to one of three kinds of value:

* a JSON object: Zarr metadata (``.zgroup``, ``.zarray``, ``.zattrs``);
* inline bytes: small chunks stored in the reference file itself;
* a :class:`ChunkRef`: a byte range ``[url, offset, length]`` inside some other file.

A translated file can hold millions of chunk references. Keeping each as a Python list costs
hundreds of bytes apiece, so the chunks of every array with a regular chunk grid live in a
:class:`ChunkTable`: three NumPy columns over the grid (url index, offset, length, plus an
optional HDF5 filter mask), about 20 bytes per chunk. Keys that do not fit a table (odd
separators, arrays without metadata) are kept in a plain dictionary.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lindi_core.errors import ReferenceFormatError

ZARR_METADATA_NAMES = (".zgroup", ".zarray", ".zattrs", ".zmetadata")



@dataclass(frozen=True, slots=True)
class ChunkRef:
    """A byte range inside a file that holds one (encoded) Zarr chunk.

    ``filter_mask`` is HDF5's per-chunk mask of skipped filters: bit ``i`` set means filter
    ``i`` of the dataset's pipeline was not applied to this chunk (HDF5 stores a chunk without
    an optional filter when that filter failed, e.g. deflate that would not shrink it).
    """

    url: str
    offset: int
    length: int
    filter_mask: int = 0


def split_key(key: str) -> tuple[str, str]:
    """Split a Zarr key into (parent path, last name); the root's parent is ``""``."""
    slash = key.rfind("/")
    if slash < 0:
        return "", key
    return key[:slash], key[slash + 1 :]


def join_key(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


class ChunkTable:
    """Chunk references of one array, stored as columns over its chunk grid.

    Entry ``i`` of each column belongs to the chunk whose grid coordinates unravel from ``i`` in
    C order. ``url_index == -1`` marks a chunk with no reference (Zarr reads the fill value).
    """

    __slots__ = ("grid_shape", "url_index", "offset", "length", "filter_mask")

    def __init__(self, grid_shape: tuple[int, ...]):
        self.grid_shape = tuple(int(n) for n in grid_shape)
        count = math.prod(self.grid_shape)
        self.url_index = np.full(count, -1, dtype=np.int32)
        self.offset = np.zeros(count, dtype=np.int64)
        self.length = np.zeros(count, dtype=np.int64)
        self.filter_mask: np.ndarray | None = None

    @classmethod
    def for_array(cls, shape: list[int], chunks: list[int]) -> ChunkTable:
        grid = tuple(-(-s // c) if c else 0 for s, c in zip(shape, chunks))
        return cls(grid)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.url_index >= 0))

    def linear_index(self, chunk_name: str) -> int | None:
        """Grid position of a chunk key such as ``"3.0"``; None when it is not in the grid."""
        if not self.grid_shape:
            return 0 if chunk_name == "0" else None
        parts = chunk_name.split(".")
        if len(parts) != len(self.grid_shape):
            return None
        index = 0
        for part, extent in zip(parts, self.grid_shape):
            if not part.isdigit():
                return None
            coordinate = int(part)
            if coordinate >= extent:
                return None
            index = index * extent + coordinate
        return index

    def chunk_name(self, linear: int) -> str:
        if not self.grid_shape:
            return "0"
        return ".".join(str(int(c)) for c in np.unravel_index(linear, self.grid_shape))

    def set(self, linear: int, url_index: int, offset: int, length: int, filter_mask: int = 0) -> None:
        self.url_index[linear] = url_index
        self.offset[linear] = offset
        self.length[linear] = length
        if filter_mask:
            if self.filter_mask is None:
                self.filter_mask = np.zeros(self.url_index.shape, dtype=np.uint32)
            self.filter_mask[linear] = filter_mask

    def clear(self, linear: int) -> None:
        self.url_index[linear] = -1

    def present(self) -> np.ndarray:
        """Linear indices of the chunks that have a reference, in grid order."""
        return np.flatnonzero(self.url_index >= 0)


class ReferenceFileSystem:
    """A mutable mapping of Zarr keys to metadata, inline bytes and chunk references.

    ``urls`` is the table of distinct target URLs (or local paths) that chunk references point
    into; tables store indices into it. ``templates`` are kept only to round-trip a loaded
    file's names; values in memory are always fully expanded.
    """

    def __init__(self, generation_metadata: dict[str, Any] | None = None):
        self.metadata: dict[str, dict] = {}
        self.inline: dict[str, bytes] = {}
        self.loose_refs: dict[str, ChunkRef] = {}
        self.tables: dict[str, ChunkTable] = {}
        self.urls: list[str] = []
        self._url_ids: dict[str, int] = {}
        self.generation_metadata: dict[str, Any] = dict(generation_metadata or {})
        self.preferred_templates: dict[str, str] = {}
        self.changes = 0  # edits made through the setters below (a reader can tell unsaved edits)

    # -- urls ---------------------------------------------------------------------------
    def url_id(self, url: str) -> int:
        found = self._url_ids.get(url)
        if found is None:
            found = len(self.urls)
            self.urls.append(url)
            self._url_ids[url] = found
        return found

    # -- reading ------------------------------------------------------------------------
    def get(self, key: str) -> dict | bytes | ChunkRef | None:
        """The value at ``key`` or None."""
        found = self.metadata.get(key)
        if found is not None:
            return found
        found = self.inline.get(key)
        if found is not None:
            return found
        found = self.loose_refs.get(key)
        if found is not None:
            return found
        parent, name = split_key(key)
        table = self.tables.get(parent)
        if table is None:
            return None
        linear = table.linear_index(name)
        if linear is None or table.url_index[linear] < 0:
            return None
        return self._table_ref(table, linear)

    def _table_ref(self, table: ChunkTable, linear: int) -> ChunkRef:
        mask = int(table.filter_mask[linear]) if table.filter_mask is not None else 0
        return ChunkRef(self.urls[int(table.url_index[linear])], int(table.offset[linear]),
                        int(table.length[linear]), mask)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def keys(self) -> Iterator[str]:
        """Every key: metadata first, then inline values, then chunk references."""
        yield from self.metadata
        yield from self.inline
        yield from self.loose_refs
        for array_path, table in self.tables.items():
            for linear in table.present():
                name = table.chunk_name(int(linear))
                key = join_key(array_path, name)
                if key not in self.inline:
                    yield key

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def used_urls(self) -> list[str]:
        """The distinct URLs chunk refs point into (table URLs first, in URL-table order)."""
        used_ids: set[int] = set()
        for table in self.tables.values():
            ids = table.url_index[table.url_index >= 0]
            used_ids.update(np.unique(ids).tolist())
        urls = [self.urls[i] for i in sorted(used_ids)]
        seen = set(urls)
        for ref in self.loose_refs.values():
            if ref.url not in seen:
                seen.add(ref.url)
                urls.append(ref.url)
        return urls

    def chunk_refs(self, array_path: str) -> Iterator[tuple[str, ChunkRef]]:
        """The (chunk name, reference) pairs of one array, tables and loose refs alike."""
        table = self.tables.get(array_path)
        if table is not None:
            for linear in table.present().tolist():
                yield table.chunk_name(linear), self._table_ref(table, linear)
        prefix = array_path + "/" if array_path else ""
        for key, ref in self.loose_refs.items():
            parent, name = split_key(key)
            if parent == array_path and key.startswith(prefix):
                yield name, ref

    # -- writing ------------------------------------------------------------------------
    def set_metadata(self, key: str, value: dict) -> None:
        if not isinstance(value, dict):
            raise ReferenceFormatError(f"metadata at {key!r} must be a JSON object, got {type(value).__name__}")
        self.delete(key)
        self.changes += 1
        self.metadata[key] = value
        if key.endswith("/.zarray") or key == ".zarray":
            self._adopt_table_for(split_key(key)[0], value)

    def set_inline(self, key: str, value: bytes) -> None:
        self._remove_chunk_ref(key)
        self.metadata.pop(key, None)
        self.changes += 1
        self.inline[key] = bytes(value)

    def set_ref(self, key: str, ref: ChunkRef) -> None:
        self.changes += 1
        self.metadata.pop(key, None)
        self.inline.pop(key, None)
        parent, name = split_key(key)
        table = self.tables.get(parent)
        if table is not None:
            linear = table.linear_index(name)
            if linear is not None:
                self.loose_refs.pop(key, None)
                table.set(linear, self.url_id(ref.url), ref.offset, ref.length, ref.filter_mask)
                return
        self.loose_refs[key] = ref

    def delete(self, key: str) -> None:
        self.changes += 1
        self.metadata.pop(key, None)
        self.inline.pop(key, None)
        self._remove_chunk_ref(key)

    def _remove_chunk_ref(self, key: str) -> None:
        self.loose_refs.pop(key, None)
        parent, name = split_key(key)
        table = self.tables.get(parent)
        if table is not None:
            linear = table.linear_index(name)
            if linear is not None:
                table.clear(linear)

    def _adopt_table_for(self, array_path: str, zarray: dict) -> None:
        """Create the chunk table of a new array and move loose refs of it into the table."""
        shape, chunks = zarray.get("shape"), zarray.get("chunks")
        separator = zarray.get("dimension_separator", ".") or "."
        if separator != "." or not isinstance(shape, list) or not isinstance(chunks, list):
            return
        if len(shape) != len(chunks) or not all(isinstance(c, int) and c > 0 for c in chunks):
            return
        table = ChunkTable.for_array(shape, chunks)
        old = self.tables.get(array_path)
        if old is not None and old.grid_shape == table.grid_shape:
            table = old  # built for this very grid (as the translator does): keep it whole
            old = None
        self.tables[array_path] = table
        moved = [(k, r) for k, r in self.loose_refs.items() if split_key(k)[0] == array_path]
        if old is not None:
            moved.extend((join_key(array_path, old.chunk_name(linear)), self._table_ref(old, linear))
                         for linear in old.present().tolist())
        for key, ref in moved:
            self.loose_refs.pop(key, None)
            self.set_ref(key, ref)

    def relocated(self, moves: dict[str, tuple[str, int]]) -> ReferenceFileSystem:
        """A copy in which every chunk ref into a URL of ``moves`` points at ``(new_url, offset +
        shift)`` instead: how refs follow bytes that were copied or are read from elsewhere
        (members of a container as ranges of the archive, staged chunks as members)."""
        copy = ReferenceFileSystem(self.generation_metadata)
        copy.metadata = dict(self.metadata)
        copy.inline = dict(self.inline)
        copy.preferred_templates = dict(self.preferred_templates)
        copy.urls = list(self.urls)
        copy._url_ids = dict(self._url_ids)
        new_ids = np.arange(len(self.urls), dtype=np.int32)
        shifts = np.zeros(len(self.urls), dtype=np.int64)
        for url, (new_url, shift) in moves.items():
            old_id = self._url_ids.get(url)
            if old_id is not None:
                new_ids[old_id] = copy.url_id(new_url)
                shifts[old_id] = shift
        for array_path, table in self.tables.items():
            moved = ChunkTable(table.grid_shape)
            present = table.url_index >= 0
            if present.any():
                ids = np.where(present, table.url_index, 0)
                moved.url_index = np.where(present, new_ids[ids], -1).astype(np.int32)
                moved.offset = table.offset + np.where(present, shifts[ids], 0)
            moved.length = table.length.copy()
            moved.filter_mask = None if table.filter_mask is None else table.filter_mask.copy()
            copy.tables[array_path] = moved
        for key, ref in self.loose_refs.items():
            new_url, shift = moves.get(ref.url, (ref.url, 0))
            copy.loose_refs[key] = ChunkRef(new_url, ref.offset + shift, ref.length, ref.filter_mask)
        return copy

    def to_dict(self, *, use_templates: bool = True) -> dict[str, Any]:
        """The reference file as a plain JSON-ready dict in the spec's shape."""
        from lindi_core.format.jsonio import to_json_dict  # the writer lives beside the reader

        return to_json_dict(self, use_templates=use_templates)

    # -- listing ------------------------------------------------------------------------
    def list_dir(self, prefix: str) -> list[str]:
        """Names of the direct children of ``prefix`` (a group or array path, "" for root)."""
        prefix = prefix.strip("/")
        names: set[str] = set()
        head = prefix + "/" if prefix else ""
        for source in (self.metadata, self.inline, self.loose_refs):
            for key in source:
                if key.startswith(head):
                    names.add(key[len(head) :].split("/", 1)[0])
        table = self.tables.get(prefix)
        if table is not None:
            names.update(table.chunk_name(int(i)) for i in table.present())
        return sorted(names)
