"""Byte sources: read ``length`` bytes at ``offset`` from a local file or an http(s) URL.

Async inside (the Zarr store is async), one aiohttp session per event loop with keep-alive.
This is the plain engine: one range request per read, with a small retry budget. Coalescing,
concurrency limits and the persistent cache sit on top of this interface.
"""

from __future__ import annotations

import asyncio
import random
import re
from abc import ABC, abstractmethod

import aiohttp
from zarr.core.sync import sync as zarr_sync

from lindi_core.errors import ByteSourceError
from lindi_core.io.cache import LocalCache
from lindi_core.io.locations import Location

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
RETRY_STATUS = {429, 500, 502, 503, 504}


class ByteSource(ABC):
    """Reads byte ranges of one kind of location."""

    @abstractmethod
    async def read(self, where: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (``length < 0``: to the end of the file)."""

    async def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release connections and handles."""


class LocalFileSource(ByteSource):
    async def read(self, where: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(read_local, where, offset, length)


def read_local(path: str, offset: int, length: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read() if length < 0 else f.read(length)
    except OSError as exc:
        raise ByteSourceError(f"cannot read {path!r} at offset {offset}: {exc}") from exc
    if length >= 0 and len(data) != length:
        raise ByteSourceError(f"{path!r} ends before byte {offset + length} (read {len(data)} of {length} bytes)")
    return data


class HttpSource(ByteSource):
    """HTTP range reads with retries on connection errors, timeouts, 429 and 5xx."""

    def __init__(self, *, retries: int = 6, backoff: float = 0.05, timeout: float = 60.0):
        self.retries = retries
        self.backoff = backoff
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = aiohttp.ClientSession(timeout=self.timeout)
            self._sessions[loop] = session
        return session

    async def read(self, where: str, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"} if length > 0 else \
            ({"Range": f"bytes={offset}-"} if offset else {})
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))
            try:
                async with self._session().get(where, headers=headers) as response:
                    if response.status in RETRY_STATUS:
                        last_error = ByteSourceError(f"HTTP {response.status}")
                        continue
                    if response.status >= 400:
                        raise ByteSourceError(
                            f"HTTP {response.status} reading {where} bytes {offset}+{length}")
                    body = await response.read()
                    data = _range_from_response(response.status, response.headers.get("Content-Range"),
                                                body, offset, length, where)
                    if data is None:
                        last_error = ByteSourceError("short or mismatched body")
                        continue
                    return data
            except (TimeoutError, aiohttp.ClientError) as exc:
                last_error = exc
        raise ByteSourceError(
            f"reading {where} bytes {offset}+{length} failed after {self.retries + 1} attempts: {last_error}")

    async def close(self) -> None:
        for session in self._sessions.values():
            if not session.closed:
                await session.close()
        self._sessions.clear()


def _range_from_response(status: int, content_range: str | None, body: bytes, offset: int, length: int,
                         where: str) -> bytes | None:
    """The requested bytes out of a response, or None when the body is short (retry)."""
    if status == 200:  # the server ignored the Range header and sent the whole file
        data = body[offset:] if length < 0 else body[offset : offset + length]
        return data if length < 0 or len(data) == length else None
    if status != 206:
        raise ByteSourceError(f"unexpected HTTP status {status} reading {where}")
    if content_range:
        match = _CONTENT_RANGE.fullmatch(content_range.strip())
        if match is None or int(match.group(1)) != offset:
            raise ByteSourceError(f"server answered range {content_range!r} for bytes {offset}+{length} of {where}")
    if length >= 0 and len(body) != length:
        return None
    return body


class ByteSources:
    """Dispatches reads of resolved locations to the source of their kind; remote reads go
    through the local cache when there is one."""

    def __init__(self, http: HttpSource | None = None, local: LocalFileSource | None = None,
                 cache: LocalCache | None = None):
        self.http = http or HttpSource()
        self.local = local or LocalFileSource()
        self.cache = cache

    async def read(self, location: Location, offset: int, length: int) -> bytes:
        if location.kind != "http":
            return await self.local.read(location.where, offset, length)
        if self.cache is not None and length >= 0:
            cached = self.cache.get(location.where, offset, length)
            if cached is not None:
                return cached
        data = await self.http.read(location.where, offset, length)
        if self.cache is not None and length >= 0:
            self.cache.put(location.where, offset, data)
        return data

    async def close(self) -> None:
        await self.http.close()


def fetch_url_sync(url: str, *, timeout: float = 60.0) -> bytes:
    """Download a whole (small) file, e.g. a reference file, synchronously."""
    async def run() -> bytes:
        source = HttpSource(timeout=timeout)
        try:
            return await source.read(url, 0, -1)
        finally:
            await source.close()

    # zarr's background event loop: works from any thread, also where a loop is running.
    return zarr_sync(run())
