"""Remote range reads through the local cache, looked up in batches.

Reads asked for in the same event-loop turn (all chunks of one slice) are looked up in the
cache together, in a worker thread (SQLite calls never run on the event loop, where they would
hold up responses streaming in), and the misses are then all requested in one loop turn, so
the HTTP source still merges neighbouring ranges into few requests. Each miss is stored in the
cache in the background once its bytes are in; :meth:`CachedReads.flush` waits for those.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass

from lindi_core.io import workers
from lindi_core.io.cache import LocalCache
from lindi_core.io.http_source import HttpSource


@dataclass
class _Wanted:
    where: str
    offset: int
    length: int
    future: asyncio.Future


class CachedReads:
    """``read(where, offset, length)`` from ``cache`` when it holds the range, else from ``http``."""

    def __init__(self, cache: LocalCache, http: HttpSource):
        self.cache = cache
        self.http = http
        self._pending: dict[asyncio.AbstractEventLoop, list[_Wanted]] = {}
        self._puts: set[asyncio.Future] = set()

    async def read(self, where: str, offset: int, length: int) -> bytes:
        loop = asyncio.get_running_loop()
        wanted = _Wanted(where, offset, length, loop.create_future())
        batch = self._pending.get(loop)
        if batch is None:
            batch = self._pending[loop] = []
            loop.call_soon(self._flush, loop)  # after the other reads queued in this turn
        batch.append(wanted)
        return await wanted.future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, [])
        if batch:
            asyncio.ensure_future(self._serve(batch))

    def _look_up(self, batch: list[_Wanted]) -> list[bytes | None]:
        return [self.cache.get(w.where, w.offset, w.length) for w in batch]

    async def _serve(self, batch: list[_Wanted]) -> None:
        try:
            found = await workers.to_thread(self._look_up, batch)
        except BaseException as exc:
            for w in batch:
                if not w.future.done():
                    w.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for w, data in zip(batch, found):
            if data is not None:
                if not w.future.done():
                    w.future.set_result(data)
                continue
            # Started together in this turn: the HTTP source merges their ranges.
            task = asyncio.ensure_future(self.http.read(w.where, w.offset, w.length))
            task.add_done_callback(lambda t, w=w: self._fetched(t, w))

    def _fetched(self, task: asyncio.Future, w: _Wanted) -> None:
        if task.cancelled():
            if not w.future.done():
                w.future.cancel()
            return
        exc = task.exception()
        if exc is not None:
            if not w.future.done():
                w.future.set_exception(exc)
            return
        data = task.result()
        if not w.future.done():
            w.future.set_result(data)
        # Stored in the background: the reader has its bytes already.
        put = asyncio.ensure_future(workers.to_thread(self.cache.put, w.where, w.offset, data))
        self._puts.add(put)
        put.add_done_callback(self._put_done)

    def _put_done(self, task: asyncio.Future) -> None:
        self._puts.discard(task)
        if not task.cancelled() and task.exception() is not None:
            warnings.warn(f"could not store a range in the local cache: {task.exception()}", stacklevel=1)

    async def flush(self) -> None:
        """Wait until the ranges read so far are stored in the cache."""
        while self._puts:
            await asyncio.gather(*list(self._puts), return_exceptions=True)
