"""A small HTTP server with byte-range support, for the demo, the tests and the benchmarks.

It serves the files of one folder on 127.0.0.1 from a background thread, and can behave like a
slow or unreliable cloud store: injected latency, a bandwidth cap, and faults (5xx answers,
ignored Range headers, truncated bodies, connections reset mid-body), or like a hostile or
broken one: a 200 page that is not the file (a proxy's login page), partial answers naming
another range, a larger range or a wrong total, endless bodies, bodies trickling in, or any status for a given path. It can also play an
archive API: ``/api/assets/<file>/download/`` redirects to a "presigned" URL of the file that
expires after ``presign_ttl`` seconds (then 403); ``/redirect/<file>`` is a plain redirect. Counters of requests, bytes, requests in
flight and the headers received let callers measure exactly what a reader did.

It runs in a thread of the calling process. When h5py in that same process reads a file from
it (h5py holds its global lock while it reads), collect garbage beforehand: a garbage
collection in the server thread that finalises an h5py object would wait for that lock.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


_PIECE = 1024 * 1024  # bytes read from disk and written per step of a streamed body


@dataclass
class ServerFaults:
    """Misbehaviour to inject. Rates are probabilities per request; ``seed`` makes them repeatable."""

    error_rate: float = 0.0  # answer 503
    truncate_rate: float = 0.0  # send only half of the body
    reset_rate: float = 0.0  # send half of the body, then drop the connection
    ignore_range: bool = False  # answer 200 with the whole file
    seed: int = 0
    # Counted faults: the next N range requests (N raised at any time, also while serving).
    page_200_times: int = 0  # answer 200 with ``page`` (its own Content-Length): not the file
    page: bytes = b"<html><body><h1>Please log in</h1><form action=/login></form></body></html>\n" * 4
    shifted_range_times: int = 0  # answer 206 for the range one byte further on, saying so
    superset_range_times: int = 0  # answer 206 for a larger range containing the one asked for
    wrong_total_times: int = 0  # answer 206 with the right bytes but a file size 4096 bytes larger
    endless_times: int = 0  # answer 206 with the range, then junk without end (no Content-Length)
    endless_whole_times: int = 0  # answer 200 with the whole file, then junk without end (no Content-Length)
    reset_times: int = 0  # send half of the body, then drop the connection
    trickle: float = 0.0  # bytes per second, one byte at a time, when above 0
    # Error answers by path (as requested, without the leading "/"): each request takes the
    # first status of its list, a path whose list is empty is served as usual.
    statuses: dict[str, list[int]] = field(default_factory=dict)
    status_headers: dict[str, str] = field(default_factory=dict)  # sent with those answers (Retry-After...)


@dataclass
class ServerStats:
    requests: int = 0
    bytes_sent: int = 0
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    injected: dict[str, int] = field(default_factory=dict)  # counted faults sent, by kind
    junk_bytes: int = 0  # bytes sent past the end of an endless body

    def reset(self) -> None:
        self.requests = 0
        self.bytes_sent = 0
        self.paths.clear()
        self.headers.clear()
        self.max_in_flight = self.in_flight


class RangeServer:
    """Serve ``root`` at ``http://127.0.0.1:<port>/``; use as a context manager."""

    def __init__(self, root: str | os.PathLike, *, latency: float = 0.0, bandwidth: float | None = None,
                 faults: ServerFaults | None = None, port: int = 0, presign_ttl: float = 3600.0,
                 advertised_ttl: float | None = None, compress: bool = False):
        self.compress = compress  # gzip answers without Range for clients that accept it, as web servers do
        self.root = os.path.abspath(os.fspath(root))
        self.latency = latency
        self.presign_ttl = presign_ttl  # how long a presigned URL really works
        self.advertised_ttl = presign_ttl if advertised_ttl is None else advertised_ttl  # what it claims
        self.bandwidth = bandwidth  # bytes per second, None for unlimited
        self.faults = faults or ServerFaults()
        self.stats = ServerStats()
        self._port = port
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, relative_path: str) -> str:
        return f"{self.url}/{relative_path.lstrip('/')}"

    def __enter__(self) -> RangeServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start_app())
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="lindi-core-range-server", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]

    async def _start_app(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", self._handle)
        app.router.add_route("HEAD", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            loop = self._loop

            def stop_now() -> None:
                for task in asyncio.all_tasks(loop):  # answers still waiting (latency, trickles) end now
                    task.cancel()
                loop.stop()

            loop.call_soon_threadsafe(stop_now)
            self._thread.join(timeout=10)
            self._loop = None

    def _take(self, kind: str) -> bool:
        """Whether to inject one more counted fault of ``kind`` (a field of ServerFaults)."""
        with self._lock:
            sent = self.stats.injected.get(kind, 0)
            if getattr(self.faults, kind) > sent:
                self.stats.injected[kind] = sent + 1
                return True
            return False

    def _count(self, kind: str) -> None:
        """Count a fault injected at random (503s, truncations, resets) beside the counted ones."""
        with self._lock:
            self.stats.injected[kind] = self.stats.injected.get(kind, 0) + 1

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._random.random() < rate

    def api_url_for(self, relative_path: str) -> str:
        """The archive-API URL that redirects to a presigned URL of ``relative_path``."""
        return f"{self.url}/api/assets/{relative_path.lstrip('/')}/download/"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.stats.requests += 1
            self.stats.paths.append(request.path_qs)
            self.stats.headers.append(dict(request.headers))
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return await self._answer(request)
        finally:
            with self._lock:
                self.stats.in_flight -= 1

    async def _stream(self, request: web.Request, path: str, start: int, end: int, status: int,
                      headers: dict[str, str]) -> web.StreamResponse:
        """The body in pieces after the headers, as storage services send it: the first
        bytes leave at once, not after the whole range has been read into memory."""
        response = web.StreamResponse(status=status, headers=headers)
        try:
            await response.prepare(request)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            return response  # the client gave up waiting
        with open(path, "rb") as f:
            f.seek(start)
            position = start
            while position < end:
                piece = f.read(min(_PIECE, end - position))
                if not piece:
                    break
                if self.bandwidth:
                    await asyncio.sleep(len(piece) / self.bandwidth)
                try:
                    await response.write(piece)
                except (ConnectionError, aiohttp.ClientConnectionResetError):
                    return response  # the client has what it wanted and hung up (read-ahead cut short)
                position += len(piece)
                with self._lock:
                    self.stats.bytes_sent += len(piece)
        try:
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        with self._lock:
            queued = self.faults.statuses.get(relative)
            status = queued.pop(0) if queued else None
        if status is not None:
            self._count(f"status_{status}")
            return web.Response(status=status, text=f"injected HTTP {status}", headers=self.faults.status_headers)
        if relative.startswith("api/assets/") and relative.endswith("/download/"):
            target = relative[len("api/assets/") : -len("/download/")]
            query = f"X-Amz-Expires={int(self.advertised_ttl)}&signed={time.time():.3f}"
            raise web.HTTPFound(f"/{target}?{query}")
        if relative.startswith("redirect/"):
            raise web.HTTPFound("/" + relative[len("redirect/") :])
        signed = request.query.get("signed")
        if signed is not None and time.time() - float(signed) > self.presign_ttl:
            return web.Response(status=403, text="Request has expired")
        path = os.path.normpath(os.path.join(self.root, relative))
        if not path.startswith(self.root + os.sep) or not os.path.isfile(path):
            return web.Response(status=404)
        if self._roll(self.faults.error_rate):
            self._count("error_503")
            return web.Response(status=503)
        size = os.path.getsize(path)
        start, end, status = 0, size, 200
        header = request.headers.get("Range")
        if header and not self.faults.ignore_range:
            match = _RANGE.fullmatch(header.strip())
            if match is None:
                return web.Response(status=416)
            first, last = match.groups()
            if first:
                start = int(first)
                end = min(size, int(last) + 1) if last else size
            elif last:
                start, end = max(0, size - int(last)), size
            if start >= size or start >= end:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            status = 206
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start), **_validators(path)}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        if request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        if status == 206:
            hostile = await self._hostile(request, path, size, start, end)
            if hostile is not None:
                return hostile
        if self.faults.trickle > 0:
            return await self._trickle(request, path, start, end, status, headers)
        if self.compress and status == 200 and not header and "gzip" in request.headers.get("Accept-Encoding", ""):
            with open(path, "rb") as f:
                response = web.Response(body=f.read())
            response.enable_compression(web.ContentCoding.gzip)
            return response
        reset = self._take("reset_times") or self._roll(self.faults.reset_rate)
        truncate = self._roll(self.faults.truncate_rate)
        if not (reset or truncate):
            return await self._stream(request, path, start, end, status, headers)
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start)
        if reset and len(body) > 1:
            self._count("reset")
            response = web.StreamResponse(status=status, headers=headers)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            request.transport.close()  # the client sees the connection drop mid-body
            return response
        if truncate:
            self._count("truncate")
            body = body[: len(body) // 2]
        if self.bandwidth:
            await asyncio.sleep(len(body) / self.bandwidth)
        with self._lock:
            self.stats.bytes_sent += len(body)
        headers["Content-Length"] = str(len(body))
        return web.Response(status=status, body=body, headers=headers)

    async def _hostile(self, request: web.Request, path: str, size: int, start: int,
                       end: int) -> web.StreamResponse | None:
        """A counted hostile answer to a range request, if one is due."""
        if self._take("page_200_times"):
            return web.Response(status=200, body=self.faults.page, headers={"Content-Type": "text/html"})
        wrong = None
        if self._take("shifted_range_times"):
            wrong = (min(start + 1, size - 1), min(end + 1, size), size)
        elif self._take("superset_range_times"):
            wrong = (max(0, start - 16), min(size, end + 16), size)
            if wrong[:2] == (start, end):
                wrong = (start, end, size + 1)  # nothing to add around: claim a larger file instead
        elif self._take("wrong_total_times"):
            wrong = (start, end, size + 4096)
        if wrong is not None:
            first, stop, total = wrong
            with open(path, "rb") as f:
                f.seek(first)
                body = f.read(stop - first)
            return web.Response(status=206, body=body,
                                headers={"Content-Range": f"bytes {first}-{stop - 1}/{total}"})
        if self._take("endless_times"):
            return await self._endless(request, path, start, end,
                                       {"Content-Range": f"bytes {start}-{end - 1}/{size}"})
        if self._take("endless_whole_times"):
            return await self._endless(request, path, 0, size, {})
        return None

    async def _endless(self, request: web.Request, path: str, start: int, end: int,
                       headers: dict[str, str]) -> web.StreamResponse:
        """Bytes ``[start, end)`` of the file (a range, with a Content-Range header, or the
        whole file, without), then junk until the client hangs up (at most 1 GiB)."""
        response = web.StreamResponse(status=206 if headers else 200, headers=headers)
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            with open(path, "rb") as f:
                f.seek(start)
                await response.write(f.read(end - start))
            junk = b"\0" * _PIECE
            for _ in range(1024):
                await response.write(junk)
                with self._lock:
                    self.stats.junk_bytes += len(junk)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        return response

    async def _trickle(self, request: web.Request, path: str, start: int, end: int, status: int,
                       headers: dict[str, str]) -> web.StreamResponse:
        """The body one byte at a time, ``faults.trickle`` bytes per second: never silent for
        long, never done."""
        response = web.StreamResponse(status=status, headers=headers)
        try:
            await response.prepare(request)
            with open(path, "rb") as f:
                f.seek(start)
                body = f.read(end - start)
            for i in range(len(body)):
                await asyncio.sleep(1 / self.faults.trickle)
                await response.write(body[i : i + 1])
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        return response


def _validators(path: str) -> dict[str, str]:
    """ETag and Last-Modified of the file, as storage services send them (a changed file gets
    another ETag even within the same second)."""
    st = os.stat(path)
    return {"ETag": f'"{st.st_mtime_ns:x}-{st.st_size:x}"',
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True)}
