"""The one blocking HTTP client: GET requests in the calling thread, guarded, bounded, streamed.

Code that h5py calls back into cannot wait on an event loop in another thread (see
:mod:`lindi_core.io.sync_http`), so it has this client: the blocking range reads, asking a
source for its version, and the URL resolvers they run (:mod:`lindi_core.io.resolvers`) all go
through it. It makes one request (following redirects, or not); when to try again is decided
by :mod:`lindi_core.io.retry_policy`, what an answer's bytes are by
:mod:`lindi_core.io.range_answers`.

It is built on ``http.client`` rather than urllib3's ``PoolManager`` (which is not a dependency
of lindi-core) because what it must guarantee is all at the socket, where ``http.client`` hands
it over plainly:

- the address guard (:mod:`lindi_core.io.address_guard`) opens every socket, redirects
  included, and checks the address actually connected to;
- each wait on the network (connect, headers, every piece of a body) is bounded by the stall
  limit and by what is left of the read's budget (:mod:`lindi_core.io.deadline`), and a
  watchdog hangs up the socket at the deadline, so headers trickling in a byte at a time, each
  within the stall limit, still end on time;
- a body is handed to the caller piece by piece as it arrives, and never read further than
  the caller takes: memory is bounded by what the answer must hold, not by what it declares;
- headers sent for one origin (a resolver's credentials) never go to another one redirected to.

urllib3's own retries and redirects would each be a second policy beside the one above.
Connections are kept alive and reused (translating a file takes dozens of sequential reads;
over HTTPS a new connection per read would add a TLS handshake to each).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from lindi_core.errors import ByteSourceError
from lindi_core.io.address_guard import AddressGuard
from lindi_core.io.deadline import Deadline, stall_limit
from lindi_core.io.resolvers import MAX_REDIRECTS, REDIRECT_STATUS, same_origin

_PIECE = 256 * 1024  # most bytes taken from the socket per wait
T = TypeVar("T")
# What a caller makes of an answer: (status, headers, the body's pieces as they arrive).
Consume = Callable[[int, Mapping[str, str], Iterator[bytes]], T]
# What a failed exchange can raise: worth another attempt unless the retry policy says otherwise.
TRANSIENT_ERRORS = (http.client.HTTPException, OSError, TimeoutError)


@dataclass(frozen=True)
class Answer(Generic[T]):
    status: int
    headers: Mapping[str, str]
    answer: T  # what the caller's ``consume`` made of it
    url: str  # the URL that answered (after redirects)


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


class BlockingHttp:
    """GET requests in the calling thread. ``timeout``: the budget of one read, of which one
    wait on the network gets its stall limit; ``guard``: which addresses connections may go to
    (None: any)."""

    def __init__(self, timeout: float, guard: AddressGuard | None = None):
        self.timeout = timeout
        self.guard = guard
        self._connections = _Connections(stall_limit(timeout), guard)
        self._per_thread = threading.local()

    @property
    def connect_seconds(self) -> float:
        """Seconds the calling thread spent opening connections since :meth:`start_timing`."""
        return getattr(self._per_thread, "connect_seconds", 0.0)

    def start_timing(self) -> None:
        self._per_thread.connect_seconds = 0.0

    def get(self, url: str, headers: dict[str, str], deadline: Deadline, consume: Consume[T], *,
            follow_redirects: bool = True) -> Answer[T]:
        """GET ``url`` within ``deadline``: ``consume`` makes what it needs of the answer (a
        redirect followed is not handed to it; its body is read only as far as ``consume``
        takes it). Headers go to the origin (scheme, host, port) named only, never to another
        one redirected to, except ``Range``."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ByteSourceError(f"not an http(s) URL: {url!r}")
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            status, answer_headers, location, answer = self._request(parts.scheme, parts.netloc, target, headers,
                                                                     deadline, consume, follow_redirects)
            if location is None:
                return Answer(status, answer_headers, answer, url)
            next_url = urllib.parse.urljoin(url, location)
            if not same_origin(url, next_url):
                headers = {"Range": headers["Range"]} if "Range" in headers else {}
            url = next_url
        raise ByteSourceError(f"more than {MAX_REDIRECTS} redirects reading {url}")

    def _wait_limit(self, deadline: Deadline) -> float:
        """Seconds the next wait on the network may last: a stall limit, within the deadline."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise TimeoutError()
        return min(stall_limit(self.timeout), remaining)

    def _request(self, scheme: str, netloc: str, target: str, headers: dict[str, str], deadline: Deadline,
                 consume: Consume[T], follow_redirects: bool
                 ) -> tuple[int, Mapping[str, str], str | None, T | None]:
        """(status, headers, the Location of a redirect to follow, what ``consume`` made of any
        other answer)."""
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
                    location = response.headers.get("Location") \
                        if follow_redirects and response.status in REDIRECT_STATUS else None
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
            return response.status, response.headers, location, answer
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


def content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
