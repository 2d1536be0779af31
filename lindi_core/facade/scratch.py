"""A scratch in-memory HDF5 file, where h5py itself decides what it would store.

Where a value's HDF5 type or a dataset's filter parameters are not obvious (an attribute from a
Python list, a committed NumPy type, a filter pipeline of re-encoded values), the facade asks
h5py: it stores the value in this file and reads back what h5py made of it, so a translated file
gets exactly what h5py would have written. Hold ``LOCK`` while using the file.
"""

from __future__ import annotations

import itertools
import threading

import h5py

LOCK = threading.Lock()
_counter = itertools.count()
_file: h5py.File | None = None


def scratch_file() -> h5py.File:
    """The scratch file (call with ``LOCK`` held)."""
    global _file
    if _file is None:
        _file = h5py.File("lindi-core-attribute-scratch.h5", "w", driver="core", backing_store=False)
    return _file


def fresh_name(prefix: str) -> str:
    """A name no other use of the scratch file takes."""
    return f"{prefix}{next(_counter)}"
