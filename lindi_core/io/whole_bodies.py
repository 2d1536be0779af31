"""Whole files from servers that ignore ``Range``.

A server that ignores the Range header answers every range read with the whole file (status
200). Slicing that answer is correct but downloads the file once per read: reading 100 chunks
would move the file 100 times. The body of such an answer is kept instead (within a memory
budget, least recently used first out), so every later read of the URL is a slice of it with
no request at all. A body larger than the budget is not kept; reads of it stay correct, one
download each, and a warning says why they are slow.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

logger = logging.getLogger(__name__)

DEFAULT_BUDGET = 512 * 1024 * 1024


class WholeBodies:
    """The kept bodies, by URL; safe to share between threads."""

    def __init__(self, max_bytes: int = DEFAULT_BUDGET):
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._total = 0
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def slice(self, url: str, offset: int, length: int) -> bytes | None:
        """Bytes ``[offset, offset + length)`` of the kept body of ``url`` (to its end when
        ``length < 0``; cut at its end otherwise), or None when no body is kept."""
        with self._lock:
            body = self._bodies.get(url)
            if body is None:
                return None
            self._bodies.move_to_end(url)
        return body[offset:] if length < 0 else body[offset : offset + length]

    def get(self, url: str) -> bytes | None:
        """The kept body of ``url``, or None."""
        with self._lock:
            return self._bodies.get(url)

    def size(self, url: str) -> int | None:
        with self._lock:
            body = self._bodies.get(url)
        return None if body is None else len(body)

    def keep(self, url: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            if url not in self._warned:
                self._warned.add(url)
                logger.warning("%s ignores Range requests and is larger than the %d bytes kept in memory: "
                               "each read downloads the whole file", url, self.max_bytes)
            return
        body = bytes(body)
        with self._lock:
            previous = self._bodies.pop(url, None)
            if previous is not None:
                self._total -= len(previous)
            self._bodies[url] = body
            self._total += len(body)
            while self._total > self.max_bytes:
                _, dropped = self._bodies.popitem(last=False)
                self._total -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._bodies.clear()
            self._total = 0


# One budget for the process: translation (blocking reads) and every file's reads share it and
# the files kept in it.
SHARED_WHOLE_BODIES = WholeBodies()
