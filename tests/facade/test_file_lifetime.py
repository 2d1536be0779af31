"""Files their user never closes: closed as h5py closes them, when collected and at exit.

The truth is h5py itself: a file left open keeps its edits (HDF5 writes them at close, which
happens at collection or exit), and objects taken from a file keep it open. A remote file left
open must not leave the interpreter complaining about unclosed connections at exit.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import warnings

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.io.sync_bridge import wait_for_closing


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def _edits(kind: str, path: str) -> str:
    """A program that opens ``path`` for writing with ``kind`` ("h5py" or "lindi_core"), edits
    it and exits without closing it."""
    opener = {"h5py": f"h5py.File({path!r}, 'r+')",
              "lindi_core": f"lindi_core.LindiH5pyFile.from_lindi_file({path!r}, 'r+')"}[kind]
    return f"""
        import h5py, lindi_core, numpy as np
        f = {opener}
        f.attrs["note"] = "written, never closed"
        f.create_dataset("added", data=np.arange(10, dtype="int32"))
        f["group"].attrs["count"] = 7
    """


def test_edits_of_a_file_left_open_are_written_at_exit_as_h5py_writes_them(make_h5, tmp_path):
    h5 = make_h5(lambda f: f.create_group("group"))
    lindi = str(tmp_path / "edited.lindi.json")
    lindi_core.translate_to_file(h5, lindi, progress=False)

    for kind, path in (("h5py", h5), ("lindi_core", lindi)):
        result = _run(_edits(kind, path))
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""

    with h5py.File(h5, "r") as truth, lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f:
        assert truth.attrs["note"] == "written, never closed"  # h5py's behaviour, the reference
        assert f.attrs["note"] == truth.attrs["note"]
        np.testing.assert_array_equal(f["added"][()], truth["added"][()])
        assert f["group"].attrs["count"] == truth["group"].attrs["count"] == 7


def test_a_tar_left_open_is_committed_at_exit(tmp_path):
    path = str(tmp_path / "left-open.lindi.tar")
    result = _run(f"""
        import numpy as np, lindi_core
        f = lindi_core.LindiH5pyFile.from_lindi_file({path!r}, "w")
        f.create_dataset("x", data=np.arange(100_000, dtype="float64"), chunks=(10_000,))
    """)
    assert result.returncode == 0, result.stderr
    with lindi_core.LindiH5pyFile.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["x"][()], np.arange(100_000, dtype="float64"))


def test_a_remote_file_left_open_exits_without_complaint(make_h5, serve, tmp_path):
    make_h5(lambda f: f.create_dataset("x", data=np.arange(50_000), chunks=(1000,), compression="gzip"),
            name="remote.h5")
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("remote.h5"), str(tmp_path / "remote.lindi.json"), progress=False)
    for opener in (f"lindi_core.LindiH5pyFile.from_lindi_file({server.url_for('remote.lindi.json')!r})",
                   f"lindi_core.LindiH5pyFile.from_hdf5_file({server.url_for('remote.h5')!r})"):
        result = _run(f"""
            import json, lindi_core
            f = {opener}
            print(json.dumps(int(f["x"][:].sum())))
        """)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == int(np.arange(50_000).sum())
        assert result.stderr == ""  # no "Unclosed client session" and the like


def test_a_collected_file_is_written_back_and_its_connections_closed(make_h5, serve, tmp_path):
    make_h5(lambda f: f.create_dataset("x", data=np.arange(5000), chunks=(500,)), name="served.h5")
    server = serve(tmp_path)
    lindi = str(tmp_path / "served.lindi.json")
    lindi_core.translate_to_file(server.url_for("served.h5"), lindi, progress=False)

    f = lindi_core.LindiH5pyFile.from_lindi_file(lindi, "r+")
    assert f["x"][10] == 10  # opens a connection to the server
    f.attrs["kept"] = "yes"
    http = f._store.sources.http
    sessions = [session for session, _limit, _batcher in http._per_loop.values()]
    assert sessions and not any(s.closed for s in sessions)
    del f
    gc.collect()

    wait_for_closing(timeout=10)  # a finalizer starts closing the connections, it does not wait
    assert all(s.closed for s in sessions)
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi) as again:
        assert again.attrs["kept"] == "yes"


def test_objects_of_a_file_keep_it_open_as_in_h5py(make_h5, tmp_path):
    h5 = make_h5(lambda f: f.create_dataset("x", data=np.arange(100), chunks=(10,)))
    lindi = str(tmp_path / "objects.lindi.json")
    lindi_core.translate_to_file(h5, lindi, progress=False)

    def dataset_of(opened):
        return opened["x"]  # the file object itself goes out of scope here

    for dataset in (dataset_of(h5py.File(h5, "r")), dataset_of(lindi_core.LindiH5pyFile.from_lindi_file(lindi))):
        gc.collect()
        assert bool(dataset.file)
        np.testing.assert_array_equal(dataset[5:8], [5, 6, 7])


@pytest.mark.parametrize("closes_first", [True, False])
def test_closing_after_collection_or_twice_is_harmless(tmp_path, closes_first):
    path = str(tmp_path / "twice.lindi.json")
    f = lindi_core.LindiH5pyFile.from_lindi_file(path, "w")
    f.attrs["a"] = 1
    if closes_first:
        f.close()
    f.close()
    del f
    gc.collect()
    with lindi_core.LindiH5pyFile.from_lindi_file(path) as again:
        assert again.attrs["a"] == 1


def test_edits_with_nowhere_to_go_are_warned_about_at_close(make_h5, tmp_path):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(3)))
    quiet = lindi_core.LindiH5pyFile.from_hdf5_file(path, "r+")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.close()  # nothing edited
        saved = lindi_core.LindiH5pyFile.from_hdf5_file(path, "r+")
        saved.attrs["a"] = 1
        saved.write_lindi_file(str(tmp_path / "kept.lindi.json"))
        saved.close()  # edited, and kept
    lost = lindi_core.LindiH5pyFile.from_hdf5_file(path, "r+")
    lost.attrs["a"] = 1
    with pytest.warns(UserWarning, match="not kept anywhere"):
        lost.close()


# Ways a program ends with a remote file it never closed, reading through a LocalCache. Exit
# closes it after concurrent.futures has stopped taking work: the close (and a read still
# running in a thread then) must not need an executor.
_LEFT_OPEN = {
    "main": """
        f = open_file()
        print(int(f["x"][:].sum()))
    """,
    "thread still reading after main returned": """
        import threading
        f = open_file()
        threading.Thread(target=lambda: print(int(f["x"][:].sum()))).start()
    """,
    "global, sys.exit in a function": """
        import sys
        KEPT = None
        def main():
            global KEPT
            KEPT = open_file()
            print(int(KEPT["x"][:].sum()))
            sys.exit(0)
        main()
    """,
}


@pytest.mark.parametrize("ending", sorted(_LEFT_OPEN))
def test_a_remote_file_with_a_local_cache_left_open_exits_without_noise(make_h5, serve, tmp_path, ending):
    make_h5(lambda f: f.create_dataset("x", data=np.arange(50_000), chunks=(1000,), compression="gzip"),
            name="remote.h5")
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("remote.h5"), str(tmp_path / "remote.lindi.json"), progress=False)
    program = textwrap.dedent(f"""
        import lindi_core
        def open_file():
            return lindi_core.LindiH5pyFile.from_lindi_file(
                {server.url_for('remote.lindi.json')!r}, local_cache=lindi_core.LocalCache({str(tmp_path / 'cache')!r}))
    """) + textwrap.dedent(_LEFT_OPEN[ending])
    for warm in (False, True):  # ranges fetched, then served from the cache
        server.stats.reset()
        result = _run(program)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == int(np.arange(50_000).sum())
        assert result.stderr == ""  # no "cannot schedule new futures", "Unclosed client session", traceback
        assert ("/remote.h5" in server.stats.paths) != warm  # the reference file itself is fetched each time


def test_a_file_collected_while_its_thread_holds_a_lock_of_zarrs_loop_does_not_deadlock(make_h5, tmp_path, serve):
    """A garbage collection runs wherever an allocation triggers it, e.g. inside zarr's ``sync``
    while this thread holds a future's lock that zarr's loop thread needs to finish any work.
    A finalizer that waited there for the loop to close connections waited forever."""
    make_h5(lambda f: f.create_dataset("x", data=np.arange(100), chunks=(10,)), name="held.h5")
    server = serve(tmp_path)
    lindi = str(tmp_path / "held.lindi.json")
    lindi_core.translate_to_file(server.url_for("held.h5"), lindi, progress=False)
    program = f"""
        import asyncio, gc, sys
        import lindi_core
        from zarr.core.sync import _get_loop
        from lindi_core.io.sync_bridge import wait_for_closing

        f = lindi_core.LindiH5pyFile.from_lindi_file({lindi!r}, "r+")
        assert f["x"][10] == 10  # a connection to close
        f.attrs["kept"] = "yes"
        sessions = [s for s, _l, _b in f._store.sources.http._per_loop.values()]
        f.cycle = f  # only a collection frees it
        del f
        held = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), _get_loop())
        with held._condition:  # as concurrent.futures.wait holds it inside zarr's sync
            gc.collect()
        held.result(timeout=10)
        wait_for_closing(timeout=10)
        assert all(s.closed for s in sessions)
        with lindi_core.LindiH5pyFile.from_lindi_file({lindi!r}) as again:
            assert again.attrs["kept"] == "yes"
        print("done")
    """
    try:
        done = _run(program)
    except subprocess.TimeoutExpired:
        pytest.fail("collecting an open file deadlocked")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "done" and "Unclosed" not in done.stderr
