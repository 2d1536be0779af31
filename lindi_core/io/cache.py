"""``LocalCache``: a persistent on-disk cache of remote byte ranges.

Entries are keyed by URL and byte range; a cached range serves any sub-range of itself. The
store is one SQLite database in WAL mode, so several threads and processes can share a cache
folder: SQLite makes every write atomic, and each entry also carries its length and a CRC-32
that are checked before it is served, so a damaged entry is dropped and fetched again rather
than returned. The cache is bounded (``max_size``) and evicts least recently used entries.

The cache never fails a read: a database damaged as a whole (truncated, overwritten, another
program's schema, a folder in its place) is set aside and made again with one warning, and a
database that cannot be used for the moment (locked, a full disk) is bypassed with one warning;
either way the read goes to the network.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import filelock
import platformdirs

from lindi_core.errors import ChunkTooLargeError

T = TypeVar("T")

DEFAULT_MAX_SIZE = 10 * 1024**3
# The largest value one SQLite row holds here (its default limit is 1e9 bytes; LINDI 0.4 found
# 1e9 itself refused and stops below 900 MB, as put_remote_chunk does).
MAX_ENTRY_BYTES = 1000 * 1000 * 900
_MAX_PENDING_TOUCHES = 1024  # reads remembered before their times are written
_BUSY_TIMEOUT = 30.0  # seconds a statement waits for another connection's write to end
_SCHEMA = """
CREATE TABLE IF NOT EXISTS ranges (
    url TEXT NOT NULL,
    start INTEGER NOT NULL,
    length INTEGER NOT NULL,
    crc32 INTEGER NOT NULL,
    last_used REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (url, start, length)
);
CREATE INDEX IF NOT EXISTS ranges_by_use ON ranges (last_used);
"""
_COLUMNS = ["url", "start", "length", "crc32", "last_used", "data"]
_SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's companions of a database file


class _NotOurDatabase(sqlite3.DatabaseError):
    """The cache's database path holds something this cache did not make."""


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _is_damage(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the database itself is unusable ("file is not a database", "database
    disk image is malformed"), not that it is busy, locked, on a full disk or read-only for now
    (OperationalError), nor that its connection was closed (ProgrammingError)."""
    return type(exc) is sqlite3.DatabaseError or isinstance(exc, _NotOurDatabase)


def default_cache_dir() -> str:
    return platformdirs.user_cache_dir("lindi-core", appauthor=False)


@dataclass(frozen=True)
class CacheInfo:
    """What a cache folder holds."""

    cache_dir: str
    entries: int
    bytes: int
    max_size: int


class LocalCache:
    """A persistent cache of byte ranges of remote files, safe to share between processes."""

    def __init__(self, cache_dir: str | os.PathLike | None = None, max_size: int = DEFAULT_MAX_SIZE):
        # Resolved once: a relative folder must not move when the process changes directory.
        self.cache_dir = os.path.abspath(os.fspath(cache_dir) if cache_dir is not None else default_cache_dir())
        self.max_size = int(max_size)
        os.makedirs(self.cache_dir, exist_ok=True)
        self.path = os.path.join(self.cache_dir, "ranges.sqlite")
        self._init_process_state()
        self._guarded(self._connection, None)  # a damaged database is rebuilt now

    def _init_process_state(self) -> None:
        """The connections and bookkeeping of this process (none is shared with another)."""
        self._local = threading.local()
        self._touched: dict[tuple[str, int, int], float] = {}
        self._touch_lock = threading.Lock()
        # One connection per thread (SQLite connections are not for sharing), all listed so
        # that close() ends them, whichever threads (event-loop workers) opened them. A close
        # starts a new generation: a thread opens a fresh connection on its next use.
        self._connections: list[sqlite3.Connection] = []
        self._generation = 0
        self._users = 0  # files reading through this cache now (see attach)
        self._bypass_warned = False

    def __getstate__(self) -> dict[str, Any]:
        """The cache travels to another process as its folder (and size bound): the copy opens
        its own connections to the same database on first use, and shares its entries."""
        return {"cache_dir": self.cache_dir, "max_size": self.max_size, "path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def _connection(self) -> sqlite3.Connection:
        mine = getattr(self._local, "db", None)
        if mine is not None and mine[0] == self._generation:
            return mine[1]
        opened = _identity(self.path)
        if os.path.isdir(self.path):
            raise _NotOurDatabase("a folder is where the database should be")
        # check_same_thread off only so that close() may close it from another thread; it is
        # used by the thread that opened it alone.
        db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # the first read of the file: garbage fails here
            db.execute("PRAGMA synchronous=NORMAL")
            columns = [row[1] for row in db.execute("PRAGMA table_info(ranges)")]
            if columns and columns != _COLUMNS:
                raise _NotOurDatabase(f"its table 'ranges' has the columns {columns}, not {_COLUMNS}")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        with self._touch_lock:
            # The file the connection opened: a damage found through it is repaired only if
            # no other thread or process has replaced that file since.
            self._local.db = (self._generation, db, opened or _identity(self.path))
            self._connections.append(db)
        return db

    def _guarded(self, operation: Callable[[], T], fallback: T) -> T:
        """``operation()``, or ``fallback`` (a miss, nothing stored) when the database fails it;
        a damaged database is rebuilt for the next operation."""
        generation = self._generation
        mine = getattr(self._local, "db", None)
        # The database file this operation uses: its own connection's, or the one it opens.
        seen = mine[2] if mine is not None and mine[0] == generation else _identity(self.path)
        try:
            return operation()
        except sqlite3.Error as exc:
            if _is_damage(exc):
                self._rebuild(exc, seen)
            elif self._generation != generation:
                pass  # its connection was closed under it (a rebuild, a close): a miss, no harm
            elif not self._bypass_warned:
                self._bypass_warned = True
                warnings.warn(f"local cache {self.path} cannot be used now ({exc}): reads bypass it",
                              RuntimeWarning, stacklevel=3)
            return fallback

    def _rebuild(self, damage: sqlite3.Error, seen: tuple[int, int] | None) -> None:
        """Set the damaged database aside: the next connection makes a new one."""
        self.close(record=False)
        with filelock.FileLock(self.path + ".rebuild-lock"):
            if _identity(self.path) != seen:
                return  # another thread or process has rebuilt it already
            if os.path.isdir(self.path):  # not ours to delete: moved out of the way
                os.replace(self.path, f"{self.path}.not-a-database-{uuid.uuid4().hex[:8]}")
            else:
                for suffix in ("", *_SIDE_FILES):
                    try:
                        os.unlink(self.path + suffix)
                    except FileNotFoundError:
                        pass
        warnings.warn(f"local cache {self.path} was damaged ({damage}): it is made again, empty", RuntimeWarning,
                      stacklevel=4)

    def get(self, url: str, start: int, length: int) -> bytes | None:
        """The cached bytes ``[start, start + length)`` of ``url``, or None."""
        return self._guarded(lambda: self._get(url, start, length), None)

    def _get(self, url: str, start: int, length: int) -> bytes | None:
        db = self._connection()
        # The entry for exactly this range (a chunk read again) by primary key; else the
        # smallest entry that covers it.
        row = db.execute(
            "SELECT start, length, crc32, data FROM ranges WHERE url = ? AND start = ? AND length = ?",
            (url, start, length),
        ).fetchone() or db.execute(
            "SELECT start, length, crc32, data FROM ranges WHERE url = ? AND start <= ? "
            "AND start + length >= ? ORDER BY length LIMIT 1",
            (url, start, start + length),
        ).fetchone()
        if row is None:
            return None
        entry_start, entry_length, crc, data = row
        if len(data) != entry_length or zlib.crc32(data) != crc:
            db.execute("DELETE FROM ranges WHERE url = ? AND start = ? AND length = ?", (url, entry_start, entry_length))
            return None
        self._touch(url, entry_start, entry_length)
        if entry_start == start and entry_length == length:
            return data
        offset = start - entry_start
        return bytes(data[offset : offset + length])

    def put(self, url: str, start: int, data: bytes) -> None:
        """Store ``data`` as bytes ``[start, start + len(data))`` of ``url``."""
        if len(data) <= self.max_size:
            self._guarded(lambda: self._put(url, start, data), None)

    def get_remote_chunk(self, *, url: str, offset: int, size: int) -> bytes | None:
        """LINDI 0.4's name for :meth:`get`: the cached bytes ``[offset, offset + size)`` of
        ``url``, or None."""
        return self.get(url, offset, size)

    def put_remote_chunk(self, *, url: str, offset: int, size: int, data: bytes) -> None:
        """LINDI 0.4's way to store ``data`` as bytes ``[offset, offset + size)`` of ``url``.

        Unlike :meth:`put`, which leaves out what the cache cannot keep, it says so: a
        ``ValueError`` when ``data`` is not ``size`` bytes, and
        :class:`~lindi_core.errors.ChunkTooLargeError` when it is more than one entry may hold
        (900 MB) or more than the cache's ``max_size``."""
        if len(data) != size:
            raise ValueError(f"data is {len(data)} bytes, not the size {size} given")
        if size >= MAX_ENTRY_BYTES:
            raise ChunkTooLargeError(f"cannot store blobs of 900 MB or more in LocalCache ({size} bytes of {url!r})")
        if size > self.max_size:
            raise ChunkTooLargeError(f"{size} bytes of {url!r} are more than this cache's max_size "
                                     f"({self.max_size} bytes)")
        self.put(url, offset, bytes(data))

    def _put(self, url: str, start: int, data: bytes) -> None:
        db = self._connection()
        db.execute(
            "INSERT OR REPLACE INTO ranges (url, start, length, crc32, last_used, data) VALUES (?, ?, ?, ?, ?, ?)",
            (url, start, len(data), zlib.crc32(data), time.time(), sqlite3.Binary(data)),
        )
        self._evict()

    def _touch(self, url: str, start: int, length: int) -> None:
        # Reads are recorded in memory and written in one statement before the next eviction
        # (and on close): a write per read would make every cache hit pay for a commit.
        with self._touch_lock:
            self._touched[(url, start, length)] = time.time()
            full = len(self._touched) >= _MAX_PENDING_TOUCHES
        if full:
            self._guarded(self._record_touches, None)

    def _record_touches(self) -> None:
        with self._touch_lock:
            touched, self._touched = self._touched, {}
        if touched:
            self._connection().executemany(
                "UPDATE ranges SET last_used = ? WHERE url = ? AND start = ? AND length = ?",
                [(when, url, start, length) for (url, start, length), when in touched.items()])

    def _evict(self) -> None:
        self._record_touches()
        db = self._connection()
        (total,) = db.execute("SELECT COALESCE(SUM(length), 0) FROM ranges").fetchone()
        if total <= self.max_size:
            return
        excess = total - self.max_size
        freed = 0
        victims = []
        for url, start, length in db.execute("SELECT url, start, length FROM ranges ORDER BY last_used"):
            victims.append((url, start, length))
            freed += length
            if freed >= excess:
                break
        db.executemany("DELETE FROM ranges WHERE url = ? AND start = ? AND length = ?", victims)

    def info(self) -> CacheInfo:
        def count() -> tuple[int, int]:
            return self._connection().execute("SELECT COUNT(*), COALESCE(SUM(length), 0) FROM ranges").fetchone()

        entries, total = self._guarded(count, None) or self._guarded(count, (0, 0))  # again once rebuilt
        return CacheInfo(self.cache_dir, int(entries), int(total), self.max_size)

    def clear(self) -> None:
        if self._guarded(self._clear, False) is False:
            self._guarded(self._clear, None)  # once rebuilt

    def _clear(self) -> None:
        db = self._connection()
        db.execute("DELETE FROM ranges")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")

    def attach(self) -> None:
        """A file starts reading through this cache (files may share one)."""
        with self._touch_lock:
            self._users += 1

    def detach(self) -> None:
        """A file is done: the recency updates so far are recorded (while it still counts as a
        user, on its own thread's connection); the last file's detach closes the connections,
        which no file's operation can then be using. (Recording after counting itself out let
        the last file close the connection this one was writing through: a segfault in SQLite.)"""
        self._guarded(self._record_touches, None)
        with self._touch_lock:
            self._users -= 1
            if self._users > 0:
                return
            # Under the lock that attach takes: a file attaching now gets new connections.
            connections, self._connections = self._connections, []
            self._generation += 1
        for db in connections:
            db.close()

    def close(self, record: bool = True) -> None:
        """Record pending recency updates (unless ``record`` is false) and close every
        connection; the cache stays usable (connections open again on the next use)."""
        if record:
            self._guarded(self._record_touches, None)
        with self._touch_lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for db in connections:
            db.close()

    def __repr__(self) -> str:
        return f"LocalCache({self.cache_dir!r}, max_size={self.max_size})"
