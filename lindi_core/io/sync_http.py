"""Blocking HTTP range reads in the calling thread, for code that h5py calls back into.

h5py holds its global lock while it reads a Python file object. Waiting there on another
thread (an event loop) deadlocks as soon as that thread has to run a finaliser of some h5py
object, which needs the same lock. The remote file object h5py reads during translation
therefore fetches in its own thread, with the standard library, and the same rules as the
async engine: retries with backoff within one time budget per read
(:mod:`lindi_core.io.deadline`), answers judged by :mod:`lindi_core.io.range_answers` (Range
answered, or sliced from a confirmed whole body, kept, so a server that ignores Range sends the
file twice and not once per read; bodies never read past their expected length), resolvers (their ``resolve_sync``), no
credentials sent anywhere but where a resolver puts them. A range past the end of the file
gives the bytes up to its end: callers learn the size from the answer. Connections are kept
alive and reused (translating a file takes dozens of sequential reads; over HTTPS a new
connection per read would add a TLS handshake to each).
"""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TypeVar

from lindi_core.errors import ByteSourceError
from lindi_core.io.address_guard import AddressGuard, refused
from lindi_core.io.deadline import DEFAULT_TIMEOUT, Deadline, check_timeout, stall_limit
from lindi_core.io.http_source import describe_error
from lindi_core.io.range_answers import (
    FileSizes,
    Retry,
    RetryAtOnce,
    WholeBody,
    check_partial_body,
    retryable_status,
)
from lindi_core.io.resolvers import ResolvedUrl, default_resolvers
from lindi_core.io.whole_bodies import SHARED_WHOLE_BODIES, WholeBodies

REDIRECT_STATUS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 10
REDIRECT_TTL = 300.0
_PIECE = 256 * 1024  # most bytes taken from the socket per wait
T = TypeVar("T")


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
    """Range reads with retries, following redirects, resolving URLs once. ``timeout``:
    seconds one read may take in all, its retries included (see :mod:`lindi_core.io.deadline`)."""

    def __init__(self, *, retries: int = 6, backoff: float = 0.05, timeout: float = DEFAULT_TIMEOUT, resolvers=None,
                 whole_bodies: WholeBodies | None = None, guard: AddressGuard | None = None):
        self.guard = guard  # which addresses connections may go to (None: any)
        self.retries = retries
        self.backoff = backoff
        self.timeout = check_timeout(timeout)
        self.resolvers = [r for r in (resolvers if resolvers is not None else default_resolvers())
                          if hasattr(r, "resolve_sync")]
        self._resolved: dict[str, ResolvedUrl] = {}
        self.whole_bodies = whole_bodies if whole_bodies is not None else SHARED_WHOLE_BODIES
        self.sizes = FileSizes()
        self._connections = _Connections(stall_limit(self.timeout), guard)
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
        deadline = Deadline(self.timeout)
        last_error: BaseException | None = None
        re_resolved = False
        attempt = 0
        while attempt <= self.retries and not deadline.expired:
            if attempt and not isinstance(last_error, RetryAtOnce):
                pause = self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                if pause >= deadline.remaining():
                    break
                time.sleep(pause)
            attempt += 1
            try:
                resolved = self.resolve(url)  # inside: a resolver's transient failure is retried too
                headers = {**resolved.headers, "Range": f"bytes={offset}-{offset + length - 1}"}
                status, answer, final_url = self._get(resolved.url, headers, deadline,
                                                      lambda *a: self._consume(url, offset, length, *a))
                if status == 403 and not re_resolved and (resolved.url != url or url in self._resolved):
                    self._resolved.pop(url, None)  # an expired presigned URL: resolve again
                    re_resolved = True
                    attempt -= 1
                    continue
                if status == 416:
                    return b"", None
                if retryable_status(status):
                    raise Retry(f"HTTP {status}")
                if status >= 400:
                    raise ByteSourceError(f"HTTP {status} reading {url} bytes {offset}+{length}")
                if final_url != resolved.url and resolved.url == url:
                    # A plain redirect: read from its target directly for a while.
                    self._resolved[url] = ResolvedUrl(final_url, {}, time.time() + REDIRECT_TTL)
                if answer is None:
                    raise ByteSourceError(f"unexpected HTTP status {status} reading {url} bytes {offset}+{length}")
                return answer
            except (Retry, http.client.HTTPException, OSError, TimeoutError) as exc:
                if (denied := refused(exc, url)) is not None:
                    raise denied from None
                if isinstance(exc, ByteSourceError):  # a clear answer, not a transient fault
                    raise
                last_error = exc
        where = f"{url} bytes {offset}+{length}"
        if deadline.expired:
            raise deadline.error(where, attempt, describe_error(last_error))
        raise ByteSourceError(f"reading {where} failed after {attempt} attempts: {describe_error(last_error)}")

    def version(self, url: str) -> dict[str, str | int]:
        """What identifies the current version of the file at ``url``: its ``etag``,
        ``lastModified`` and ``size``, those the server gives, from a request for its first byte
        (the same GET a read makes, so a server or presigned URL that allows no HEAD answers it).
        Retried like a read; an error answer (403, 404...) raises ByteSourceError at once."""
        deadline = Deadline(self.timeout)
        last_error: BaseException | None = None
        re_resolved = False

        def ask() -> tuple[ResolvedUrl, int, dict[str, str | int] | None]:
            resolved = self.resolve(url)
            status, found, _final = self._get(resolved.url, {**resolved.headers, "Range": "bytes=0-0"},
                                              deadline, _version_headers)
            return resolved, status, found

        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                if pause >= deadline.remaining():
                    break
                time.sleep(pause)
            try:
                resolved, status, found = ask()
                if status == 403 and not re_resolved and (resolved.url != url or url in self._resolved):
                    # An expired presigned URL, as in read: resolved again, once, and asked again.
                    self._resolved.pop(url, None)
                    re_resolved = True
                    resolved, status, found = ask()
                if retryable_status(status):
                    raise Retry(f"HTTP {status}")
                if status >= 400 or found is None:
                    raise ByteSourceError(f"HTTP {status} asking for {url}")
                return found
            except (Retry, http.client.HTTPException, OSError, TimeoutError) as exc:
                if (denied := refused(exc, url)) is not None:
                    raise denied from None
                if isinstance(exc, ByteSourceError):
                    raise
                last_error = exc
        raise ByteSourceError(f"asking for {url} failed: {describe_error(last_error)}")

    def _consume(self, url: str, offset: int, length: int, status: int, headers: http.client.HTTPMessage,
                 pieces: Iterator[bytes]) -> tuple[bytes, int | None] | None:
        """(the bytes asked for, the file's size where known) out of a 200 or 206 answer, its
        body read piece by piece and never past the length it must have; None for another
        status (its body is not read)."""
        if status not in (200, 206):
            return None
        plan = self.sizes.plan(url, status, headers.get("Content-Range"), _content_length(headers), offset, length,
                               ranged=True, clip_at_end=True, budget=self.whole_bodies.max_bytes)
        if plan.whole:
            body = WholeBody(plan)
            for piece in pieces:
                body.feed(piece)
            data = self.sizes.accept_whole(url, plan, body, clip_at_end=True)
            whole = body.whole()
            if whole is not None:
                self.whole_bodies.keep(url, whole)
            return data, body.received
        buffer = bytearray()
        for piece in pieces:
            if len(buffer) + len(piece) > plan.limit:
                raise Retry(f"server sent more than the {plan.limit} bytes of the range")
            buffer += piece
        check_partial_body(len(buffer), plan)
        return bytes(buffer), self.sizes.known(url)

    def _get(self, url: str, headers: dict[str, str], deadline: Deadline,
             consume: Callable[[int, http.client.HTTPMessage, Iterator[bytes]], T]) -> tuple[int, T, str]:
        """(status, what ``consume`` made of the answer, the URL that answered) of a GET,
        following redirects; the headers beside Range go to the host named only, never to
        another one redirected to."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ByteSourceError(f"not an http(s) URL: {url!r}")
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            status, location, answer = self._request(parts.scheme, parts.netloc, target, headers, deadline, consume)
            if location is None:
                return status, answer, url
            next_url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(next_url).netloc != parts.netloc:
                headers = {"Range": headers["Range"]}
            url = next_url
        raise ByteSourceError(f"more than {MAX_REDIRECTS} redirects reading {url}")

    def _wait_limit(self, deadline: Deadline) -> float:
        """Seconds the next wait on the network may last: a stall limit, within the deadline."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise TimeoutError()
        return min(stall_limit(self.timeout), remaining)

    def _request(self, scheme: str, netloc: str, target: str, headers: dict[str, str], deadline: Deadline,
                 consume: Callable[[int, http.client.HTTPMessage, Iterator[bytes]], T]) -> tuple[int, str | None, T | None]:
        """(status, the Location of a redirect, what ``consume`` made of any other answer)."""
        for fresh_try in (False, True):
            connection, reused = self._connections.take(scheme, netloc)
            try:
                if not reused:
                    connection.timeout = self._wait_limit(deadline)
                    began = time.perf_counter()
                    connection.connect()
                    self._per_thread.connect_seconds = self.connect_seconds + time.perf_counter() - began
                sock = connection.sock  # the response keeps reading it where the connection lets go
                sock.settimeout(self._wait_limit(deadline))
                # Socket timeouts bound each wait; this bounds their sum (headers trickling in).
                watchdog = threading.Timer(deadline.remaining(), _hang_up, (sock,))
                watchdog.daemon = True
                watchdog.start()
                try:
                    connection.request("GET", target, headers=headers)
                    response = connection.getresponse()
                    location = response.headers.get("Location") if response.status in REDIRECT_STATUS else None
                    answer = None if location else consume(response.status, response.headers,
                                                           self._pieces(sock, response, deadline))
                finally:
                    watchdog.cancel()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if reused and not fresh_try:
                    continue  # the server closed the idle connection: once more on a new one
                raise
            except BaseException:
                connection.close()
                raise
            if response.will_close or not response.isclosed() or response.length:  # its body not all read
                connection.close()
            else:
                self._connections.give_back(scheme, netloc, connection)
            return response.status, location, answer
        raise AssertionError("unreachable")

    def _pieces(self, sock: socket.socket, response: http.client.HTTPResponse,
                deadline: Deadline) -> Iterator[bytes]:
        """The body as it arrives, each wait for the next piece bounded by the deadline (a
        server trickling bytes runs into it, not only a silent one)."""
        while True:
            sock.settimeout(self._wait_limit(deadline))
            piece = response.read1(_PIECE)
            if not piece:
                if response.length == 0:
                    response.close()  # all of it read: the connection can serve the next request
                return
            yield piece

    def close(self) -> None:
        self._connections.close()


def _hang_up(sock: socket.socket) -> None:
    """End the exchange on ``sock`` where it stands (its read returns at once): its deadline passed."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed meanwhile


def _content_length(headers: http.client.HTTPMessage) -> int | None:
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _version_headers(status: int, headers: http.client.HTTPMessage,
                     pieces: Iterator[bytes]) -> dict[str, str | int] | None:
    """The validators of a 200/206 answer (its body is not read: the connection is dropped)."""
    if status not in (200, 206):
        return None
    found: dict[str, str | int] = {}
    if headers.get("ETag"):
        found["etag"] = headers["ETag"]
    if headers.get("Last-Modified"):
        found["lastModified"] = headers["Last-Modified"]
    content_range = headers.get("Content-Range") or ""
    total = content_range.rpartition("/")[2]
    if status == 206 and total.isdigit():
        found["size"] = int(total)
    elif status == 200 and (length := _content_length(headers)) is not None:
        found["size"] = length
    return found
