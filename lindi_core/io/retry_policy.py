"""When a failed network request is made again: one policy for both HTTP clients.

The async engine (:mod:`lindi_core.io.http_source`), the blocking one
(:mod:`lindi_core.io.sync_http`) and the URL resolvers they run (:mod:`lindi_core.io.resolvers`)
do their own I/O but take every decision about trying again here, so that a fault means the
same on every road:

- What is transient: a connection that fails, times out or breaks mid-body, an answer whose
  bytes are not the ones asked for (:mod:`lindi_core.io.range_answers` raises :class:`Retry`),
  and the statuses 408, 429 and 5xx (:func:`retryable_status`). Any other status from 400 up,
  and a refused address (:mod:`lindi_core.io.address_guard`), end the read at once.
- How long to wait: ``backoff * 2**(n - 1)`` seconds before the n-th retry, jittered by a
  factor between 0.5 and 1.5 (readers failing together do not come back together); none for a
  :class:`RetryAtOnce`. A ``Retry-After`` the server sends with a transient status is the least
  wait (:func:`retry_after`): asking again sooner only meets the same answer.
- How many times and for how long: at most ``retries`` retries, all within the read's time
  budget (:mod:`lindi_core.io.deadline`). A wait that would not end before the budget does
  ends the read now, with the last failure, instead of sleeping into a certain timeout; so does
  a ``Retry-After`` longer than what is left.
- A 403 on a URL a resolver turned into another (an expired presigned URL) resolves it again,
  once, without counting as an attempt (:meth:`Attempts.resolve_again`).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lindi_core.errors import ByteSourceError
from lindi_core.io.address_guard import refused
from lindi_core.io.deadline import Deadline


def retryable_status(status: int) -> bool:
    """Whether an HTTP error answer is worth another attempt: a request timeout (408), too many
    requests (429) or a server error (5xx) can pass. Other client errors (401, 403, 404...) say
    the same on every attempt: they fail the read at once, with the status and the URL."""
    return status in (408, 429) or 500 <= status <= 599


class Retry(Exception):
    """A transient failure worth another attempt; ``after``: seconds the server asked to wait."""

    def __init__(self, message: str = "", *, after: float | None = None):
        super().__init__(message)
        self.after = after


class RetryAtOnce(Retry):
    """Worth another attempt without waiting (the answer was fine but is not usable yet)."""


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date); None when
    absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when.tzinfo is not None else None


def status_failure(status: int, headers: Mapping[str, str], final: str, transient: str | None = None) -> Exception:
    """The failure an error status means: a :class:`Retry` (message ``transient``, by default
    the status; with the server's ``Retry-After``) for a transient one, else a
    :class:`ByteSourceError` saying ``final``."""
    if retryable_status(status):
        return Retry(transient or f"HTTP {status}", after=retry_after(headers.get("Retry-After")))
    return ByteSourceError(final)


def describe_error(error: BaseException | None) -> str:
    """An error for a message: its text, or its kind where it has none (a timeout's is empty)."""
    if error is None:
        return "no answer"
    text = str(error)
    if isinstance(error, TimeoutError):
        return f"timed out ({text})" if text and text != "timed out" else "timed out"
    return text if text else type(error).__name__


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries, and the base of their exponential backoff in seconds."""

    retries: int = 6
    backoff: float = 0.05

    def pause(self, retry: int, failure: BaseException | None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first) after ``failure``."""
        if isinstance(failure, RetryAtOnce):
            return 0.0
        pause = self.backoff * (2 ** (retry - 1)) * (0.5 + random.random())
        asked = getattr(failure, "after", None)
        return pause if asked is None else max(pause, asked)

    def attempts(self, url: str, doing: str, timeout: float, *, start_clock: bool = True) -> Attempts:
        """The attempts of one read of ``url`` (``doing`` says what it is, for messages).
        ``start_clock=False``: the time budget starts at :meth:`Attempts.start` instead."""
        return Attempts(self, url, doing, timeout, start_clock)


class Attempts:
    """One read's attempts under a :class:`RetryPolicy`, driven by a client's loop::

        attempts = policy.attempts(url, doing, timeout)
        while (pause := attempts.next()) is not None:
            sleep(pause)
            try:
                return attempt()
            except TRANSIENT as exc:
                attempts.failed(exc)
        raise attempts.error()
    """

    def __init__(self, policy: RetryPolicy, url: str, doing: str, timeout: float, start_clock: bool):
        self.policy = policy
        self.url = url
        self.doing = doing
        self.timeout = timeout
        self.deadline: Deadline | None = Deadline(timeout) if start_clock else None
        self.made = 0  # attempts begun
        self.last_error: BaseException | None = None
        self.resolved_again = False

    def start(self) -> Deadline:
        """The read's time budget, started now unless it already runs."""
        if self.deadline is None:
            self.deadline = Deadline(self.timeout)
        return self.deadline

    def next(self) -> float | None:
        """Seconds to wait before the next attempt, or None when there is none to make."""
        if self.made > self.policy.retries or (self.deadline is not None and self.deadline.expired):
            return None
        pause = self.policy.pause(self.made, self.last_error) if self.made else 0.0
        if pause and self.deadline is not None and pause >= self.deadline.remaining():
            return None
        self.made += 1
        return pause

    def failed(self, error: BaseException) -> None:
        """Record a failed attempt; raises the error itself when it ends the read (a refused
        address, restated with the URL, or a clear answer such as a 404)."""
        if (denied := refused(error, self.url)) is not None:
            raise denied from None
        if isinstance(error, ByteSourceError):
            raise error
        self.last_error = error

    def may_resolve_again(self) -> bool:
        """Whether a 403 may resolve the URL again: once per read. The attempt it ended does
        not count."""
        if self.resolved_again:
            return False
        self.resolved_again = True
        self.made -= 1
        return True

    def error(self) -> ByteSourceError:
        """The error that ends a read whose attempts are all spent."""
        last = describe_error(self.last_error)
        if self.deadline is not None and self.deadline.expired:
            return self.deadline.error(self.doing, self.made, last)
        asked = getattr(self.last_error, "after", None)
        if asked is not None and self.deadline is not None and asked >= self.deadline.remaining():
            last += f", and the server asks to wait {asked:g} s, longer than the time left"
        plural = "s" if self.made != 1 else ""
        return ByteSourceError(f"{self.doing} failed after {self.made} attempt{plural}: {last}")
