"""One writer per local reference file, as HDF5's file locking allows one writer per file.

A file has one identity however it is named: through a symlink (the write-back goes to the
link's target) or through another hard link (another name of the same inode). Two locks make
every name of a file exclude every other:

- a sidecar ``.<name>.lock`` next to the *real* path (symlinks resolved). A ``.lindi.json`` is
  written back by replacing it (atomically), so a lock on the file itself would be a lock on a
  file about to be replaced; the sidecar also covers a file that does not exist yet. It stays
  after the lock is released: deleting it would let a writer that opened it just before lock a
  file no other writer sees.
- a lock on the file itself (its inode, shared by all its hard links), when it exists. A file
  with several hard links is written back in place (see :func:`lindi_core.format.temporaries.atomic_output`),
  so its inode, and this lock, stay the same across write-backs.

``filelock`` and ``fcntl.flock`` are the operating system's locks, released if the process dies.
"""

from __future__ import annotations

import os

import filelock

from lindi_core.errors import FileInUseError

try:
    import fcntl
except ImportError:  # Windows: filelock's sidecar lock alone
    fcntl = None  # type: ignore[assignment]


def lock_path(path: str) -> str:
    """The sidecar lock of the file ``path`` names (a symlink's target's)."""
    folder, name = os.path.split(os.path.realpath(path))
    return os.path.join(folder, f".{name}.lock")


def _in_use(path: str) -> FileInUseError:
    return FileInUseError(f"Unable to open {path!r} for writing: it is open for writing elsewhere (in this process "
                          f"or another, maybe under another name); close it there first")


class WriterLock:
    """Held from opening a local reference file for writing until it is closed."""

    def __init__(self, path: str):
        self.path = path
        real = os.path.realpath(path)
        folder = os.path.dirname(real)
        if not os.path.isdir(folder):  # filelock would make it: h5py says the file cannot be created
            raise FileNotFoundError(f"Unable to open {path!r} (no such folder: {folder!r})")
        # Not thread-local: a file may be closed by another thread (a collection, the exit hook).
        self._lock: filelock.BaseFileLock | None = filelock.FileLock(lock_path(path), timeout=0, thread_local=False)
        self._inode_fd: int | None = None
        try:
            self._lock.acquire()
        except filelock.Timeout:
            self._lock = None
            raise _in_use(path) from None
        except OSError:  # no sidecar can be made here (a read-only folder): no lock, as before
            self._lock = None
        try:
            self._inode_fd = _lock_inode(real)
        except FileInUseError:
            self.release()
            raise _in_use(path) from None

    def release(self) -> None:
        if self._inode_fd is not None:
            os.close(self._inode_fd)  # drops its flock
            self._inode_fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _lock_inode(path: str) -> int | None:
    """A descriptor holding an exclusive ``flock`` on the existing file ``path`` (None: no such
    file yet, or no such locks here). ``flock`` locks belong to an open file description, so a
    second open of the same inode, in this process or another, cannot take it."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # missing (made by this writer), or unreadable: the sidecar lock alone
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FileInUseError(path) from None
    except OSError:  # a file system without flock
        os.close(fd)
        return None
    return fd
