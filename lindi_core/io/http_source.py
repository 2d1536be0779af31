"""HTTP(S) range reads: concurrent, merged, retried, resolved.

One aiohttp session per event loop (keep-alive), at most ``max_concurrency`` requests in
flight, neighbouring ranges requested together merged into one request
(:mod:`lindi_core.io.coalesce`), URLs resolved once and cached until they expire
(:mod:`lindi_core.io.resolvers`). Transient failures (connection errors, timeouts, 408, 429, 5xx,
short bodies, wrong ranges) are retried by the policy the blocking engine follows too
(:mod:`lindi_core.io.retry_policy`: exponential backoff with jitter, ``Retry-After`` honoured),
all within one time budget per read (:mod:`lindi_core.io.deadline`); a 403 on a resolved URL
(an expired presigned URL) resolves it again once. Which answers carry the bytes asked for is decided by
:mod:`lindi_core.io.range_answers`: a range other than the one asked for is refused, a body is
never read past the length it must have, and a server that ignores ``Range`` and sends the
whole file has that file (once confirmed) kept and sliced (:mod:`lindi_core.io.whole_bodies`).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import aiohttp

from lindi_core.errors import ByteSourceError
from lindi_core.io.address_guard import AddressGuard
from lindi_core.io.byte_source import ByteSource
from lindi_core.io.coalesce import RangeBatcher, RangeSink
from lindi_core.io.deadline import DEFAULT_TIMEOUT, check_timeout, stall_limit
from lindi_core.io.range_answers import BodyPlan, FileSizes, WholeBody, check_partial_body
from lindi_core.io.resolvers import (
    MAX_REDIRECTS,
    REDIRECT_STATUS,
    ResolvedUrl,
    ResolvedUrls,
    UrlResolver,
    default_resolvers,
    same_origin,
)
from lindi_core.io.retry_policy import Attempts, Retry, RetryAtOnce, RetryPolicy, status_failure
from lindi_core.io.whole_bodies import SHARED_WHOLE_BODIES, WholeBodies


class _ResolveAgain(Exception):
    """A resolved URL expired: resolve it again (once) and try again."""


class HttpSource(ByteSource):
    """Reads byte ranges of http(s) URLs. ``timeout``: seconds one read may take in all, its
    retries included (see :mod:`lindi_core.io.deadline`)."""

    def __init__(self, *, retries: int = 6, backoff: float = 0.05, timeout: float = DEFAULT_TIMEOUT,
                 max_concurrency: int = 16,
                 merge_gap: int = 256 * 1024, max_merged: int = 16 * 1024 * 1024,
                 resolvers: list[UrlResolver] | None = None, whole_bodies: WholeBodies | None = None,
                 guard: AddressGuard | None = None):
        self.guard = guard  # which addresses connections may go to (None: any)
        self.retry_policy = RetryPolicy(retries, backoff)
        self.timeout = check_timeout(timeout)
        # Requests of resolvers are bounded by the session's limits; reads by their deadline.
        self._client_timeout = aiohttp.ClientTimeout(total=self.timeout, sock_connect=stall_limit(self.timeout),
                                                     sock_read=stall_limit(self.timeout))
        self.max_concurrency = max_concurrency
        self.merge_gap = merge_gap
        self.max_merged = max_merged
        self.resolvers = list(resolvers) if resolvers is not None else default_resolvers()
        self.whole_bodies = whole_bodies if whole_bodies is not None else SHARED_WHOLE_BODIES
        self._init_process_state()

    def _init_process_state(self) -> None:
        """Sessions, pending work and what was learned from answers: this process's alone."""
        self._per_loop: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, asyncio.Semaphore, RangeBatcher]] = {}
        self._resolved = ResolvedUrls()
        self._resolving: dict[str, asyncio.Future] = {}
        self._downloading_whole: dict[str, asyncio.Future] = {}
        self.sizes = FileSizes()
        self.requests = 0  # HTTP requests made for data, retries included

    _PROCESS_STATE = ("_per_loop", "_resolved", "_resolving", "_downloading_whole", "sizes", "requests")

    def __getstate__(self) -> dict[str, Any]:
        """The engine's settings (timeout, retries, guard, resolvers), for another process,
        which opens its own sessions when it first reads. The process-wide kept bodies stay
        behind: the copy uses its own process's."""
        state = {k: v for k, v in self.__dict__.items() if k not in self._PROCESS_STATE}
        if state["whole_bodies"] is SHARED_WHOLE_BODIES:
            state["whole_bodies"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.whole_bodies is None:
            self.whole_bodies = SHARED_WHOLE_BODIES
        self._init_process_state()

    def _state(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore, RangeBatcher]:
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None or state[0].closed:
            session = aiohttp.ClientSession(timeout=self._client_timeout,
                                            connector=self.guard.aiohttp_connector() if self.guard else None)
            batcher = RangeBatcher(self._fetch, max_gap=self.merge_gap, max_size=self.max_merged)
            state = (session, asyncio.Semaphore(self.max_concurrency), batcher)
            self._per_loop[loop] = state
        return state

    async def read(self, where: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of ``where`` (``length < 0``: to the end)."""
        if length == 0:
            return b""
        if length < 0:
            return await self._fetch(where, offset, length)
        return await self._state()[2].read(where, offset, length)

    async def read_into(self, where: str, offset: int, length: int, sink: RangeSink) -> None:
        """The ``length`` bytes at ``offset`` of ``where`` streamed into ``sink`` as they arrive
        (merged with the other reads of the same turn as :meth:`read` merges them), with the
        retries, deadline and checks of :meth:`read`."""
        if length <= 0:
            raise ValueError("a read into a sink has a positive length")
        await self._state()[2].read(where, offset, length, sink)

    async def _resolve(self, url: str, session: aiohttp.ClientSession) -> ResolvedUrl:
        cached = self._resolved.get(url)
        if cached is not None:
            return cached
        # Concurrent reads of one URL share one resolution instead of each asking the API.
        pending = self._resolving.get(url)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(self._resolve_now(url, session))
            self._resolving[url] = pending
            pending.add_done_callback(lambda _task, _url=url: self._resolving.pop(_url, None))
        return await asyncio.shield(pending)

    async def _resolve_now(self, url: str, session: aiohttp.ClientSession) -> ResolvedUrl:
        for resolver in self.resolvers:
            resolved = await resolver.resolve(url, session)
            if resolved is not None:
                self._resolved.keep(url, resolved)
                return resolved
        return ResolvedUrl(url)

    async def _fetch(self, url: str, offset: int, length: int, sink: RangeSink | None = None) -> bytes:
        """The bytes of the range. They stream into ``sink`` as they arrive (a retry starts it
        over); without one, into a single buffer of the range's size, which is returned. The
        whole read, all its attempts, ends within the timeout."""
        session, limit, _ = self._state()
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"} if length > 0 else \
            ({"Range": f"bytes={offset}-"} if offset else {})
        if headers:
            headers["Accept-Encoding"] = "identity"  # ranges of the file's bytes, not of a compressed copy
        attempts = self.retry_policy.attempts(url, f"reading {url} bytes {offset}+{length}", self.timeout,
                                              start_clock=False)  # the clock starts once it holds a connection slot
        while (pause := attempts.next()) is not None:
            if pause:
                await asyncio.sleep(pause)
            try:
                async with limit:
                    deadline = attempts.start()
                    if deadline.expired:
                        break
                    async with asyncio.timeout(deadline.remaining()):
                        return await self._attempt(session, url, offset, length, sink, headers, attempts)
            except _ResolveAgain:
                pass
            except (TimeoutError, Retry, aiohttp.ClientError) as exc:
                attempts.failed(exc)
        raise attempts.error()

    async def _attempt(self, session: aiohttp.ClientSession, url: str, offset: int, length: int,
                       sink: RangeSink | None, headers: dict[str, str], attempts: Attempts) -> bytes:
        resolved = await self._resolve(url, session)
        kept = self._from_whole_body(url, offset, length, sink)
        if kept is not None:  # the server ignores Range and its file is in memory
            return kept
        self.requests += 1
        async with await self._get(session, resolved, headers) as response:
            if response.status == 403 and self._resolved.refused(url, resolved) and attempts.may_resolve_again():
                raise _ResolveAgain()  # presigned URL expired: resolve again
            if response.status >= 400:
                raise status_failure(response.status, response.headers, f"HTTP {response.status} {attempts.doing}")
            if response.history:
                self._resolved.redirected(url, resolved, str(response.url))
            plan = self.sizes.plan(url, response.status, response.headers.get("Content-Range"),
                                   _decoded_length(response), offset, length, ranged="Range" in headers,
                                   clip_at_end=False, budget=self.whole_bodies.max_bytes)
            if not plan.whole:
                target = sink or WholeRange(plan.expected)
                await _stream_body(response, plan, target)
                return target.buffer if isinstance(target, WholeRange) else b""
            data = await self._whole_body(url, response, plan)
            if sink is not None:
                sink.restart()
                sink.write(0, memoryview(data))
            return data

    @staticmethod
    async def _get(session: aiohttp.ClientSession, resolved: ResolvedUrl,
                   headers: dict[str, str]) -> aiohttp.ClientResponse:
        """The answer to a GET of ``resolved``, redirects followed. A resolver's headers go to
        the origin it gave them for only, as in the blocking client: aiohttp alone would carry
        any but Authorization and cookies on to another origin redirected to. A redirect loop
        is the server's final word, as in the blocking client (aiohttp's error would be retried)."""
        try:
            return await HttpSource._follow(session, resolved, headers)
        except aiohttp.TooManyRedirects:
            raise ByteSourceError(f"more than {MAX_REDIRECTS} redirects reading {resolved.url}") from None

    @staticmethod
    async def _follow(session: aiohttp.ClientSession, resolved: ResolvedUrl,
                      headers: dict[str, str]) -> aiohttp.ClientResponse:
        # aiohttp's max_redirects counts requests: MAX_REDIRECTS redirects followed, and no more.
        if not resolved.headers:
            return await session.get(resolved.url, headers=headers, max_redirects=MAX_REDIRECTS + 1)
        url, sent = resolved.url, {**resolved.headers, **headers}
        for _ in range(MAX_REDIRECTS + 1):
            response = await session.get(url, headers=sent, allow_redirects=False)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUS or not location:
                return response
            response.release()
            following = urllib.parse.urljoin(url, location)
            if not same_origin(url, following):  # the rest of the way without the resolver's headers
                return await session.get(following, headers=headers, max_redirects=MAX_REDIRECTS + 1)
            url = following
        raise ByteSourceError(f"more than {MAX_REDIRECTS} redirects reading {resolved.url}")

    def _from_whole_body(self, url: str, offset: int, length: int, sink: RangeSink | None) -> bytes | None:
        data = self.whole_bodies.slice(url, offset, length)
        if data is None:
            return None
        if length >= 0 and len(data) != length:
            raise ByteSourceError(f"{url} ends at byte {self.whole_bodies.size(url)}, before byte {offset + length}")
        if sink is not None:
            sink.restart()
            sink.write(0, memoryview(data))
        return data

    async def _whole_body(self, url: str, response: aiohttp.ClientResponse, plan: BodyPlan) -> bytes:
        """The bytes asked for out of the whole file a server sent for a range request (see
        :mod:`lindi_core.io.range_answers` for when it is taken for the file). Requests in flight
        at the same time share one download: the first reads it, the others hang up, wait for
        it and try again (finding the file kept, or asking again)."""
        loop = asyncio.get_running_loop()
        if self.whole_bodies.size(url) is not None:  # an answer that arrives after another's download
            response.close()
            raise RetryAtOnce("another read downloaded the whole file meanwhile")
        downloading = self._downloading_whole.get(url)
        if downloading is not None and downloading.get_loop() is loop:
            response.close()
            await asyncio.wait([downloading])
            raise RetryAtOnce("another read downloaded the whole file meanwhile")
        downloading = loop.create_future()
        self._downloading_whole[url] = downloading
        try:
            body = WholeBody(plan)
            async for piece in response.content.iter_any():
                body.feed(piece)
            data = self.sizes.accept_whole(url, plan, body, clip_at_end=False)
            whole = body.whole()
            if whole is not None:
                self.whole_bodies.keep(url, whole)
            return data
        finally:
            if self._downloading_whole.get(url) is downloading:
                del self._downloading_whole[url]
            downloading.set_result(None)

    async def close(self) -> None:
        for session, _limit, _batcher in list(self._per_loop.values()):
            if not session.closed:
                await session.close()
        self._per_loop.clear()


def _decoded_length(response: aiohttp.ClientResponse) -> int | None:
    """The length of the body as read, where the answer says it: a compressed answer's
    Content-Length is that of the compressed bytes, not of those aiohttp hands over."""
    if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return None
    return response.content_length


class WholeRange:
    """A sink that keeps the whole range in one buffer allocated up front."""

    def __init__(self, length: int):
        self.buffer = bytearray(length)
        self._view = memoryview(self.buffer)

    def restart(self) -> None:
        return None  # the next attempt overwrites the buffer from its start

    def write(self, position: int, piece: memoryview) -> None:
        self._view[position : position + len(piece)] = piece


async def _stream_body(response: aiohttp.ClientResponse, plan: BodyPlan, sink: RangeSink) -> None:
    """A 206 body of ``plan.expected`` bytes, piece by piece into ``sink`` as it arrives (no
    joining of pieces afterwards); raises :class:`Retry` for a body cut short or one longer
    than the range, without reading past its end."""
    sink.restart()
    received = 0
    async for piece in response.content.iter_any():
        end = received + len(piece)
        if end > plan.limit:
            raise Retry(f"server sent more than the {plan.limit} bytes of the range")
        sink.write(received, memoryview(piece))
        received = end
    check_partial_body(received, plan)
