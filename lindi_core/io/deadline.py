"""Time limits of network reads: one budget for a whole read, and a shorter one per wait.

``timeout`` (seconds, :data:`DEFAULT_TIMEOUT` unless the caller says) is the most one read may
take in all: its attempts, the waits between them, the connection, and the body however
slowly it trickles in. Within it, a single wait on the network (connecting, or for the next
bytes) gives up after :func:`stall_limit` seconds, so that a connection that went silent is
retried while the budget lasts instead of using all of it. When the budget runs out the read
fails with a :class:`~lindi_core.errors.ByteSourceError` saying it timed out.

The async engine starts a read's clock when the read gets one of its connection slots (a read
queued behind others of the same slice is not late for waiting its turn); the blocking engine
when the read is asked for. The requests a URL resolver makes for a read are part of it, and
bounded by the same limits. When to try again within the budget is decided by
:mod:`lindi_core.io.retry_policy`.
"""

from __future__ import annotations

import time

from lindi_core.errors import ByteSourceError

DEFAULT_TIMEOUT = 60.0
STALL_FRACTION = 1 / 3  # of the budget, for one wait on the network


def stall_limit(timeout: float) -> float:
    """Seconds one wait on the network may last (connecting, or between two pieces of a body)."""
    return timeout * STALL_FRACTION


def check_timeout(timeout: float) -> float:
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return timeout


class Deadline:
    """The end of one read's budget."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def error(self, doing: str, attempts: int, last: str) -> ByteSourceError:
        """The error of a read (``doing``: e.g. "reading <url> bytes 0+10") out of time."""
        return ByteSourceError(f"{doing} timed out after {self.seconds:g} s ({attempts} attempt"
                               f"{'s' if attempts != 1 else ''}; last: {last})")
