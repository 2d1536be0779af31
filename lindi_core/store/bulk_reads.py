"""Reading a box of many chunks in bulk: refs looked up, ranges merged and values placed as
columns, without Python work per chunk where the chunks allow it.

A box of a finely chunked array touches very many chunks (a whole read of a million-chunk
dataset of 64-byte chunks: a million). Going through the read engine's per-chunk road
(:func:`lindi_core.store.read_engine.read_box`) costs tens of microseconds of Python for each
(a key, a coroutine, a future of the merging byte source, a hop to a worker thread): tens of
seconds for bytes a single request fetches in a fraction of one. Here, for an array with a chunk
table (:class:`~lindi_core.format.refs.ChunkTable`), the chunks of a box are handled as NumPy
columns, window by window (windows of the per-chunk road's size):

* **refs**: the window's chunks are looked up in one call
  (:meth:`ReferenceStore.chunk_ref_columns`) and sorted into what this module proves it
  reads (a table ref with no filter skipped, into a file or URL the store's policy reads as
  named) and what it leaves to the per-chunk road (inline chunks, chunks with a filter mask,
  refs into members of a container, short edge chunks of uncompressed arrays, chunks of arrays
  of libhdf5's filter pipeline); a chunk with neither a ref nor an inline value holds the fill
  value (arrays linked to their HDF5 file or translated unreadable never come here);
* **fetching**: the refs of each URL, sorted by offset, are merged into spans by the byte
  source's own rules (gaps of at most ``merge_gap``, spans of at most ``max_merged`` bytes, a
  larger single ref whole; :func:`merge_spans`), and each span is read once through the store
  (:meth:`ReferenceStore.read_span`: its byte sources, so the local cache, retries, the
  deadline, the address guard and the checks of every answer apply as to any read);
* **placing**: the chunks of an uncompressed array stored at full size, which lie whole in the
  box, go into the result while their span's bytes arrive
  (:class:`~lindi_core.store.chunk_placement.PlacingSink`: a span of them is never held whole,
  its bytes copied once); where a span holds other chunks too, they are copied from the span
  in one NumPy assignment (a chunked view of the result indexed by the chunks' grid
  positions); the chunks with a codec are
  decoded by the array's fast decoder (bounded by the chunk's size, as on the per-chunk road)
  in worker threads, a batch of about :data:`DECODE_BATCH_BYTES` per hand-over, not one chunk
  each; chunks cut by the box's edge are cut from their bytes one by one (as many as the box
  has edge chunks, not as it has chunks).

Each span is placed as its bytes arrive or as soon as they are all in, while the others still
arrive; the first failure (of a read, a decode, a chunk of the per-chunk road) fails the read
and cancels the rest. A window's refs are looked up in stages (:func:`stage_bounds`), the first
one small, so that the first request leaves after a small look-up.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lindi_core.codecs.bounded import chunk_geometry
from lindi_core.format import annotations as ann
from lindi_core.format.keys import chunk_key, chunk_owner, join_key
from lindi_core.io import workers
from lindi_core.store import lazy_tables, read_engine, result_memory
from lindi_core.store.chunk_placement import PlacingSink, byte_blocks, chunked_view, place_whole_chunks
from lindi_core.store.filter_mask import uses_libhdf5_pipeline

# Boxes of fewer chunks take the per-chunk road: its cost is small for them, and it keeps
# every chunk it reads in the store's memory of recent reads, chunk by chunk.
BULK_MIN_CHUNKS = 32
# Chunks larger than this (decoded) take the per-chunk road: its cost per chunk is small beside
# theirs, and it decodes each chunk the moment its last byte arrives, while the rest of its
# merged request still streams in (a span is placed once it is all in), and keeps each chunk on
# its own in the local cache.
BULK_MAX_CHUNK_BYTES = 128 * 1024
# Decoded bytes of the chunks one worker hand-over decodes: enough to make the hand-over's cost
# small, few enough that the chunks of a span are decoded by all cores.
DECODE_BATCH_BYTES = 1024 * 1024
# Bytes of chunks of one stage of a window: its refs are looked up (tens of milliseconds for a
# million refs) and its spans sent before the next stage's are looked up, so the look-ups of all
# but the first stage take place while bytes travel. (The byte source's largest merged request.)
STAGE_BYTES = 16 * 1024 * 1024
# A box whose chunks hold at most this share of the store's memory of recent reads (16 MiB of
# its default 256) has its spans remembered there; a larger one streams its spans into the
# result without keeping them.
REMEMBERED_BOX_SHARE = 1 / 16
# The first stage of a window: this share of a stage (a sixteenth: 1 MiB of chunks, looked up in
# about a millisecond), so that the first request leaves almost at once.
FIRST_STAGE_SHARE = 1 / 16
REQUEST_TURNS = 8  # event-loop turns from a span read's start to its request sent (aiohttp's included)

_RAW, _CODED, _SINGLE, _FILL = 0, 1, 2, 3  # how each chunk of a window is read


@dataclass(frozen=True)
class AxisCut:
    """The chunks one axis of a box touches, in order: for the ``t``-th of them, its grid
    coordinate, where the box's part of it begins inside the chunk (every ``step``-th element
    on from there), the run of the result it fills, and whether it takes the whole chunk.
    Worked out for the chunks asked about, not held per chunk: an axis of a whole read may touch
    millions, and arrays of that length cost more to fill than the read's own columns."""

    start: int  # the box's first element along the axis
    step: int
    count: int  # elements of the result along the axis
    size: int  # elements of a chunk along the axis
    touched: int  # chunks touched
    first_coord: int  # grid coordinate of the first chunk touched
    coords: np.ndarray | None  # the coordinates when the steps skip chunks, else None (a run)
    full_from: int  # the touched chunks taken whole: [full_from, full_to)
    full_to: int

    def coords_at(self, t: np.ndarray) -> np.ndarray:
        return self.first_coord + t if self.coords is None else self.coords[t]

    def coord(self, i: int) -> int:
        return self.first_coord + i if self.coords is None else int(self.coords[i])

    def full_at(self, t: np.ndarray) -> np.ndarray:
        return (t >= self.full_from) & (t < self.full_to)

    def into(self, i: int) -> slice:
        low = self.coord(i) * self.size
        into_start = max(0, -((self.start - low) // self.step))  # first selected element at or after low
        return slice(into_start, min(self.count, -((self.start - low - self.size) // self.step)))

    def within(self, i: int) -> slice:
        into = self.into(i)
        first = self.start + into.start * self.step - self.coord(i) * self.size
        return slice(first, first + (into.stop - into.start - 1) * self.step + 1, self.step)


def cut_axis(axis: slice, extent: int, size: int) -> AxisCut:
    """The chunks of ``size`` elements that the slice ``axis`` (positive step) of an axis of
    ``extent`` elements touches; chunks its steps skip entirely are left out."""
    start, stop, step = axis.indices(extent)
    count = max(0, -(-(stop - start) // step))
    if not count:
        return AxisCut(start, step, 0, size, 0, 0, None, 0, 0)
    last = start + (count - 1) * step
    first_coord, last_coord = start // size, last // size
    coords = None
    if step > size:  # steps longer than a chunk may skip some: the touched ones listed
        low = np.arange(first_coord, last_coord + 1, dtype=np.int64) * size
        kept = np.maximum(0, -((start - low) // step)) < np.minimum(count, -((start - low - size) // step))
        coords = low[kept] // size
    touched = last_coord - first_coord + 1 if coords is None else len(coords)
    full_from = full_to = 0
    if step == 1:  # the chunks lying inside [start, start + count) whole
        full_from = -(-start // size) - first_coord
        full_to = max(full_from, min(touched, (start + count) // size - first_coord))
    return AxisCut(start, step, count, size, touched, first_coord, coords, full_from, full_to)


def merge_spans(offsets: np.ndarray, lengths: np.ndarray, *, max_gap: int,
                max_size: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Merge the ranges ``(offsets, lengths)`` as :func:`lindi_core.io.coalesce.plan` does (gaps
    of at most ``max_gap`` bytes, merged spans of at most ``max_size`` bytes, a larger single
    range whole): (the order of the ranges by offset, ``None`` when they are in that order
    already; the position in that order of each span's first range; span starts and stops as
    one array of shape (spans, 2)). Span ``k`` holds the ranges ``firsts[k]:firsts[k + 1]`` of
    that order (the last one, those from ``firsts[-1]`` on)."""
    if len(offsets) < 2 or (offsets[1:] >= offsets[:-1]).all():  # refs are mostly in file order already
        order = None
        starts, ends = offsets, offsets + lengths
    else:
        order = np.argsort(offsets, kind="stable")
        starts, ends = offsets[order], offsets[order] + lengths[order]
    count = len(starts)
    # Refs in file order, none inside another (the usual case): the ends rise already, so they
    # are their own running maximum.
    rising = count < 2 or bool((ends[1:] >= ends[:-1]).all())
    # A gap breaks the spans where a range starts more than max_gap past every end before it.
    breaks = np.flatnonzero(starts[1:] - (ends if rising else np.maximum.accumulate(ends))[:-1] > max_gap) + 1
    spans: list[tuple[int, int, int]] = []  # (first member, start, stop)
    begin = 0
    for group_stop in np.append(breaks, count).tolist():
        i = begin
        while i < group_stop:
            if rising:
                j = i + max(1, int(np.searchsorted(ends[i:group_stop], int(starts[i]) + max_size, side="right")))
                stop = int(ends[j - 1])
            else:
                j, stop = _span_from(starts, ends, i, group_stop, max_size)
            spans.append((i, int(starts[i]), stop))
            i = j
        begin = group_stop
    firsts = np.array([s[0] for s in spans], dtype=np.int64)
    bounds = np.array([(s[1], s[2]) for s in spans], dtype=np.int64).reshape(len(spans), 2)
    return order, firsts, bounds


def _span_from(starts: np.ndarray, ends: np.ndarray, i: int, group_stop: int, max_size: int) -> tuple[int, int]:
    """The span beginning with range ``i`` (of ranges sorted by start, no gap larger than allowed
    before ``group_stop``): (index past its last range, its stop), the ranges taken while the
    span stays within ``max_size`` bytes (the first one always). Looks ahead in growing steps, so
    the work is in proportion to the span's ranges, not to the rest of the group."""
    limit = int(starts[i]) + max_size
    look = 1024
    while True:
        stop_at = min(group_stop, i + look)
        ends_here = np.maximum.accumulate(ends[i:stop_at])
        taken = max(1, int(np.searchsorted(ends_here, limit, side="right")))
        if taken < len(ends_here) or stop_at == group_stop:
            return i + taken, int(ends_here[taken - 1])
        look *= 4


def stage_bounds(start: int, stop: int, stage: int) -> list[int]:
    """Where the stages of the chunks ``start:stop`` of a window begin (and the last ends): the
    first stage :data:`FIRST_STAGE_SHARE` of ``stage`` chunks, each next one twice the one
    before, up to ``stage``. A small first stage puts bytes on the wire after a small look-up;
    the larger ones after it are looked up while those bytes travel."""
    bounds = [start]
    size = max(BULK_MIN_CHUNKS, int(stage * FIRST_STAGE_SHARE))
    while bounds[-1] < stop:
        bounds.append(min(stop, bounds[-1] + size))
        size = min(stage, 2 * size)
    return bounds


async def read_box(reader: Any, axes: tuple[slice, ...], window_chunks: int | None = None) -> np.ndarray | None:
    """The values of the box ``axes`` of the array of ``reader`` (a
    :class:`~lindi_core.store.read_engine.ArrayReader` whose boxes it places), read in bulk;
    ``None`` where this road does not serve the array or box (no chunk table, few chunks, large
    chunks, a linked or unreadable array), which the per-chunk road then reads."""
    store = reader.store
    if not reader.shape or not hasattr(store, "chunk_ref_columns"):
        return None
    zattrs = store.rfs.metadata.get(join_key(reader.array_path, ".zattrs"))
    if isinstance(zattrs, dict) and (ann.EXTERNAL_ARRAY_LINK in zattrs or ann.UNREADABLE in zattrs):
        return None  # missing chunks are no fill value there: the store's business, chunk by chunk
    cuts = [cut_axis(axis, extent, size) for axis, extent, size in zip(axes, reader.shape, reader.chunks)]
    touched = tuple(cut.touched for cut in cuts)
    total = math.prod(touched)
    if total < BULK_MIN_CHUNKS or reader.dtype.itemsize * math.prod(reader.chunks) > BULK_MAX_CHUNK_BYTES:
        return None
    if await store.chunk_ref_columns(reader.array_path, np.zeros(0, dtype=np.int64)) is None:
        return None
    box = _Box(reader, cuts)
    if window_chunks is None:
        window_chunks = max(read_engine.MIN_WINDOW_CHUNKS, read_engine.WINDOW_BYTES // max(1, box.chunk_nbytes))
    for start in range(0, total, window_chunks):
        await box.read_window(start, min(total, start + window_chunks))
    return box.out


class _Box:
    """One bulk read of a box: the result, and what every window needs to place its chunks."""

    def __init__(self, reader: Any, cuts: list[AxisCut]):
        self.reader = reader
        self.store = reader.store
        self.cuts = cuts
        self.chunks: tuple[int, ...] = reader.chunks
        self.dtype: np.dtype = reader.dtype
        self.chunk_nbytes = self.dtype.itemsize * math.prod(self.chunks)
        self.touched = tuple(cut.touched for cut in cuts)
        self.grid = tuple(-(-n // c) for n, c in zip(reader.shape, self.chunks))
        self.out = np.empty(tuple(cut.count for cut in cuts), self.dtype)
        result_memory.populate_soon(self.out)  # while the first requests travel
        self.fill = np.asarray(reader._fill, dtype=self.dtype)
        self.decoder = reader._decoder
        zarray = reader.zarray
        self.uncompressed = not zarray.get("compressor") and not zarray.get("filters")
        # libhdf5's pipeline takes each chunk's filter mask as a header the store adds
        self.per_chunk_codec = uses_libhdf5_pipeline(zarray.get("filters"))
        self.executor = read_engine.decode_executor()
        # The spans of a small box are remembered by the store, for reads of the same chunks
        # again; those of a large one are not (its values are the caller's already, and they
        # would push most else out of the store's memory).
        self.remember_spans = self.chunk_nbytes * math.prod(self.touched) <= self.store.memory_cache_bytes * \
            REMEMBERED_BOX_SHARE
        self.blocks = self._blocks()
        self.byte_blocks = self._byte_blocks() if self.blocks is not None else None

    def _blocks(self) -> tuple[np.ndarray, tuple[int, ...]] | None:
        """The part of the result made of chunks taken whole, viewed as (grid positions...,
        chunk shape...), and the touched index of its first chunk on each axis; None when no
        chunk is taken whole."""
        firsts, counts, region = [], [], []
        for cut, size in zip(self.cuts, self.chunks):
            if cut.full_to <= cut.full_from:
                return None
            first, number = cut.full_from, cut.full_to - cut.full_from
            firsts.append(first)
            counts.append(number)
            begin = cut.into(first).start
            region.append(slice(begin, begin + number * size))
        part = self.out[tuple(region)]
        return chunked_view(part, counts, self.chunks), tuple(firsts)

    def _byte_blocks(self) -> np.ndarray:
        """:attr:`blocks` as bytes (see :func:`byte_blocks`)."""
        return byte_blocks(self.blocks[0], self.chunks, self.dtype.itemsize)

    async def read_window(self, start: int, stop: int) -> None:
        """Read and place the chunks ``start:stop`` of the box (in C order of its touched grid):
        stage by stage (:func:`stage_bounds`), each stage's spans sent as soon as its refs are
        looked up, so that the look-ups of the later stages take place while the earlier
        stages' bytes travel. The refs of a lazy table held in the reference file are decoded
        for the first stage, and once its spans are sent, for the rest of the window; those of a
        table file are fetched for the whole window first, in one request (the table's round
        trip is then the read's only one before its first spans)."""
        stage = max(BULK_MIN_CHUNKS, STAGE_BYTES // max(1, self.chunk_nbytes))
        if stop - start <= stage:  # looked up in a few milliseconds at most: one stage
            await (await self._window(start, stop)).run()
            return
        bounds = stage_bounds(start, stop, stage)
        in_memory = lazy_tables.held_in_memory(self.store.rfs, self.reader.array_path)
        if not in_memory:
            await lazy_tables.load_cells(self.store.rfs, self.reader.array_path, self._cells_of(bounds))
        running: list[asyncio.Future] = []
        held = 0  # bytes of the spans of the running stages: at most a window's (gaps included)
        try:
            for first, last in zip(bounds[:-1], bounds[1:]):
                window = await self._window(first, last)
                size = window.plan()
                if running and held + size > read_engine.WINDOW_BYTES:
                    await asyncio.gather(*running)
                    running, held = [], 0
                running.append(asyncio.ensure_future(window.run()))
                held += size
                await _let_requests_leave()
                if first == start and in_memory:
                    await lazy_tables.load_cells(self.store.rfs, self.reader.array_path, self._cells_of(bounds[1:]))
            await asyncio.gather(*running)
        except BaseException:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise

    def _cells_of(self, bounds: list[int]) -> Iterator[np.ndarray | range]:
        """The grid positions of the chunks between ``bounds[0]`` and ``bounds[-1]``, stage by
        stage (``bounds``: the stages' bounds), one array at a time."""
        for first, last in zip(bounds[:-1], bounds[1:]):
            yield self._grid_of(first, last)[1]

    def _grid_of(self, start: int, stop: int) -> tuple[tuple[np.ndarray, ...], np.ndarray | range]:
        """The touched index (per axis) and the grid position of the chunks ``start:stop`` (a
        ``range`` where they are a run of the grid: an axis whose steps skip no chunk)."""
        if len(self.cuts) == 1:
            touched_index = np.arange(start, stop, dtype=np.int64)
            cut = self.cuts[0]
            if cut.coords is None:
                return (touched_index,), range(cut.first_coord + start, cut.first_coord + stop)
            return (touched_index,), cut.coords_at(touched_index)
        touched_index = np.unravel_index(np.arange(start, stop, dtype=np.int64), self.touched)
        return touched_index, np.ravel_multi_index(tuple(cut.coords_at(t) for cut, t in zip(self.cuts, touched_index)),
                                                   self.grid)

    async def _window(self, start: int, stop: int) -> _Window:
        """The chunks ``start:stop`` of the box, their refs looked up and sorted by how each is read."""
        touched_index, linear = self._grid_of(start, stop)
        columns = await self.store.chunk_ref_columns(self.reader.array_path, linear)
        if columns is None:
            raise RuntimeError(f"the chunk table of {self.reader.array_path!r} went away during a read")
        whole = np.ones(stop - start, dtype=bool)
        for cut, t in zip(self.cuts, touched_index):
            whole &= cut.full_at(t)
        kind = self._kinds(columns, whole)
        # Chunks with neither a table ref nor an inline value: the fill value.
        absent = np.flatnonzero(~columns.present)
        if len(absent):
            inline = self.store.rfs.inline
            for i in absent.tolist():
                if self._key(touched_index, i) in inline:
                    kind[i] = _SINGLE
        return _Window(self, touched_index, whole, columns, kind)

    def _kinds(self, columns: Any, whole: np.ndarray) -> np.ndarray:
        kind = np.full(len(whole), _SINGLE, dtype=np.int8)
        kind[~columns.present] = _FILL
        plain = columns.present & (columns.filter_mask == 0) & (columns.length >= 0)
        if self.uncompressed:
            kind[plain & (columns.length == self.chunk_nbytes)] = _RAW
        elif not self.per_chunk_codec:
            kind[plain] = _CODED
        return kind

    def _key(self, touched_index: tuple[np.ndarray, ...], i: int) -> str:
        coords = [cut.coord(int(t[i])) for cut, t in zip(self.cuts, touched_index)]
        return chunk_key(self.reader.array_path, coords, self.reader.separator)

    def part(self, touched_index: tuple[np.ndarray, ...], i: int) -> read_engine.ChunkPart:
        within = tuple(cut.within(int(t[i])) for cut, t in zip(self.cuts, touched_index))
        into = tuple(cut.into(int(t[i])) for cut, t in zip(self.cuts, touched_index))
        return read_engine.ChunkPart(self._key(touched_index, i), within, into)


class _Window:
    """The chunks of one window of a bulk read: their spans, fetched and placed."""

    def __init__(self, box: _Box, touched_index: tuple[np.ndarray, ...], whole: np.ndarray, columns: Any,
                 kind: np.ndarray):
        self.box = box
        self.touched_index = touched_index
        self.whole = whole
        self.columns = columns
        self.kind = kind

    def plan(self) -> int:
        """Plan the spans of the window's chunks; the bytes they hold."""
        spanned = np.flatnonzero((self.kind == _RAW) | (self.kind == _CODED))
        self.spans, unspanned = plan_spans(self.box.store, self.columns, spanned)
        self.kind[unspanned] = _SINGLE
        return sum(span.length for span in self.spans)

    async def run(self) -> None:
        kind = self.kind
        if not hasattr(self, "spans"):
            self.plan()
        self._place_fill(np.flatnonzero(kind == _FILL))
        singles = [self._read_single(i) for i in np.flatnonzero(kind == _SINGLE).tolist()]
        await read_spans(self.spans, self._read_span, singles)

    # -- fill ----------------------------------------------------------------------------
    def _place_fill(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        box = self.box
        whole = rows[self.whole[rows]]
        if len(whole):
            blocks, firsts = box.blocks
            blocks[tuple(t[whole] - f for t, f in zip(self.touched_index, firsts))] = box.fill
        for i in rows[~self.whole[rows]].tolist():
            box.out[box.part(self.touched_index, i).into] = box.fill

    # -- the per-chunk road -----------------------------------------------------------------
    async def _read_single(self, i: int) -> None:
        box = self.box
        part = box.part(self.touched_index, i)
        encoded = await box.store.chunk_bytes(part.key)
        await workers.in_worker(box.executor, read_engine.place_chunk, box.out, part, encoded, box.decoder,
                                box.dtype, box.chunks, box.fill, box.reader.array_path)

    # -- spans -----------------------------------------------------------------------------
    async def _read_span(self, span: Span) -> None:
        box = self.box
        rows = span.rows
        picked = _as_slice(rows)  # (the rows of a span are mostly a run of the window's: views, not copies)
        if (self.kind[picked] == _RAW).all() and self.whole[picked].all():
            # Whole chunks taken as they are: placed while the span's bytes arrive, never held.
            where = tuple(t[picked] - f for t, f in zip(self.touched_index, box.blocks[1]))
            sink = PlacingSink(box.byte_blocks, where, self.columns.offset[picked] - span.start, box.chunk_nbytes,
                               keep=box.remember_spans)
            await box.store.read_span(span.url, span.location, span.start, span.length, into=sink)
            sink.check_complete()
            return
        # Chunks cut by the box, or with a codec, among them: the span's bytes whole, then placed.
        data = await box.store.read_span(span.url, span.location, span.start, span.length)
        relative = self.columns.offset[rows] - span.start
        raw = self.kind[rows] == _RAW
        if raw.any():
            await workers.in_worker(box.executor, self._place_raw, data, rows[raw], relative[raw])
        coded_rows, coded_at = rows[~raw], relative[~raw]
        if len(coded_rows):
            per_batch = max(1, DECODE_BATCH_BYTES // max(1, box.chunk_nbytes))
            await _all_or_none([
                workers.in_worker(box.executor, self._decode, data, coded_rows[b : b + per_batch],
                                  coded_at[b : b + per_batch])
                for b in range(0, len(coded_rows), per_batch)])

    def _place_raw(self, data: bytes, rows: np.ndarray, relative: np.ndarray) -> None:
        """Copy uncompressed full-size chunks from their span into the result."""
        box = self.box
        nbytes = box.chunk_nbytes
        flat = np.frombuffer(data, dtype=np.uint8)
        whole = self.whole[rows]
        if whole.any():
            placed = rows[whole]
            where = tuple(t[placed] - f for t, f in zip(self.touched_index, box.blocks[1]))
            place_whole_chunks(box.byte_blocks, where, flat, relative[whole], nbytes)
        for i, at in zip(rows[~whole].tolist(), relative[~whole].tolist()):
            part = box.part(self.touched_index, i)
            chunk = flat[at : at + nbytes].view(box.dtype).reshape(box.chunks)
            box.out[part.into] = chunk[part.within]

    def _decode(self, data: bytes, rows: np.ndarray, relative: np.ndarray) -> None:
        """Decode chunks with a codec from their span into the result (a worker's batch)."""
        box = self.box
        lengths = self.columns.length[rows]
        for i, at, length in zip(rows.tolist(), relative.tolist(), lengths.tolist()):
            read_engine.place_chunk(box.out, box.part(self.touched_index, i), data[at : at + length], box.decoder,
                                    box.dtype, box.chunks, box.fill, box.reader.array_path)


@dataclass(frozen=True)
class BulkArray:
    """An array whose chunks a bulk read may read as table refs: its chunk table and geometry."""

    path: str
    table: Any
    chunks: tuple[int, ...]
    uncompressed: bool  # neither a compressor nor filters: a chunk's bytes are its values
    chunk_nbytes: int

    def linear_indices(self, keys: Sequence[str]) -> np.ndarray:
        """The grid position of the chunk of each key in the table, -1 for a key that is no
        canonical chunk key of this array (left to the per-chunk road)."""
        prefix = join_key(self.path, "")
        names = [key[len(prefix) :] if key.startswith(prefix) and key.find("/", len(prefix)) < 0 else "" for key in keys]
        return self.table.linear_indices(names)  # ("" is no chunk name: -1)


def bulk_array(store: Any, key: str) -> BulkArray | None:
    """The array of the chunk ``key`` of ``store`` if a bulk read serves it (a chunk table; not
    linked to its HDF5 file nor translated unreadable; not of libhdf5's filter pipeline; chunks
    of at most :data:`BULK_MAX_CHUNK_BYTES`), else ``None``."""
    if not hasattr(store, "chunk_ref_columns"):
        return None
    owner = chunk_owner(key, store.rfs.metadata)
    if owner is None:
        return None
    array_path, _, zarray = owner
    table = store.rfs.tables.get(array_path)
    zattrs = store.rfs.metadata.get(join_key(array_path, ".zattrs"))
    if table is None or (isinstance(zattrs, dict) and (ann.EXTERNAL_ARRAY_LINK in zattrs or ann.UNREADABLE in zattrs)):
        return None
    if uses_libhdf5_pipeline(zarray.get("filters")):
        return None
    try:
        chunk_nbytes = chunk_geometry(zarray)[0]
        chunks = tuple(int(c) for c in zarray["chunks"])
    except (TypeError, ValueError, IndexError, AttributeError, KeyError):
        return None
    if chunk_nbytes is None or chunk_nbytes > BULK_MAX_CHUNK_BYTES:
        return None
    return BulkArray(array_path, table, chunks, not zarray.get("compressor") and not zarray.get("filters"),
                     chunk_nbytes)


def window_fetcher(store: Any, batch_info: Sequence[tuple[Any, ...]]
                   ) -> Callable[[Sequence[tuple[Any, ...]]], Awaitable[list[Any]]] | None:
    """For zarr's road (the codec pipeline's ``read_in_windows``): a function fetching a window
    of ``batch_info`` entries (byte getter, chunk spec, ...) of one array at once, giving for
    each what ``getter.get(spec.prototype)`` gives: the table refs it proves it reads (no
    filter skipped, uncompressed chunks of full size) read as spans, each chunk's bytes checked
    by the store as ``get`` checks them; every other chunk by ``get`` itself. ``None`` where this
    road does not serve the array (no chunk table, large chunks, linked or unreadable, libhdf5's
    pipeline)."""
    array = bulk_array(store, batch_info[0][0].path) if batch_info else None
    if array is None:
        return None
    array_path, uncompressed, chunk_nbytes = array.path, array.uncompressed, array.chunk_nbytes

    async def fetch(part: Sequence[tuple[Any, ...]]) -> list[Any]:
        results: list[Any] = [None] * len(part)
        linear = array.linear_indices([getter.path for getter, *_ in part])
        known = np.flatnonzero(linear >= 0)
        columns = await store.chunk_ref_columns(array_path, linear[known])
        if columns is None:
            return [await getter.get(spec.prototype) for getter, spec, *_ in part]
        plain = columns.present & (columns.filter_mask == 0) & (columns.length >= 0)
        if uncompressed:
            plain &= columns.length == chunk_nbytes  # (short edge chunks are padded by get)
        spans, _ = plan_spans(store, columns, np.flatnonzero(plain))
        by_span = np.zeros(len(part), dtype=bool)
        for span in spans:
            by_span[known[span.rows]] = True

        async def use(span: Span) -> None:
            data = await store.read_span(span.url, span.location, span.start, span.length)
            at = (columns.offset[span.rows] - span.start).tolist()
            lengths = columns.length[span.rows].tolist()
            chunks = []
            for row, begin, length in zip(span.rows.tolist(), at, lengths):
                i = int(known[row])
                chunks.append((i, bytes(data[begin : begin + length])))
            if not uncompressed:  # the bounds check of get (a compression bomb refused)
                await asyncio.gather(*(store._check_decodable(part[i][0].path, chunk) for i, chunk in chunks))
            for i, chunk in chunks:
                results[i] = part[i][1].prototype.buffer.from_bytes(chunk)

        async def single(i: int) -> None:
            results[i] = await part[i][0].get(part[i][1].prototype)

        await read_spans(spans, use, [single(i) for i in np.flatnonzero(~by_span).tolist()])
        return results

    return fetch


@dataclass(frozen=True)
class Span:
    """One range to read: ``length`` bytes at ``start`` of ``url`` (at ``location``), holding the
    chunks at ``rows`` (of the columns it was planned from), in the order of their offsets."""

    url: str
    location: Any
    start: int
    length: int
    rows: np.ndarray


def plan_spans(store: Any, columns: Any, rows: np.ndarray) -> tuple[list[Span], np.ndarray]:
    """The spans that read the refs ``rows`` (sorted, distinct) of ``columns`` (refs of one
    array), merged per URL by the byte source's rules; and the rows no span may read (refs into
    a member of the store's container, which are checked against the member's end one by one)."""
    spans: list[Span] = []
    unspanned: list[np.ndarray] = []
    if not len(rows):
        return spans, rows
    http = store.sources.http
    every = len(rows) == len(columns.offset)  # all the rows (sorted, distinct): the columns as they are

    def of(column: np.ndarray, members: np.ndarray | None) -> np.ndarray:
        return column if members is None else column[members]

    url_index = of(columns.url_index, None if every else rows)
    lowest, highest = int(url_index.min()), int(url_index.max())
    for url_id in [lowest] if lowest == highest else np.unique(url_index).tolist():
        members = rows if lowest == highest else rows[url_index == url_id]
        picked = None if every and lowest == highest else members
        url = store.rfs.urls[url_id]
        location = store.span_location(url)
        if location is None:
            unspanned.append(members)
            continue
        order, firsts, bounds = merge_spans(of(columns.offset, picked), of(columns.length, picked),
                                            max_gap=http.merge_gap, max_size=http.max_merged)
        in_order = members if order is None else members[order]
        cuts = np.append(firsts, len(members)).tolist()
        for number, (start, stop) in enumerate(bounds.tolist()):
            spans.append(Span(url, location, start, stop - start, in_order[cuts[number] : cuts[number + 1]]))
    return spans, np.concatenate(unspanned) if unspanned else np.zeros(0, dtype=np.int64)


def _as_slice(rows: np.ndarray) -> slice | np.ndarray:
    """``rows`` (distinct) as a slice where they are a rising run, else as they are."""
    if len(rows) and int(rows[-1]) - int(rows[0]) == len(rows) - 1 and (len(rows) < 2 or rows[1] > rows[0]):
        if len(rows) < 3 or bool((np.diff(rows) == 1).all()):
            return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


async def _let_requests_leave() -> None:
    """Give the event loop the few turns that take the requests just started (a task's span
    reads, the byte source's merging of the turn's reads, the request sent) onto the wire,
    before work that holds the loop (the next stage's look-ups)."""
    for _ in range(REQUEST_TURNS):
        await asyncio.sleep(0)


async def read_spans(spans: list[Span], use: Callable[[Span], Awaitable[None]],
                     others: list[Awaitable[None]]) -> None:
    """``use(span)`` (which reads the span and puts its chunks where they go) for every span, and
    the ``others``. Spans hold the gaps between their chunks too: they are read in waves of at
    most a window's bytes (:data:`read_engine.WINDOW_BYTES`), so gaps never make a window hold
    more than that. The others run with the first wave."""
    waves = read_engine.cut_windows([span.length for span in spans], read_engine.WINDOW_BYTES) or [slice(0, 0)]
    for number, wave in enumerate(waves):
        jobs = [use(span) for span in spans[wave]]
        await _all_or_none(jobs + others if number == 0 else jobs)


async def _all_or_none(jobs: Iterable[Awaitable[Any]]) -> None:
    """Run ``jobs`` together; the first failure is raised once the others are cancelled."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    if not tasks:
        return
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

