"""Reading a box of a numeric array straight from its chunks.

Zarr's read path fetches every chunk of a selection, then decodes them. This one asks for all
chunks at once (so the HTTP source merges neighbouring ranges into few requests and hands each
chunk over as soon as its bytes have arrived), decodes every chunk in a worker thread the
moment it is there, and writes it straight into the output array: into place when the chunk
lies whole and contiguous in the output, else through a scratch buffer. Transfer and decoding
overlap, and decoding uses every core.

It serves selections of slices (any positive step) and integers on numeric arrays with the C
order; everything else goes through Zarr.

A selection of many chunks is read in windows of chunks (about :data:`WINDOW_BYTES` of decoded
data each): the next window's requests leave once the current window's bytes have all arrived,
so fetching overlaps decoding while the encoded bytes held at once stay bounded (two windows),
however large the selection.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from lindi_core.codecs.fast_decode import ChunkDecoder
from lindi_core.errors import ChunkDecodeError, UnreadableObjectError
from lindi_core.io import workers

WINDOW_BYTES = 256 * 1024 * 1024
MIN_WINDOW_CHUNKS = 16

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def decode_executor() -> ThreadPoolExecutor:
    """The worker threads that decode chunks (one per core; codecs release the GIL)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="lindi-decode")
        return _executor


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
    prefix = array_path + "/" if array_path else ""
    parts = []
    if not shape:
        return (), [ChunkPart(prefix + "0", (), ())]
    for combo in itertools.product(*per_axis):
        key = prefix + separator.join(str(c) for c, _, _ in combo)
        parts.append(ChunkPart(key, tuple(w for _, w, _ in combo), tuple(i for _, _, i in combo)))
    return tuple(out_shape), parts


def count_chunks(shape: tuple[int, ...], chunks: tuple[int, ...], axes: tuple[slice, ...]) -> int:
    """How many chunks the box ``axes`` spans (an upper bound when steps skip chunks)."""
    total = 1
    for axis, extent, size in zip(axes, shape, chunks):
        start, stop, step = axis.indices(extent)
        if stop <= start:
            return 0
        total *= (stop - 1) // size - start // size + 1
    return total


async def read_box(fetch: Callable[[str], Awaitable[Any]], decoder: ChunkDecoder, dtype: np.dtype,
                   shape: tuple[int, ...], chunks: tuple[int, ...], axes: tuple[slice, ...], fill_value: Any,
                   array_path: str = "", separator: str = ".", window_chunks: int | None = None) -> np.ndarray:
    """The values of the box ``axes`` of an array: ``fetch(key)`` gives a chunk's encoded bytes
    (``None``: not stored, so the fill value), ``decoder`` decodes them; ``window_chunks``
    overrides how many chunks are asked for at a time."""
    out_shape, parts = plan(array_path, shape, chunks, axes, separator)
    out = np.empty(out_shape, dtype)
    if not parts:
        return out
    executor = decode_executor()
    fill = np.asarray(fill_value, dtype=dtype)

    def place(part: ChunkPart, encoded: Any) -> None:
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

    async def one(part: ChunkPart, fetched: _Countdown) -> None:
        encoded = await fetch(part.key)
        fetched.tick()
        await workers.in_worker(executor, place, part, encoded)

    chunk_nbytes = max(1, dtype.itemsize * math.prod(chunks))
    per_window = max(MIN_WINDOW_CHUNKS, window_chunks if window_chunks is not None else WINDOW_BYTES // chunk_nbytes)
    tasks: list[asyncio.Future] = []
    windows: list[asyncio.Future] = []  # per window: all its chunks fetched, decoded and placed
    waiting: asyncio.Future | None = None
    try:
        for number, start in enumerate(range(0, len(parts), per_window)):
            if number >= 2:
                # Encoded bytes are held until decoded: with the window two back all placed, at
                # most two windows of them are held, however slow decoding is.
                await windows[number - 2]
            fetched = _Countdown(min(per_window, len(parts) - start))
            mine = [asyncio.ensure_future(one(part, fetched)) for part in parts[start : start + per_window]]
            tasks += mine
            windows.append(asyncio.gather(*mine))
            # The next window's requests wait for this window's bytes (or its failure).
            waiting = asyncio.ensure_future(fetched.done.wait())
            await asyncio.wait([waiting, windows[-1]], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if windows[-1].done():
                windows[-1].result()  # raises the failure of a chunk of it
        await asyncio.gather(*windows)
    except BaseException:
        for task in tasks:  # no more requests or decoding for a read that has failed
            task.cancel()
        for window in windows:  # their failures are this one's, already raised
            if window.done() and not window.cancelled():
                window.exception()
        raise
    finally:
        if waiting is not None:
            waiting.cancel()
    return out


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
