"""``LindiH5pyDataset.to_dask`` (issue 15): chunk-aligned dask arrays holding what h5py reads,
computed locally and on a 2-process ``distributed.LocalCluster`` over HTTP with a shared cache."""

from __future__ import annotations

import pickle
import time

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.io.cache import LocalCache

dask = pytest.importorskip("dask")
dask_array = pytest.importorskip("dask.array")

GRID = np.arange(30 * 23, dtype=">i4").reshape(30, 23) * 3 - 7


def _build(f: h5py.File) -> None:
    f.create_dataset("grid", data=GRID, chunks=(7, 5), compression="gzip")
    f.create_dataset("contiguous", data=np.linspace(0, 1, 1000))
    f.create_dataset("scalar", data=2.5)
    f.create_dataset("elements", shape=(8,), dtype=np.dtype(("<f4", (3,))), chunks=(3,))
    f["elements"][...] = np.arange(24, dtype="<f4").reshape(8, 3)
    f.create_dataset("names", data=["alpha", "βeta", "gamma", ""], dtype=h5py.string_dtype(), chunks=(3,))
    f.create_dataset("fixed", data=np.array([b"ab", b"cde", b""], dtype="S3"))
    f.create_dataset("rows", data=np.array([(1, 2.5), (3, -1.0), (5, 0.0)], dtype=[("a", "<i2"), ("b", "<f8")]))
    f.create_dataset("ragged", data=np.array([np.arange(3), np.arange(1), np.arange(0)], dtype=object),
                     dtype=h5py.vlen_dtype("i8"))
    f.create_dataset("empty", shape=(0, 4), maxshape=(None, 4), dtype="u2", chunks=(2, 2))
    f.create_dataset("null", data=h5py.Empty("f4"))


SIGNAL = np.random.default_rng(15).normal(size=(400, 300))


def _build_signal(f: h5py.File) -> None:
    f.create_dataset("signal", data=SIGNAL, chunks=(40, 50), compression="gzip", shuffle=True)


@pytest.fixture
def h5_and_file(make_h5, tmp_path):
    h5 = make_h5(_build, name="arrays.h5")
    lindi = str(tmp_path / "arrays.lindi.json")
    lindi_core.translate_to_file(h5, lindi, progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f:
        yield h5, f


def _boundaries(chunks: tuple[int, ...]) -> list[int]:
    return np.cumsum((0, *chunks)).tolist()


def test_blocks_are_the_datasets_chunks_or_whole_runs_of_them(h5_and_file):
    _h5, f = h5_and_file
    grid = f["grid"]
    assert grid.to_dask().chunks == ((7, 7, 7, 7, 2), (5, 5, 5, 5, 3))
    for requested in [(20, 12), 16, (-1, 9), {0: 3}, "auto", ((10, 10, 10), (4, 19))]:
        x = grid.to_dask(chunks=requested)
        for axis, chunk, extent in [(0, 7, 30), (1, 5, 23)]:
            edges = _boundaries(x.chunks[axis])
            assert edges[0] == 0 and edges[-1] == extent, requested
            assert all(edge % chunk == 0 for edge in edges[:-1]), (requested, x.chunks)
        np.testing.assert_array_equal(x.compute(scheduler="sync"), GRID)
    assert grid.to_dask(chunks=(20, 12)).chunks == ((21, 9), (10, 13))
    assert grid.to_dask(chunks=(-1, None)).chunks == ((30,), (23,))
    assert grid.to_dask(chunks=1).chunks == grid.to_dask().chunks  # never less than a chunk
    # Contiguous data is read in the virtual chunks the translation cut it into.
    contiguous = f["contiguous"]
    assert contiguous.chunks is None
    virtual = contiguous.zarr_array.chunks[0]
    assert contiguous.to_dask().chunks == (tuple(np.diff(list(range(0, 1000, virtual)) + [1000]).tolist()),)


@pytest.mark.parametrize("name", ["grid", "contiguous", "scalar", "elements", "names", "fixed", "rows", "ragged",
                                  "empty"])
def test_values_shape_and_type_are_those_h5py_reads(h5_and_file, name):
    h5, f = h5_and_file
    with h5py.File(h5, "r") as original:
        expected = np.asarray(original[name][()])
    x = f[name].to_dask()
    assert x.shape == expected.shape and x.dtype == expected.dtype, (x, expected.dtype)
    got = x.compute(scheduler="threads")
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if expected.dtype == object and name == "ragged":
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(got, expected)


def test_reductions_and_selections_of_the_dask_array(h5_and_file):
    h5, f = h5_and_file
    with h5py.File(h5, "r") as original:
        elements = original["elements"][()]
    x = f["grid"].to_dask(chunks=(14, 10))
    total, columns, picked = dask.compute(x.sum(), x.max(axis=0), x[3:25:2, 4], scheduler="threads")
    assert total == GRID.astype(np.int64).sum()
    np.testing.assert_array_equal(columns, GRID.max(axis=0))
    np.testing.assert_array_equal(picked, GRID[3:25:2, 4])
    e = f["elements"].to_dask(chunks=6)
    assert e.chunks == ((6, 2), (3,))  # the element axis is one block
    np.testing.assert_allclose(e.mean(axis=0).compute(scheduler="sync"), elements.mean(axis=0))


def test_null_dataspaces_and_closed_files_are_refused(h5_and_file):
    _h5, f = h5_and_file
    with pytest.raises(TypeError, match="null dataspace"):
        f["null"].to_dask()
    grid = f["grid"]
    f.close()
    with pytest.raises(ValueError):
        grid.to_dask()


def test_the_array_names_the_file_once_not_once_per_block(h5_and_file):
    _h5, f = h5_and_file
    x = f["grid"].to_dask()
    graph = dict(x.__dask_graph__())
    assert len(graph) == 2 + x.npartitions  # the blocks, one key holding the dataset, one the file
    store_size = len(pickle.dumps(f._store))
    assert len(pickle.dumps(graph)) < store_size + 200 * x.npartitions
    # Same dataset, same chunks: same name (dask merges them); other chunks, another array.
    assert f["grid"].to_dask().name == x.name
    assert f["grid"].to_dask(chunks=14).name != x.name


def _many_datasets(f: h5py.File) -> None:
    for i in range(60):
        f.create_dataset(f"d{i:02d}", data=np.arange(400.0) * (i + 1), chunks=(8,))


def test_a_graph_of_many_datasets_carries_the_file_in_one_task(make_h5, tmp_path, monkeypatch):
    """distributed pickles each task with its arguments: only the file's own key may hold the
    reference file system, so that a graph over many datasets sends it once, not once per
    dataset (nor per block)."""
    h5 = make_h5(_many_datasets, name="many.h5")
    lindi = str(tmp_path / "many.lindi.json")
    lindi_core.translate_to_file(h5, lindi, progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f:
        store_size = len(pickle.dumps(f._store))
        x = dask_array.stack([f[f"d{i:02d}"].to_dask() for i in range(0, 60, 2)])
        graph = dict(x.__dask_graph__())
        sizes = sorted(len(pickle.dumps(task)) for task in graph.values())
        assert sizes[-1] >= store_size  # the file's key
        assert sizes[-2] < 1000  # every other: a dataset's path, a block's slice
        assert sum(sizes) < 1.1 * store_size + 1000 * len(graph)
        # Sent and computed elsewhere: one copy of the file, the values h5py reads.
        from lindi_core.store.reference_store import ReferenceStore

        unpickled = []
        original = ReferenceStore.__setstate__ if hasattr(ReferenceStore, "__setstate__") else None

        def counted(self, state):
            unpickled.append(1)
            if original is not None:
                original(self, state)
            else:
                self.__dict__.update(state)

        monkeypatch.setattr(ReferenceStore, "__setstate__", counted, raising=False)
        elsewhere = pickle.loads(pickle.dumps(graph))
        from dask.array.core import concatenate3

        values = concatenate3(dask.get(elsewhere, x.__dask_keys__()))
    assert len(unpickled) == 1
    with h5py.File(h5, "r") as truth:
        np.testing.assert_array_equal(values, np.stack([truth[f"d{i:02d}"][()] for i in range(0, 60, 2)]))


def test_a_block_read_ends_with_its_chunks_in_the_local_cache(make_h5, serve, tmp_path, monkeypatch):
    """A worker may be stopped right after its task, and other workers look in the shared cache
    folder for what it read: the task returns once its chunks are there, however slow the disk."""
    make_h5(_build_signal, name="remote.h5")
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("remote.h5"), str(tmp_path / "remote.lindi.json"), progress=False)
    put = LocalCache._put

    def slow_put(self, url, start, data):
        time.sleep(0.05)
        put(self, url, start, data)

    monkeypatch.setattr(LocalCache, "_put", slow_put)
    cache_dir = tmp_path / "cache"
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("remote.lindi.json"),
                                                  local_cache=LocalCache(cache_dir)) as f:
        x = f["signal"].to_dask(chunks=(80, -1))
        np.testing.assert_array_equal(x.blocks[1].compute(scheduler="sync"), SIGNAL[80:160])
        assert LocalCache(cache_dir).info().entries == 2 * 6  # rows 80-159: two rows of 6 chunks


# -- on a distributed cluster of two worker processes -----------------------------------------

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def _count_store_pickling() -> None:
    """Counts, in this process, how often a ReferenceStore is pickled and unpickled."""
    from lindi_core.store.reference_store import ReferenceStore

    if getattr(ReferenceStore, "_counted", None) is not None:
        return
    counts = ReferenceStore._counted = {"dumps": 0, "loads": 0}
    getstate = ReferenceStore.__getstate__

    def counted_getstate(self):
        counts["dumps"] += 1
        return getstate(self)

    def counted_setstate(self, state):
        counts["loads"] += 1
        self.__dict__.update(state)

    ReferenceStore.__getstate__ = counted_getstate
    ReferenceStore.__setstate__ = counted_setstate


def _store_pickling_counts() -> dict[str, int]:
    from lindi_core.store.reference_store import ReferenceStore

    counts = dict(ReferenceStore._counted)
    ReferenceStore._counted.update(dumps=0, loads=0)
    return counts


@pytest.mark.slow
def test_a_cluster_reduces_a_remote_dataset_and_then_reads_only_the_shared_cache(client, make_h5, serve, tmp_path):
    h5 = make_h5(_build_signal, name="remote.h5")
    with h5py.File(h5, "r") as original:
        expected = original["signal"][()]
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("remote.h5"), str(tmp_path / "remote.lindi.json"), progress=False)
    cache_dir = tmp_path / "cache"
    chunks = (400 // 40) * (300 // 50)

    client.run(_count_store_pickling)
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("remote.lindi.json"),
                                                  local_cache=LocalCache(cache_dir)) as f:
        x = f["signal"].to_dask(chunks=(80, 100))
        assert x.npartitions == 15
        server.stats.reset()
        total, column_means, row_max = client.compute([x.sum(), x.mean(axis=0), x.max(axis=1)], sync=True)
        assert server.stats.requests > 0 and "/remote.h5" in server.stats.paths
        assert not f._store._recent  # the client read nothing: the workers did
    np.testing.assert_allclose(total, expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(column_means, expected.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(row_max, expected.max(axis=1))
    unpickled = [counts["loads"] for counts in client.run(_store_pickling_counts).values()]
    # The workers unpickled the store about once each for the whole graph (a worker may get it
    # again when the scheduler moves work), not once per task (15 tasks, 3 reductions).
    assert 1 <= sum(unpickled) <= 4, unpickled
    assert LocalCache(cache_dir).info().entries == chunks

    # Another file over the same references, on the same workers: every chunk from the cache.
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("remote.lindi.json"),
                                                  local_cache=LocalCache(cache_dir)) as f:
        x = f["signal"].to_dask()
        server.stats.reset()
        again = client.compute(x.std(), sync=True)
    assert server.stats.requests == 0
    np.testing.assert_allclose(again, expected.std(), rtol=1e-12)


def _sum_rows(dataset) -> float:
    return float(dataset[10:20].sum())


@pytest.mark.slow
def test_datasets_handed_to_dask_directly_travel_between_workers_pickled(client, make_h5, tmp_path):
    """distributed would send a dataset to another worker as its file name, to reopen with h5py
    (a reference file, which h5py cannot open); it is pickled instead."""
    distributed = pytest.importorskip("distributed")
    h5 = make_h5(_build_signal, name="local.h5")
    lindi = str(tmp_path / "local.lindi.json")
    lindi_core.translate_to_file(h5, lindi, progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f:
        x = dask_array.from_array(f["signal"], chunks=(40, 300))  # the dataset one key, as to_dask
        futures = client.compute([x.sum(), x[:5]]) + [client.submit(_sum_rows, f["signal"], pure=False)]
        distributed.wait(futures, timeout=60)  # only a safety net: distributed retries failing transfers
        total, head, on_worker = client.gather(futures)
    np.testing.assert_allclose(total, SIGNAL.sum(), rtol=1e-12)
    np.testing.assert_array_equal(head, SIGNAL[:5])
    assert on_worker == pytest.approx(SIGNAL[10:20].sum(), rel=1e-12)
