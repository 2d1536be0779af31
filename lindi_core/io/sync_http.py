"""Blocking HTTP range reads in the calling thread, for code that h5py calls back into.

h5py holds its global lock while it reads a Python file object. Waiting there on another
thread (an event loop) deadlocks as soon as that thread has to run a finaliser of some h5py
object, which needs the same lock. The remote file object h5py reads during translation
therefore fetches in its own thread, through the blocking client
(:mod:`lindi_core.io.blocking_http`), with the same rules as the async engine: the same retry
policy within one time budget per read (:mod:`lindi_core.io.retry_policy`,
:mod:`lindi_core.io.deadline`), answers judged by :mod:`lindi_core.io.range_answers` (Range
answered, or sliced from a confirmed whole body, kept, so a server that ignores Range sends the
file twice and not once per read; bodies never read past their expected length), resolvers
(their ``resolve_sync``, run through the same client, guard and budget), no credentials sent
anywhere but where a resolver puts them. A range past the end of the file gives the bytes up
to its end: callers learn the size from the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from lindi_core.errors import ByteSourceError
from lindi_core.io.address_guard import AddressGuard
from lindi_core.io.blocking_http import TRANSIENT_ERRORS, BlockingHttp, content_length
from lindi_core.io.deadline import DEFAULT_TIMEOUT, Deadline, check_timeout
from lindi_core.io.range_answers import FileSizes, WholeBody, check_partial_body
from lindi_core.io.resolvers import ResolvedUrl, ResolvedUrls, default_resolvers
from lindi_core.io.retry_policy import Retry, RetryPolicy, status_failure
from lindi_core.io.whole_bodies import SHARED_WHOLE_BODIES, WholeBodies

T = TypeVar("T")


class SyncHttp:
    """Range reads with retries, following redirects, resolving URLs once. ``timeout``:
    seconds one read may take in all, its retries included (see :mod:`lindi_core.io.deadline`)."""

    def __init__(self, *, retries: int = 6, backoff: float = 0.05, timeout: float = DEFAULT_TIMEOUT, resolvers=None,
                 whole_bodies: WholeBodies | None = None, guard: AddressGuard | None = None):
        self.guard = guard  # which addresses connections may go to (None: any)
        self.retry_policy = RetryPolicy(retries, backoff)
        self.timeout = check_timeout(timeout)
        # Resolvers that can run without an event loop (an async-only one is left out).
        self.resolvers = [r for r in (resolvers if resolvers is not None else default_resolvers())
                          if hasattr(r, "resolve_sync")]
        self._resolved = ResolvedUrls()
        self.whole_bodies = whole_bodies if whole_bodies is not None else SHARED_WHOLE_BODIES
        self.sizes = FileSizes()
        self.client = BlockingHttp(self.timeout, guard)

    @property
    def connect_seconds(self) -> float:
        """Seconds the last read of the calling thread spent opening connections (a caller
        timing round trips leaves them out: they are paid once, not per read)."""
        return self.client.connect_seconds

    def resolve(self, url: str, deadline: Deadline) -> ResolvedUrl:
        cached = self._resolved.get(url)
        if cached is not None:
            return cached
        for resolver in self.resolvers:
            resolved = resolver.resolve_sync(url, self.client, deadline)
            if resolved is not None:
                self._resolved.keep(url, resolved)
                return resolved
        return ResolvedUrl(url)

    def read(self, url: str, offset: int, length: int) -> tuple[bytes, int | None]:
        """(bytes ``[offset, offset + length)``, cut at the end of the file; the total file
        size when the server said it)."""
        self.client.start_timing()
        kept = self.whole_bodies.slice(url, offset, length)
        if kept is not None:
            return kept, self.whole_bodies.size(url)
        doing = f"reading {url} bytes {offset}+{length}"

        def consume(status: int, headers: Mapping[str, str], pieces: Iterator[bytes]) -> tuple[bytes, int | None] | None:
            return self._consume(url, offset, length, status, headers, pieces)

        return self._get(url, f"bytes={offset}-{offset + length - 1}", doing, consume, past_the_end=(b"", None))

    def version(self, url: str) -> dict[str, str | int]:
        """What identifies the current version of the file at ``url``: its ``etag``,
        ``lastModified`` and ``size``, those the server gives, from a request for its first byte
        (the same GET a read makes, so a server or presigned URL that allows no HEAD answers it).
        Retried like a read; an error answer (403, 404...) raises ByteSourceError at once."""
        return self._get(url, "bytes=0-0", f"asking for {url}", _version_headers)

    def _get(self, url: str, byte_range: str, doing: str,
             consume: Callable[[int, Mapping[str, str], Iterator[bytes]], T | None], past_the_end: T | None = None) -> T:
        """What ``consume`` makes of the answer to a GET of ``byte_range`` of ``url``, under the
        retry policy: resolved (again, once, when a presigned URL has expired: a 403), retried
        on transient faults within the read's budget; an error status raises at once, except a
        416 when ``past_the_end`` is given (a range past the end of the file: that answer)."""
        attempts = self.retry_policy.attempts(url, doing, self.timeout)
        while (pause := attempts.next()) is not None:
            if pause:
                time.sleep(pause)
            try:
                resolved = self.resolve(url, attempts.deadline)  # inside: a resolver's transient failure is retried too
                got = self.client.get(resolved.url, {**resolved.headers, "Range": byte_range}, attempts.deadline,
                                      consume)
                if got.status == 403 and self._resolved.refused(url, resolved) and attempts.may_resolve_again():
                    continue  # an expired presigned URL: resolved again
                if got.status == 416 and past_the_end is not None:
                    return past_the_end
                if got.status >= 400:
                    raise status_failure(got.status, got.headers, f"HTTP {got.status} {doing}")
                if got.url != resolved.url:
                    self._resolved.redirected(url, resolved, got.url)
                if got.answer is None:
                    raise ByteSourceError(f"unexpected HTTP status {got.status} {doing}")
                return got.answer
            except (Retry, *TRANSIENT_ERRORS) as exc:
                attempts.failed(exc)
        raise attempts.error()

    def _consume(self, url: str, offset: int, length: int, status: int, headers: Mapping[str, str],
                 pieces: Iterator[bytes]) -> tuple[bytes, int | None] | None:
        """(the bytes asked for, the file's size where known) out of a 200 or 206 answer, its
        body read piece by piece and never past the length it must have; None for another
        status (its body is not read)."""
        if status not in (200, 206):
            return None
        plan = self.sizes.plan(url, status, headers.get("Content-Range"), content_length(headers), offset, length,
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

    def close(self) -> None:
        self.client.close()


def _version_headers(status: int, headers: Mapping[str, str],
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
    elif status == 200 and (length := content_length(headers)) is not None:
        found["size"] = length
    return found
