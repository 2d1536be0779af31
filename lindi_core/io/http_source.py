"""HTTP(S) range reads: concurrent, merged, retried, resolved.

One aiohttp session per event loop (keep-alive), at most ``max_concurrency`` requests in
flight, neighbouring ranges requested together merged into one request
(:mod:`lindi_core.io.coalesce`), URLs resolved once and cached until they expire
(:mod:`lindi_core.io.resolvers`). Transient failures (connection errors, timeouts, 429, 5xx,
short bodies) are retried with exponential backoff and jitter; a 403 on a resolved URL (an
expired presigned URL) resolves it again once. Any server is handled correctly: one that
ignores ``Range`` and sends the whole file has that file kept and sliced
(:mod:`lindi_core.io.whole_bodies`), one that answers a different range than asked is refused.
"""

from __future__ import annotations

import asyncio
import random
import re
import time

import aiohttp

from lindi_core.errors import ByteSourceError
from lindi_core.io.address_guard import AddressGuard, refused
from lindi_core.io.byte_source import ByteSource
from lindi_core.io.coalesce import RangeBatcher, RangeSink
from lindi_core.io.resolvers import ResolvedUrl, UrlResolver, default_resolvers
from lindi_core.io.whole_bodies import SHARED_WHOLE_BODIES, WholeBodies

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
RETRY_STATUS = {429, 500, 502, 503, 504}
REDIRECT_TTL = 300.0


def describe_error(error: BaseException | None) -> str:
    """An error for a message: its text, or its kind where it has none (a timeout's is empty)."""
    if error is None:
        return "no answer"
    text = str(error)
    kind = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
    return text if text else kind


class _Retry(Exception):
    """A transient failure worth another attempt."""


class HttpSource(ByteSource):
    """Reads byte ranges of http(s) URLs."""

    def __init__(self, *, retries: int = 6, backoff: float = 0.05, timeout: float = 60.0, max_concurrency: int = 16,
                 merge_gap: int = 256 * 1024, max_merged: int = 16 * 1024 * 1024,
                 resolvers: list[UrlResolver] | None = None, whole_bodies: WholeBodies | None = None,
                 guard: AddressGuard | None = None):
        self.guard = guard  # which addresses connections may go to (None: any)
        self.retries = retries
        self.backoff = backoff
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_concurrency = max_concurrency
        self.merge_gap = merge_gap
        self.max_merged = max_merged
        self.resolvers = list(resolvers) if resolvers is not None else default_resolvers()
        self._per_loop: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, asyncio.Semaphore, RangeBatcher]] = {}
        self._resolved: dict[str, ResolvedUrl] = {}
        self._resolving: dict[str, asyncio.Future] = {}
        self.whole_bodies = whole_bodies if whole_bodies is not None else SHARED_WHOLE_BODIES
        self._downloading_whole: dict[str, asyncio.Future] = {}
        self.requests = 0  # HTTP requests made for data, retries included

    def _state(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore, RangeBatcher]:
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None or state[0].closed:
            session = aiohttp.ClientSession(timeout=self.timeout,
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

    async def _resolve(self, url: str, session: aiohttp.ClientSession) -> ResolvedUrl:
        cached = self._resolved.get(url)
        if cached is not None and cached.expires_at > time.time():
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
                self._resolved[url] = resolved
                return resolved
        return ResolvedUrl(url)

    async def _fetch(self, url: str, offset: int, length: int, sink: RangeSink | None = None) -> bytes:
        """The bytes of the range. They stream into ``sink`` as they arrive (a retry starts it
        over); without one, into a single buffer of the range's size, which is returned."""
        session, limit, _ = self._state()
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"} if length > 0 else \
            ({"Range": f"bytes={offset}-"} if offset else {})
        last_error: BaseException | None = None
        re_resolved = False
        attempt = 0
        while attempt <= self.retries:
            if attempt:
                await asyncio.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))
            attempt += 1
            resolved = await self._resolve(url, session)
            try:
                async with limit:
                    kept = self._from_whole_body(url, offset, length, sink)
                    if kept is not None:  # the server ignores Range and its file is in memory
                        return kept
                    self.requests += 1
                    async with session.get(resolved.url, headers={**resolved.headers, **headers}) as response:
                        if response.status == 403 and not re_resolved and (
                                resolved.url != url or url in self._resolved):
                            self._resolved.pop(url, None)  # presigned URL expired: resolve again
                            re_resolved = True
                            attempt -= 1
                            continue
                        if response.status in RETRY_STATUS:
                            raise _Retry(f"HTTP {response.status}")
                        if response.status >= 400:
                            raise ByteSourceError(f"HTTP {response.status} reading {url} bytes {offset}+{length}")
                        if response.history and resolved.url == url:
                            # A plain redirect: read from its target directly from now on.
                            self._resolved[url] = ResolvedUrl(str(response.url), {}, time.time() + REDIRECT_TTL)
                        if response.status == 206 and length > 0:
                            _check_content_range(response.headers.get("Content-Range"), offset, length, url)
                            target = sink or WholeRange(length)
                            await _stream_body(response, length, target)
                            return target.buffer if isinstance(target, WholeRange) else b""
                        if response.status == 200 and "Range" in headers:
                            body = await self._whole_body(url, response)
                        else:
                            body = await response.read()
                        data = _range_from_response(response.status, response.headers.get("Content-Range"),
                                                    body, offset, length, url,
                                                    sized=response.content_length is not None)
                        if sink is not None:
                            sink.restart()
                            sink.write(0, memoryview(data))
                        return data
            except (TimeoutError, _Retry, aiohttp.ClientError) as exc:
                if (denied := refused(exc, url)) is not None:
                    raise denied from None
                last_error = exc
        raise ByteSourceError(
            f"reading {url} bytes {offset}+{length} failed after {self.retries + 1} attempts: {describe_error(last_error)}")

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

    async def _whole_body(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        """The whole file a server sent for a range request. Requests in flight at the same
        time get the same answer: the first downloads it, the others hang up and wait."""
        loop = asyncio.get_running_loop()
        kept = self.whole_bodies.get(url)
        if kept is not None:  # an answer that arrives after another's download finished
            response.close()
            return kept
        downloading = self._downloading_whole.get(url)
        if downloading is not None and downloading.get_loop() is loop:
            response.close()
            return await asyncio.shield(downloading)
        downloading = loop.create_future()
        self._downloading_whole[url] = downloading
        try:
            body = await response.read()
        except BaseException as exc:
            # Waiters retry after a failure of this download, or after its cancellation, which
            # is this reader's and not theirs.
            downloading.set_exception(exc if isinstance(exc, Exception) else _Retry("the whole-file download stopped"))
            downloading.exception()  # retrieved: waiters see it, nobody else has to
            raise
        finally:
            if self._downloading_whole.get(url) is downloading:
                del self._downloading_whole[url]
        if response.content_length is not None:  # else a body cut short could not be told from a whole one
            self.whole_bodies.keep(url, body)
        downloading.set_result(body)
        return body

    async def close(self) -> None:
        for session, _limit, _batcher in list(self._per_loop.values()):
            if not session.closed:
                await session.close()
        self._per_loop.clear()


class WholeRange:
    """A sink that keeps the whole range in one buffer allocated up front."""

    def __init__(self, length: int):
        self.buffer = bytearray(length)
        self._view = memoryview(self.buffer)

    def restart(self) -> None:
        return None  # the next attempt overwrites the buffer from its start

    def write(self, position: int, piece: memoryview) -> None:
        self._view[position : position + len(piece)] = piece


async def _stream_body(response: aiohttp.ClientResponse, length: int, sink: RangeSink) -> None:
    """A 206 body of ``length`` bytes, piece by piece into ``sink`` as it arrives (no joining
    of pieces afterwards); raises :class:`_Retry` for a short body."""
    sink.restart()
    received = 0
    async for piece in response.content.iter_any():
        end = received + len(piece)
        if end > length:
            raise ByteSourceError(f"server sent more than the {length} bytes asked for")
        sink.write(received, memoryview(piece))
        received = end
    if received != length:
        raise _Retry("short body")


def _check_content_range(content_range: str | None, offset: int, length: int, where: str, *,
                         clip_at_end: bool = False) -> int:
    """How many bytes the 206 answer carries. A range cut at the end of the file is an error
    (the reference points past the file) unless ``clip_at_end``, where it is the answer."""
    if not content_range:
        return length
    match = _CONTENT_RANGE.fullmatch(content_range.strip())
    if match is None or int(match.group(1)) != offset:
        raise ByteSourceError(f"server answered range {content_range!r} for bytes {offset}+{length} of {where}")
    carried = int(match.group(2)) + 1 - offset
    total = match.group(3)
    if length >= 0 and carried < length:
        if total == "*" or int(total) != offset + carried:
            raise ByteSourceError(f"server answered range {content_range!r} for bytes {offset}+{length} of {where}")
        if not clip_at_end:
            raise ByteSourceError(f"{where} ends at byte {total}, before byte {offset + length}")
    return carried


def _range_from_response(status: int, content_range: str | None, body: bytes, offset: int, length: int,
                         where: str, *, clip_at_end: bool = False, sized: bool = True) -> bytes:
    """The requested bytes out of a response; raises :class:`_Retry` for a short body. With
    ``clip_at_end``, a range past the end of the file gives the bytes up to the end. ``sized``:
    the response said its length (so a whole-file answer is the whole file)."""
    if status == 200:  # the server ignored the Range header and sent the whole file
        data = body[offset:] if length < 0 else body[offset : offset + length]
        if length >= 0 and len(data) != length and not clip_at_end:
            if not sized:
                raise _Retry("short body")  # perhaps cut short: nothing said how long it was
            raise ByteSourceError(f"{where} ends at byte {len(body)}, before byte {offset + length}")
        return data
    if status != 206:
        raise ByteSourceError(f"unexpected HTTP status {status} reading {where}")
    carried = _check_content_range(content_range, offset, length, where, clip_at_end=clip_at_end)
    if len(body) != carried and (length >= 0 or content_range):
        raise _Retry("short body")
    return body
