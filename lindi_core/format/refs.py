"""The in-memory model of a reference file system.

A reference file system maps Zarr keys to one of three kinds of value:

* a JSON object: Zarr metadata (``.zgroup``, ``.zarray``, ``.zattrs``);
* inline bytes: small chunks stored in the reference file itself;
* a :class:`ChunkRef`: a byte range ``[url, offset, length]`` inside some other file.

A translated file can hold millions of chunk references. Keeping each as a Python list costs
hundreds of bytes apiece, so the chunks of every array with a regular chunk grid live in a
:class:`ChunkTable`: NumPy columns (url index, offset, length, plus an optional HDF5 filter
mask), over the whole grid when refs cover much of it (about 20 bytes per chunk), over the refs
present otherwise, so that a file declaring a vast shape costs what it holds. Only a canonical
chunk key (spec §2) names a table cell; other keys (odd separators, arrays without metadata,
non-canonical or off-grid names) are kept in a plain dictionary under their own text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lindi_core.errors import ReferenceFormatError
from lindi_core.format.keys import chunk_name, join_key, split_key

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


@dataclass(frozen=True, slots=True)
class ChunkColumns:
    """The refs of many chunks of one array's table, one row per chunk asked for
    (:meth:`ChunkTable.lookup_many`): ``url_index`` into the URL table (-1 where ``present`` is
    False: no ref), ``offset``, ``length`` and HDF5 ``filter_mask`` (0: no filter skipped)."""

    url_index: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    filter_mask: np.ndarray
    present: np.ndarray


# Linear chunk indices are int64; a grid of more cells than this gets no table (its refs stay
# loose, keyed by their text), which also keeps every product of extents exact in int64.
MAX_TABLE_CELLS = 2**62
# A sparse table turns dense once its refs cover this fraction of the grid: dense columns cost
# 20 bytes a cell, sparse ones 28 bytes a ref, so dense memory stays within ~6x the sparse.
DENSE_FRACTION = 8
# Single-chunk edits of a sparse table wait in a dict until this many (or a read of all refs).
_PENDING_LIMIT = 4096
# Rows url_ids counts at a time (its temporaries: a few bytes a row of that many).
_COUNT_ROWS = 1 << 20
_COORDINATE = re.compile(r"0|[1-9][0-9]{0,18}")


def grid_of(shape: Any, chunks: Any) -> tuple[int, ...] | None:
    """The chunk grid of an array's declared ``shape`` and ``chunks``, or None when they do not
    describe a regular grid a table can hold (malformed, or more than MAX_TABLE_CELLS cells)."""
    if not isinstance(shape, list) or not isinstance(chunks, list) or len(shape) != len(chunks):
        return None
    if not all(type(s) is int and s >= 0 for s in shape) or not all(type(c) is int and c > 0 for c in chunks):
        return None
    grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
    return grid if math.prod(grid) <= MAX_TABLE_CELLS else None


class ChunkTable:
    """Chunk references of one array, stored as columns.

    A *dense* table has one row per cell of the chunk grid (row ``i`` is the chunk whose grid
    coordinates unravel from ``i`` in C order; ``url_index == -1`` marks a chunk with no
    reference, which Zarr reads as the fill value). A *sparse* table has one row per chunk that
    has a reference, ``cells`` holding their sorted linear indices. A table made by
    :meth:`for_array` is dense (the translator fills whole grids); one made empty is sparse and
    turns dense when its refs cover 1/DENSE_FRACTION of the grid, so that memory follows the refs
    a reference file holds, not the shape it declares.

    Only dense tables may be indexed by linear index through the columns directly (after
    :meth:`flush`); everything else goes through the methods.
    """

    __slots__ = ("grid_shape", "cells", "url_index", "offset", "length", "filter_mask", "_pending")

    def __init__(self, grid_shape: tuple[int, ...], *, dense: bool = False):
        self.grid_shape = tuple(int(n) for n in grid_shape)
        if self.size > MAX_TABLE_CELLS:
            raise ValueError(f"a chunk grid of {self.size} cells is too large for a table")
        rows = self.size if dense else 0
        self.cells: np.ndarray | None = None if dense else np.zeros(0, dtype=np.int64)
        # Dense columns start as narrow as the usual values allow (a file has few URLs, chunks
        # of under 2 GiB, offsets under 4 GiB: 9 bytes a cell, not 20) and widen when a value
        # needs it (_store); sparse ones are built whole by assign, at the width they need.
        self.url_index = np.full(rows, -1, dtype=np.int8 if dense else np.int32)
        self.offset = np.zeros(rows, dtype=np.uint32 if dense else np.int64)
        self.length = np.zeros(rows, dtype=np.int32 if dense else np.int64)
        self.filter_mask: np.ndarray | None = None
        self._pending: dict[int, tuple[int, int, int, int]] = {}

    @classmethod
    def for_array(cls, shape: list[int], chunks: list[int]) -> ChunkTable:
        """A dense table for the whole grid of an array."""
        grid = tuple(-(-s // c) if c else 0 for s, c in zip(shape, chunks))
        return cls(grid, dense=True)

    @property
    def size(self) -> int:
        return math.prod(self.grid_shape)

    @property
    def is_dense(self) -> bool:
        return self.cells is None

    def __len__(self) -> int:
        self.flush()
        return int(np.count_nonzero(self.url_index >= 0))

    def linear_index(self, chunk_name: str) -> int | None:
        """Grid position of a canonical chunk name such as ``"3.0"`` (spec §2: decimal ASCII
        coordinates without sign, spaces or leading zeros, inside the grid); None otherwise."""
        if not self.grid_shape:
            return 0 if chunk_name == "0" else None
        parts = chunk_name.split(".")
        if len(parts) != len(self.grid_shape):
            return None
        index = 0
        for part, extent in zip(parts, self.grid_shape):
            if not _COORDINATE.fullmatch(part):
                return None
            coordinate = int(part)
            if coordinate >= extent:
                return None
            index = index * extent + coordinate
        return index

    def linear_indices(self, names: Iterable[str]) -> np.ndarray:
        """:meth:`linear_index` of many chunk names at once, -1 for a name that is none (a
        zarr read of a million chunks names each: the test of a 1-D grid's names, the usual
        case, is string methods, not a regular expression per name)."""
        if len(self.grid_shape) != 1:
            return np.array([-1 if (found := self.linear_index(name)) is None else found for name in names],
                            dtype=np.int64)
        extent = self.grid_shape[0]
        found = []
        for name in names:
            # the canonical form of _COORDINATE: ASCII digits, no leading zero, at most 19 of them
            if name.isdigit() and name.isascii() and len(name) <= 19 and (name[0] != "0" or len(name) == 1):
                value = int(name)
                found.append(value if value < extent else -1)
            else:
                found.append(-1)
        return np.array(found, dtype=np.int64)

    def chunk_name(self, linear: int) -> str:
        if not self.grid_shape:
            return "0"
        return chunk_name(np.unravel_index(linear, self.grid_shape))

    # -- single chunks --------------------------------------------------------------------
    def lookup(self, linear: int) -> tuple[int, int, int, int] | None:
        """(url index, offset, length, filter mask) of a chunk, or None when it has no ref."""
        if self.cells is None:
            if self.url_index[linear] < 0:
                return None
            row = linear
        else:
            waiting = self._pending.get(linear)
            if waiting is not None:
                return waiting if waiting[0] >= 0 else None
            row = int(np.searchsorted(self.cells, linear))
            if row >= len(self.cells) or self.cells[row] != linear or self.url_index[row] < 0:
                return None
        mask = int(self.filter_mask[row]) if self.filter_mask is not None else 0
        return int(self.url_index[row]), int(self.offset[row]), int(self.length[row]), mask

    def lookup_many(self, linear: np.ndarray | range) -> ChunkColumns:
        """:meth:`lookup` of many chunks at once (``linear``: indices inside the grid, or a
        ``range`` of them), as columns in the order asked: the rows of chunks with no ref have
        ``present`` False (and url index -1, offset and length 0)."""
        self.flush()
        rows: np.ndarray | slice
        if self.cells is None and isinstance(linear, range) and linear.step == 1:
            rows = slice(linear.start, linear.stop)  # a run of the grid: views, no copies
        else:
            rows = linear = np.asarray(linear, dtype=np.int64)
            if (self.cells is None and len(linear) > 1 and linear[-1] - linear[0] == len(linear) - 1
                    and (np.diff(linear) == 1).all()):
                rows = slice(int(linear[0]), int(linear[-1]) + 1)  # a run of the grid: views, no copies
        if self.cells is None:
            url_index, offset, length = self.url_index[rows], self.offset[rows], self.length[rows]
            mask = self.filter_mask[rows] if self.filter_mask is not None else np.zeros(len(linear), np.uint32)
        elif not len(self.cells):
            url_index = np.full(len(linear), -1, dtype=np.int32)
            offset, length = np.zeros(len(linear), np.int64), np.zeros(len(linear), np.int64)
            mask = np.zeros(len(linear), np.uint32)
        else:
            rows = np.minimum(np.searchsorted(self.cells, linear), len(self.cells) - 1)
            found = self.cells[rows] == linear
            url_index = np.where(found, self.url_index[rows], -1).astype(np.int32)
            offset, length = self.offset[rows], self.length[rows]
            mask = (np.where(found, self.filter_mask[rows], 0).astype(np.uint32) if self.filter_mask is not None
                    else np.zeros(len(linear), np.uint32))
        present = url_index >= 0
        if not present.all():
            offset, length = np.where(present, offset, 0), np.where(present, length, 0)
        return ChunkColumns(url_index, offset, length, mask, present)

    def set(self, linear: int, url_index: int, offset: int, length: int, filter_mask: int = 0) -> None:
        if self.cells is not None:
            self._pending[linear] = (url_index, offset, length, filter_mask)
            if len(self._pending) >= max(_PENDING_LIMIT, len(self.cells) // 4):
                self.flush()
            return
        self._store(np.asarray([linear]), np.asarray([url_index]), np.asarray([offset]), np.asarray([length]),
                    np.asarray([filter_mask]) if filter_mask or self.filter_mask is not None else None)

    def clear(self, linear: int) -> None:
        if self.cells is not None:
            self._pending[linear] = (-1, 0, 0, 0)
            return
        self.url_index[linear] = -1

    # -- many chunks ----------------------------------------------------------------------
    def assign(self, linear: np.ndarray, url_index: np.ndarray, offset: np.ndarray, length: np.ndarray,
               filter_mask: np.ndarray | None = None) -> None:
        """Set many chunks at once (linear indices inside the grid); where a linear index
        repeats, the last one counts."""
        self.flush()
        linear = np.asarray(linear, dtype=np.int64)
        if not len(linear):
            return
        columns = [np.asarray(url_index, dtype=np.int32), np.asarray(offset, dtype=np.int64),
                   np.asarray(length, dtype=np.int64)]
        if filter_mask is not None and not np.any(filter_mask):
            filter_mask = None
        if filter_mask is not None:
            columns.append(np.asarray(filter_mask, dtype=np.uint32))
        if len(linear) > 1 and not (linear[1:] > linear[:-1]).all():
            linear, columns = _last_of_each(linear, columns)
        if self.cells is not None and len(self.cells) == 0 and len(linear) * DENSE_FRACTION >= self.size:
            self._make_dense()
        if self.cells is None:
            masks = columns[3] if filter_mask is not None else None
            if masks is None and self.filter_mask is not None:
                masks = np.zeros(len(linear), dtype=np.uint32)
            first, last = int(linear[0]), int(linear[-1])
            # Sorted and unique by now: a run of consecutive cells (the batches of a translation)
            # is written as a slice, several times faster than scattering by index.
            rows = slice(first, last + 1) if last - first + 1 == len(linear) else linear
            self._store(rows, *columns[:3], masks)
            return
        old = [self.url_index, self.offset, self.length]
        if filter_mask is not None or self.filter_mask is not None:
            old.append(self.filter_mask if self.filter_mask is not None else np.zeros(len(self.cells), np.uint32))
            if filter_mask is None:
                columns.append(np.zeros(len(linear), dtype=np.uint32))
        merged_linear, merged = _last_of_each(np.concatenate([self.cells, linear]),
                                              [np.concatenate(pair) for pair in zip(old, columns)])
        keep = merged[0] >= 0
        if not keep.all():
            merged_linear, merged = merged_linear[keep], [column[keep] for column in merged]
        self.cells = merged_linear
        self.url_index, self.offset, self.length = merged[:3]
        self.filter_mask = merged[3] if len(merged) > 3 and merged[3].any() else None
        if len(self.cells) * DENSE_FRACTION >= self.size:
            self._make_dense()

    def flush(self) -> None:
        """Merge single-chunk edits waiting in a sparse table into its columns."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        linear = np.fromiter(pending.keys(), dtype=np.int64, count=len(pending))
        values = np.array(list(pending.values()), dtype=np.int64).reshape(len(pending), 4)
        order = np.argsort(linear)
        self.assign(linear[order], values[order, 0], values[order, 1], values[order, 2], values[order, 3])

    def _store(self, rows: np.ndarray | slice, url_index: np.ndarray, offset: np.ndarray, length: np.ndarray,
               filter_mask: np.ndarray | None) -> None:
        """Write values into rows of a dense table, first widening any column too narrow for
        them (NumPy would wrap them silently)."""
        self.url_index = _widened(self.url_index, url_index)
        self.offset = _widened(self.offset, offset)
        self.length = _widened(self.length, length)
        self.url_index[rows], self.offset[rows], self.length[rows] = url_index, offset, length
        if filter_mask is not None:
            if self.filter_mask is None:
                if not np.any(filter_mask):
                    return
                self.filter_mask = np.zeros(self.url_index.shape, dtype=np.uint32)
            self.filter_mask[rows] = filter_mask

    def _make_dense(self) -> None:
        cells = self.cells
        dense = ChunkTable(self.grid_shape, dense=True)
        dense._store(cells, self.url_index, self.offset, self.length, self.filter_mask)
        self.cells, self.url_index, self.offset, self.length, self.filter_mask = (
            None, dense.url_index, dense.offset, dense.length, dense.filter_mask)

    def present(self) -> np.ndarray:
        """Linear indices of the chunks that have a reference, in grid order."""
        return self.present_columns()[0]

    def present_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(linear index, url index, offset, length, filter mask or None) of every chunk that
        has a reference, in grid order."""
        self.flush()
        if self.cells is None:
            present = self.url_index >= 0
            if present.all():  # the usual translated table: views of the columns, not copies
                rows, linear = slice(None), np.arange(self.size, dtype=np.int64)
            else:
                rows = np.flatnonzero(present)
                linear = rows
        else:
            rows = slice(None)
            linear = self.cells
        masks = self.filter_mask[rows] if self.filter_mask is not None else None
        return linear, self.url_index[rows], self.offset[rows], self.length[rows], masks

    def stored_length(self) -> int:
        """Total bytes of the referenced chunks."""
        self.flush()
        # Summed in place: present_columns would copy every column of a dense table.
        return int(self.length.sum(where=self.url_index >= 0, dtype=np.int64))

    def url_ids(self) -> np.ndarray:
        """The distinct url indices the refs use (counted, not sorted: millions of refs; a
        slice of rows at a time, so that no temporary is the table's size)."""
        self.flush()
        ids = self.url_index
        if not len(ids):
            return np.zeros(0, dtype=np.int64)
        low, high = int(ids.min()), int(ids.max())
        if high < 0:
            return np.zeros(0, dtype=np.int64)
        if low == high:  # one URL for every ref (a translated file): nothing to count
            return np.array([low], dtype=np.int64)
        counts = np.zeros(high + 1, dtype=np.int64)
        for first in range(0, len(ids), _COUNT_ROWS):
            part = ids[first : first + _COUNT_ROWS]
            counts += np.bincount(part[part >= 0], minlength=high + 1)
        return np.flatnonzero(counts)

    def relocated(self, new_ids: np.ndarray, shifts: np.ndarray) -> ChunkTable:
        """A copy whose refs into url index ``i`` point into ``new_ids[i]``, ``shifts[i]``
        bytes further on."""
        self.flush()
        copy = ChunkTable(self.grid_shape, dense=self.cells is None)
        copy.cells = None if self.cells is None else self.cells.copy()
        present = self.url_index >= 0
        ids = np.where(present, self.url_index, 0)
        copy.url_index = np.where(present, new_ids[ids], -1).astype(np.int32)
        copy.offset = self.offset + np.where(present, shifts[ids], 0)
        copy.length = self.length.copy()
        copy.filter_mask = None if self.filter_mask is None else self.filter_mask.copy()
        return copy


def _widened(column: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``column``, converted to a wider integer type if some of ``values`` do not fit it."""
    if not len(values):
        return column
    info = np.iinfo(column.dtype)
    low, high = int(np.min(values)), int(np.max(values))
    if info.min <= low and high <= info.max:
        return column
    wanted = np.promote_types(np.promote_types(column.dtype, np.min_scalar_type(low)), np.min_scalar_type(high))
    if wanted.kind == "u" and wanted.itemsize == 8 or wanted.kind == "f":
        wanted = np.dtype(np.int64)  # refs hold int64 values (spec §2); a uint64 mix promotes to float
    return column.astype(wanted)


def _last_of_each(linear: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted unique linear indices and the columns' values at the last occurrence of each."""
    order = np.argsort(linear, kind="stable")
    linear = linear[order]
    last = np.ones(len(linear), dtype=bool)
    last[:-1] = linear[1:] != linear[:-1]
    keep = order[last]
    return linear[last], [column[keep] for column in columns]


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
        # Arrays whose chunk refs are written as a binary chunk table (spec §13) rather than one
        # JSON entry per chunk: how the refs are written, not what they are.
        self.binary_tables: set[str] = set()
        # The chunk grid each array had when its form was last decided by an editing session
        # (lindi_core.write.table_forms); an array not listed is new to that session.
        self.settled_grids: dict[str, tuple[int, ...]] = {}
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
        if linear is None:
            return None
        return self._table_ref(table, linear)

    def _table_ref(self, table: ChunkTable, linear: int) -> ChunkRef | None:
        found = table.lookup(linear)
        if found is None:
            return None
        url_index, offset, length, mask = found
        return ChunkRef(self.urls[url_index], offset, length, mask)

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
            used_ids.update(table.url_ids().tolist())
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
        separator = zarray.get("dimension_separator", ".") or "."
        grid = grid_of(zarray.get("shape"), zarray.get("chunks")) if separator == "." else None
        old = self.tables.get(array_path)
        if grid is None:  # no regular grid: the refs stay loose, keyed by their text
            if old is not None:
                del self.tables[array_path]
                for linear in old.present().tolist():
                    self.loose_refs[join_key(array_path, old.chunk_name(linear))] = self._table_ref(old, linear)
            return
        table = ChunkTable(grid)
        if old is not None and old.grid_shape == table.grid_shape:
            table = old  # built for this very grid (as the translator does): keep it whole
            old = None
        self.tables[array_path] = table
        moved = [(k, r) for k, r in self.loose_refs.items() if split_key(k)[0] == array_path]
        if old is not None and len(old.grid_shape) == len(grid):
            moved.extend(self._regridded(array_path, old, table))
        elif old is not None:
            moved.extend((join_key(array_path, old.chunk_name(linear)), self._table_ref(old, linear))
                         for linear in old.present().tolist())
        for key, ref in moved:
            self.loose_refs.pop(key, None)
            self.set_ref(key, ref)

    def _regridded(self, array_path: str, old: ChunkTable, new: ChunkTable) -> list[tuple[str, ChunkRef]]:
        """Put the refs of ``old`` into ``new``, a table of another grid of as many axes (a
        resized array): each chunk keeps its coordinates, all at once. Returns the refs off the
        new grid, which stay loose (keyed by their names) as any ref off an array's grid does."""
        linear, url_ids, offsets, lengths, masks = old.present_columns()
        coordinates = np.unravel_index(linear, old.grid_shape) if old.grid_shape else ()
        inside = np.ones(len(linear), dtype=bool)
        for axis, extent in zip(coordinates, new.grid_shape):
            inside &= axis < extent
        if new.grid_shape:
            cells = np.ravel_multi_index(tuple(axis[inside] for axis in coordinates), new.grid_shape)
        else:
            cells = np.zeros(int(inside.sum()), dtype=np.int64)
        new.assign(cells, url_ids[inside], offsets[inside], lengths[inside],
                   None if masks is None else masks[inside])
        return [(join_key(array_path, old.chunk_name(cell)), self._table_ref(old, cell))
                for cell in linear[~inside].tolist()]

    def relocated(self, moves: dict[str, tuple[str, int]]) -> ReferenceFileSystem:
        """A copy in which every chunk ref into a URL of ``moves`` points at ``(new_url, offset +
        shift)`` instead: how refs follow bytes that were copied or are read from elsewhere
        (members of a container as ranges of the archive, staged chunks as members)."""
        copy = ReferenceFileSystem(self.generation_metadata)
        copy.metadata = dict(self.metadata)
        copy.inline = dict(self.inline)
        copy.preferred_templates = dict(self.preferred_templates)
        copy.binary_tables = set(self.binary_tables)
        copy.settled_grids = dict(self.settled_grids)
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
            copy.tables[array_path] = table.relocated(new_ids, shifts)
        for key, ref in self.loose_refs.items():
            new_url, shift = moves.get(ref.url, (ref.url, 0))
            copy.loose_refs[key] = ChunkRef(new_url, ref.offset + shift, ref.length, ref.filter_mask)
        return copy

    def same_references(self, other: ReferenceFileSystem) -> bool:
        """Whether ``other`` maps every key to the same value (metadata, inline bytes, chunk
        refs), however each stores them (URL table order, dense or sparse tables)."""
        if other is self:
            return True
        if (self.metadata != other.metadata or self.inline != other.inline or self.loose_refs != other.loose_refs
                or self.tables.keys() != other.tables.keys()):
            return False
        my_urls, their_urls = np.array(self.urls + [""], dtype=object), np.array(other.urls + [""], dtype=object)
        for array_path, table in self.tables.items():
            mine, theirs = table.present_columns(), other.tables[array_path].present_columns()
            if not all(np.array_equal(mine[i], theirs[i]) for i in (0, 2, 3)):
                return False
            if not np.array_equal(my_urls[mine[1]], their_urls[theirs[1]]):
                return False
            no_masks = np.zeros(len(mine[0]), dtype=np.uint32)
            if not np.array_equal(no_masks if mine[4] is None else mine[4], no_masks if theirs[4] is None else theirs[4]):
                return False
        return True

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
