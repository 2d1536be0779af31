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

zarr chooses its pipeline class process-wide (``codec_pipeline.path``); :func:`install` selects
this one only where the setting is still zarr's default, so a user's own choice stands.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

import zarr
from zarr.core.buffer import Buffer
from zarr.core.codec_pipeline import BatchedCodecPipeline, fill_value_or_default
from zarr.registry import register_pipeline

from lindi_core.errors import ChunkDecodeError, LindiError, UnreadableObjectError
from lindi_core.format.keys import chunk_owner, split_key
from lindi_core.store import bulk_reads, lazy_tables, read_engine

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
        """zarr's read of ``batch_info``, its chunks fetched by the read engine, part by part,
        each part's chunks asked for at once; each part decoded once all its bytes are here."""
        await lazy_tables.load_keys(store.rfs, [getter.path for getter, *_ in batch_info])  # refs of lazy tables
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
