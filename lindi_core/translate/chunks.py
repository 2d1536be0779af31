"""Where a dataset's bytes are, by storage layout, as chunk references.

* **chunked**: every allocated chunk is found with one ``H5Dchunk_iter`` pass (h5py's
  ``chunk_iter``), never one ``get_chunk_info`` call per chunk. Unallocated chunks get no
  reference and read as the fill value.
* **contiguous**: one byte range. A large one is cut into *virtual chunks*: a chunk shape of
  ones on the leading axes, a run of the split axis and the full trailing axes, so that every
  chunk is itself a contiguous byte range and a small slice costs a small range request. The
  last chunk along the split axis may be shorter than a full chunk; readers pad it (see the
  spec).
* **compact** (data inside the object header) and anything small: the bytes are read and
  stored inline, whatever the layout.
* **external storage / virtual datasets**: the data lives in other files; it is read through
  h5py and stored inline, up to a size limit.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import h5py
import numpy as np

from lindi_core.errors import TranslationError
from lindi_core.format.chunk_table_forms import AUTO_THRESHOLD, CHUNK_TABLE_CHOICES
from lindi_core.format.keys import join_key
from lindi_core.format.refs import DENSE_FRACTION, ChunkTable, ReferenceFileSystem, grid_of


@dataclass(frozen=True)
class ChunkOptions:
    """Tunable sizes of the translation."""

    inline_threshold: int = 4096  # datasets storing at most this many bytes are inlined
    contiguous_chunk_target: int = 16 << 20  # size of the virtual chunks of contiguous data
    max_inline_read: int = 64 << 20  # largest dataset read into the reference file
    # Compound datasets of at most this many bytes are stored as JSON rows with _COMPOUND_DTYPE,
    # LINDI 0.4's form: LINDI 0.4 cannot read the chunks of a structured Zarr array (its store
    # passes the JSON dtype list to np.dtype). Larger ones stay structured arrays whose chunks
    # are referenced in place, rather than be read and inlined.
    compound_rows_limit: int = 1 << 20
    # How chunk refs are written (spec §13): "json" one entry per chunk, "binary" a packed chunk
    # table per array, "auto" a table for arrays of at least chunk_table_threshold chunks.
    chunk_table: str = "auto"
    chunk_table_threshold: int = AUTO_THRESHOLD

    def __post_init__(self) -> None:
        if self.chunk_table not in CHUNK_TABLE_CHOICES:
            raise ValueError(f"chunk_table must be one of {CHUNK_TABLE_CHOICES}, not {self.chunk_table!r}")


def virtual_chunk_shape(shape: tuple[int, ...], itemsize: int, target: int) -> tuple[int, ...]:
    """Chunk shape that cuts a C-ordered contiguous array into contiguous byte ranges of about
    ``target`` bytes (equal-sized along the split axis, so the last one is not a sliver)."""
    if not shape:
        return ()
    trailing = itemsize
    split_axis = len(shape) - 1
    # Find the outermost axis whose trailing block still fits the target.
    for axis in range(len(shape) - 1, -1, -1):
        block = trailing * shape[axis]
        if block > target:
            split_axis = axis
            break
        trailing = block
        split_axis = axis - 1
    if split_axis < 0:
        return tuple(max(1, s) for s in shape)
    per_chunk = max(1, target // trailing)
    count = math.ceil(shape[split_axis] / per_chunk)
    run = math.ceil(shape[split_axis] / count)
    return (1,) * split_axis + (run,) + tuple(max(1, s) for s in shape[split_axis + 1 :])


def contiguous_refs(
    rfs: ReferenceFileSystem,
    array_key: str,
    url: str,
    base_offset: int,
    storage_size: int,
    shape: tuple[int, ...],
    chunk_shape: tuple[int, ...],
    itemsize: int,
) -> None:
    """References of the virtual chunks of a contiguous dataset stored at ``base_offset``."""
    table = ChunkTable.for_array(list(shape), list(chunk_shape))
    url_id = rfs.url_id(url)
    strides = np.empty(len(shape), dtype=np.int64)  # byte stride of each axis
    step = itemsize
    for axis in range(len(shape) - 1, -1, -1):
        strides[axis] = step
        step *= shape[axis]
    chunk_bytes = itemsize * math.prod(chunk_shape)
    grid = table.grid_shape
    linear = np.arange(math.prod(grid), dtype=np.int64)
    coords = np.unravel_index(linear, grid)
    offsets = np.zeros(linear.shape, dtype=np.int64)
    for axis, c in enumerate(coords):
        offsets += c.astype(np.int64) * chunk_shape[axis] * strides[axis]
    lengths = np.minimum(chunk_bytes, storage_size - offsets)
    keep = np.flatnonzero(lengths > 0)
    table.assign(keep, np.full(len(keep), url_id, dtype=np.int32), base_offset + offsets[keep], lengths[keep])
    rfs.tables[array_key] = table


def chunked_refs(
    rfs: ReferenceFileSystem,
    array_key: str,
    url: str,
    dsid: h5py.h5d.DatasetID,
    shape: tuple[int, ...],
    chunk_shape: tuple[int, ...],
    on_chunks: Callable[[int, int], None] | None = None,
) -> ChunkTable:
    """References of every allocated chunk of a chunked dataset, found by one index walk.

    The walk streams: its entries go into the table a batch of BATCH at a time (see
    :class:`_ChunkStream`), so memory is the table's columns plus one batch, whatever the count.
    ``on_chunks(chunks, bytes)`` hears of the chunks found (and the bytes they store) batch by
    batch during the walk: a dataset of a million chunks takes a while."""
    grid_shape = grid_of(list(shape), list(chunk_shape))
    if grid_shape is None:
        raise TranslationError(f"a chunk grid of shape {shape} / chunks {chunk_shape} has more cells than a "
                               "reference file can index")
    # The callback keeps its entries (tuples) until a batch is full: the cyclic garbage
    # collector, triggered by those allocations, would traverse them again and again, and with
    # them the whole heap as they reach its oldest generation (it made the walk of a million
    # chunks 1.6x as slow). So it is paused for the walk, and collects the young generations
    # after each batch instead (what a remote file's reads leave behind during the walk).
    collecting = gc.isenabled()
    stream = _ChunkStream(ChunkTable(grid_shape), rfs.url_id(url), chunk_shape, _unfiltered_chunk_bytes(dsid),
                          collecting, on_chunks)
    gc.disable()
    try:
        capped = math.prod(grid_shape) >= CAPPED_WALK_CELLS
        with _small_metadata_cache(dsid) if capped else contextlib.nullcontext():
            dsid.chunk_iter(stream.visit)
        stream.flush()
    finally:
        if collecting:
            gc.enable()
    table = stream.finish()
    rfs.tables[array_key] = table
    return table


# The metadata cache libhdf5 may fill while walking a chunk index (see _small_metadata_cache),
# for grids of at least CAPPED_WALK_CELLS cells: a smaller index fits the cache as it is, and
# resizing the cache for each of a file's many small datasets would evict what the rest of the
# translation reads again (object headers).
WALK_METADATA_CACHE = 2 << 20
CAPPED_WALK_CELLS = 1 << 16


@contextlib.contextmanager
def _small_metadata_cache(dsid: h5py.h5d.DatasetID) -> Iterator[None]:
    """Cap the file's metadata cache at WALK_METADATA_CACHE bytes during a chunk-index walk.

    The walk reads every page of the index once, and libhdf5's cache grows towards its default
    32 MB cap as it goes, each cached page costing about ten times its accounted size in memory
    (measured: 10,000,000 chunks left 118 MB more resident, 20 MB with the cap; the walk took as
    long). A page is not read again by the walk, so a small cache loses nothing. The file's own
    configuration is put back afterwards."""
    fid = h5py.h5i.get_file_id(dsid)
    try:
        saved = fid.get_mdc_config()
        small = fid.get_mdc_config()
        small.set_initial_size = True
        small.min_size = min(saved.min_size, WALK_METADATA_CACHE)
        small.initial_size = small.max_size = WALK_METADATA_CACHE
        fid.set_mdc_config(small)
    except RuntimeError:  # a driver or configuration that refuses: walk with the cache as it is
        yield
        return
    try:
        yield
    finally:
        fid.set_mdc_config(saved)


# Entries of the chunk index converted and stored at a time: a batch's entries are h5py
# objects of about 250 bytes each (1 MB a batch), and converting fewer at a time costs more
# NumPy calls than it saves.
BATCH = 4096
# The fields of h5py's StoreInfo (chunk_offset, filter_mask, byte_offset, size), by position.
_COORDINATES, _FILTER_MASK, _ADDRESS, _SIZE = (operator.itemgetter(i) for i in range(4))


class _ChunkStream:
    """Chunk-index entries on their way from ``chunk_iter`` into a :class:`ChunkTable`.

    The callback only keeps each entry; every BATCH entries they become NumPy columns at once
    and go into the table. The table starts sparse, sized by the chunks the file holds, not by
    the grid its shape declares (a corrupt or crafted dataspace may declare billions of cells
    over a handful of chunks): batches wait as packed columns until they cover
    1/DENSE_FRACTION of the grid (the usual case, soon), then the table turns dense and every
    later batch is written into it in place."""

    def __init__(self, table: ChunkTable, url_id: int, chunk_shape: tuple[int, ...], chunk_bytes: int | None,
                 collecting: bool = False, on_chunks: Callable[[int, int], None] | None = None):
        self.table = table
        self.on_chunks = on_chunks
        self.collecting = collecting
        self.url_id = url_id
        self.chunk_shape = np.asarray(chunk_shape, dtype=np.int64)
        self.grid_shape = np.asarray(table.grid_shape, dtype=np.int64)
        self.chunk_bytes = chunk_bytes
        self.count = 0
        self.entries: list = []
        self.waiting: list[tuple[np.ndarray, ...]] = []  # batches kept while the table is sparse
        self.waiting_count = 0
        self.dense = False
        self.batch = BATCH
        entries, limit, flush = self.entries, BATCH, self.flush
        append = entries.append

        def visit(info) -> None:  # the only per-chunk Python code: keep it this short
            append(info)
            if len(entries) >= limit:
                flush()

        self.visit = visit

    def flush(self) -> None:
        if not self.entries:
            return
        entries = self.entries
        n = len(entries)
        self.count += n
        # One pass per field (map of an itemgetter runs in C): about half the time of zip(*entries).
        sizes = np.fromiter(map(_SIZE, entries), dtype=np.int64, count=n)
        if self.chunk_bytes is not None:
            _check_unfiltered_sizes(self.chunk_bytes, sizes)
        if self.on_chunks is not None:
            self.on_chunks(n, int(sizes.sum()))
        rank = len(_COORDINATES(entries[0]))
        grid = np.fromiter(itertools.chain.from_iterable(map(_COORDINATES, entries)), dtype=np.int64, count=n * rank)
        grid = grid.reshape(n, rank) // self.chunk_shape[:rank]
        # A dataset of an HDF5 array type has Zarr axes of its own past the dataset's (one chunk
        # along each): its chunks sit at coordinate 0 there.
        extents = self.grid_shape[:rank]
        inside = (grid < extents).all(axis=1) if rank else np.ones(n, dtype=bool)
        if not (self.grid_shape[rank:] > 0).all():
            inside[:] = False
        addresses = np.fromiter(map(_ADDRESS, entries), dtype=np.int64, count=n)
        mask_column = None
        if any(map(_FILTER_MASK, entries)):
            mask_column = np.fromiter(map(_FILTER_MASK, entries), dtype=np.int64, count=n)
        entries.clear()
        # The collector is paused for the walk: its young garbage goes here, after each full
        # batch of a long walk. Not after a short walk's only (partial) batch: a file of many
        # small datasets would pay a collection per dataset (15% of translating an NWB file).
        if self.collecting and n >= self.batch:
            gc.collect(1)
        if not inside.all():
            grid, sizes, addresses = grid[inside], sizes[inside], addresses[inside]
            mask_column = mask_column[inside] if mask_column is not None else None
        linear = _linear(grid, extents, self.grid_shape[rank:])
        batch = (linear, np.full(len(linear), self.url_id, dtype=np.int32), addresses, sizes, mask_column)
        if self.dense:
            self.table.assign(*batch)
            return
        self.waiting.append(batch)
        self.waiting_count += len(linear)
        if self.waiting_count * DENSE_FRACTION >= self.table.size:
            self._turn_dense()

    def _turn_dense(self) -> None:
        self.table = ChunkTable(self.table.grid_shape, dense=True)
        self.dense = True
        for batch in self.waiting:  # in the order the walk gave them: the last of a repeat counts
            self.table.assign(*batch)
        self.waiting.clear()

    def finish(self) -> ChunkTable:
        """The table, once every batch is flushed."""
        if self.waiting:
            columns = [np.concatenate(parts) for parts in zip(*((b[:4]) for b in self.waiting))]
            masks = None
            if any(b[4] is not None for b in self.waiting):
                masks = np.concatenate([b[4] if b[4] is not None else np.zeros(len(b[0]), np.int64)
                                        for b in self.waiting])
            self.waiting.clear()
            self.table.assign(*columns, masks)
        return self.table


def _linear(grid: np.ndarray, extents: np.ndarray, trailing: np.ndarray) -> np.ndarray:
    """C-order linear indices of grid coordinates (inside the grid) over the dataset's axes,
    at coordinate 0 along any trailing axes of an array type."""
    if not len(extents):
        linear = np.zeros(len(grid), dtype=np.int64)
    elif len(extents) == 1:
        linear = grid[:, 0].copy()
    else:
        linear = np.ravel_multi_index(tuple(grid.T), tuple(int(e) for e in extents))
    step = int(np.prod(trailing)) if len(trailing) else 1
    return linear * step if step != 1 else linear


def _unfiltered_chunk_bytes(dsid: h5py.h5d.DatasetID) -> int | None:
    """The bytes every chunk of a dataset without filters holds (None with filters)."""
    if dsid.get_create_plist().get_nfilters():
        return None
    return dsid.get_type().get_size() * math.prod(_chunk_shape_of(dsid))


def _check_unfiltered_sizes(chunk_bytes: int, recorded: np.ndarray) -> None:
    """Without filters a chunk is stored whole: a chunk index recording another size is corrupt.
    libhdf5 trusts the recorded size when it reads such a chunk, and copied the bytes past the
    end of its chunk buffer (the process crashed), so the sizes are checked before any read."""
    wrong = np.flatnonzero(recorded != chunk_bytes)
    if len(wrong):
        raise TranslationError(f"its chunk index records a chunk of {int(recorded[wrong[0]])} bytes where an unfiltered "
                               f"chunk holds {chunk_bytes}: the file is corrupt")


def inline_table_chunks(rfs: ReferenceFileSystem, array_key: str, dsid: h5py.h5d.DatasetID,
                        table: ChunkTable) -> bool:
    """Store the raw (still filtered) chunks of a small chunked dataset inline.

    Returns False, changing nothing, when some chunk skipped a filter: its bytes alone do not
    say so, and only a reference can carry the mask."""
    if table.filter_mask is not None and table.filter_mask.any():
        return False
    present = table.present()
    chunk_shape = _chunk_shape_of(dsid)
    for linear in present:
        linear = int(linear)
        coords = np.unravel_index(linear, table.grid_shape) if table.grid_shape else ()
        origin = tuple(int(c) * s for c, s in zip(coords, chunk_shape))
        _, data = dsid.read_direct_chunk(origin)
        rfs.inline[join_key(array_key, table.chunk_name(linear))] = bytes(data)
    del rfs.tables[array_key]
    return True


def _chunk_shape_of(dsid: h5py.h5d.DatasetID) -> tuple[int, ...]:
    return tuple(dsid.get_create_plist().get_chunk())
