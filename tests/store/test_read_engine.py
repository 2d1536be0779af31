"""The read engine's boxes (chunks fetched together, decoded in threads as they arrive, written
straight into the result) against h5py reading the same file."""

from __future__ import annotations

import itertools

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import ChunkDecodeError
from lindi_core.store import read_engine
from lindi_core.testing.range_server import ServerFaults


def _walk(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(-20, 20, size=shape), axis=0).astype(dtype)


LAYOUTS = {
    "gzip+shuffle i2": dict(shape=(1000, 13), dtype="<i2", chunks=(97, 5), compression="gzip", shuffle=True),
    "gzip f8": dict(shape=(300, 7, 5), dtype="<f8", chunks=(32, 3, 5), compression="gzip", compression_opts=9),
    "plain u4": dict(shape=(777,), dtype="<u4", chunks=(50,)),
    "shuffle only i8": dict(shape=(60, 60), dtype="<i8", chunks=(16, 16), shuffle=True),
    "lzf i4": dict(shape=(200, 30), dtype="<i4", chunks=(64, 8), compression="lzf"),
    "fletcher32 f4": dict(shape=(500,), dtype="<f4", chunks=(64,), fletcher32=True),
    "big-endian gzip+shuffle": dict(shape=(400, 9), dtype=">i4", chunks=(33, 4), compression="gzip", shuffle=True),
    "contiguous i2": dict(shape=(5000, 3), dtype="<i2"),
}

SELECTIONS = [
    (slice(None),), (slice(3, 17),), (0,), (-1,), (slice(None, None, 7),), (slice(5, None, 31),),
    (slice(10, 11),), (slice(40, 40),), (Ellipsis, 1), (slice(1, -1, 2), Ellipsis),
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("direct") / "layouts.h5"
    with h5py.File(path, "w") as f:
        for index, (name, spec) in enumerate(LAYOUTS.items()):
            spec = dict(spec)
            f.create_dataset(name, data=_walk(spec.pop("shape"), spec.pop("dtype"), index), **spec)
        # Unwritten chunks hold the fill value; only a few are written.
        sparse = f.create_dataset("sparse", shape=(100, 100), dtype="<f4", chunks=(10, 10), fillvalue=-2.5,
                                  compression="gzip")
        sparse[10:30, 40:60] = 7.0
        nan_filled = f.create_dataset("nan filled", shape=(50,), dtype="<f8", chunks=(8,), fillvalue=np.nan)
        nan_filled[9:12] = 1.0
    return path


def _selections_for(shape):
    for selection in SELECTIONS:
        try:
            np.empty(shape)[selection]
        except IndexError:
            continue
        yield selection
    yield tuple(slice(1, None, 3) for _ in shape)
    yield tuple(0 for _ in shape)


@pytest.mark.parametrize("name", list(LAYOUTS) + ["sparse", "nan filled"])
def test_reads_match_h5py(sample, name):
    with h5py.File(sample) as truth, lindi_core.LindiH5pyFile.from_hdf5_file(str(sample)) as f:
        expected_ds, ds = truth[name], f[name]
        for selection in _selections_for(expected_ds.shape):
            expected = expected_ds[selection]
            got = ds[selection]
            assert type(got) is type(expected), selection
            np.testing.assert_array_equal(got, expected, err_msg=str(selection))
            assert np.asarray(got).dtype == np.asarray(expected).dtype


def test_the_box_planner_agrees_with_numpy():
    rng = np.random.default_rng(5)
    for _ in range(300):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(n) for n in rng.integers(1, 30, size=ndim))
        chunks = tuple(int(rng.integers(1, n + 3)) for n in shape)
        axes = tuple(slice(int(rng.integers(0, n + 1)), int(rng.integers(0, n + 2)), int(rng.integers(1, 6)))
                     for n in shape)
        values = rng.integers(0, 1000, size=shape)
        out_shape, parts = read_engine.plan("a", shape, chunks, axes)
        expected = values[axes]
        assert out_shape == expected.shape
        out = np.full(out_shape, -1)
        keys = set()
        for part in parts:
            index = tuple(int(c) for c in part.key.split("/")[1].split("."))
            chunk = values[tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunks))]
            out[part.into] = chunk[part.within]
            assert part.key not in keys
            keys.add(part.key)
        np.testing.assert_array_equal(out, expected)
        # Every chunk listed holds at least one selected element.
        assert all(np.empty(out_shape)[p.into].size for p in parts)


def test_a_block_over_http_is_one_request_and_survives_faults(tmp_path, serve):
    data = _walk((40_000, 16), "<i2")
    with h5py.File(tmp_path / "ephys.h5", "w") as f:
        f.create_dataset("ephys", data=data, chunks=(1000, 16), compression="gzip", shuffle=True)
    clean = serve(tmp_path)
    lindi_core.translate_to_file(clean.url_for("ephys.h5"), tmp_path / "ephys.lindi.json", progress=False)
    rfs = lindi_core.load_reference_file(tmp_path / "ephys.lindi.json")
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        clean.stats.reset()
        np.testing.assert_array_equal(f["ephys"][2500:31_000], data[2500:31_000])
        assert clean.stats.requests == 1
    for faults in [ServerFaults(reset_rate=0.5, seed=3), ServerFaults(truncate_rate=0.5, seed=4),
                   ServerFaults(error_rate=0.3, seed=5), ServerFaults(ignore_range=True)]:
        flaky = serve(tmp_path, faults=faults, latency=0.002)
        rfs.urls[:] = [flaky.url_for("ephys.h5")]
        for start, stop, step in itertools.product([0, 777], [20_000, 40_000], [1, 999]):
            with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
                np.testing.assert_array_equal(f["ephys"][start:stop:step], data[start:stop:step], err_msg=str(faults))


def test_a_corrupt_chunk_is_named_in_the_error(tmp_path):
    data = _walk((40_000,), "<i4")
    path = tmp_path / "corrupt.h5"
    with h5py.File(path, "w") as f:  # chunks large enough to be referenced, not inlined
        f.create_dataset("x", data=data, chunks=(10_000,), compression="gzip")
    rfs = lindi_core.translate(str(path), progress=False)
    ref = rfs.get("x/2")
    with open(path, "r+b") as f:  # overwrite the middle of chunk 2's deflate stream
        f.seek(ref.offset + ref.length // 2)
        f.write(bytes(16))
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as lf:
        np.testing.assert_array_equal(lf["x"][:20_000], data[:20_000])
        with pytest.raises(ChunkDecodeError, match="x/2"):
            lf["x"][15_000:25_000]


def test_edits_to_a_new_dataset_are_read_back(tmp_path):
    values = _walk((300, 4), "<f8", 9)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "new.lindi.json", mode="w") as f:
        ds = f.create_dataset("new", data=values, chunks=(64, 4), maxshape=(None, 4), compression="gzip",
                               shuffle=True)
        np.testing.assert_array_equal(ds[10:200:3], values[10:200:3])
        ds[100:130] = -1.0
        values[100:130] = -1.0
        np.testing.assert_array_equal(ds[:], values)
        ds.resize((400, 4))
        expected = np.concatenate([values, np.zeros((100, 4))])
        np.testing.assert_array_equal(ds[250:], expected[250:])


def test_a_block_through_an_empty_cache_is_one_request_and_then_none(tmp_path, serve):
    data = _walk((30_000, 8), "<i4", 4)
    with h5py.File(tmp_path / "cached.h5", "w") as f:
        f.create_dataset("x", data=data, chunks=(1000, 8), compression="gzip", shuffle=True)
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("cached.h5"), progress=False)
    server.stats.reset()
    with lindi_core.LindiH5pyFile.from_reference_file_system(
            rfs, local_cache=lindi_core.LocalCache(tmp_path / "cache")) as f:
        np.testing.assert_array_equal(f["x"][1500:25_000:2], data[1500:25_000:2])
    assert server.stats.requests == 1  # the cache misses were merged as without a cache
    assert lindi_core.LocalCache(tmp_path / "cache").info().entries == 24  # all stored by close()
    server.stats.reset()
    with lindi_core.LindiH5pyFile.from_reference_file_system(
            rfs, local_cache=lindi_core.LocalCache(tmp_path / "cache")) as f:
        np.testing.assert_array_equal(f["x"][1500:25_000], data[1500:25_000])
    assert server.stats.requests == 0


def test_a_read_of_many_chunks_holds_at_most_two_windows_of_them_at_once():
    import asyncio

    values = np.arange(200 * 10, dtype="<i4").reshape(200, 10)
    chunks = (2, 10)  # 100 chunks
    held = 0  # fetched, not yet written into the result
    most_held = 0
    started_per_turn: list[int] = []  # fetches started in each event-loop turn that started any
    in_turn = False

    def end_turn() -> None:
        nonlocal in_turn
        in_turn = False

    async def fetch(key: str) -> bytes:
        nonlocal held, most_held, in_turn
        if not in_turn:
            in_turn = True
            started_per_turn.append(0)
            asyncio.get_running_loop().call_soon(end_turn)
        started_per_turn[-1] += 1
        await asyncio.sleep(0.001)
        row = int(key.split("/")[1].split(".")[0])
        held += 1
        most_held = max(most_held, held)
        return values[row * 2 : row * 2 + 2].tobytes()

    def decode(encoded, out=None, *, transient=False):
        nonlocal held
        held -= 1
        data = np.frombuffer(encoded, np.uint8)
        if out is None:
            return data.copy()
        out[...] = data
        return out

    async def read() -> np.ndarray:
        return await read_engine.read_box(fetch, decode, np.dtype("<i4"), values.shape, chunks,
                                          (slice(None), slice(None)), 0, "a", window_chunks=20)

    np.testing.assert_array_equal(asyncio.run(read()), values)
    assert most_held <= 40
    assert started_per_turn == [20] * 5  # each window's requests leave together (and merge)


def test_a_failed_chunk_stops_the_rest_of_the_read():
    import asyncio

    values = np.arange(200 * 10, dtype="<i4").reshape(200, 10)
    completed: list[str] = []

    async def fetch(key: str) -> bytes:
        row = int(key.split("/")[1].split(".")[0])
        if row == 3:
            raise OSError("the server went away")
        await asyncio.sleep(0.02)
        completed.append(key)
        return values[row * 2 : row * 2 + 2].tobytes()

    def decode(encoded, out=None, *, transient=False):
        data = np.frombuffer(encoded, np.uint8)
        if out is None:
            return data.copy()
        out[...] = data
        return out

    async def read_then_wait() -> int:
        with pytest.raises(OSError, match="went away"):
            await read_engine.read_box(fetch, decode, np.dtype("<i4"), values.shape, (2, 10),
                                       (slice(None), slice(None)), 0, "a", window_chunks=20)
        finished_at_failure = len(completed)
        await asyncio.sleep(0.1)  # what was cancelled stays cancelled
        return finished_at_failure

    finished_at_failure = asyncio.run(read_then_wait())
    assert finished_at_failure == len(completed) == 0
