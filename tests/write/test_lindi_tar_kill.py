"""A ``.lindi.tar`` written by a process killed with SIGKILL at random points: the archive is a tar
that Python's ``tarfile`` lists after every kill, lindi-core reads exactly the last commit (or the
one being made when the kill came), and the temporaries of interrupted new archives do not pile up."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

import lindi_core
from lindi_core.format import temporaries

H5 = lindi_core.LindiH5pyFile
N = 300_000  # "d" has three chunks of 800,000 bytes: large writes, which a kill can cut short

# Commit k rewrites "d" with k, sets the attribute "commit" to k and adds "e<k>" (k, twice);
# every third commit also writes a new self-contained copy (a new archive, written atomically).
_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import lindi_core
    H5 = lindi_core.LindiH5pyFile
    path, copy = sys.argv[1], sys.argv[2]
    with H5.from_lindi_file(path) as f:
        k = int(f.attrs["commit"])
    print("ready", flush=True)
    while True:
        k += 1
        with H5.from_lindi_file(path, mode="r+", reuse_freed_chunks=k % 2 == 0) as f:
            f["d"][...] = np.full(N, k, dtype="<i8")
            f.create_dataset(f"e{k}", data=np.full(3000, k, dtype="<i8"), chunks=(1500,))
            f.attrs["commit"] = k
            if k % 3 == 0:
                f.write_lindi_file(copy)
        print(k, flush=True)
""").replace("N, k,", f"{N}, k,")


def _check(path) -> int:
    """The commit the archive holds, after checking it is whole; raises if it is not."""
    with tarfile.open(path) as t:
        names = t.getnames()
    assert ".tar_entry.json" in names and "lindi.json" in names
    with H5.from_lindi_file(path) as f:
        commit = int(f.attrs["commit"])
        np.testing.assert_array_equal(f["d"][...], np.full(N, commit))
        extra = sorted(int(name[1:]) for name in f if name.startswith("e"))
        assert extra == list(range(1, commit + 1))
        for k in extra[-3:]:
            np.testing.assert_array_equal(f[f"e{k}"][...], np.full(3000, k))
    return commit


@pytest.mark.slow
def test_a_writer_killed_at_random_points_leaves_a_listable_archive_with_a_whole_commit(tmp_path):
    path, copy = tmp_path / "k.lindi.tar", tmp_path / "copy.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=np.zeros(N, dtype="<i8"), chunks=(N // 3,), fillvalue=-1)
        f.attrs["commit"] = 0
    rng = random.Random(12)
    kills, mixed, confirmed, cut_in_a_commit = 30, [], 0, 0
    for _ in range(kills):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(copy)],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        try:
            writer.wait(timeout=rng.uniform(0.0, 0.4))
        except subprocess.TimeoutExpired:
            pass
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=60)
        lines = writer.stdout.read().split()
        writer.stdout.close()
        confirmed = int(lines[-1]) if lines else confirmed
        try:
            commit = _check(path)
        except (AssertionError, tarfile.TarError, lindi_core.errors.LindiError) as exc:
            mixed.append(repr(exc)[:300])
            break
        # The last commit the writer reported, or the one it was making when killed.
        assert confirmed <= commit <= confirmed + 1
        cut_in_a_commit += commit == confirmed
        confirmed = commit
        if copy.exists():  # the copy is the old file or a whole new one
            with H5.from_lindi_file(copy) as f:
                c = int(f.attrs["commit"])
                assert c % 3 == 0
                np.testing.assert_array_equal(f["d"][...], np.full(N, c))
    print(f"kill test: {kills} kills, last commit {confirmed}, {kills - cut_in_a_commit} found the commit being "
          f"made whole (killed after its commit point), {len(mixed)} mixed states")
    assert mixed == []
    assert confirmed > 0
    # What interrupted writes of new archives left is gone once the copy is written again.
    with H5.from_lindi_file(path) as f:
        f.write_lindi_file(copy)
    left = {n for n in os.listdir(tmp_path) if not n.endswith(".lock")}  # writer locks stay, as designed
    assert left == {"copy.lindi.tar", "k.lindi.tar"}


def _dead_pid() -> int:
    """The pid of a process that has ended (a killed writer's)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _abandoned(path) -> str:
    """A temporary as a process killed while writing a new archive at ``path`` leaves it."""
    name = path.parent / f".{path.name}.{_dead_pid()}.x1y2z3.lindi.tar.tmp"
    name.write_bytes(b"half an archive")
    return name


def test_temporaries_of_killed_writes_go_at_the_next_write_or_open_for_writing(tmp_path):
    path = tmp_path / "t.lindi.tar"
    other = _abandoned(tmp_path / "other.lindi.tar")  # another file's: not ours to remove
    stale = _abandoned(path)
    with H5.from_lindi_file(path, mode="w") as f:  # a new archive: written through a temporary
        f.create_dataset("x", data=np.arange(5000))
    assert not stale.exists() and other.exists()
    stale = _abandoned(path)
    with H5.from_lindi_file(path, mode="r+") as f:  # opened for writing in place
        np.testing.assert_array_equal(f["x"][...], np.arange(5000))
    assert not stale.exists() and other.exists()


def test_a_temporary_being_written_is_not_removed(tmp_path):
    path = tmp_path / "live.lindi.tar"
    with temporaries.atomic_output(path, ".lindi.tar") as f:
        f.write(b"being written")
        (temporary,) = [n for n in os.listdir(tmp_path) if n.startswith(".live.lindi.tar.")]
        temporaries.remove_stale(str(path))  # another writer starting meanwhile
        assert (tmp_path / temporary).exists()
    assert path.read_bytes() == b"being written" and os.listdir(tmp_path) == ["live.lindi.tar"]
