"""Buffers each thread keeps and reuses, by slot, for bytes decoded and then thrown away.

A fresh buffer per chunk costs a page fault per 4 KiB written, about as long as inflating the
bytes into it. Buffers over a size limit are not kept: a few per decoding thread would hold that
memory for good, and their page faults are small beside their decoding time. Each user keeps its
own :class:`ThreadScratch`, so that its slots never alias another's buffers still in use.
"""

from __future__ import annotations

import threading

import numpy as np


class ThreadScratch:
    """Per-thread byte buffers by slot number, kept up to ``limit`` bytes each."""

    def __init__(self, limit: int = 32 * 1024 * 1024):
        self.limit = limit
        self._local = threading.local()

    def get(self, nbytes: int, slot: int) -> np.ndarray | None:
        """This thread's buffer of ``nbytes`` for ``slot`` (made or resized as needed), or None
        when ``nbytes`` is over the limit."""
        if nbytes > self.limit:
            return None
        mine = getattr(self._local, "by_slot", None)
        if mine is None:
            mine = self._local.by_slot = {}
        buffer = mine.get(slot)
        if buffer is None or buffer.nbytes != nbytes:
            buffer = mine[slot] = np.empty(nbytes, np.uint8)
        return buffer
