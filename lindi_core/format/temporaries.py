"""Temporary files next to the files they will replace, and what is left of them after a crash.

A file is written as a temporary beside it, then renamed over it, so that a reader sees the old
file or the whole new one. A process killed in between leaves its temporary behind; nothing else
would ever remove it, so the next write (or writing open) of the same file does.

A temporary is named ``.<target name>.<pid>.<random>[<suffix>].tmp`` and its writer holds an
``flock`` on it while it exists. It is stale, and removed, only when both say its writer is gone:
no process has its pid (in this pid namespace) and nobody holds its lock (the operating system
drops the locks of a dead process). A live writer's temporary is never touched.

A file with several hard links cannot be replaced by a rename without splitting its names into
two files (the other names would keep the old content): it is written in place instead, from a
complete, synced temporary renamed ``....pending`` first. A crash during that copy leaves the
pending copy, and removing stale temporaries (which every open of the file does) finishes the
copy from it before anything else; an open that finds a live writer's copy under way waits
for it. A reader that opened the file just before such a copy began is not held back: a
hard-linked file is not replaced atomically for readers, as HDF5 files written in place are not.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no flock, no pid probing: temporaries are never judged stale
    fcntl = None  # type: ignore[assignment]

_SUFFIX = ".tmp"
_PENDING = ".pending"


def create(target: str, suffix: str = "") -> tuple[int, str]:
    """A new temporary for ``target`` (a real path): an open descriptor, locked, and its path."""
    folder, name = os.path.split(target)
    fd, path = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=f"{suffix}{_SUFFIX}", dir=folder)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # new: nobody else can hold it
    return fd, path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "", *, unique_name: bool = False) -> Iterator[BinaryIO]:
    """The one way files are replaced: a file to write that replaces ``path`` only once complete
    and synced to disk, so that ``path`` is either the old file or the whole new one; a failure
    leaves no temporary behind (nor does a crash, once the file is written again).

    Through a symlink, its target gets the new content. A file with several hard links stays one
    file: it is written in place once the new content is complete (a rename would leave the
    other names with the old content). ``suffix`` ends the temporary's name.

    ``unique_name=True`` is for files under a name no other writer uses (a staged chunk, a blob
    named by its content), written by the thousand: no look for stale temporaries in the folder
    at every write (the folder's owner removes them, see :func:`remove_stale_in`), no look at an
    old file (there is none to keep the permissions or links of: the file is private, 0600)."""
    path = os.fspath(path) if unique_name else os.path.realpath(os.fspath(path))
    mode = None
    in_place = False
    if not unique_name:
        remove_stale(path)
        try:
            st = os.stat(path)
            mode = st.st_mode & 0o7777  # the replaced file's permissions, kept
            in_place = st.st_nlink > 1 and stat.S_ISREG(st.st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # a new file's, as open() would make it
    fd, tmp = create(path, suffix)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            if in_place:
                copy_in_place(f.fileno(), tmp, path)
            else:
                os.replace(tmp, path)  # while its lock is held: no one takes it for stale
    except BaseException:
        for leftover in (tmp, tmp[: -len(_SUFFIX)] + _PENDING):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, *, unique_name: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, unique_name=unique_name) as f:
        f.write(data)


def copy_in_place(fd: int, temporary: str, target: str) -> None:
    """Write the complete, synced temporary (open as ``fd``) over ``target``'s own bytes, keeping
    its inode (and so its other hard links); the temporary is kept as ``<name>.pending`` until
    the copy is synced, so that a crash during it can be finished later."""
    pending = temporary[: -len(_SUFFIX)] + _PENDING
    os.replace(temporary, pending)
    _copy_over(fd, target)
    os.unlink(pending)


def _copy_over(fd: int, target: str) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=False) as source, open(target, "r+b") as out:
        shutil.copyfileobj(source, out, 1 << 20)
        out.truncate()
        out.flush()
        os.fsync(out.fileno())


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.(?P<pid>\d+)\.[A-Za-z0-9_]+.*({re.escape(_SUFFIX)}|{re.escape(_PENDING)})")


def remove_stale(target: str) -> int:
    """Remove the temporaries dead writers left for ``target`` (a real path), finishing a pending
    in-place copy first; returns how many were removed. Failures (a read-only folder) are
    ignored: a stale temporary wastes space, it is never read."""
    folder, name = os.path.split(target)
    return _remove_matching(folder, _pattern(name), target)


def remove_stale_in(folder: str) -> int:
    """Remove every stale temporary in ``folder`` (a staging area's, where no pending in-place
    copies are made)."""
    return _remove_matching(folder, re.compile(rf"\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]+{re.escape(_SUFFIX)}"), None)


def _remove_matching(folder: str, pattern: re.Pattern[str], target: str | None) -> int:
    if fcntl is None:
        return 0
    removed = 0
    try:
        entries = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return 0
    for entry in entries:
        match = pattern.fullmatch(entry)
        pending = target is not None and entry.endswith(_PENDING)
        # A temporary is locked from just after it is made: its pid covers that moment. A
        # pending copy is locked throughout: its lock alone decides (a reused pid cannot
        # hold back a repair that a later write would then undo).
        if match is None or (not pending and _alive(int(match["pid"]))):
            continue
        path = os.path.join(folder, entry)
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                if pending:
                    # Waits for a live writer's copy to end (or another repair): then it is gone.
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    if os.fstat(fd).st_nlink == 0:
                        continue
                    _copy_over(fd, target)  # complete and synced before it was renamed pending
                else:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
                os.unlink(path)
                removed += 1
            finally:
                os.close(fd)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True
