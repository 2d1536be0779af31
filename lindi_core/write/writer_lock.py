"""One writer per local reference file, as HDF5's file locking allows one writer per file.

A ``.lindi.json`` is written back by replacing it (atomically), so a lock on the file itself
would be a lock on a file that is about to be replaced: the lock is taken on a sidecar,
``.<name>.lock`` in the same folder. The sidecar stays after the lock is released: deleting it
would let a writer that opened it just before lock a file no other writer sees. ``filelock``
does the platform's locking (``fcntl.flock`` here), which the operating system releases if the
process dies.
"""

from __future__ import annotations

import os

import filelock

from lindi_core.errors import FileInUseError


def lock_path(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.lock")


class WriterLock:
    """Held from opening a local reference file for writing until it is closed."""

    def __init__(self, path: str):
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):  # filelock would make it: h5py says the file cannot be created
            raise FileNotFoundError(f"Unable to open {path!r} (no such folder: {folder!r})")
        # Not thread-local: a file may be closed by another thread (a collection, the exit hook).
        self._lock: filelock.BaseFileLock | None = filelock.FileLock(lock_path(path), timeout=0, thread_local=False)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            self._lock = None
            raise FileInUseError(
                f"Unable to open {path!r} for writing: it is open for writing elsewhere (in this process or "
                f"another); close it there first") from None
        except OSError:  # no sidecar can be made here (a read-only folder): no lock, as before
            self._lock = None

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
