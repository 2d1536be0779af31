"""Blocking HTTP range reads in the calling thread, for code that h5py calls back into.

h5py holds its global lock while it reads a Python file object. Waiting there on another
thread (an event loop) deadlocks as soon as that thread has to run a finaliser of some h5py
object, which needs the same lock. The remote file object h5py reads during translation
therefore fetches in its own thread, with the standard library, and the same rules as the
async engine: retries with backoff, Range answered or sliced from a full body (kept, so a
server that ignores Range sends the file once), resolvers (their ``resolve_sync``), no
credentials sent anywhere but where a resolver puts them. A range past the end of the file
gives the bytes up to its end: callers learn the size from the answer. Connections are kept
alive and reused (translating a file takes dozens of sequential reads; over HTTPS a new
connection per read would add a TLS handshake to each).
"""

from __future__ import annotations

import http.client
import random
import ssl
import threading
import time
import urllib.parse

from lindi_core.errors import ByteSourceError
from lindi_core.io.address_guard import AddressGuard, refused
from lindi_core.io.http_source import RETRY_STATUS, _range_from_response, _Retry, describe_error
from lindi_core.io.resolvers import ResolvedUrl, default_resolvers
from lindi_core.io.whole_bodies import SHARED_WHOLE_BODIES, WholeBodies

REDIRECT_STATUS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 10
REDIRECT_TTL = 300.0


class _Connections:
    """Idle keep-alive connections per (scheme, host:port); a connection serves one request at a
    time, so each is taken out while in use."""

    def __init__(self, timeout: float, guard: AddressGuard | None = None):
        self.timeout = timeout
        self.guard = guard
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def take(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        """(a connection, whether it was used before)."""
        with self._lock:
            idle = self._idle.get((scheme, netloc))
            if idle:
                return idle.pop(), True
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            connection = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(netloc, timeout=self.timeout)
        if self.guard is not None:  # the one place http.client opens its socket
            connection._create_connection = self.guard.create_connection
        return connection, False

    def give_back(self, scheme: str, netloc: str, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault((scheme, netloc), []).append(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


class SyncHttp:
    """Range reads with retries, following redirects, resolving URLs once."""

    def __init__(self, *, retries: int = 6, backoff: float = 0.05, timeout: float = 60.0, resolvers=None,
                 whole_bodies: WholeBodies | None = None, guard: AddressGuard | None = None):
        self.guard = guard  # which addresses connections may go to (None: any)
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.resolvers = [r for r in (resolvers if resolvers is not None else default_resolvers())
                          if hasattr(r, "resolve_sync")]
        self._resolved: dict[str, ResolvedUrl] = {}
        self.whole_bodies = whole_bodies if whole_bodies is not None else SHARED_WHOLE_BODIES
        self._connections = _Connections(timeout, guard)
        self._per_thread = threading.local()

    @property
    def connect_seconds(self) -> float:
        """Seconds the last read of the calling thread spent opening connections (a caller
        timing round trips leaves them out: they are paid once, not per read)."""
        return getattr(self._per_thread, "connect_seconds", 0.0)

    def resolve(self, url: str) -> ResolvedUrl:
        cached = self._resolved.get(url)
        if cached is not None and cached.expires_at > time.time():
            return cached
        for resolver in self.resolvers:
            resolved = resolver.resolve_sync(url)
            if resolved is not None:
                self._resolved[url] = resolved
                return resolved
        return ResolvedUrl(url)

    def read(self, url: str, offset: int, length: int) -> tuple[bytes, int | None]:
        """(bytes ``[offset, offset + length)``, cut at the end of the file; the total file
        size when the server said it)."""
        self._per_thread.connect_seconds = 0.0
        kept = self.whole_bodies.slice(url, offset, length)
        if kept is not None:
            return kept, self.whole_bodies.size(url)
        last_error: BaseException | None = None
        re_resolved = False
        attempt = 0
        while attempt <= self.retries:
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))
            attempt += 1
            resolved = self.resolve(url)
            headers = {**resolved.headers, "Range": f"bytes={offset}-{offset + length - 1}"}
            try:
                status, response_headers, body, final_url = self._get(resolved.url, headers)
                if status == 403 and not re_resolved and (resolved.url != url or url in self._resolved):
                    self._resolved.pop(url, None)  # an expired presigned URL: resolve again
                    re_resolved = True
                    attempt -= 1
                    continue
                if status == 416:
                    return b"", None
                if status in RETRY_STATUS:
                    raise _Retry(f"HTTP {status}")
                if status >= 400:
                    raise ByteSourceError(f"HTTP {status} reading {url} bytes {offset}+{length}")
                if final_url != resolved.url and resolved.url == url:
                    # A plain redirect: read from its target directly for a while.
                    self._resolved[url] = ResolvedUrl(final_url, {}, time.time() + REDIRECT_TTL)
                content_range = response_headers.get("Content-Range")
                sized = response_headers.get("Content-Length") is not None
                data = _range_from_response(status, content_range, body, offset, length, url,
                                            clip_at_end=True, sized=sized)
                if status == 200 and sized:
                    self.whole_bodies.keep(url, body)
                total = int(content_range.rsplit("/", 1)[1]) if content_range and "/" in content_range \
                    and content_range.rsplit("/", 1)[1] != "*" else (len(body) if status == 200 else None)
                return data, total
            except (_Retry, http.client.HTTPException, OSError, TimeoutError) as exc:
                if (denied := refused(exc, url)) is not None:
                    raise denied from None
                last_error = exc
        raise ByteSourceError(
            f"reading {url} bytes {offset}+{length} failed after {self.retries + 1} attempts: {describe_error(last_error)}")

    def _get(self, url: str, headers: dict[str, str]) -> tuple[int, http.client.HTTPMessage, bytes, str]:
        """(status, headers, body, the URL that answered) of a GET, following redirects; the
        headers beside Range go to the host named only, never to another one redirected to."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ByteSourceError(f"not an http(s) URL: {url!r}")
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            status, response_headers, body = self._request(parts.scheme, parts.netloc, target, headers)
            location = response_headers.get("Location")
            if status not in REDIRECT_STATUS or not location:
                return status, response_headers, body, url
            next_url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(next_url).netloc != parts.netloc:
                headers = {"Range": headers["Range"]}
            url = next_url
        raise ByteSourceError(f"more than {MAX_REDIRECTS} redirects reading {url}")

    def _request(self, scheme: str, netloc: str, target: str,
                 headers: dict[str, str]) -> tuple[int, http.client.HTTPMessage, bytes]:
        for fresh_try in (False, True):
            connection, reused = self._connections.take(scheme, netloc)
            try:
                if not reused:
                    began = time.perf_counter()
                    connection.connect()
                    self._per_thread.connect_seconds = self.connect_seconds + time.perf_counter() - began
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if reused and not fresh_try:
                    continue  # the server closed the idle connection: once more on a new one
                raise
            except BaseException:
                connection.close()
                raise
            if response.will_close:
                connection.close()
            else:
                self._connections.give_back(scheme, netloc, connection)
            return response.status, response.headers, body
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._connections.close()
