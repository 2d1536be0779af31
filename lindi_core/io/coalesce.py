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


# Called as a response arrives: the buffer being filled and how many bytes of it are in.
Progress = Callable[[memoryview, int], None]
Fetch = Callable[[str, int, int, Progress | None], Awaitable[bytes]]


@dataclass
class _Pending:
    ranges: list[tuple[int, int]] = field(default_factory=list)
    futures: list[asyncio.Future] = field(default_factory=list)


class RangeBatcher:
    """Collects range reads per URL during one event-loop turn and fetches them merged."""

    def __init__(self, fetch: Fetch, *, max_gap: int, max_size: int):
        self._fetch = fetch
        self.max_gap = max_gap
        self.max_size = max_size
        self._pending: dict[str, _Pending] = {}
        self._scheduled = False
        self.requests_made = 0

    async def read(self, url: str, offset: int, length: int) -> bytes:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self._pending.setdefault(url, _Pending())
        pending.ranges.append((offset, length))
        pending.futures.append(future)
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
                asyncio.ensure_future(self._serve(url, merged, ranges, futures))

    async def _serve(self, url: str, merged: MergedRange, ranges: list[tuple[int, int]],
                     futures: list[asyncio.Future]) -> None:
        self.requests_made += 1
        # Each reader gets its bytes as soon as they are in, not when the whole span is: the
        # first chunks of a long merged read are decoded while the rest is still arriving.
        by_end = sorted(range(len(ranges)), key=lambda i: ranges[i][0] + ranges[i][1])
        served = 0

        def deliver(view: memoryview, received: int) -> None:
            nonlocal served
            while served < len(by_end):
                offset, length = ranges[by_end[served]]
                begin = offset - merged.start
                if begin + length > received:
                    return
                future = futures[by_end[served]]
                if not future.done():
                    future.set_result(bytes(view[begin : begin + length]))
                served += 1

        try:
            data = await self._fetch(url, merged.start, merged.stop - merged.start, deliver)
        except BaseException as exc:  # every waiting reader gets the failure
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        deliver(memoryview(data), len(data))
