"""Pickling files open for reading, their groups, datasets and zarr arrays (issue 15).

An unpickled copy is a file of its own: it reads the same references with the same trust,
timeout and local cache (shared through its folder), opening its connections when it first
reads. Files open for writing refuse, as a copy elsewhere could not keep their edits.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import NotPicklableError
from lindi_core.io.cache import LocalCache
from lindi_core.write.staging import StagingArea

VALUES = {
    "g/chunked": np.arange(20_000, dtype="<f8").reshape(200, 100) / 7,
    "contiguous": np.arange(3000, dtype=">i4"),
    "g/h/small": np.array([1, 2, 3], dtype="u1"),
}


def _build(f: h5py.File) -> None:
    f.create_dataset("g/chunked", data=VALUES["g/chunked"], chunks=(50, 25), compression="gzip", shuffle=True)
    f.create_dataset("contiguous", data=VALUES["contiguous"])
    f.create_dataset("g/h/small", data=VALUES["g/h/small"])
    f.create_dataset("names", data=[b"alpha", b"beta", b"gamma"], dtype=h5py.string_dtype("ascii"))
    f.create_dataset("scalar", data=3.5)
    f["g"].attrs["unit"] = "volts"


def _as_h5py_reads(path: str) -> dict[str, object]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same_values(f, expected: dict[str, object]) -> None:
    for name, value in expected.items():
        got = f[name][()]
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype, name
        np.testing.assert_array_equal(got, value, err_msg=name)


@pytest.fixture
def h5_and_lindi(make_h5, tmp_path) -> tuple[str, str]:
    h5 = make_h5(_build, name="pickled.h5")
    lindi = str(tmp_path / "pickled.lindi.json")
    lindi_core.translate_to_file(h5, lindi, progress=False)
    return h5, lindi


def _open(kind: str, h5: str, lindi: str) -> lindi_core.LindiH5pyFile:
    if kind == "hdf5":
        return lindi_core.LindiH5pyFile.from_hdf5_file(h5)
    if kind == "tar":
        tar = lindi.replace(".json", ".tar")
        with lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f:
            f.write_lindi_file(tar)
        return lindi_core.LindiH5pyFile.from_lindi_file(tar)
    return lindi_core.LindiH5pyFile.from_lindi_file(lindi)


@pytest.mark.parametrize("kind", ["hdf5", "json", "tar"])
def test_files_groups_datasets_and_zarr_arrays_round_trip(h5_and_lindi, kind):
    h5, lindi = h5_and_lindi
    expected = _as_h5py_reads(h5)
    with _open(kind, h5, lindi) as f:
        copy = pickle.loads(pickle.dumps(f))
        assert copy is not f and copy.filename == f.filename and copy.mode == "r"
        _assert_same_values(copy, expected)
        assert copy["g"].attrs["unit"] == "volts"

        group = pickle.loads(pickle.dumps(f["g"]))
        assert group.name == "/g" and sorted(group) == ["chunked", "h"]
        np.testing.assert_array_equal(group["h/small"][()], expected["g/h/small"])

        dataset = pickle.loads(pickle.dumps(f["g/chunked"]))
        assert dataset.name == "/g/chunked" and dataset.file is not f
        np.testing.assert_array_equal(dataset[10:120, 3:77], expected["g/chunked"][10:120, 3:77])

        array = pickle.loads(pickle.dumps(f["g/chunked"].zarr_array))
        np.testing.assert_array_equal(array[:], expected["g/chunked"])

        # Pickled together, objects keep sharing one file.
        a, b = pickle.loads(pickle.dumps((f["contiguous"], f["g/h"])))
        assert a.file is b.file
        copy.close()


def test_files_open_for_writing_refuse_to_pickle(h5_and_lindi, tmp_path):
    _h5, lindi = h5_and_lindi
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi, "r+") as f:
        for obj in (f, f["g"], f["g/chunked"], f["g/chunked"].zarr_array, f._store):
            with pytest.raises(NotPicklableError, match="pickled.lindi.json"):
                pickle.dumps(obj)
    staged = lindi_core.LindiH5pyFile.from_lindi_file(lindi, "r+", staging_area=StagingArea(tmp_path / "staging"))
    with staged:
        with pytest.raises(NotPicklableError, match="open for writing"):
            pickle.dumps(staged["contiguous"])
        staged.close()
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(staged)


def test_a_copy_keeps_the_options_and_reopens_connections_lazily(make_h5, serve, tmp_path):
    make_h5(_build, name="served.h5")
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("served.h5"), str(tmp_path / "served.lindi.json"), progress=False)
    cache = LocalCache(tmp_path / "cache")
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("served.lindi.json"), local_cache=cache,
                                                  timeout=7.5) as f:
        assert f["g/chunked"][0, 0] == 0  # the original has a session open
        store = f._store
        copy = pickle.loads(pickle.dumps(f["g/chunked"]))
        copied = copy.file._store
        assert copied == store and copied is not store
        assert copied.policy == store.policy and copied.policy.allow_local is False  # trust as decided
        assert copied.sources.http.timeout == 7.5
        assert copied.sources.cache is not cache and copied.sources.cache.cache_dir == cache.cache_dir
        assert copied.sources.http._per_loop == {}  # no session until it reads
        np.testing.assert_array_equal(copy[:], VALUES["g/chunked"])
        assert copied.sources.http._per_loop  # and one once it did


def _read_in_child(pickled: bytes) -> tuple[list[np.ndarray], str | None, float, int]:
    """What an unpickled dataset reads in another process, and the settings it came with."""
    dataset, array = pickle.loads(pickled)
    store = dataset.file._store
    cache = store.sources.cache
    values = [dataset[()], dataset[5:60:3, ::7], array[40:90]]
    dataset.file.close()  # waits until what it read is in the cache
    return values, cache.cache_dir if cache else None, store.sources.http.timeout, os.getpid()


@pytest.mark.slow
def test_a_spawned_process_reads_an_unpickled_dataset_over_http_and_from_the_shared_cache(make_h5, serve, tmp_path):
    h5 = make_h5(_build, name="served.h5")
    expected = _as_h5py_reads(h5)["g/chunked"]
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("served.h5"), str(tmp_path / "served.lindi.json"), progress=False)
    cache_dir = str(tmp_path / "cache")
    context = multiprocessing.get_context("spawn")
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("served.lindi.json"), timeout=9.0) as f:
        uncached = pickle.dumps((f["g/chunked"], f["g/chunked"].zarr_array))
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("served.lindi.json"),
                                                  local_cache=LocalCache(cache_dir)) as f:
        cached = pickle.dumps((f["g/chunked"], f["g/chunked"].zarr_array))
    with context.Pool(1) as pool:
        server.stats.reset()
        values, child_cache, timeout, pid = pool.apply(_read_in_child, (uncached,))
        assert pid != os.getpid() and child_cache is None and timeout == 9.0
        assert server.stats.requests > 0  # read over HTTP, by connections the child opened
        for got, want in zip(values, [expected, expected[5:60:3, ::7], expected[40:90]]):
            np.testing.assert_array_equal(got, want)

        pool.apply(_read_in_child, (cached,))  # fills the cache folder
        server.stop()  # from now on, only the cache has the bytes
        values, child_cache, _timeout, _pid = pool.apply(_read_in_child, (cached,))
        assert child_cache == os.path.abspath(cache_dir)
        np.testing.assert_array_equal(values[0], expected)
    assert LocalCache(cache_dir).info().entries > 0


@pytest.mark.slow
def test_dask_processes_scheduler_reduces_facade_and_zarr_arrays(h5_and_lindi, serve, tmp_path):
    dask_array = pytest.importorskip("dask.array")
    h5, _lindi = h5_and_lindi
    expected = _as_h5py_reads(h5)["g/chunked"]
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("pickled.h5"), str(tmp_path / "served.lindi.json"), progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("served.lindi.json")) as f:
        dataset = f["g/chunked"]
        from_facade = dask_array.from_array(dataset, chunks=(50, 50))
        from_zarr = dask_array.from_zarr(dataset.zarr_array)
        total, column_means = from_facade.sum(), from_zarr.mean(axis=0)
        got_total, got_means = dask_array.compute(total, column_means, scheduler="processes", num_workers=2)
    np.testing.assert_allclose(got_total, expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(got_means, expected.mean(axis=0), rtol=1e-12)
