"""The read engine: the one place where chunks of an array of a reference file are read.

Every read of array values goes through here: the h5py facade's reads, and zarr-python's (with
what reads through zarr: ``zarr.open_array``, xarray, ``dask.array.from_zarr``) through the
codec pipeline of :mod:`lindi_core.store.codec_pipeline`. For a set of chunks of one array the
engine decides

* **which bytes to fetch**: each chunk's key (the key grammar of
  :mod:`lindi_core.format.keys`, with the array's ``dimension_separator``) and its
  bytes as the store resolves them (inline, a referenced range through the byte sources and
  their caches, a chunk of a linked HDF5 dataset, a chunk stored
  with filters skipped rewritten, a short edge chunk of an uncompressed array padded: see
  :mod:`lindi_core.store.reference_store`). The chunks are asked for window by window
  (:func:`read_in_windows`): all chunks of a window in one event-loop turn, so the byte sources
  merge neighbouring ranges into few requests; the next window's requests leave once this
  window's bytes have arrived, so fetching overlaps decoding while at most two windows of bytes
  are held, however large the selection (:func:`cut_windows`: of :data:`WINDOW_BYTES` for
  boxes, whose chunks are placed one by one; of ``codec_pipeline.PART_BYTES`` for zarr, which
  decodes a whole window before placing it);
* **how to decode them**: chunks of numeric C-order arrays whose codecs
  :mod:`lindi_core.codecs.fast_decode` knows are decoded by those fast decoders, in worker
  threads, each as soon as its bytes are there, bounded by the chunk's size; all others by
  zarr's codecs (numcodecs), after the store's bounds check of the encoded chunk; an array
  that is one chunk stored inline is decoded on the spot (:meth:`ArrayReader.whole_inline`:
  no hop to the event loop's thread). HDF5 filter masks and edge chunks are the store's
  business, the same for every road;
* **where the values go**: a box of slices and integers of such a numeric array is placed by
  the engine itself (:meth:`ArrayReader.read_box`): into place when a chunk lies whole and
  contiguous in the result, else cut through a scratch buffer; a chunk not stored is the fill
  value (:func:`parse_fill_value`). A box of many chunks of an array with a chunk table is
  read in bulk (:mod:`lindi_core.store.bulk_reads`: refs as columns, merged spans, no Python
  per chunk where the chunks allow it), the chunks it does not prove it reads chunk by chunk
  as here. Other selections (masks, index lists) and other arrays (strings, objects,
  compounds, JSON rows) are indexed by zarr, whose chunks are fetched by
  :func:`read_in_windows` all the same (the codec pipeline hands them over; a window's table
  refs at once, by :func:`lindi_core.store.bulk_reads.window_fetcher`), each window decoded
  by zarr's codecs once its bytes are all there.

Before this module (issue 14) the facade drove the store by hand (``prefetch`` /
``discard_prefetched`` around zarr reads, its own bound ``chunk_bytes`` handed to the box
reader) and four routes made the same decisions separately, kept equal by hand:

* chunk keys were built by the box planner (with the separator), by the facade's prefetch list
  and its single-inline-chunk shortcut (both always with ``.``: for ``/`` arrays they asked for
  keys that do not exist) and parsed back by the store's edge-chunk padding;
* fill values were parsed by the box reader (``parse_fill_value``) and by zarr on the others;
* batching was done three ways: the store's prefetch (nothing at all past 512 MiB), the codec
  pipeline's parts of 64 MiB, the box reader's windows of 256 MiB (at least 16 chunks);
* a short edge chunk was padded by the store for zarr, decoded whole and cut by the box reader,
  cut from the whole array by the single-inline-chunk shortcut;
* the store found a chunk's array as the parent of its key, which for ``/``-separated keys of
  arrays of two or more axes is no array: their short edge chunks went unpadded (unreadable),
  their filter masks unapplied and their encoded chunks unchecked for bombs.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from lindi_core.codecs.bounded import decode_chunk
from lindi_core.codecs.fast_decode import ChunkDecoder, chunk_decoder
from lindi_core.errors import ChunkDecodeError, UnreadableObjectError
from lindi_core.format.array_metadata import ArrayMetadata
from lindi_core.format.keys import chunk_key
from lindi_core.format.refs import ChunkRef
from lindi_core.io import workers

WINDOW_BYTES = 256 * 1024 * 1024  # decoded bytes of a window of a box read
MIN_WINDOW_CHUNKS = 16

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def decode_executor() -> ThreadPoolExecutor:
    """The worker threads that decode chunks (one per core; codecs release the GIL)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="lindi-decode")
        return _executor


# -- fill values ----------------------------------------------------------------------------
def parse_fill_value(value: Any, dtype: np.dtype) -> Any:
    """A Zarr v2 ``fill_value`` as a NumPy value of ``dtype`` (``null``: zero, as Zarr reads it)."""
    if value is None:
        return np.zeros((), dtype)[()]
    if isinstance(value, str):
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        if value not in special:
            raise ValueError(f"fill value {value!r} of a numeric array")
        value = special[value]
    if isinstance(value, list) and dtype.kind == "c":
        value = complex(*(parse_fill_value(v, np.dtype(np.float64)) for v in value))
    return np.asarray(value).astype(dtype)[()]


# -- fetching ----------------------------------------------------------------------------------
def cut_windows(sizes: Sequence[int], limit: int, min_count: int = 1) -> list[slice]:
    """Consecutive runs of items holding at most ``limit`` bytes together (``sizes``: each
    item's), each of at least ``min_count`` items (a larger item alone in its run)."""
    windows: list[slice] = []
    start, held = 0, 0
    for index, size in enumerate(sizes):
        count = index - start
        if count and count >= min_count and held + size > limit:
            windows.append(slice(start, index))
            start, held = index, 0
        held += size
    if start < len(sizes):
        windows.append(slice(start, len(sizes)))
    return windows


def held_bytes(store: Any, key: str, decoded_nbytes: int) -> int:
    """What a chunk takes while its window is held: the larger of what its reference holds
    (inline bytes, a range) and what it decodes to."""
    value = store.rfs.get(key)
    encoded = max(value.length, 0) if isinstance(value, ChunkRef) else len(value) if isinstance(value, bytes) else 0
    return max(encoded, decoded_nbytes)


async def read_in_windows(items: Sequence[T], windows: Sequence[slice], fetch: Callable[[T], Awaitable[Any]],
                          use_chunk: Callable[[T, Any], Awaitable[None]] | None = None,
                          use_window: Callable[[Sequence[T], list[Any]], Awaitable[None]] | None = None,
                          fetch_window: Callable[[Sequence[T]], Awaitable[list[Any]]] | None = None) -> None:
    """Fetch the chunks ``items`` window by window (``windows``: see :func:`cut_windows`): every
    chunk of a window is asked for in one event-loop turn; the next window's requests leave once
    this window's bytes have all arrived and the window two back is used up, so at most two
    windows of bytes are held. ``use_chunk(item, data)`` runs as each chunk's bytes arrive,
    ``use_window(items, datas)`` once all of a window's have (windows one after the other).
    ``fetch_window(items)``, where given (and no ``use_chunk``), fetches a whole window's chunks
    at once instead of ``fetch`` one by one (see :func:`lindi_core.store.bulk_reads.window_fetcher`).
    The first failure is the read's: everything else is then cancelled."""
    tasks: list[asyncio.Future] = []
    used: list[asyncio.Future] = []  # per window: all its chunks fetched and used
    waiting: asyncio.Future | None = None

    async def one(item: T, fetched: _Countdown) -> Any:
        data = await fetch(item)
        fetched.tick()
        if use_chunk is not None:
            await use_chunk(item, data)
        return data

    async def whole_window(part: Sequence[T], chunks: asyncio.Future, before: asyncio.Future | None) -> None:
        datas = await chunks
        if before is not None:
            await before
        await use_window(part, datas)

    try:
        for number, window in enumerate(windows):
            if number >= 2:
                # Bytes are held until used: with the window two back used up, at most two
                # windows of them are held, however slow their use is.
                await used[number - 2]
            part = items[window]
            if use_chunk is None and fetch_window is not None:
                mine = [asyncio.ensure_future(fetch_window(part))]
                arrived = fetched_all = mine[0]
            elif use_chunk is None:
                # One task per chunk, no more: a selection of many thousands of small chunks
                # would otherwise spend its time on allocations and garbage collections.
                mine = [asyncio.ensure_future(fetch(item)) for item in part]
                arrived = fetched_all = asyncio.gather(*mine)
            else:
                countdown = _Countdown(len(part))
                mine = [asyncio.ensure_future(one(item, countdown)) for item in part]
                fetched_all = asyncio.gather(*mine)
                arrived = waiting = asyncio.ensure_future(countdown.done.wait())
            tasks += mine
            done = fetched_all
            if use_window is not None:
                done = asyncio.ensure_future(whole_window(part, fetched_all, used[-1] if used else None))
                tasks.append(done)
            used.append(done)
            # The next window's requests wait for this window's bytes (or its failure).
            await asyncio.wait([arrived, done], return_when=asyncio.FIRST_COMPLETED)
            if waiting is not None:
                waiting.cancel()
            for finished in (fetched_all, done):
                if finished.done():
                    finished.result()  # raises the failure of a chunk of it
        await asyncio.gather(*used)
    except BaseException:
        for task in tasks:  # no more requests or decoding for a read that has failed
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for window in used:  # their failures are this one's, already raised
            if window.done() and not window.cancelled():
                window.exception()
        raise
    finally:
        if waiting is not None:
            waiting.cancel()


class _Countdown:
    """Sets ``done`` when ``tick`` has been called ``count`` times."""

    def __init__(self, count: int):
        self.left = count
        self.done = asyncio.Event()
        if count <= 0:
            self.done.set()

    def tick(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.done.set()


# -- boxes placed by the engine ---------------------------------------------------------------
@dataclass(frozen=True)
class ChunkPart:
    """Where one chunk meets the selection: ``within`` the chunk, ``into`` the output."""

    key: str
    within: tuple[slice, ...]
    into: tuple[slice, ...]


def plan(array_path: str, shape: tuple[int, ...], chunks: tuple[int, ...], axes: tuple[slice, ...],
         separator: str = ".") -> tuple[tuple[int, ...], list[ChunkPart]]:
    """The output shape of the box ``axes`` (normalised slices, positive steps) and the part of
    each chunk it touches; chunks the steps skip entirely are left out."""
    per_axis: list[list[tuple[int, slice, slice]]] = []
    out_shape = []
    for axis, extent, size in zip(axes, shape, chunks):
        start, stop, step = axis.indices(extent)
        count = max(0, -(-(stop - start) // step))
        out_shape.append(count)
        touched = []
        if count:
            last = start + (count - 1) * step
            for c in range(start // size, last // size + 1):
                lo, hi = c * size, (c + 1) * size
                k0 = max(0, -(-(lo - start) // step))
                k1 = min(count, -(-(hi - start) // step))
                if k0 < k1:
                    first = start + k0 * step - lo
                    touched.append((c, slice(first, first + (k1 - k0 - 1) * step + 1, step), slice(k0, k1)))
        per_axis.append(touched)
    if not shape:
        return (), [ChunkPart(chunk_key(array_path, (), separator), (), ())]
    parts = [ChunkPart(chunk_key(array_path, [c for c, _, _ in combo], separator),
                       tuple(w for _, w, _ in combo), tuple(i for _, _, i in combo))
             for combo in itertools.product(*per_axis)]
    return tuple(out_shape), parts


def place_chunk(out: np.ndarray, part: ChunkPart, encoded: Any, decoder: ChunkDecoder, dtype: np.dtype,
                chunks: tuple[int, ...], fill: np.ndarray, array_path: str) -> None:
    """Decode one chunk's ``encoded`` bytes (``None``: not stored, the fill value) and put the
    part of it the selection touches into ``out``: straight into place when the chunk lies
    whole and contiguous there, else through a scratch buffer of this thread."""
    target = out[part.into]
    if encoded is None:
        target[...] = fill
        return
    whole = all(w.step == 1 and w.start == 0 and w.stop == n for w, n in zip(part.within, chunks))
    try:
        if whole and target.flags.c_contiguous:
            decoder(encoded, target.reshape(-1).view(np.uint8))
            return
        decoded = decoder(encoded, transient=True).view(dtype).reshape(chunks)
    except ChunkDecodeError as exc:
        raise ChunkDecodeError(f"chunk {part.key!r}: {exc}") from exc
    except UnreadableObjectError as exc:  # a filter missing here: no chunk of the array reads
        raise exc.located("/" + array_path) from exc.__cause__
    except Exception as exc:  # a codec's own error type
        raise ChunkDecodeError(f"chunk {part.key!r} cannot be decoded: {exc}") from exc
    target[...] = decoded[part.within]


async def read_box(fetch: Callable[[str], Awaitable[Any]], decoder: ChunkDecoder, dtype: np.dtype,
                   shape: tuple[int, ...], chunks: tuple[int, ...], axes: tuple[slice, ...], fill_value: Any,
                   array_path: str = "", separator: str = ".", window_chunks: int | None = None) -> np.ndarray:
    """The values of the box ``axes`` of an array: ``fetch(key)`` gives a chunk's encoded bytes
    (``None``: not stored, so the fill value), ``decoder`` decodes them, each in a worker thread
    as soon as its bytes are there, straight into the result; ``window_chunks`` overrides how
    many chunks are asked for at a time."""
    out_shape, parts = plan(array_path, shape, chunks, axes, separator)
    out = np.empty(out_shape, dtype)
    if not parts:
        return out
    executor = decode_executor()
    fill = np.asarray(fill_value, dtype=dtype)

    def place(part: ChunkPart, encoded: Any) -> None:
        place_chunk(out, part, encoded, decoder, dtype, chunks, fill, array_path)

    async def use(part: ChunkPart, encoded: Any) -> None:
        await workers.in_worker(executor, place, part, encoded)

    if window_chunks is not None:
        windows = [slice(start, start + window_chunks) for start in range(0, len(parts), window_chunks)]
    else:
        chunk_nbytes = max(1, dtype.itemsize * math.prod(chunks))
        windows = cut_windows([chunk_nbytes] * len(parts), WINDOW_BYTES, MIN_WINDOW_CHUNKS)
    await read_in_windows(parts, windows, lambda part: fetch(part.key), use_chunk=use)
    return out


class ArrayReader:
    """The read engine for one array of a :class:`~lindi_core.store.ReferenceStore`: the
    decisions of this module for the array at ``array_path`` with metadata ``zarray``."""

    def __init__(self, store: Any, array_path: str, meta: ArrayMetadata):
        self.store = store
        self.array_path = array_path
        self.meta = meta
        self.zarray = meta.raw
        self.shape: tuple[int, ...] = meta.shape
        self.chunks: tuple[int, ...] = meta.chunks
        self.separator: str = meta.separator
        self.dtype: np.dtype = meta.dtype
        self._decoder: ChunkDecoder | None = None
        self._fill: Any = None
        try:
            # A box is placed here when its chunks have a fast decoder and its fill value is one
            # of its type; otherwise zarr indexes it (and reports what is wrong with it).
            self._fill = parse_fill_value(meta.fill_value, self.dtype)
            self._decoder = chunk_decoder(meta.raw, self.dtype)
        except (TypeError, ValueError):
            self._decoder = None

    def key(self, coords: Sequence[int]) -> str:
        """The store key of the chunk at grid position ``coords``."""
        return chunk_key(self.array_path, coords, self.separator)

    @property
    def places_boxes(self) -> bool:
        """Whether :meth:`read_box` serves this array (numeric items, C order, known codecs)."""
        return self._decoder is not None

    def whole_inline(self) -> np.ndarray | None:
        """The whole array, decoded here, when it is one chunk stored inline (most small
        datasets: scalars, short strings, table columns): going through the event loop's
        thread for those would cost more than decoding them. ``None`` otherwise."""
        shape, chunks = self.shape, self.chunks
        if any(s > c for s, c in zip(shape, chunks)) or math.prod(shape) == 0:
            return None
        key = self.key((0,) * len(shape))
        stored = self.store.rfs.inline.get(key)
        if stored is None or any(f.get("id") == "lindi_core.hdf5_filters" for f in self.meta.filters):
            return None  # (libhdf5's pipeline takes the chunk's filter mask, which the store adds)
        try:
            data = decode_chunk(self.zarray, stored)
        except ChunkDecodeError as exc:
            raise ChunkDecodeError(f"chunk {key!r}: {exc}") from exc
        if isinstance(data, np.ndarray) and data.dtype == object:
            whole = data.reshape(chunks)
        else:
            whole = np.frombuffer(memoryview(data).cast("B"), dtype=self.dtype).reshape(chunks)
        return whole[tuple(slice(0, n) for n in shape)]  # a short edge: the part inside the array

    def read_box(self, axes: tuple[slice, ...], window_chunks: int | None = None) -> np.ndarray:
        """The values of the box ``axes`` (slices with positive steps), read on zarr's event
        loop (see :meth:`read_box_async`); only where :attr:`places_boxes`."""
        from lindi_core.io.sync_bridge import run_sync

        return run_sync(self.read_box_async(axes, window_chunks))

    async def read_box_async(self, axes: tuple[slice, ...], window_chunks: int | None = None) -> np.ndarray:
        """The values of the box ``axes``: its chunks fetched window by window, each decoded
        by the fast decoder in a worker thread as it arrives, straight into the result; chunks
        not stored hold the fill value."""
        if self._decoder is None:
            raise TypeError(f"array {self.array_path!r}: its boxes are not placed by the engine")
        from lindi_core.store import bulk_reads

        bulk = await bulk_reads.read_box(self, axes, window_chunks)
        if bulk is not None:
            return bulk
        return await read_box(self.store.chunk_bytes, self._decoder, self.dtype, self.shape, self.chunks, axes,
                              self._fill, self.array_path, self.separator, window_chunks)
