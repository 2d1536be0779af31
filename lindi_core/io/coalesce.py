"""Merging neighbouring byte ranges into fewer, larger requests.

Reading a slice that spans many chunks asks for many ranges of one file at once. Over a
network with latency, one request for a span that covers several of them (with small gaps in
between) is far cheaper than one request each. :func:`plan` decides the merged requests;
:class:`RangeBatcher` collects the ranges requested in the same event-loop turn, fetches the
merged spans, and hands each caller its own bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class MergedRange:
    """One request covering the ranges at ``members`` (indices into the planned list)."""

    start: int
    stop: int
    members: tuple[int, ...]


def plan(ranges: list[tuple[int, int]], *, max_gap: int, max_size: int) -> list[MergedRange]:
    """Merge ``(offset, length)`` ranges whose gaps are at most ``max_gap`` bytes, keeping each
    merged request at most ``max_size`` bytes (a single larger range stays whole)."""
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    merged: list[MergedRange] = []
    current: list[int] = []
    start = stop = 0
    for i in order:
        offset, length = ranges[i]
        end = offset + length
        if current and offset - stop <= max_gap and max(stop, end) - start <= max_size:
            current.append(i)
            stop = max(stop, end)
            continue
        if current:
            merged.append(MergedRange(start, stop, tuple(current)))
        current, start, stop = [i], offset, end
    if current:
        merged.append(MergedRange(start, stop, tuple(current)))
    return merged


class RangeSink(Protocol):
    """Where the bytes of one requested range go as they arrive, in order."""

    def restart(self) -> None:
        """An attempt starts (again, after a failed one): bytes written so far are void."""

    def write(self, position: int, piece: memoryview) -> None:
        """``piece`` holds the bytes at ``position`` (from the start of the range)."""


Fetch = Callable[[str, int, int, RangeSink | None], Awaitable[bytes]]


class _Members:
    """A sink for a merged request: copies each arriving piece into the buffers of the
    requested ranges it overlaps (gaps between them are dropped) and hands a range to its
    reader the moment its last byte is in, so the first chunks of a long merged read are
    decoded while the rest is still arriving. One copy per byte, no joining afterwards. A range
    read into a sink of its own gets its bytes passed on to it as they arrive, never buffered
    here (its reader gets ``b""``)."""

    def __init__(self, start: int, ranges: list[tuple[int, int]], futures: list[asyncio.Future],
                 sinks: list[RangeSink | None] | None = None):
        self._spans = sorted((offset - start, offset - start + length, i) for i, (offset, length) in enumerate(ranges))
        self._futures = futures
        self._sinks = sinks or [None] * len(ranges)
        self.restart()

    def restart(self) -> None:
        self._next = 0  # spans before this one have begun
        self._open: dict[int, tuple[int, int, bytearray | None]] = {}
        for sink, future in zip(self._sinks, self._futures):
            if sink is not None and not future.done():  # (a range already whole keeps its bytes)
                sink.restart()

    def write(self, position: int, piece: memoryview) -> None:
        end = position + len(piece)
        while self._next < len(self._spans) and self._spans[self._next][0] < end:
            begin, stop, i = self._spans[self._next]
            self._next += 1
            if not self._futures[i].done():
                self._open[i] = (begin, stop, None if self._sinks[i] is not None else bytearray(stop - begin))
            if begin == stop:
                self._finish(i, b"")
        for i, (begin, stop, buffer) in list(self._open.items()):
            lo, hi = max(begin, position), min(stop, end)
            if lo < hi:
                if buffer is None:
                    self._sinks[i].write(lo - begin, piece[lo - position : hi - position])
                else:
                    buffer[lo - begin : hi - begin] = piece[lo - position : hi - position]
            if hi == stop:  # bytes arrive in order: its last byte is in
                del self._open[i]
                self._finish(i, b"" if buffer is None else buffer)

    def _finish(self, i: int, data: bytes | bytearray) -> None:
        self._open.pop(i, None)
        if not self._futures[i].done():
            self._futures[i].set_result(data)


@dataclass
class _Pending:
    ranges: list[tuple[int, int]] = field(default_factory=list)
    futures: list[asyncio.Future] = field(default_factory=list)
    sinks: list[RangeSink | None] = field(default_factory=list)


class RangeBatcher:
    """Collects range reads per URL during one event-loop turn and fetches them merged."""

    def __init__(self, fetch: Fetch, *, max_gap: int, max_size: int):
        self._fetch = fetch
        self.max_gap = max_gap
        self.max_size = max_size
        self._pending: dict[str, _Pending] = {}
        self._scheduled = False
        self.requests_made = 0

    async def read(self, url: str, offset: int, length: int, sink: RangeSink | None = None) -> bytes:
        """The bytes of the range; with ``sink``, they go there as they arrive (restarted with
        every attempt of the request) and ``b""`` is returned."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self._pending.setdefault(url, _Pending())
        pending.ranges.append((offset, length))
        pending.futures.append(future)
        pending.sinks.append(sink)
        if not self._scheduled:
            self._scheduled = True
            # Runs after the callbacks already queued: the other reads of this turn.
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for url, batch in pending.items():
            for merged in plan(batch.ranges, max_gap=self.max_gap, max_size=self.max_size):
                futures = [batch.futures[i] for i in merged.members]
                ranges = [batch.ranges[i] for i in merged.members]
                sinks = [batch.sinks[i] for i in merged.members]
                asyncio.ensure_future(self._serve(url, merged, ranges, futures, sinks))

    async def _serve(self, url: str, merged: MergedRange, ranges: list[tuple[int, int]],
                     futures: list[asyncio.Future], sinks: list[RangeSink | None]) -> None:
        self.requests_made += 1
        members = _Members(merged.start, ranges, futures, sinks)
        fetch = asyncio.ensure_future(self._fetch(url, merged.start, merged.stop - merged.start, members))

        def abandon_when_unwanted(_future: asyncio.Future) -> None:
            # Every reader has its bytes or has given up, and one gave up (a read that failed
            # elsewhere cancels the rest): the request and its retries stop, not going on to
            # their deadline for nobody.
            if not fetch.done() and all(f.done() for f in futures) and any(f.cancelled() for f in futures):
                fetch.cancel()

        for future in futures:
            future.add_done_callback(abandon_when_unwanted)
        try:
            await fetch
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # this request itself was cancelled (the loop closing)
                fetch.cancel()
                for future in futures:
                    future.cancel()
                raise
            return  # abandoned: no reader waits
        except BaseException as exc:  # every waiting reader gets the failure
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future in futures:  # cannot happen with a complete body; never leave a reader waiting
            if not future.done():
                future.set_exception(RuntimeError("a merged read ended without the bytes of one of its ranges"))
