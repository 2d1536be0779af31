"""The memory of a large read's result made resident while its first requests travel.

A fresh array of tens of megabytes costs a page fault for each page the first time it is
written. On a virtual machine that can be much of a fast read's time (64 MB took 4 ms to
150 ms to fault in here), and it falls on the thread that places the bytes: the event loop's,
which also takes in the network's bytes. Linux (5.14 on) faults a range's pages in without
writing to them (``madvise(MADV_POPULATE_WRITE)``); done in a worker thread as soon as the
result exists, it takes place while the first requests travel and the refs are looked up.
The contents are never written, so the bytes placed meanwhile are safe. Where the call is
missing (another system, an older kernel) nothing happens.

(No maintained library offers this call; Python's ``mmap.madvise`` takes only mmap objects,
and NumPy allocates its arrays itself. It is one libc call through ``ctypes``.)
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np

from lindi_core.io import workers

MADV_POPULATE_WRITE = 23  # <linux/mman.h>
PAGE = 4096
# Arrays smaller than this are faulted in by their first writes: the hand-over would cost more.
MIN_BYTES = 8 * 1024 * 1024

_madvise = None  # libc's madvise, once looked up; False where there is none


def _libc_madvise():
    global _madvise
    if _madvise is None:
        _madvise = False
        if sys.platform.startswith("linux"):
            try:
                function = ctypes.CDLL(None, use_errno=True).madvise
                function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                function.restype = ctypes.c_int
                _madvise = function
            except (OSError, AttributeError):
                pass
    return _madvise


def populate(array: np.ndarray) -> bool:
    """Fault in the whole pages of ``array``'s memory without writing to them (blocking; the
    GIL is released during the call). Whether the system did it."""
    madvise = _libc_madvise()
    if not madvise or not array.flags.c_contiguous or array.nbytes < PAGE:
        return False
    address = array.ctypes.data
    first = -(-address // PAGE) * PAGE
    end = (address + array.nbytes) // PAGE * PAGE
    return end > first and madvise(first, end - first, MADV_POPULATE_WRITE) == 0


def populate_soon(array: np.ndarray) -> None:
    """:func:`populate` in a worker thread, not waited for (the worker holds the array until
    it is done). Call on an event loop."""
    if array.nbytes >= MIN_BYTES and _libc_madvise():
        workers.in_worker(None, populate, array)
