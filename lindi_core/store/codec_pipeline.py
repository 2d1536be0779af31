"""zarr-python's codec pipeline, with clear errors and batched fetches for reference files.

zarr decodes the chunks a store hands over with the codecs the array metadata names, and a
codec that meets bytes it cannot decode raises whatever it raises (numcodecs' shuffle a
``ValueError``, blosc a ``RuntimeError``, a codec built from an odd configuration a
``TypeError``). For a reference file those bytes are input from somewhere else, so for arrays of
a :class:`ReferenceStore` such a failure is a :class:`ChunkDecodeError` naming the array, as on
the facade's road; arrays of any other store see zarr's behaviour unchanged.

zarr asks its store for one chunk at a time, at most ``async.concurrency`` (10) at once: over a
network with latency, a selection of 10,000 small chunks costs about 1,000 round trips. zarr
hands this pipeline every chunk of a selection at once, so for a :class:`ReferenceStore` the
chunks are fetched by the read engine (:mod:`lindi_core.store.read_engine`, as for the facade:
a part's chunks asked for together, which the byte sources merge into few requests), then
decoded as zarr's ``read_batch`` does (its ``decode_batch``, its placing of each chunk's
selection), from memory: the bytes zarr decodes and the errors it raises are the same as on
zarr's chunk-by-chunk road, only fetched sooner. A large selection is fetched in parts of at
most :data:`PART_BYTES` (of encoded or decoded chunks, the larger), the next part's requests
leaving while the current part is decoded, so at most two parts are held at once.

Chunks whose bytes are their values (uncompressed table refs of full size, in C order, of a
plain dtype) need no decoding: for a batch of at least ``bulk_reads.BULK_MIN_CHUNKS`` of them,
each merged span's bytes are placed into zarr's output with NumPy
(:func:`_place_in_bulk`, with :mod:`lindi_core.store.bulk_reads`' spans and placing), where zarr
would put them (``out[out_selection] = chunk[chunk_selection]``, for every selection kind):
a whole read of 100,000 such 64-byte chunks no longer makes 100,000 decodes and assignments.
What is left of zarr's cost is its own indexing (the per-chunk entries it builds before asking
this pipeline: about 10 µs a chunk).

zarr chooses its pipeline class process-wide (``codec_pipeline.path``); :func:`install` selects
this one only where the setting is still zarr's default, so a user's own choice stands.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import Buffer
from zarr.core.codec_pipeline import BatchedCodecPipeline, fill_value_or_default
from zarr.registry import register_pipeline

from lindi_core.errors import ChunkDecodeError, LindiError, UnreadableObjectError
from lindi_core.format.keys import chunk_owner, split_key
from lindi_core.io import workers
from lindi_core.store import bulk_reads, chunk_placement, lazy_tables, read_engine

_ZARR_DEFAULT = "zarr.core.codec_pipeline.BatchedCodecPipeline"

PART_BYTES = 64 * 1024 * 1024  # bytes (encoded or decoded, the larger) of the chunks of one part


class LindiCodecPipeline(BatchedCodecPipeline):
    """zarr's batched pipeline; chunks of a reference file are fetched together, and their
    decoding failures are ChunkDecodeErrors."""

    async def read(self, batch_info: Iterable[tuple[Any, ...]], out: Any, drop_axes: tuple[int, ...] = ()) -> None:
        batch_info = list(batch_info)
        try:
            store = _reference_store_of(batch_info)
            if store is None or self.supports_partial_decode:
                await super().read(batch_info, out, drop_axes)
            else:
                await self._read_fetched_together(store, batch_info, out, drop_axes)
        except UnreadableObjectError as exc:  # a filter missing here: name the dataset
            getters = [byte_getter for byte_getter, *_ in batch_info if _reads_reference_file(byte_getter)]
            if not getters:
                raise
            raise exc.located("/" + _array_of(getters[0])) from exc.__cause__
        except (LindiError, MemoryError):
            raise
        except Exception as exc:
            getters = [byte_getter for byte_getter, *_ in batch_info if _reads_reference_file(byte_getter)]
            if not getters:
                raise
            array = _array_of(getters[0])
            paths = [getter.path for getter in getters]
            raise ChunkDecodeError(f"array {array!r}: a chunk of {', '.join(repr(p) for p in paths[:4])}"
                                   f"{' ...' if len(paths) > 4 else ''} cannot be decoded: "
                                   f"{type(exc).__name__}: {exc}") from exc

    async def _read_fetched_together(self, store: Any, batch_info: list[tuple[Any, ...]], out: Any,
                                     drop_axes: tuple[int, ...]) -> None:
        """zarr's read of ``batch_info``: the chunks the bulk road reads placed by it
        (:func:`_place_in_bulk`), the others decoded by zarr (:meth:`_read_decoded`)."""
        await lazy_tables.load_keys(store.rfs, [getter.path for getter, *_ in batch_info])  # refs of lazy tables

        async def decode_rest(left: list[tuple[Any, ...]], buffers: list[Buffer | None]) -> None:
            await self._decode_into(left, buffers, out, drop_axes)

        if not await _place_in_bulk(store, batch_info, out, drop_axes, decode_rest):
            await self._read_decoded(store, batch_info, out, drop_axes)

    async def _read_decoded(self, store: Any, batch_info: list[tuple[Any, ...]], out: Any,
                            drop_axes: tuple[int, ...]) -> None:
        """zarr's read of ``batch_info`` (refs of lazy tables loaded), its chunks fetched by the
        read engine, part by part, each part's chunks asked for at once; each part decoded by
        zarr's codecs once all its bytes are here."""
        if not batch_info:
            return
        sizes = [read_engine.held_bytes(store, getter.path, _decoded_nbytes(spec)) for getter, spec, *_ in batch_info]

        async def decode(part: Sequence[tuple[Any, ...]], buffers: list[Buffer | None]) -> None:
            await self._decode_into(part, buffers, out, drop_axes)

        await read_engine.read_in_windows(batch_info, read_engine.cut_windows(sizes, PART_BYTES), _fetch_chunk,
                                          use_window=decode,
                                          fetch_window=bulk_reads.window_fetcher(store, batch_info))

    async def _decode_into(self, part: Sequence[tuple[Any, ...]], buffers: list[Buffer | None], out: Any,
                           drop_axes: tuple[int, ...]) -> None:
        """zarr's ``read_batch`` of ``part`` with its bytes at hand: the same decoding (zarr's
        codecs, in one batch) and placing of each chunk's selection into ``out``."""
        arrays = await self.decode_batch([(buffer, spec) for buffer, (_, spec, *_) in zip(buffers, part)])
        for chunk_array, (_, spec, chunk_selection, out_selection, _) in zip(arrays, part):
            if chunk_array is None:
                out[out_selection] = fill_value_or_default(spec)
                continue
            selected = chunk_array[chunk_selection]
            if drop_axes:
                selected = selected.squeeze(axis=drop_axes)
            out[out_selection] = selected


async def _place_in_bulk(store: Any, batch_info: list[tuple[Any, ...]], out: Any, drop_axes: tuple[int, ...],
                         decode_rest: Callable[[list[tuple[Any, ...]], list[Buffer | None]], Awaitable[None]]
                         ) -> bool:
    """Read the chunks of ``batch_info`` that :mod:`~lindi_core.store.bulk_reads` proves it reads
    (uncompressed table refs of full size, no filter skipped) as its merged spans, and place
    their values into ``out`` with NumPy, as zarr would place them after decoding (``out[out
    selection] = chunk[chunk selection]``, ``drop_axes`` squeezed): the chunks taken whole at
    grid-aligned places of ``out`` with one assignment per span, the others (edge chunks,
    steps, index lists, coordinates, masks) one by one, from the span's bytes. The other entries
    of each window (chunks not stored, inline, with a filter skipped, ...) are fetched as zarr
    fetches them (the store's ``get``) together with the window's spans, so that their requests
    merge with the spans', and handed with their bytes to ``decode_rest`` (zarr's decoding). ``False`` (nothing done) where this road does not serve the batch
    (few chunks, codecs, another memory order or dtype): zarr decodes it all. Windows of
    :data:`PART_BYTES`, one after the other."""
    if len(batch_info) < bulk_reads.BULK_MIN_CHUNKS:
        return False
    target = out.as_ndarray_like()
    array = bulk_reads.bulk_array(store, batch_info[0][0].path)
    if not isinstance(target, np.ndarray) or array is None or not array.uncompressed or not array.chunks:
        return False
    spec = batch_info[0][1]
    try:
        dtype = np.dtype(spec.dtype.to_native_dtype())
    except (AttributeError, TypeError, ValueError):
        return False
    # zarr views a chunk's bytes as the spec's dtype and shape, in its order: so do we
    if (spec.order != "C" or dtype.hasobject or dtype != target.dtype or tuple(spec.shape) != array.chunks
            or dtype.itemsize * math.prod(array.chunks) != array.chunk_nbytes):
        return False
    window = max(read_engine.MIN_WINDOW_CHUNKS, PART_BYTES // array.chunk_nbytes)
    for start in range(0, len(batch_info), window):
        await _BulkWindow(store, array, batch_info[start : start + window], target, dtype, drop_axes).run(decode_rest)
    return True


class _BulkWindow:
    """One window of zarr's entries read in bulk: their spans, fetched and placed into zarr's
    output array."""

    def __init__(self, store: Any, array: bulk_reads.BulkArray, part: Sequence[tuple[Any, ...]],
                 target: np.ndarray, dtype: np.dtype, drop_axes: tuple[int, ...]):
        self.store, self.array, self.part, self.target = store, array, part, target
        self.dtype, self.drop_axes = dtype, drop_axes
        self.executor = read_engine.decode_executor()

    async def run(self, decode_rest: Callable[[list[tuple[Any, ...]], list[Buffer | None]], Awaitable[None]]
                  ) -> None:
        """Read and place the chunks the bulk road proves it reads; the others fetched by the
        store's ``get`` meanwhile, then decoded by ``decode_rest``."""
        part, array = self.part, self.array
        linear = array.linear_indices([getter.path for getter, *_ in part])
        self.known = known = np.flatnonzero(linear >= 0)
        columns = await self.store.chunk_ref_columns(array.path, linear[known])
        spans: list[bulk_reads.Span] = []
        placed = np.zeros(len(part), dtype=bool)
        if columns is not None and len(known):
            self.columns = columns
            raw = columns.present & (columns.filter_mask == 0) & (columns.length == array.chunk_nbytes)
            spans, _ = bulk_reads.plan_spans(self.store, columns, np.flatnonzero(raw))
        if spans:
            placed[known[np.concatenate([span.rows for span in spans])]] = True
            self._find_whole(np.flatnonzero(placed))
        left = [part[i] for i in np.flatnonzero(~placed).tolist()]
        buffers: list[Buffer | None] = [None] * len(left)

        async def fetch(j: int) -> None:
            buffers[j] = await _fetch_chunk(left[j])

        await bulk_reads.read_spans(spans, self._read_span, [fetch(j) for j in range(len(left))])
        if left:
            await decode_rest(left, buffers)

    def _find_whole(self, entries: np.ndarray) -> None:
        """The entries whose chunk goes whole, unchanged, to a place of ``target`` on one grid
        of chunk-sized blocks (a box of slices of step 1: all its inner chunks): ``blocks``
        (that grid of ``target`` as bytes, :func:`chunk_placement.byte_blocks`), the block of each
        (``where``), and each entry's number among them (``slot``, -1 for the others)."""
        self.slot = np.full(len(self.part), -1, dtype=np.int64)
        chunks, target = self.array.chunks, self.target
        ndim = len(chunks)
        if self.drop_axes or target.ndim != ndim or target.strides[-1] != target.itemsize:
            return
        whole, starts = [], []
        for i in entries.tolist():
            _, _, chunk_selection, out_selection, _ = self.part[i]
            if _takes_whole(chunk_selection, chunks) and _takes_whole(out_selection, chunks, relative=True):
                whole.append(i)
                starts.append([s.start for s in out_selection])
        if not whole:
            return
        at = np.array(starts, dtype=np.int64).reshape(len(whole), ndim)
        size = np.array(chunks, dtype=np.int64)
        offset = at[0] % size
        on_grid = ((at - offset) % size == 0).all(axis=1) & (at + size <= np.array(target.shape)).all(axis=1)
        whole_entries, at = np.array(whole, dtype=np.int64)[on_grid], at[on_grid]
        counts = [(n - o) // c for n, o, c in zip(target.shape, offset.tolist(), chunks)]
        region = target[tuple(slice(o, o + n * c) for o, n, c in zip(offset.tolist(), counts, chunks))]
        self.blocks = chunk_placement.byte_blocks(chunk_placement.chunked_view(region, counts, chunks), chunks,
                                             target.itemsize)
        self.where = tuple((at[:, d] - offset[d]) // size[d] for d in range(ndim))
        self.slot[whole_entries] = np.arange(len(whole_entries))

    async def _read_span(self, span: bulk_reads.Span) -> None:
        data = await self.store.read_span(span.url, span.location, span.start, span.length)
        await workers.in_worker(self.executor, self._place, data, span)

    def _place(self, data: bytes, span: bulk_reads.Span) -> None:
        flat = np.frombuffer(data, dtype=np.uint8)
        nbytes, chunks = self.array.chunk_nbytes, self.array.chunks
        entries = self.known[span.rows]
        relative = self.columns.offset[span.rows] - span.start
        slots = self.slot[entries]
        whole = slots >= 0
        if whole.any():
            chunk_placement.place_whole_chunks(self.blocks, tuple(w[slots[whole]] for w in self.where), flat,
                                          relative[whole], nbytes)
        for i, at in zip(entries[~whole].tolist(), relative[~whole].tolist()):
            _, _, chunk_selection, out_selection, _ = self.part[i]
            # zarr's read_batch: its NDBuffer's indexing is NumPy's, its squeeze a reshape
            value = np.asanyarray(flat[at : at + nbytes].view(self.dtype).reshape(chunks)[chunk_selection])
            if self.drop_axes:
                value = value.reshape(tuple(n for axis, n in enumerate(value.shape) if axis not in self.drop_axes))
            self.target[out_selection] = value


def _takes_whole(selection: Any, chunks: tuple[int, ...], relative: bool = False) -> bool:
    """Whether ``selection`` is a tuple of slices of step 1 each ``chunks`` long: from 0 (a chunk
    selection), or anywhere (``relative``: an out selection)."""
    if type(selection) is not tuple or len(selection) != len(chunks):
        return False
    for s, size in zip(selection, chunks):
        if type(s) is not slice or s.step not in (None, 1) or s.start is None or s.stop is None:
            return False
        if (not relative and s.start != 0) or s.start < 0 or s.stop - s.start != size:
            return False
    return True


def _fetch_chunk(entry: tuple[Any, ...]) -> Awaitable[Buffer | None]:
    """The bytes of the chunk of ``entry`` as zarr's own road gets them (the store's ``get``,
    with its bounds check of encoded chunks, which zarr's codecs lack). (The store's coroutine
    itself, not one around it: a selection may have many thousands of chunks.)"""
    return entry[0].get(entry[1].prototype)


def _decoded_nbytes(spec: Any) -> int:
    """What a chunk decodes to (zarr decodes a whole part before placing it)."""
    try:
        return math.prod(spec.shape) * spec.dtype.to_native_dtype().itemsize
    except (AttributeError, TypeError, ValueError):
        return 0


def _array_of(byte_getter: Any) -> str:
    """The path of the array whose chunk ``byte_getter`` (of a ReferenceStore) reads."""
    owner = chunk_owner(byte_getter.path, byte_getter.store.rfs.metadata)
    return owner[0] if owner is not None else split_key(byte_getter.path)[0]


def _reads_reference_file(byte_getter: Any) -> bool:
    from lindi_core.store.reference_store import ReferenceStore

    return isinstance(getattr(byte_getter, "store", None), ReferenceStore)


def _reference_store_of(batch_info: list[tuple[Any, ...]]) -> Any:
    """The ReferenceStore all chunks of ``batch_info`` come from, else ``None``."""
    stores = {id(getattr(getter, "store", None)): getattr(getter, "store", None) for getter, *_ in batch_info}
    if len(stores) != 1:
        return None
    (store,) = stores.values()
    return store if _reads_reference_file(batch_info[0][0]) else None


def install() -> None:
    """Make zarr use :class:`LindiCodecPipeline`, unless another pipeline was chosen."""
    register_pipeline(LindiCodecPipeline)
    if zarr.config.get("codec_pipeline.path") == _ZARR_DEFAULT:
        zarr.config.set({"codec_pipeline.path": f"{LindiCodecPipeline.__module__}.{LindiCodecPipeline.__qualname__}"})
