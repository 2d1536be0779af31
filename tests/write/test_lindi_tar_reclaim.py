"""Space of rewritten or deleted chunks in a ``.lindi.tar`` is reused by later chunks when the
writer allows it, without ever writing over what the committed state refers to; by default it
is not, so bytes other reference files point at stay as they were."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest

import lindi_core
from lindi_core.write import lindi_tar as tar_writer
from tests.write.test_lindi_tar import _failing, _index, _span

H5 = lindi_core.LindiH5pyFile
SHAPE, CHUNKS = (400, 50), (100, 50)  # four uncompressed chunks of 40,000 bytes


def _values(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=SHAPE)


def _blobs(path) -> dict[str, tuple[int, int, int]]:
    return {n: r for n, r in _index(path).items() if n.startswith("blobs/")}


def test_rewritten_chunks_reuse_the_space_of_the_old_ones(tmp_path):
    path = tmp_path / "rewrite.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=_values(0), chunks=CHUNKS)
    sizes, spans = [], []
    for session in range(1, 7):
        before = _index(path)
        with H5.from_lindi_file(path, mode="r+", reuse_freed_chunks=True) as f:
            f["d"][...] = _values(session)
        after = _index(path)
        live = _blobs(path)
        assert len(live) == 4  # only the chunks the reference file refers to are live members
        freed = {n for n in after if n.startswith(".trash/blobs/")}
        assert {r for n, r in after.items() if n in freed} == {r for n, r in before.items() if n.startswith("blobs/")}
        sizes.append(path.stat().st_size)
        spans.append((after["lindi.json"], after[".tar_index.json"]))
        with H5.from_lindi_file(path) as f:
            np.testing.assert_array_equal(f["d"][...], _values(session))
    # From the third session on, new chunks fill the regions freed by the session before: the
    # archive grows by the new reference file and index only (never written over old ones).
    metadata = [(_span(r1) + _span(r2)) for r1, r2 in spans]
    assert [b - a for a, b in zip(sizes[1:], sizes[2:])] == metadata[2:]
    with tarfile.open(path) as t:  # still a tar any tool lists
        assert sum(1 for n in t.getnames() if n.startswith("blobs/")) == 4


def test_deleted_datasets_free_their_chunks(tmp_path):
    path = tmp_path / "delete.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("gone", data=_values(1), chunks=CHUNKS)
        f.create_dataset("kept", data=_values(2), chunks=CHUNKS)
    with H5.from_lindi_file(path, mode="r+", reuse_freed_chunks=True) as f:
        del f["gone"]
    assert sorted(_blobs(path)) == [f"blobs/kept/{i}.0" for i in range(4)]
    size = path.stat().st_size
    with H5.from_lindi_file(path, mode="r+", reuse_freed_chunks=True) as f:
        f.create_dataset("new", data=_values(3), chunks=CHUNKS)
    index = _index(path)  # the new chunks went where the deleted ones were; only metadata grew
    assert path.stat().st_size == size + _span(index["lindi.json"]) + _span(index[".tar_index.json"])
    with H5.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["new"][...], _values(3))
        np.testing.assert_array_equal(f["kept"][...], _values(2))
        assert "gone" not in f


def test_an_interrupted_commit_after_refilling_keeps_the_committed_state(tmp_path, monkeypatch):
    path = tmp_path / "crash.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=_values(1), chunks=CHUNKS)
    with H5.from_lindi_file(path, mode="r+", reuse_freed_chunks=True) as f:
        f["d"][...] = _values(2)  # the first chunks are free regions from now on
    committed, committed_index = path.read_bytes(), _index(path)
    f = H5.from_lindi_file(path, mode="r+", reuse_freed_chunks=True)
    f["d"][...] = _values(3)  # goes into the free regions
    with monkeypatch.context() as patch:
        patch.setattr(tar_writer, "encode_entry", _failing("power cut"))
        with pytest.raises(OSError, match="power cut"):
            f.flush()
    f._finalizer.detach()  # the process dies: no retry, no close
    f._tar.close()
    after = path.read_bytes()
    for name, (o, d, size) in committed_index.items():  # all the committed state reaches is intact
        if not name.startswith(".trash/"):
            assert after[o : d + size] == committed[o : d + size], name
    with H5.from_lindi_file(path) as g:
        np.testing.assert_array_equal(g["d"][...], _values(2))


def test_by_default_freed_chunks_keep_their_bytes_for_files_that_copied_them(tmp_path):
    path = tmp_path / "source.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("d", data=_values(1), chunks=CHUNKS)
    with H5.from_lindi_file(path) as source, H5.from_lindi_file(tmp_path / "copy.lindi.json", mode="w") as copy:
        source.copy(source["d"], copy, "d")  # refers to the archive's byte ranges, not to copies
    sizes = []
    for session in range(2, 5):
        with H5.from_lindi_file(path, mode="r+") as f:
            f["d"][...] = _values(session)
        sizes.append(path.stat().st_size)
    assert sizes[0] < sizes[1] < sizes[2]  # the archive grows: nothing is written over
    with H5.from_lindi_file(tmp_path / "copy.lindi.json") as copy:
        np.testing.assert_array_equal(copy["d"][...], _values(1))
    with H5.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["d"][...], _values(4))


def test_a_chunk_rewritten_into_a_reused_name_and_region_reads_its_new_bytes(tmp_path):
    path = tmp_path / "names.lindi.tar"
    with H5.from_lindi_file(path, mode="w", reuse_freed_chunks=True) as f:
        f.create_dataset("d", data=_values(1), chunks=CHUNKS)
        f.flush()
        np.testing.assert_array_equal(f["d"][...], _values(1))  # remembered in memory
        f["d"][...] = _values(2)
        f.flush()  # the first chunks' members are free: their names and regions may come back
        f["d"][...] = _values(3)
        np.testing.assert_array_equal(f["d"][...], _values(3))
    with H5.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["d"][...], _values(3))
