"""LINDI 0.4's ``LocalCache`` methods, ``ChunkTooLargeError``, ``LindiRemfile`` and
``add_additional_url_resolver`` through ``import lindi_core as lindi``, against a loopback
server, values compared to h5py reading the same local file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core as lindi
from lindi_core.io.resolvers import unregister_resolver
from tests.h5walk import walk_differences


def _build(f: h5py.File) -> None:
    rng = np.random.default_rng(2)
    for i in range(30):  # metadata spread over the file
        group = f.create_group(f"g{i:02d}")
        group.attrs["i"] = i
        group.create_dataset("values", data=rng.standard_normal(300), chunks=(50,), compression="gzip")
    f.create_dataset("big", data=rng.standard_normal((400, 100)))


@pytest.fixture
def h5_path(make_h5) -> str:
    return make_h5(_build)


def test_put_and_get_remote_chunk(tmp_path):
    cache = lindi.LocalCache(cache_dir=str(tmp_path / "local_cache"))
    data = bytes(range(256)) * 40
    cache.put_remote_chunk(url="dummy", offset=100, size=len(data), data=data)
    assert cache.get_remote_chunk(url="dummy", offset=100, size=len(data)) == data
    assert cache.get_remote_chunk(url="dummy", offset=0, size=len(data)) is None
    assert cache.get_remote_chunk(url="other", offset=100, size=len(data)) is None
    with pytest.raises(ValueError, match="size"):
        cache.put_remote_chunk(url="dummy", offset=0, size=5, data=b"1234")


def test_chunk_too_large(tmp_path):
    cache = lindi.LocalCache(cache_dir=str(tmp_path / "local_cache"))
    # 900 MB of zeros that are never touched (calloc'd): refused before anything is copied
    too_large = memoryview(np.zeros(1000 * 1000 * 900, dtype=np.uint8))
    with pytest.raises(lindi.ChunkTooLargeError):
        cache.put_remote_chunk(url="dummy", offset=0, size=len(too_large), data=too_large)
    small = lindi.LocalCache(cache_dir=str(tmp_path / "small"), max_size=1000)
    with pytest.raises(lindi.ChunkTooLargeError, match="max_size"):
        small.put_remote_chunk(url="dummy", offset=0, size=1001, data=b"x" * 1001)
    small.put_remote_chunk(url="dummy", offset=0, size=1000, data=b"x" * 1000)
    assert small.get_remote_chunk(url="dummy", offset=0, size=1000) == b"x" * 1000
    assert issubclass(lindi.ChunkTooLargeError, lindi.errors.LindiError)


def test_lindi_remfile_opens_with_h5py(h5_path, serve, tmp_path):
    url = serve(tmp_path).url_for("data.h5")
    remote = lindi.LindiRemfile(url, local_cache=None)
    with h5py.File(h5_path, "r") as expected, h5py.File(remote, "r") as got:
        assert remote.length == len(open(h5_path, "rb").read())
        assert walk_differences(expected, got) == []
    remote.close()


def test_lindi_remfile_reads_through_the_local_cache(h5_path, serve, tmp_path):
    server = serve(tmp_path)
    url = server.url_for("data.h5")
    cache = lindi.LocalCache(cache_dir=str(tmp_path / "cache"))

    def read_all() -> tuple[list, np.ndarray]:
        remote = lindi.LindiRemfile(url, local_cache=cache)
        with h5py.File(remote, "r") as f:
            values = [f[f"g{i:02d}/values"][:] for i in range(30)]
            big = f["big"][100:300, 7]
        remote.close()
        return values, big

    server.stats.reset()
    first_values, first_big = read_all()
    first_requests = server.stats.requests
    server.stats.reset()
    second_values, second_big = read_all()
    assert first_requests > 3
    assert server.stats.requests == 1  # only the size, which the cache does not keep
    with h5py.File(h5_path, "r") as expected:
        for i, values in enumerate(second_values):
            assert np.array_equal(values, expected[f"g{i:02d}/values"][:])
            assert np.array_equal(first_values[i], values)
        assert np.array_equal(second_big, expected["big"][100:300, 7])
        assert np.array_equal(first_big, second_big)


def test_lindi_remfile_refuses_what_is_not_a_url():
    with pytest.raises(TypeError):
        lindi.LindiRemfile(b"http://x", local_cache=None)
    with pytest.raises(ValueError):
        lindi.LindiRemfile("/local/file.h5", local_cache=None)


def test_additional_url_resolver(h5_path, serve, tmp_path):
    server = serve(tmp_path)
    real = server.url_for("data.h5")
    alias = server.url_for("renamed/by/resolver.h5")  # the server has nothing there
    seen = []

    def resolver(url: str) -> str:
        seen.append(url)
        return real if url == alias else url

    registered = lindi.add_additional_url_resolver(resolver)
    try:
        remote = lindi.LindiRemfile(alias, local_cache=None)
        with h5py.File(h5_path, "r") as expected, h5py.File(remote, "r") as got:
            assert walk_differences(expected, got) == []
        remote.close()
        with lindi.LindiH5pyFile.from_hdf5_file(alias) as client, h5py.File(h5_path, "r") as expected:
            assert walk_differences(expected, client) == []
            assert client["g05/values"][:].tolist() == expected["g05/values"][:].tolist()
    finally:
        unregister_resolver(registered)
    assert alias in seen
    assert all("renamed" not in path for path in server.stats.paths)
