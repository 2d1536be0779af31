"""The persistent local cache: hits make no request, damage is never served, size is bounded."""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import random
import sqlite3
import subprocess
import sys
import warnings

import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.cli import main
from lindi_core.io.cache import LocalCache

DATA = np.arange(100_000, dtype="<i4").reshape(1000, 100)


@pytest.fixture
def served(tmp_path, make_h5, serve):
    """(the server, the path of a reference file of its x.h5: DATA in 100 chunks, gzip, remote)."""
    make_h5(lambda f: f.create_dataset("x", data=DATA, chunks=(100, 100), compression="gzip"), name="x.h5")
    server = serve(tmp_path)
    out = tmp_path / "x.lindi.json"
    lindi_core.translate_to_file(server.url_for("x.h5"), out, progress=False)
    return server, out


def test_second_read_makes_no_request(tmp_path, served):
    server, out = served
    cache = LocalCache(tmp_path / "cache")
    for warm in (False, True):
        server.stats.reset()
        f = lindi_core.LindiH5pyFile.from_lindi_file(str(out), local_cache=cache)
        np.testing.assert_array_equal(f["x"][50:250], DATA[50:250])
        f.close()
        assert (server.stats.requests == 0) == warm
    assert cache.info().entries == 3


def test_a_cached_range_serves_its_sub_ranges(tmp_path):
    cache = LocalCache(tmp_path)
    cache.put("http://h/f", 100, bytes(range(50)))
    assert cache.get("http://h/f", 110, 5) == bytes(range(10, 15))
    assert cache.get("http://h/f", 140, 20) is None  # runs past the cached range
    assert cache.get("http://h/other", 110, 5) is None


def test_damaged_entries_are_dropped_not_served(tmp_path):
    cache = LocalCache(tmp_path)
    cache.put("http://h/f", 0, b"good bytes")
    db = sqlite3.connect(cache.path)
    db.execute("UPDATE ranges SET data = ?", (b"evil bytes",))
    db.commit()
    db.close()
    assert cache.get("http://h/f", 0, 4) is None
    assert cache.info().entries == 0


def test_size_is_bounded_by_evicting_least_recently_used(tmp_path):
    cache = LocalCache(tmp_path, max_size=250)
    for i in range(3):
        cache.put("http://h/f", i * 100, bytes(100))
    assert cache.get("http://h/f", 0, 1) is None  # the oldest went
    assert cache.get("http://h/f", 200, 1) == b"\x00"
    assert cache.info().bytes <= 250


def _writer(cache_dir: str, worker: int) -> None:
    cache = LocalCache(cache_dir)
    for i in range(200):
        cache.put(f"http://h/{worker}", i, bytes([worker]) * 64)
        assert cache.get(f"http://h/{worker}", i, 64) == bytes([worker]) * 64


def test_processes_share_a_cache_folder(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert LocalCache(tmp_path).info().entries == 600


def test_cache_command(tmp_path, capsys):
    LocalCache(tmp_path).put("http://h/f", 0, b"12345")
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert "entries: 1" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert LocalCache(tmp_path).info().entries == 0


def test_zarr_reads_through_a_cached_store(tmp_path, make_h5, serve):
    make_h5(lambda f: f.create_dataset("x", data=np.arange(10_000), chunks=(1000,)), name="z.h5")
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("z.h5"))
    from lindi_core.io.sources import ByteSources

    cache = LocalCache(tmp_path / "c")
    store = lindi_core.ReferenceStore(rfs, sources=ByteSources(cache=cache))
    root = zarr.open_group(store, mode="r")
    root["x"][...]
    server.stats.reset()
    root["x"][...]
    assert server.stats.requests == 0
    store.close()


def test_reading_an_entry_keeps_it_from_eviction(tmp_path):
    cache = LocalCache(tmp_path, max_size=250)
    cache.put("http://h/f", 0, bytes(100))
    cache.put("http://h/f", 100, bytes(100))
    assert cache.get("http://h/f", 0, 100) is not None  # now the most recently used
    cache.put("http://h/f", 200, bytes(100))
    assert cache.get("http://h/f", 100, 100) is None  # the least recently used went
    assert cache.get("http://h/f", 0, 100) == bytes(100)
    assert cache.get("http://h/f", 200, 100) == bytes(100)


def test_closing_a_file_records_what_it_read_and_closes_its_connections(tmp_path, served):
    server, out = served
    cache = LocalCache(tmp_path / "cache")
    with lindi_core.LindiH5pyFile.from_lindi_file(str(out), local_cache=cache) as f:
        f["x"][0:300]
    with sqlite3.connect(cache.path) as db:
        first_use = dict(db.execute("SELECT start, last_used FROM ranges").fetchall())
    with lindi_core.LindiH5pyFile.from_lindi_file(str(out), local_cache=cache) as f:
        server.stats.reset()
        np.testing.assert_array_equal(f["x"][0:100], DATA[0:100])  # a hit, after the cache was closed
        assert server.stats.requests == 0
    assert cache._connections == []  # the worker threads' connections are closed
    with sqlite3.connect(cache.path) as db:
        later_use = dict(db.execute("SELECT start, last_used FROM ranges").fetchall())
    touched = [start for start in first_use if later_use[start] > first_use[start]]
    assert len(touched) == 1  # the one range read again is the most recently used now


def test_a_cache_shared_by_two_files_stays_open_until_the_last_closes(tmp_path, served):
    server, out = served
    cache = LocalCache(tmp_path / "cache")
    first = lindi_core.LindiH5pyFile.from_lindi_file(str(out), local_cache=cache)
    second = lindi_core.LindiH5pyFile.from_lindi_file(str(out), local_cache=cache)
    np.testing.assert_array_equal(first["x"][0:300], DATA[0:300])
    first.close()
    assert cache._connections  # the second file still reads through them
    np.testing.assert_array_equal(second["x"][0:500], DATA[0:500])
    second.close()
    assert cache._connections == []
    assert cache.info().entries >= 5


def _truncated(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _overwritten(path):
    with open(path, "wb") as f:
        f.write(random.Random(7).randbytes(64 * 1024))


def _emptied(path):
    open(path, "wb").close()


def _replaced_by_a_folder(path):
    os.remove(path)
    os.mkdir(path)
    (pathlib.Path(path) / "something").write_text("not ours to delete")


def _another_schema(path):
    os.remove(path)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE ranges (key TEXT PRIMARY KEY, value BLOB)")
        db.execute("INSERT INTO ranges VALUES ('a', x'00')")
    db.close()


@pytest.mark.parametrize("damage", [_truncated, _overwritten, _emptied, _replaced_by_a_folder, _another_schema],
                         ids=lambda d: d.__name__.strip("_"))
def test_a_damaged_database_is_bypassed_once_and_rebuilt(tmp_path, served, damage):
    server, out = served
    cache_dir = tmp_path / "cache"
    with lindi_core.LindiH5pyFile.from_lindi_file(str(out), local_cache=LocalCache(cache_dir)) as f:
        f["x"][0:1000]  # every chunk in the cache
    path = str(cache_dir / "ranges.sqlite")
    with sqlite3.connect(path) as db:  # everything in the database file itself, for the damage
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    damage(path)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for warm in (False, True):
            server.stats.reset()
            with lindi_core.LindiH5pyFile.from_lindi_file(str(out), local_cache=LocalCache(cache_dir)) as f:
                np.testing.assert_array_equal(f["x"][()], DATA)
            assert (server.stats.requests == 0) == warm  # works again: the second read is all hits
    told = [str(w.message) for w in caught if "local cache" in str(w.message)]
    # An empty file is an empty database to SQLite: nothing to repair, nothing to say.
    assert len(told) == (0 if damage is _emptied else 1), told
    if damage is _replaced_by_a_folder:
        kept = [p for p in cache_dir.iterdir() if p.is_dir()]
        assert [(p / "something").read_text() for p in kept] == ["not ours to delete"]


def test_a_busy_database_is_bypassed_with_one_warning_and_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("lindi_core.io.cache._BUSY_TIMEOUT", 0.0)
    cache = LocalCache(tmp_path)
    cache.put("http://h/f", 0, b"kept")
    locker = sqlite3.connect(cache.path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than the wait
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(3):
                cache.put("http://h/f", 10 + i, b"not now")  # not stored, not an error
            assert cache.get("http://h/f", 0, 4) == b"kept"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert [str(w.message) for w in caught if "cannot be used now" in str(w.message)] != []
    assert len(caught) == 1
    cache.put("http://h/f", 10, b"now")
    assert cache.get("http://h/f", 0, 4) == b"kept"  # nothing was thrown away
    assert cache.get("http://h/f", 10, 3) == b"now"


def test_threads_closing_files_that_share_a_cache_do_not_crash(tmp_path, make_h5, serve):
    """Files in several threads of one process share a cache and close at about the same time:
    the last to close must not close a connection another is still recording through (SQLite
    crashed the process with a segfault: about one process in four in a four-thread storm)."""
    make_h5(lambda f: f.create_dataset("x", data=np.arange(200_000), chunks=(2_000,)), name="shared.h5")
    server = serve(tmp_path)
    lindi = str(tmp_path / "shared.lindi.json")
    lindi_core.translate_to_file(server.url_for("shared.h5"), lindi, progress=False)
    program = f"""
import random, threading
import numpy as np
import lindi_core
cache = lindi_core.LocalCache({str(tmp_path / "cache")!r})
wrong = []

def reader(seed):
    rng = random.Random(seed)
    for _ in range(25):
        with lindi_core.LindiH5pyFile.from_lindi_file({lindi!r}, local_cache=cache) as f:
            for _ in range(3):
                start = rng.randrange(199_000)
                if not np.array_equal(f["x"][start:start + 900], np.arange(start, start + 900)):
                    wrong.append(start)

threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(len(wrong))
"""
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
        assert done.stdout.split() == ["0"]


def test_a_relative_cache_folder_stays_where_it_was_named(tmp_path, served, monkeypatch):
    """A cache named by a relative folder keeps using that folder after os.chdir (it opened
    a new database in each directory the process moved to, and warned at collection)."""
    server, reference = served
    monkeypatch.chdir(tmp_path)
    cache = LocalCache("relative/cache")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with lindi_core.LindiH5pyFile.from_lindi_file(str(reference), local_cache=cache) as f:
        np.testing.assert_array_equal(f["x"][:100], DATA[:100])
    monkeypatch.chdir(elsewhere)
    before = server.stats.requests
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with lindi_core.LindiH5pyFile.from_lindi_file(str(reference), local_cache=cache) as f:
            np.testing.assert_array_equal(f["x"][:100], DATA[:100])
    assert server.stats.requests == before  # served by the cache it filled, not a new one here
    assert cache.cache_dir == str(tmp_path / "relative" / "cache")
    assert not (elsewhere / "relative").exists()
