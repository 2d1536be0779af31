"""Commits to a ``.lindi.tar`` never write over bytes an earlier commit referred to (spec §12): a
reference file copied out of the archive, and a reader that opened it before, keep reading what
they read then; a reader opening it while a writer commits sees one whole commit; and refs never
reach the archive's own bookkeeping members (``.trash/``, the entry record, the index, lindi.json)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

import lindi_core
from lindi_core.errors import TarFormatError
from lindi_core.format.refs import ChunkRef
from tests.write.test_lindi_tar import DATA, _hand_built, _index, _spec_rfs

H5 = lindi_core.LindiH5pyFile
SHAPE, CHUNKS = (400, 50), (100, 50)  # four uncompressed chunks of 40,000 bytes: a reference file fits one


def _values(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=SHAPE)


def _edit(path, session: int, **options) -> None:
    """One writing session: rewrite every chunk of "d", add a dataset, drop the one before."""
    with H5.from_lindi_file(path, mode="r+", **options) as f:
        f["d"][...] = _values(100 + session)
        f.create_dataset(f"s{session}", data=_values(200 + session), chunks=CHUNKS)
        if f"s{session - 1}" in f:
            del f[f"s{session - 1}"]
        f.attrs["session"] = session
        f.attrs[f"note{session}"] = "metadata that grows " * 150  # the reference file outgrows its regions


def test_a_copied_out_reference_file_keeps_its_values_through_later_commits(tmp_path):
    path = tmp_path / "a.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=_values(1), chunks=CHUNKS)
        f.create_dataset("s0", data=_values(2), chunks=CHUNKS)
    with H5.from_lindi_file(path, mode="r+") as f:
        f.attrs["session"] = 0
        f.write_lindi_file(tmp_path / "copy.lindi.json")  # refs name byte ranges of the archive
    sizes, regions, texts = [path.stat().st_size], [], []
    for session in range(1, 6):
        _edit(path, session)
        sizes.append(path.stat().st_size)
        index = _index(path)
        regions.append((index["lindi.json"][2], index[".tar_index.json"][2]))
        with tarfile.open(path) as t:
            texts.append(t.extractfile("lindi.json").read().rstrip())
    with H5.from_lindi_file(tmp_path / "copy.lindi.json") as copy:
        np.testing.assert_array_equal(copy["d"][...], _values(1))
        np.testing.assert_array_equal(copy["s0"][...], _values(2))
        assert copy.attrs["session"] == 0
    with H5.from_lindi_file(path) as f:
        assert f.attrs["session"] == 5
        np.testing.assert_array_equal(f["d"][...], _values(105))
    # The cost of a session: its chunks (4 x 40,000 bytes rewritten, 4 x 40,000 added), one padded
    # reference file and one padded index (half as large again as their JSON, 8 KiB at least).
    for before, after, (reference, index) in zip(sizes, sizes[1:], regions):
        assert after - before == 8 * (512 + 40_448) + (512 + reference) + (512 + index)
        assert reference == max(8192, -(-len(texts.pop(0)) * 3 // 2 // 512) * 512)

def test_a_reader_opened_before_commits_reads_the_commit_it_opened(tmp_path):
    path = tmp_path / "b.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=_values(1), chunks=CHUNKS)
        f.attrs["session"] = 0
    with H5.from_lindi_file(path) as reader:  # opened before: follows the index it read
        for session in range(1, 6):
            _edit(path, session)
        np.testing.assert_array_equal(reader["d"][...], _values(1))
        assert reader.attrs["session"] == 0
    with H5.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["d"][...], _values(105))


@pytest.mark.parametrize("reuse", [False, True], ids=["default", "reuse_freed_chunks"])
def test_commits_never_write_over_what_an_earlier_commit_reached(tmp_path, reuse):
    """Byte-level: every region any committed index listed keeps its bytes; with reuse of freed
    chunk regions, every region that held a reference file or an index still does (so a reader
    never sees one commit's metadata torn by another's)."""
    path = tmp_path / "c.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=_values(1), chunks=CHUNKS)
        f.create_dataset("s0", data=_values(2), chunks=CHUNKS)
    seen: dict[tuple[int, int], bytes] = {}
    for session in range(1, 8):
        data = path.read_bytes()
        for (d, s), old in seen.items():
            assert data[d : d + s] == old, (session, d, s)
        for name, (_, d, s) in _index(path).items():
            if name in ("lindi.json", ".tar_index.json") or not (reuse or name == ".tar_entry.json"):
                seen[(d, s)] = data[d : d + s]
        _edit(path, session, reuse_freed_chunks=reuse)
    with tarfile.open(path) as t:
        assert "lindi.json" in t.getnames()
    if reuse:  # and the freed chunk regions were indeed reused
        assert path.stat().st_size < len(data) + 8 * (512 + 40_448) + 4 * (512 + 16384)


def test_the_index_lists_what_is_live_however_many_commits(tmp_path):
    """What each commit appends (a padded reference file and index) does not grow with history."""
    path = tmp_path / "long.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=_values(1), chunks=CHUNKS)
    growth = []
    for session in range(12):
        size = path.stat().st_size
        with H5.from_lindi_file(path, mode="r+") as f:
            f["d"][...] = _values(session)
        growth.append(path.stat().st_size - size)
        index = _index(path)
        assert len(index) == 7 and sum(n.startswith("blobs/d/") for n in index) == 4
    assert growth == [4 * (512 + 40_448) + 2 * (512 + 8192)] * 12
    with tarfile.open(path) as t:  # tar tools still see the retired members, named as free space
        assert sum(n.startswith(".trash/") for n in t.getnames()) == 2 + 12 * (2 + 4)


@pytest.mark.parametrize("target", ["./.trash/lindi.json.2048", ".trash/lindi.json.2048", "./.tar_index.json",
                                    "./.tar_entry.json", "./lindi.json"])
def test_refs_never_read_the_containers_own_members(tmp_path, target):
    rfs, blobs = _spec_rfs()
    blobs[".trash/lindi.json.2048"] = json.dumps(rfs).encode()  # listed by the index, as free space is
    rfs["refs"]["g/data/0.0"] = [target, 0, 24]
    path = tmp_path / "hostile.lindi.tar"
    path.write_bytes(_hand_built(rfs, blobs))
    with H5.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["g/data"][2:], DATA[2:])
        with pytest.raises(TarFormatError, match=r"chunk 'g/data/0.0': .* is not a chunk member"):
            f["g/data"][...]
        with pytest.raises(TarFormatError, match="not a chunk member"):  # copied out: named as a range
            f.write_lindi_file(tmp_path / "out.lindi.json")
        with pytest.raises(TarFormatError, match="not a chunk member"):  # copied into a new container
            f.write_lindi_file(tmp_path / "out.lindi.tar")
        with H5.from_lindi_file(tmp_path / "dst.lindi.json", mode="w") as dst:
            with pytest.raises(TarFormatError, match="not a chunk member"):  # portable_ref
                dst.copy(f["g/data"], "d")
    assert not (tmp_path / "out.lindi.json").exists() and not (tmp_path / "out.lindi.tar").exists()


def test_a_reference_file_naming_trash_is_refused_after_a_commit_too(tmp_path):
    """In a writer, the live member table lists the chunk regions its commits freed: unreadable."""
    path = tmp_path / "w.lindi.tar"
    with H5.from_lindi_file(path, mode="w", reuse_freed_chunks=True) as f:  # lists the freed chunks
        f.create_dataset("d", data=np.arange(8000, dtype="<i8"), chunks=(4000,))
        f.flush()
        f["d"][...] = np.arange(8000, 16000)
        f.flush()
        trash = next(n for n in _index(path) if n.startswith(".trash/blobs/d/0"))
        live = f._rfs.get("d/0")
        f._rfs.set_ref("d/0", ChunkRef("./" + trash, 0, 800))
        with pytest.raises(TarFormatError, match="not a chunk member"):
            f["d"][...]
        f._rfs.set_ref("d/0", live)
        np.testing.assert_array_equal(f["d"][...], np.arange(8000, 16000))


_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import lindi_core
    path, commits = sys.argv[1], int(sys.argv[2])
    for k in range(1, commits + 1):
        with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="r+") as f:
            f["d"][...] = np.full((20000,), k, dtype="<i8")
            f.attrs["commit"] = k
            f.attrs[f"note{k}"] = "the reference file grows " * 40
""")


def _torn(f, commit: int) -> bool:
    """Whether an open file's data is not that of the commit its metadata says it is."""
    return not (f["d"][...] == commit).all()


@pytest.mark.slow
def test_readers_opening_while_a_writer_commits_see_whole_commits(tmp_path):
    """Readers open the archive over and over while another process commits and read it at
    once; the first to see every fifth commit stays open and reads its data only at the end."""
    path = tmp_path / "live.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=np.zeros(20000, dtype="<i8"), chunks=(2000,), fillvalue=-1)
        f.attrs["commit"] = 0
    commits = 40
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(commits)])
    reads, torn, last, lingering = 0, [], 0, {}
    try:
        while writer.poll() is None or reads == 0:
            with tarfile.open(path) as t:  # a tar that tarfile lists, at every instant
                assert "lindi.json" in t.getnames()
            f = H5.from_lindi_file(path)
            commit = int(f.attrs["commit"])
            reads += 1
            if commit % 5 == 0 and commit not in lingering:
                lingering[commit] = f  # its data not read yet (nor cached)
            else:
                if _torn(f, commit) or commit < last:
                    torn.append((commit, last))
                f.close()
            last = commit
            assert reads < 100_000
    finally:
        writer.wait(timeout=120)
        for commit, f in lingering.items():
            reads += 1
            if _torn(f, commit):
                torn.append((commit, "read at the end"))
            f.close()
    assert writer.returncode == 0
    print(f"concurrent reader: {reads} reads over {commits} commits ({len(lingering)} read at the end), "
          f"{len(torn)} torn")
    assert torn == []
    assert reads > commits and len(lingering) >= 2
    with H5.from_lindi_file(path) as f:
        assert f.attrs["commit"] == commits
