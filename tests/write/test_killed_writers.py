"""A writer killed (SIGKILL) at any point of a write-back leaves the old file or the new one,
never a partial one, and the temporaries it leaves are removed by the next open or write.

The child makes its write-back slow (the JSON text trickles out in small pieces, the in-place
copy of a hard-linked file too) and says when it has started writing; it is killed a random
moment later: before, during or after the rename or the copy.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lindi_core
from lindi_core.format import temporaries

H5 = lindi_core.LindiH5pyFile

_SLOW_WRITER = textwrap.dedent("""
    import os, random, sys, time
    import lindi_core
    from lindi_core.format import jsonio, temporaries

    path, version, seed, hang = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = random.Random(seed)
    told = []

    def trickle(pieces):
        for piece in pieces:
            for start in range(0, len(piece), 512):
                if not told:
                    told.append(print("writing", flush=True))
                time.sleep(60 if hang == "mid-write" and len(told) > 1 else rng.uniform(0, 0.0005))
                told.append(None)  # one more slice out
                yield piece[start : start + 512]

    text = jsonio.iter_json_text
    jsonio.iter_json_text = lambda *a, **k: trickle(text(*a, **k))
    copy = temporaries._copy_over

    def slow_copy(fd, target):  # the first bytes over the old file, a pause, then all of them
        with open(target, "r+b") as out:
            out.write(os.pread(fd, 1000, 0))
            out.flush()
        time.sleep(60 if hang == "mid-copy" else rng.uniform(0, 0.05))
        copy(fd, target)

    temporaries._copy_over = slow_copy
    f = lindi_core.LindiH5pyFile.from_lindi_file(path, "r+")
    f["x"][...] = version
    f.attrs["version"] = version
    f.close()
    print("done", flush=True)
    time.sleep(60)
""")


def _temporaries(folder: str) -> list[str]:
    """Whatever is in ``folder`` besides the file, its other name and its writer lock."""
    expected = {"killed.lindi.json", "other-name.lindi.json", ".killed.lindi.json.lock"}
    return sorted(set(os.listdir(folder)) - expected)


def _version_on_disk(path: str) -> int | None:
    """The version the file's bytes hold as they are, before anything repairs them (None: not
    a whole reference file)."""
    try:
        with open(path, "rb") as f:
            refs = json.loads(f.read())["refs"]
    except (ValueError, KeyError):
        return None
    return json.loads(refs[".zattrs"] if isinstance(refs[".zattrs"], str) else json.dumps(refs[".zattrs"]))["version"]


def run_kills(folder: str, kills: int, hard_link: bool, seed: int = 0) -> dict[str, int]:
    path = os.path.join(folder, "killed.lindi.json")
    with H5.from_lindi_file(path, "w") as f:
        f.create_dataset("x", data=np.zeros(2000, dtype="int64"), chunks=(10,))
        f.attrs["version"] = 0
    if hard_link:
        os.link(path, os.path.join(folder, "other-name.lindi.json"))
    rng = random.Random(seed)
    counts = {"kills": 0, "temporaries left by kills": 0, "temporaries after cleanup": 0, "partial files": 0,
              "partial before repair": 0, "old version kept": 0, "new version": 0}
    current = 0
    for kill in range(kills):
        # The first kills land surely in the middle (of the JSON text, of the in-place copy),
        # the others at a random moment.
        hang = {0: "mid-write", 1: "mid-copy" if hard_link else "no"}.get(kill, "no")
        child = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, path, str(kill + 1), str(kill), hang],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "writing"
            try:
                child.wait(timeout=1.0 if hang == "mid-copy" else rng.uniform(0, 0.15))
            except subprocess.TimeoutExpired:
                pass
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        counts["kills"] += 1
        counts["temporaries left by kills"] += len(_temporaries(folder))
        if _version_on_disk(path) not in (current, kill + 1):
            counts["partial before repair"] += 1  # only a hard-linked file, written in place
        if kill % 2:  # the next open repairs and cleans ...
            with H5.from_lindi_file(path) as f:
                version = int(f.attrs["version"])
                values = f["x"][()]
        else:  # ... as does the next write
            with H5.from_lindi_file(path, "a") as f:
                version = int(f.attrs["version"])
                values = f["x"][()]
        counts["temporaries after cleanup"] += len(_temporaries(folder))
        on_disk = _version_on_disk(path)
        if on_disk != version or not (values == version).all() or version not in (current, kill + 1):
            counts["partial files"] += 1
        counts["new version" if version == kill + 1 else "old version kept"] += 1
        current = version
    return counts


@pytest.mark.parametrize("kills", [2, pytest.param(20, marks=pytest.mark.slow)])
@pytest.mark.parametrize("hard_link", [False, True], ids=["one name", "hard-linked"])
def test_a_killed_writer_leaves_the_old_or_the_new_file_and_no_temporaries(tmp_path, kills, hard_link):
    counts = run_kills(str(tmp_path), kills, hard_link)
    print(counts)
    assert counts["kills"] == kills
    assert counts["temporaries after cleanup"] == 0
    assert counts["partial files"] == 0
    # Replaced by a rename: never partial on disk. Written in place (hard-linked): partial until
    # the next open finishes the copy (the kill in the middle of the copy).
    assert counts["partial before repair"] == (1 if hard_link else 0)
    assert counts["temporaries left by kills"] >= 1 + hard_link  # the kills did land during writes


def test_a_live_writers_temporary_is_not_taken_for_stale(tmp_path):
    target = str(tmp_path / "live.lindi.json")
    fd, tmp = temporaries.create(target)  # this process, alive, holding it
    try:
        assert temporaries.remove_stale(target) == 0
        assert os.path.exists(tmp)
    finally:
        os.close(fd)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".live.lindi.json.{int(dead.stdout)}.abc123.lindi.json.tmp"
    orphan.write_bytes(b"half a file")
    unrelated = tmp_path / ".other.lindi.json.1.abc.tmp"
    unrelated.write_bytes(b"not this file's")
    assert temporaries.remove_stale(target) == 1
    assert not orphan.exists() and os.path.exists(tmp) and unrelated.exists()


def test_the_staging_area_removes_temporaries_of_killed_writers(tmp_path):
    staging = lindi_core.StagingArea.create(tmp_path)
    kept = staging.store_chunk("x/0", b"staged")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = os.path.join(staging.directory, "chunks", f".x_0.0123456789ab.{int(dead.stdout)}.k3y_9.tmp")
    with open(orphan, "wb") as f:
        f.write(b"half a chunk")
    lindi_core.StagingArea(staging.directory)  # opened again
    assert not os.path.exists(orphan)
    with open(kept.url, "rb") as f:
        assert f.read() == b"staged"


def test_an_interrupted_in_place_copy_is_finished_whoever_has_the_pid_now(tmp_path):
    target = tmp_path / "linked.lindi.json"
    target.write_bytes(b'{"new": tr' + b'{"old": true, "padding": 1}'[10:])  # a copy cut short by a kill
    # Its writer is dead and its pid taken by a live process (here: this one).
    pending = tmp_path / f".linked.lindi.json.{os.getpid()}.x7_q2.lindi.json.pending"
    pending.write_bytes(b'{"new": true}')
    assert temporaries.remove_stale(str(target)) == 1
    assert target.read_bytes() == b'{"new": true}'
    assert not pending.exists()
