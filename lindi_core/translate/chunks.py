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

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import h5py
import numpy as np

from lindi_core.errors import TranslationError
from lindi_core.format.chunk_table_forms import AUTO_THRESHOLD, CHUNK_TABLE_CHOICES
from lindi_core.format.keys import join_key
from lindi_core.format.refs import ChunkTable, ReferenceFileSystem, grid_of


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
    keep = lengths > 0
    table.url_index[keep] = url_id
    table.offset[keep] = base_offset + offsets[keep]
    table.length[keep] = lengths[keep]
    rfs.tables[array_key] = table


# chunks found between two reports to a progress callback during an index walk
PROGRESS_EVERY = 8192


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

    The walk's results are packed into flat machine-integer buffers as they arrive (about
    ``8 * (ndim + 3)`` bytes a chunk), not kept as a Python object per chunk. ``on_chunks(chunks,
    bytes)`` hears of the chunks found (and the bytes they store) during the walk, every
    ``PROGRESS_EVERY`` chunks and at its end: a dataset of a million chunks takes a while."""
    coordinates = array("q")
    addresses = array("q")
    sizes = array("q")
    masks = array("q")

    def visit(info) -> None:
        coordinates.extend(info.chunk_offset)
        addresses.append(info.byte_offset)
        sizes.append(info.size)
        masks.append(info.filter_mask)

    reported = 0

    def report() -> None:
        nonlocal reported
        count = len(addresses)
        if count > reported:
            on_chunks(count - reported, int(np.frombuffer(sizes, dtype=np.int64)[reported:count].sum()))
            reported = count

    def visit_and_report(info) -> None:
        visit(info)
        if len(addresses) - reported >= PROGRESS_EVERY:
            report()

    dsid.chunk_iter(visit if on_chunks is None else visit_and_report)  # no cost without a listener
    if on_chunks is not None:
        report()
    _check_unfiltered_sizes(dsid, sizes)
    grid_shape = grid_of(list(shape), list(chunk_shape))
    if grid_shape is None:
        raise TranslationError(f"a chunk grid of shape {shape} / chunks {chunk_shape} has more cells than a "
                               "reference file can index")
    # Sized by the chunks the file holds, not by the grid its shape declares (a corrupt or
    # crafted dataspace may declare billions of cells over a handful of chunks): a sparse table
    # turns dense by itself once the chunks cover enough of the grid (the usual case).
    table = ChunkTable(grid_shape)
    count = len(addresses)
    if count:
        grid = np.frombuffer(coordinates, dtype=np.int64).reshape(count, len(coordinates) // count)
        # A dataset of an HDF5 array type has Zarr axes of its own past the dataset's (one chunk
        # along each): its chunks sit at coordinate 0 there.
        grid = np.pad(grid, ((0, 0), (0, len(chunk_shape) - grid.shape[1])))
        grid = grid // np.asarray(chunk_shape, dtype=np.int64)
        inside = np.all(grid < np.asarray(table.grid_shape, dtype=np.int64), axis=1)
        if table.grid_shape:
            linear = np.ravel_multi_index(tuple(grid[inside].T), table.grid_shape)
        else:
            linear = np.zeros(int(inside.sum()), dtype=np.int64)
        table.assign(linear, np.full(len(linear), rfs.url_id(url), dtype=np.int32),
                     np.frombuffer(addresses, dtype=np.int64)[inside], np.frombuffer(sizes, dtype=np.int64)[inside],
                     np.frombuffer(masks, dtype=np.int64)[inside])
    rfs.tables[array_key] = table
    return table


def _check_unfiltered_sizes(dsid: h5py.h5d.DatasetID, sizes: array) -> None:
    """Without filters a chunk is stored whole: a chunk index recording another size is corrupt.
    libhdf5 trusts the recorded size when it reads such a chunk, and copied the bytes past the
    end of its chunk buffer (the process crashed), so the sizes are checked before any read."""
    if dsid.get_create_plist().get_nfilters() or not sizes:
        return
    chunk_bytes = dsid.get_type().get_size() * math.prod(_chunk_shape_of(dsid))
    recorded = np.frombuffer(sizes, dtype=np.int64)
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
