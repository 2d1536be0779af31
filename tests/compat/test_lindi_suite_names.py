"""Names LINDI's own test suite calls that the LINDI layer offers (``import lindi_core as lindi``):
``LindiH5ZarrStore.getitems``, ``LindiH5ZarrStore.to_file`` and ``lindi.File``, each checked
against h5py reading the same file (chunk bytes from the file itself)."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

import lindi_core as lindi
from tests.h5walk import walk_differences

X = np.random.default_rng(1).standard_normal((100, 10))


def _build(f: h5py.File) -> None:
    f.create_dataset("dataset1", data=X, chunks=(20, 10))
    f.create_dataset("small", data=np.array([1.0, 2.0, 3.0]))
    f.create_group("group1").attrs["note"] = "g"
    f.create_group("empty")


def _raw_chunk(path: str, name: str, coord: tuple[int, ...]) -> bytes:
    with h5py.File(path, "r") as h5:
        info = h5[name].id.get_chunk_info_by_coord(coord)
    with open(path, "rb") as raw:
        raw.seek(info.byte_offset)
        return raw.read(info.size)


def test_getitems_reads_the_keys_held_and_leaves_out_the_others(make_h5):
    path = make_h5(_build)
    with lindi.LindiH5ZarrStore.from_file(path, url=path) as store:
        keys = ["dataset1/0.0", "dataset1/3.0", "dataset1/.zarray", "group1/.zattrs", "nonexistent/0.0",
                "dataset1/9.0"]
        items = store.getitems(keys, contexts={})
        assert set(items) == {"dataset1/0.0", "dataset1/3.0", "dataset1/.zarray", "group1/.zattrs"}
        assert items["dataset1/0.0"] == _raw_chunk(path, "dataset1", (0, 0))
        assert items["dataset1/3.0"] == _raw_chunk(path, "dataset1", (60, 0))
        assert json.loads(items["dataset1/.zarray"])["chunks"] == [20, 10]
        assert json.loads(items["group1/.zattrs"])["note"] == "g"
        assert items["dataset1/.zarray"] == store["dataset1/.zarray"]
        # a group without attributes: {} as store[key] answers, though the file holds no such key
        assert store.getitems(["empty/.zattrs"]) == {"empty/.zattrs": store["empty/.zattrs"]}
        assert json.loads(store["empty/.zattrs"]) == {}
        assert store.getitems([]) == {}
        small = np.frombuffer(store.getitems(["small/0"])["small/0"], dtype="<f8")
        with h5py.File(path, "r") as h5:
            assert np.array_equal(small, h5["small"][()])


def test_to_file_writes_the_reference_file_under_any_name(make_h5, tmp_path):
    path = make_h5(_build)
    out = str(tmp_path / "refs.json")  # LINDI's earlier name for the writer took any extension
    with lindi.LindiH5ZarrStore.from_file(path, url=path) as store:
        store.to_file(out)
        with pytest.raises(ValueError, match="Unsupported file type: zarr"):
            store.to_file(str(tmp_path / "other.json"), file_type="zarr")
    assert not os.path.exists(tmp_path / "other.json")
    with lindi.LindiH5pyFile.from_reference_file_system(out) as client, h5py.File(path, "r") as expected:
        assert walk_differences(expected, client) == []


def test_file_opens_lindi_json_as_lindi_and_other_names_with_h5py(tmp_path, monkeypatch):
    monkeypatch.delenv("LINDI_LOCAL_CACHE_DIR", raising=False)
    ref_path = str(tmp_path / "x.lindi.json")
    data = np.arange(500_000, dtype=np.uint32)
    with lindi.File(ref_path, "w") as f:
        assert isinstance(f, lindi.LindiH5pyFile)
        f.create_dataset("data", data=data, chunks=(100_000,))
    with lindi.File(ref_path, "r") as f:
        ds = f["data"]
        assert isinstance(ds, h5py.Dataset)
        assert (ds.shape, ds.chunks, ds.dtype) == ((500_000,), (100_000,), np.dtype(np.uint32))
        assert np.array_equal(ds[:], data)
    with pytest.raises(FileExistsError):
        lindi.File(ref_path, "x")
    with pytest.raises(TypeError, match="driver"):
        lindi.File(ref_path, "r", driver="core")

    h5_path = str(tmp_path / "plain.h5")
    with lindi.File(h5_path, "w", libver="latest") as f:
        assert type(f) is h5py.File
        f["v"] = [1, 2, 3]
    with h5py.File(h5_path, "r") as h5:
        assert h5["v"][()].tolist() == [1, 2, 3]


def test_file_reads_through_the_local_cache_named_in_the_environment(make_h5, serve, tmp_path, monkeypatch):
    values = np.arange(4000.0)
    path = make_h5(lambda f: f.create_dataset("v", data=values, chunks=(1000,)))  # 8 kB chunks: referenced
    server = serve(tmp_path)
    h5_url = server.url_for("data.h5")
    with lindi.LindiH5ZarrStore.from_file(h5_url) as store:
        store.write_reference_file_system(str(tmp_path / "v.lindi.json"))
    cache_dir = str(tmp_path / "cache")
    monkeypatch.setenv("LINDI_LOCAL_CACHE_DIR", cache_dir)
    with lindi.File(server.url_for("v.lindi.json"), "r") as f:
        assert np.array_equal(f["v"][1000:2000], values[1000:2000])
    with h5py.File(path, "r") as h5:
        info = h5["v"].id.get_chunk_info_by_coord((1000,))
    cached = lindi.LocalCache(cache_dir=cache_dir).get_remote_chunk(url=h5_url, offset=info.byte_offset,
                                                                     size=info.size)
    assert cached == _raw_chunk(path, "v", (1000,))


def test_from_h5py_file_translates_the_file_an_h5py_file_reads(make_h5, tmp_path):
    path = make_h5(_build)
    with h5py.File(path, "r") as h5, lindi.LindiH5pyFile.from_h5py_file(h5) as client:
        assert client.mode == "r"
        assert walk_differences(h5, client) == []
    # written through an h5py.File still open: flushed first, so the translation sees it
    with h5py.File(path, "a") as h5:
        h5.create_dataset("added", data=np.arange(7))
        with lindi.LindiH5pyFile.from_h5py_file(h5) as client:
            assert client["added"][()].tolist() == list(range(7))
    with open(path, "rb") as raw, h5py.File(raw, "r") as from_object:
        with pytest.raises(TypeError, match="on disk"):
            lindi.LindiH5pyFile.from_h5py_file(from_object)
    in_memory = h5py.File(str(tmp_path / "never_written.h5"), "w", driver="core", backing_store=False)
    with in_memory, pytest.raises(TypeError, match="on disk"):
        lindi.LindiH5pyFile.from_h5py_file(in_memory)
    with pytest.raises(TypeError, match="open h5py.File"):
        lindi.LindiH5pyFile.from_h5py_file(path)
