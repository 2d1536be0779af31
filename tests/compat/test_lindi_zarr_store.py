"""LINDI 0.4's ``LindiH5ZarrStore`` usage, through ``import lindi_core as lindi``: its tests'
and README's patterns, with values compared to h5py reading the same file."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest

import lindi_core as lindi
from lindi_core.format import jsonio
from lindi_core.format.validate import validate_file
from tests.h5walk import walk_differences

X = np.random.default_rng(0).standard_normal((50, 12))


def _build(f: h5py.File) -> None:
    f.create_dataset("dataset1", data=X, chunks=(10, 6))  # 10 chunks
    group1 = f.create_group("group1")
    group1.create_group("group2")
    group1.create_dataset("dataset2", data=[4, 5, 6])
    f.create_dataset("gz", data=np.arange(4000.0), chunks=(100,), compression="gzip")  # 40 chunks
    f.create_dataset("few", data=np.arange(3000), chunks=(1000,))  # 3 chunks
    f.create_dataset("contiguous", data=np.arange(20000.0).reshape(200, 100))  # 160 kB, not chunked
    f.attrs["title"] = "compat"


@pytest.fixture
def h5_path(make_h5) -> str:
    return make_h5(_build)


def test_store_keys_listdir_and_from_zarr_store(h5_path):
    with lindi.LindiH5ZarrStore.from_file(h5_path, url=h5_path) as store:
        assert set(store.listdir("")) == {"dataset1", "group1", "gz", "few", "contiguous"}
        assert set(store.listdir("group1")) == {"group2", "dataset2"}
        assert store.listdir("group1/group2") == []
        assert store.listdir("dataset1") == []
        for key in [".zattrs", ".zgroup", "dataset1/.zattrs", "dataset1/.zarray", "dataset1/0.0",
                    "group1/.zattrs", "group1/.zgroup", "group1/group2/.zattrs", "group1/group2/.zgroup",
                    "group1/dataset2/.zattrs", "group1/dataset2/.zarray", "group1/dataset2/0"]:
            assert key in store, key
        for key in ["dataset1", "dataset1/.zgroup", "group1", "group1/.zarray", "group1/group2",
                    "group1/group2/.zarray", "group1/dataset2", "group1/dataset2/.zgroup", "dataset1/9.9"]:
            assert key not in store, key
        assert json.loads(store["group1/group2/.zattrs"]) == {}  # an object without attributes
        assert json.loads(store["dataset1/.zarray"])["chunks"] == [10, 6]
        with h5py.File(h5_path, "r") as h5:
            info = h5["dataset1"].id.get_chunk_info_by_coord((0, 0))
            with open(h5_path, "rb") as raw:
                raw.seek(info.byte_offset)
                assert store["dataset1/0.0"] == raw.read(info.size)
        with pytest.raises(KeyError):
            store["group1/nothing/.zarray"]
        client = lindi.LindiH5pyFile.from_zarr_store(store)
        with h5py.File(h5_path, "r") as expected:
            assert walk_differences(expected, client) == []
        client.close()


def test_from_zarr_store_refuses_other_stores():
    import zarr

    with pytest.raises(TypeError, match="ReferenceStore"):
        lindi.LindiH5pyFile.from_zarr_store(zarr.storage.MemoryStore())


def test_default_references_every_chunk(make_h5):
    """LINDI 0.4 links datasets of more than 1000 chunks by default; lindi-core references them."""
    path = make_h5(lambda f: f.create_dataset("many", data=np.arange(3000), chunks=(2,)))
    with lindi.LindiH5ZarrStore.from_file(path) as store:
        rfs = store.to_reference_file_system()
    assert "_EXTERNAL_ARRAY_LINK" not in json.dumps(rfs)
    assert sum(1 for key in rfs["refs"] if key.startswith("many/") and key[5:].isdigit()) == 1500
    assert lindi.LindiH5ZarrStoreOpts().num_dataset_chunks_threshold is None


def test_threshold_links_datasets_of_many_chunks(h5_path):
    opts = lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=4)
    with lindi.LindiH5ZarrStore.from_file(h5_path, url=h5_path, opts=opts) as store:
        rfs = store.to_reference_file_system()
    refs = rfs["refs"]
    for name in ("dataset1", "gz"):  # 10 and 40 chunks: linked, no chunk keys
        zattrs = refs[f"{name}/.zattrs"]
        zattrs = json.loads(zattrs) if isinstance(zattrs, str) else zattrs
        assert zattrs["_EXTERNAL_ARRAY_LINK"] == {"link_type": "hdf5_dataset", "url": h5_path, "name": name}
        assert not [key for key in refs if key.startswith(f"{name}/") and not key.split("/")[-1].startswith(".")]
    # 3 chunks, and a contiguous dataset (its Zarr chunks are not the file's): referenced
    assert [key for key in refs if key.startswith("few/") and key[4:].isdigit()] == ["few/0", "few/1", "few/2"]
    assert "_EXTERNAL_ARRAY_LINK" not in json.dumps({k: v for k, v in refs.items() if k.startswith("contiguous/")})
    client = lindi.LindiH5pyFile.from_reference_file_system(rfs)
    with h5py.File(h5_path, "r") as expected:
        assert walk_differences(expected, client) == []
        assert np.array_equal(client["gz"][1234:2345], expected["gz"][1234:2345])
    client.close()


def test_threshold_keeps_references_it_cannot_link(make_h5):
    """An HDF5 array type (extra Zarr axes the chunk index lacks) and chunks stored inline stay
    referenced: a link would read them wrong."""
    def build(f: h5py.File) -> None:
        arraytype = f.create_dataset("arraytype", shape=(100,), dtype=np.dtype(("<f8", (2,))), chunks=(10,))
        arraytype[:] = np.arange(200.0).reshape(100, 2)
        f.create_dataset("tiny", data=np.arange(40, dtype="u1"), chunks=(4,))  # 40 bytes: inlined
    path = make_h5(build)
    with lindi.LindiH5ZarrStore.from_file(path, opts=lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=2)) as store:
        rfs = store.to_reference_file_system()
        assert "_EXTERNAL_ARRAY_LINK" not in json.dumps(rfs)
        client = lindi.LindiH5pyFile.from_zarr_store(store)
        with h5py.File(path, "r") as expected:
            assert walk_differences(expected, client) == []
        client.close()


@pytest.mark.parametrize("max_chunk", [10_000, None])
def test_contiguous_dataset_max_chunk_size(h5_path, max_chunk):
    opts = lindi.LindiH5ZarrStoreOpts(contiguous_dataset_max_chunk_size=max_chunk)
    with lindi.LindiH5ZarrStore.from_file(h5_path, opts=opts) as store:
        zarray = json.loads(store["contiguous/.zarray"])
        if max_chunk is None:
            assert zarray["chunks"] == [200, 100]
        else:
            assert 8 * math.prod(zarray["chunks"]) <= max_chunk
            assert zarray["chunks"] != [200, 100]
        client = lindi.LindiH5pyFile.from_zarr_store(store)
        with h5py.File(h5_path, "r") as expected:
            assert np.array_equal(client["contiguous"][:], expected["contiguous"][:])
            assert np.array_equal(client["contiguous"][77:151, 3:9], expected["contiguous"][77:151, 3:9])
        client.close()


@pytest.mark.parametrize("threshold", [None, 4])
def test_write_reference_file_system(h5_path, tmp_path, threshold):
    out = tmp_path / "x.lindi.json"
    opts = lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=threshold)
    with lindi.LindiH5ZarrStore.from_file(h5_path, opts=opts) as store:
        with pytest.raises(ValueError, match=".lindi.json"):
            store.write_reference_file_system(str(tmp_path / "x.json"))
        store.write_reference_file_system(str(out))
    validate_file(out)
    assert ("_EXTERNAL_ARRAY_LINK" in out.read_text()) == (threshold is not None)
    client = lindi.LindiH5pyFile.from_lindi_file(str(out))
    with h5py.File(h5_path, "r") as expected:
        assert walk_differences(expected, client) == []
    client.close()


def test_local_cache_refused_for_a_local_file(h5_path, tmp_path):
    with pytest.raises(ValueError, match="local_cache"):
        lindi.LindiH5ZarrStore.from_file(h5_path, local_cache=lindi.LocalCache(cache_dir=tmp_path / "cache"))


def test_remote_file_and_url_keyword(h5_path, serve, tmp_path):
    """A store over a URL (through a LocalCache), and a local copy translated with ``url=`` the
    URL its references should name, both read the served file as h5py reads the local one."""
    server = serve(tmp_path)
    url = server.url_for("data.h5")
    cache = lindi.LocalCache(cache_dir=tmp_path / "cache")
    with lindi.LindiH5ZarrStore.from_file(url, local_cache=cache) as store:
        rfs = store.to_reference_file_system()
        client = lindi.LindiH5pyFile.from_zarr_store(store, local_cache=cache)
        with h5py.File(h5_path, "r") as expected:
            assert walk_differences(expected, client) == []
        client.close()
    assert jsonio.from_json_dict(rfs).used_urls() == [url]
    with lindi.LindiH5ZarrStore.from_file(h5_path, url=url) as store:
        local_rfs = store.to_reference_file_system()
    assert jsonio.from_json_dict(local_rfs).used_urls() == [url]
    client = lindi.LindiH5pyFile.from_reference_file_system(local_rfs)
    server.stats.reset()
    with h5py.File(h5_path, "r") as expected:
        assert np.array_equal(client["gz"][:], expected["gz"][:])
    assert server.stats.requests > 0  # the chunks came from the URL named
    client.close()


def test_threshold_over_a_url(h5_path, serve, tmp_path):
    """Linked datasets of a file at a URL read through that file's chunk index, fetched remotely."""
    url = serve(tmp_path).url_for("data.h5")
    opts = lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=4)
    with lindi.LindiH5ZarrStore.from_file(url, opts=opts) as store:
        assert json.loads(store["gz/.zattrs"])["_EXTERNAL_ARRAY_LINK"]["url"] == url
        client = lindi.LindiH5pyFile.from_zarr_store(store)
        with h5py.File(h5_path, "r") as expected:
            assert walk_differences(expected, client) == []
        client.close()
