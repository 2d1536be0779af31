"""Byte sources: read ``length`` bytes at ``offset`` from a local file or an http(s) URL.

Async inside (the Zarr store is async). Local files are read in a worker thread; http(s)
reads go through :class:`lindi_core.io.http_source.HttpSource` (concurrent, merged, retried,
resolved), and through the local cache when one is given (:mod:`lindi_core.io.cached_reads`).
"""

from __future__ import annotations

import asyncio
import copy
import os
from typing import Any

from lindi_core.errors import ByteSourceError
from lindi_core.io import sync_bridge, workers
from lindi_core.io.address_guard import AddressGuard
from lindi_core.io.byte_source import ByteSource
from lindi_core.io.cache import LocalCache
from lindi_core.io.cached_reads import CachedReads
from lindi_core.io.coalesce import RangeSink
from lindi_core.io.deadline import DEFAULT_TIMEOUT, check_timeout
from lindi_core.io.http_source import HttpSource
from lindi_core.io.locations import Location


class LocalFileSource(ByteSource):
    async def read(self, where: str, offset: int, length: int) -> bytes:
        return await workers.to_thread(read_local, where, offset, length)


def read_local(path: str, offset: int, length: int) -> bytes:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            # Checked before reading: a read buffer is allocated at the size asked for, so a
            # reference claiming a terabyte of a small file would exhaust memory first.
            if length >= 0 and offset + length > size:
                raise ByteSourceError(f"{path!r} ends at byte {size}, before byte {offset + length} "
                                      f"(a reference asks for {length} bytes at offset {offset})")
            f.seek(offset)
            data = f.read() if length < 0 else f.read(length)
    except OSError as exc:
        if isinstance(exc, ByteSourceError):
            raise
        raise ByteSourceError(f"cannot read {path!r} at offset {offset}: {exc}") from exc
    if length >= 0 and len(data) != length:
        raise ByteSourceError(f"{path!r} ends before byte {offset + length} (read {len(data)} of {length} bytes)")
    return data


class FsspecSource(ByteSource):
    """Byte ranges through fsspec (``s3://``, ``gs://``, ``memory://``...): its async
    implementation where the filesystem has one, a worker thread otherwise. A read may take
    ``timeout`` seconds in all, whatever the filesystem's own retries (a worker thread still
    reading then is left to finish on its own; its result is not used)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = check_timeout(timeout)
        self._filesystems: dict[str, object] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"timeout": self.timeout}  # another process makes its own filesystems

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _filesystem(self, url: str):
        import fsspec

        protocol = url.split("://", 1)[0]
        fs = self._filesystems.get(protocol)
        if fs is None:
            fs = self._filesystems[protocol] = fsspec.filesystem(protocol)
        return fs

    async def read(self, where: str, offset: int, length: int) -> bytes:
        end = None if length < 0 else offset + length
        try:
            fs = self._filesystem(where)
            async with asyncio.timeout(self.timeout):
                if getattr(fs, "async_impl", False):
                    data = await fs._cat_file(where, start=offset, end=end)
                else:
                    data = await workers.to_thread(fs.cat_file, where, start=offset, end=end)
        except ByteSourceError:
            raise
        except TimeoutError:
            raise ByteSourceError(f"reading {where} bytes {offset}+{length} timed out after {self.timeout:g} s") from None
        except Exception as exc:
            # Each filesystem raises its own kinds (botocore's NoCredentialsError, ClientError,
            # a missing driver's ImportError...): to the reader they are all one failed read.
            raise ByteSourceError(f"cannot read {where} bytes {offset}+{length}: "
                                  f"{type(exc).__name__}: {exc}") from exc
        if length >= 0 and len(data) != length:
            raise ByteSourceError(f"{where} ends before byte {offset + length}")
        return data


class ByteSources:
    """Dispatches reads of resolved locations to the source of their kind; remote reads go
    through the local cache when there is one."""

    def __init__(self, http: HttpSource | None = None, local: LocalFileSource | None = None,
                 cache: LocalCache | None = None, guard: AddressGuard | None = None):
        self.http = http or HttpSource(guard=guard)
        self.guard = guard
        self.local = local or LocalFileSource()
        self.fsspec = FsspecSource(timeout=self.http.timeout)  # one deadline for every remote read
        self.cache = cache
        self._start_reading()

    def _start_reading(self) -> None:
        self.cached = CachedReads(self.cache, self.http) if self.cache is not None else None
        self._attached = self.cache is not None
        if self.cache is not None:
            self.cache.attach()

    def fresh(self) -> ByteSources:
        """Sources with the same settings and cache, and connections of their own."""
        return ByteSources(copy.copy(self.http), self.local, cache=self.cache, guard=self.guard)

    def __getstate__(self) -> dict[str, Any]:
        """The sources' settings for another process (the local cache as its folder): what is
        read there goes through connections that process opens when it first reads."""
        return {"http": self.http, "guard": self.guard, "local": self.local, "fsspec": self.fsspec,
                "cache": self.cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start_reading()

    async def read(self, location: Location, offset: int, length: int) -> bytes:
        if location.kind == "local":
            return await self.local.read(location.where, offset, length)
        if location.kind == "fsspec":
            return await self.fsspec.read(location.where, offset, length)
        if self.guard is not None:  # before any cache: bytes kept from a trusted read stay there
            await self.guard.check_name(location.where)
        if self.cached is not None and length >= 0:
            return await self.cached.read(location.where, offset, length)
        return await self.http.read(location.where, offset, length)

    async def read_into(self, location: Location, offset: int, length: int, sink: RangeSink) -> None:
        """:meth:`read`, the bytes going into ``sink`` (see
        :class:`~lindi_core.io.coalesce.RangeSink`) as they arrive: an HTTP range read without a
        local cache streams them there, piece by piece; any other read hands them over at once
        when they are all in. Every check of :meth:`read` applies; on a failure the sink may
        hold bytes of an attempt that did not end, which its owner must not use."""
        if length < 0:
            raise ValueError("a read into a sink has a length")
        if location.kind == "http" and self.cached is None:
            if self.guard is not None:
                await self.guard.check_name(location.where)
            await self.http.read_into(location.where, offset, length, sink)
            return
        data = await self.read(location, offset, length)
        if len(data) != length:  # every source checks this; kept here, where a sink is filled
            raise ByteSourceError(f"{location.where}: read {len(data)} bytes at offset {offset}, not the {length} asked for")
        sink.restart()
        sink.write(0, memoryview(data))

    async def flush(self) -> None:
        """Wait until the ranges read so far are in the local cache."""
        if self.cached is not None:
            await self.cached.flush()

    async def close(self) -> None:
        try:
            await self.flush()
            if self._attached:
                # Pending recency updates recorded; the last file using the cache closes the
                # connections of the worker threads (it reopens them when used again).
                self._attached = False
                await workers.to_thread(self.cache.detach)
        finally:  # the connections close whatever became of the cache
            await self.http.close()


def fetch_url_sync(url: str, *, timeout: float = DEFAULT_TIMEOUT, guard: AddressGuard | None = None) -> bytes:
    """Download a whole (small) file, e.g. a reference file, synchronously."""
    async def run() -> bytes:
        source = HttpSource(timeout=timeout, guard=guard)
        try:
            return await source.read(url, 0, -1)
        finally:
            await source.close()

    return sync_bridge.run_sync(run())  # from any thread, also where another loop runs
