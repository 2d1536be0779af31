"""zarr's road into a remote reference file costs the requests of the facade's road.

zarr asks its store for one chunk at a time (ten at once); lindi-core's codec pipeline asks the
ReferenceStore for all chunks of a selection together, so neighbouring ranges merge into as few
requests as the facade makes. Each read counts the loopback server's requests on a fresh store
(nothing remembered from an earlier read) and compares the values with h5py's.
"""

from __future__ import annotations

import math
import re

import dask
import dask.array as da
import h5py
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core import ChunkOptions
from lindi_core.errors import ByteSourceError, ChunkDecodeError
from lindi_core.store import bulk_reads, codec_pipeline

GRID = np.arange(120_000, dtype="<i4").reshape(400, 300) * 7 - 5
SMALL_CHUNKS = np.linspace(-1, 1, 8000)  # 1,000 chunks of 8 float64: 64 bytes each

SELECTIONS = [
    (Ellipsis,),
    (slice(13, 377, 3), slice(7, 250)),
    (5, slice(None)),
    (slice(None), 299),
    (slice(100, 101), slice(0, 300, 7)),
]


@pytest.fixture
def remote(tmp_path, serve):
    """(server, reference file system) of a served HDF5 file translated from its URL."""
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("chunked", data=GRID, chunks=(20, 15), compression="gzip", shuffle=True)
        f.create_dataset("contiguous", data=GRID)
        f.create_dataset("small_chunks", data=SMALL_CHUNKS, chunks=(8,))
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("data.h5"), options=ChunkOptions(contiguous_chunk_target=4096),
                               progress=False)
    return server, rfs


def _truth(tmp_path, name: str, selection: tuple) -> np.ndarray:
    with h5py.File(tmp_path / "data.h5", "r") as f:
        return f[name][selection]


def _counted(server, read) -> tuple[np.ndarray, int]:
    server.stats.reset()
    value = read()
    return np.asarray(value), server.stats.requests


def _through_facade(server, rfs, name, selection):
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        return _counted(server, lambda: f[name][selection])


def _through_zarr(server, rfs, name, selection):
    store = lindi_core.ReferenceStore(rfs)
    try:
        array = zarr.open_array(store, path=name, mode="r", zarr_format=2)
        return _counted(server, lambda: array[selection])
    finally:
        store.close()


def _through_dask(server, rfs, name, selection, blocks: int = 1):
    """dask's threaded scheduler over ``blocks`` dask chunks along the first axis."""
    store = lindi_core.ReferenceStore(rfs)
    try:
        array = zarr.open_array(store, path=name, mode="r", zarr_format=2)
        chunks = (math.ceil(array.shape[0] / blocks),) + array.shape[1:]
        lazy = da.from_zarr(array, chunks=chunks)[selection]
        with dask.config.set(scheduler="threads"):
            return _counted(server, lazy.compute)
    finally:
        store.close()


def _is_ours(name):
    assert zarr.config.get("codec_pipeline.path") == "lindi_core.store.codec_pipeline.LindiCodecPipeline", name


@pytest.mark.parametrize("name", ["chunked", "contiguous"])
@pytest.mark.parametrize("selection", SELECTIONS, ids=repr)
def test_zarr_and_dask_make_the_requests_of_the_facade_and_read_what_h5py_reads(remote, tmp_path, name, selection):
    _is_ours(name)
    server, rfs = remote
    truth = _truth(tmp_path, name, selection)
    facade, facade_requests = _through_facade(server, rfs, name, selection)
    through_zarr, zarr_requests = _through_zarr(server, rfs, name, selection)
    through_dask, dask_requests = _through_dask(server, rfs, name, selection)
    np.testing.assert_array_equal(facade, truth)
    np.testing.assert_array_equal(through_zarr, truth)
    np.testing.assert_array_equal(through_dask, truth)
    assert facade_requests >= 1
    assert zarr_requests == facade_requests
    assert dask_requests == facade_requests


def test_a_thousand_small_chunks_are_one_request_through_zarr(remote, tmp_path):
    """Without batching, zarr made one request per ten chunks here (about 100)."""
    server, rfs = remote
    value, requests = _through_zarr(server, rfs, "small_chunks", (Ellipsis,))
    np.testing.assert_array_equal(value, SMALL_CHUNKS)
    assert requests == _through_facade(server, rfs, "small_chunks", (Ellipsis,))[1] == 1


def test_index_lists_and_points_make_the_requests_of_the_facade(remote, tmp_path):
    server, rfs = remote
    rows = [3, 41, 42, 250, 399]
    truth = _truth(tmp_path, "chunked", (rows, slice(None)))
    facade, facade_requests = _through_facade(server, rfs, "chunked", (rows, slice(None)))
    store = lindi_core.ReferenceStore(rfs)
    array = zarr.open_array(store, path="chunked", mode="r", zarr_format=2)
    orthogonal, orthogonal_requests = _counted(server, lambda: array.get_orthogonal_selection((rows, slice(None))))
    store.close()
    np.testing.assert_array_equal(facade, truth)
    np.testing.assert_array_equal(orthogonal, truth)
    assert orthogonal_requests == facade_requests
    store = lindi_core.ReferenceStore(rfs)
    array = zarr.open_array(store, path="chunked", mode="r", zarr_format=2)
    points, point_requests = _counted(server, lambda: array.vindex[rows, [0, 299, 150, 7, 8]])
    store.close()
    np.testing.assert_array_equal(points, GRID[rows, [0, 299, 150, 7, 8]])
    assert point_requests == 1


def test_dask_blocks_read_concurrently_from_threads_read_right(remote, tmp_path):
    server, rfs = remote
    value, requests = _through_dask(server, rfs, "chunked", (Ellipsis,), blocks=8)
    np.testing.assert_array_equal(value, GRID)
    assert 1 <= requests <= 8  # at most one per dask block (blocks read at once may merge)


def test_a_large_selection_is_fetched_in_bounded_parts(remote, tmp_path, monkeypatch):
    """Parts of at most PART_BYTES encoded bytes; the next part's bytes are fetched while the
    current one decodes, so at most two parts are held at once."""
    server, rfs = remote
    refs = [rfs.get(f"small_chunks/{i}") for i in range(1000)]
    assert all(ref.length == 64 for ref in refs)
    monkeypatch.setattr(codec_pipeline, "PART_BYTES", 64 * 100)
    held, most = [0], [0]
    fetch, decode = codec_pipeline._fetch_chunk, codec_pipeline.LindiCodecPipeline._decode_into

    async def counting_fetch(entry):
        buffer = await fetch(entry)
        held[0] += 1
        most[0] = max(most[0], held[0])
        return buffer

    async def counting_decode(self, part, buffers, out, drop_axes):
        await decode(self, part, buffers, out, drop_axes)
        held[0] -= len(part)

    fetcher = bulk_reads.window_fetcher

    def counting_fetcher(store, batch_info):  # a part's chunks fetched at once (bulk_reads)
        fetch_window = fetcher(store, batch_info)

        async def counting(part):
            buffers = await fetch_window(part)
            held[0] += len(part)
            most[0] = max(most[0], held[0])
            return buffers

        return counting if fetch_window is not None else None

    async def no_bulk_placing(*args):  # the road of zarr's decoding (uncompressed chunks are placed in bulk)
        return False

    monkeypatch.setattr(codec_pipeline, "_fetch_chunk", counting_fetch)
    monkeypatch.setattr(bulk_reads, "window_fetcher", counting_fetcher)
    monkeypatch.setattr(codec_pipeline.LindiCodecPipeline, "_decode_into", counting_decode)
    monkeypatch.setattr(codec_pipeline, "_place_in_bulk", no_bulk_placing)
    value, requests = _through_zarr(server, rfs, "small_chunks", (Ellipsis,))
    np.testing.assert_array_equal(value, SMALL_CHUNKS)
    assert requests == 10  # ten parts of 100 chunks, each part one merged request
    assert most[0] <= 200 and held[0] == 0


def test_parts_are_bounded_by_the_decoded_size_of_well_compressed_chunks(remote, tmp_path, monkeypatch):
    """zarr decodes a whole part before placing it: a part's chunks decode to at most PART_BYTES."""
    server, rfs = remote
    encoded = [rfs.get(f"chunked/{i}.{j}").length for i in range(20) for j in range(20)]
    decoded = 20 * 15 * 4
    assert max(encoded) < decoded
    monkeypatch.setattr(codec_pipeline, "PART_BYTES", decoded * 40)
    parts = []
    decode = codec_pipeline.LindiCodecPipeline._decode_into

    async def recording_decode(self, part, buffers, out, drop_axes):
        parts.append(len(part))
        await decode(self, part, buffers, out, drop_axes)

    monkeypatch.setattr(codec_pipeline.LindiCodecPipeline, "_decode_into", recording_decode)
    value, _ = _through_zarr(server, rfs, "chunked", (Ellipsis,))
    np.testing.assert_array_equal(value, GRID)
    assert parts == [40] * 10


def _damage_chunk(path, ref) -> None:
    with open(path, "r+b") as f:  # one byte of the data, not of the checksum
        f.seek(ref.offset + 100)
        byte = f.read(1)
        f.seek(ref.offset + 100)
        f.write(bytes([byte[0] ^ 0xFF]))


def _error_of(read) -> BaseException:
    with pytest.raises(Exception) as raised:
        read()
    return raised.value


def _read_x(rfs, selection=slice(20_000, 60_000)):
    store = lindi_core.ReferenceStore(rfs)
    try:
        return zarr.open_array(store, path="x", mode="r", zarr_format=2)[selection]
    finally:
        store.close()


# The chunk-by-chunk road (zarr's own, for comparison) is taken on local files: after a failure
# it leaves the reads of other chunks running, which a server would wait for when stopped.
@pytest.mark.parametrize("filters", [{"fletcher32": True}, {"fletcher32": True, "shuffle": True, "compression": "gzip"}])
def test_a_damaged_chunk_among_many_raises_what_the_chunk_by_chunk_road_raises(tmp_path, serve, monkeypatch, filters):
    with h5py.File(tmp_path / "damaged.h5", "w") as f:
        f.create_dataset("x", data=np.arange(100_000, dtype="<i4"), chunks=(1000,), **filters)
    local = lindi_core.translate(str(tmp_path / "damaged.h5"), progress=False)
    _damage_chunk(tmp_path / "damaged.h5", local.get("x/37"))
    server = serve(tmp_path)
    remote = lindi_core.translate(server.url_for("damaged.h5"), progress=False)
    server.stats.reset()
    over_http = _error_of(lambda: _read_x(remote))
    assert isinstance(over_http, ChunkDecodeError)
    assert "'x/37'" in str(over_http) or "array 'x'" in str(over_http)
    assert server.stats.requests == 1
    np.testing.assert_array_equal(_read_x(remote, slice(0, 37_000)), np.arange(37_000))  # the others read
    batched = _error_of(lambda: _read_x(local))
    monkeypatch.setattr(codec_pipeline, "_reference_store_of", lambda batch_info: None)  # zarr's own road
    one_by_one = _error_of(lambda: _read_x(local))
    assert isinstance(batched, ChunkDecodeError)
    assert type(batched) is type(one_by_one) and str(batched) == str(one_by_one)
    assert type(batched.__cause__) is type(one_by_one.__cause__)


def test_a_missing_file_raises_what_the_chunk_by_chunk_road_raises(tmp_path, serve, monkeypatch):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("x", data=np.arange(100_000, dtype="<i4"), chunks=(1000,))
    local = lindi_core.translate(str(tmp_path / "data.h5"), progress=False)
    server = serve(tmp_path)
    remote = lindi_core.translate(server.url_for("data.h5"), progress=False)
    (tmp_path / "data.h5").rename(tmp_path / "gone.h5")
    over_http = _error_of(lambda: _read_x(remote))
    assert isinstance(over_http, ByteSourceError) and "data.h5" in str(over_http)
    batched = _error_of(lambda: _read_x(local))
    monkeypatch.setattr(codec_pipeline, "_reference_store_of", lambda batch_info: None)
    one_by_one = _error_of(lambda: _read_x(local))
    assert isinstance(batched, ByteSourceError) and type(batched) is type(one_by_one)
    # which chunk fails first is up to the order the reads run in: the messages differ in its offset only
    assert re.sub(r"offset \d+", "", str(batched)) == re.sub(r"offset \d+", "", str(one_by_one))


def test_a_compression_bomb_among_many_chunks_is_refused_as_before(tmp_path, monkeypatch):
    """A chunk that would decode past its chunk size is refused by the store's check, which
    the batched fetch goes through as zarr's own road does."""
    import base64
    import zlib

    good = zlib.compress(np.arange(8, dtype="<i4").tobytes())
    bomb = zlib.compress(bytes(1 << 20))
    refs = {".zgroup": {"zarr_format": 2},
            "x/.zarray": {"zarr_format": 2, "shape": [32], "chunks": [8], "dtype": "<i4", "fill_value": 0,
                          "order": "C", "compressor": {"id": "zlib", "level": 1}, "filters": None}}
    for i in range(4):
        refs[f"x/{i}"] = "base64:" + base64.b64encode(bomb if i == 2 else good).decode()

    def read():
        store = lindi_core.ReferenceStore.from_dict({"version": 1, "refs": refs})
        return zarr.open_array(store, path="x", mode="r", zarr_format=2)[...]

    batched = _error_of(read)
    monkeypatch.setattr(codec_pipeline, "_reference_store_of", lambda batch_info: None)
    one_by_one = _error_of(read)
    assert isinstance(batched, ChunkDecodeError) and "'x/2'" in str(batched)
    assert str(batched) == str(one_by_one)


def test_a_failed_read_stops_the_reads_of_its_other_chunks(monkeypatch):
    """The first chunk that fails fails the selection; the reads of the others are cancelled
    rather than left running (their requests would go on for nothing)."""
    import asyncio
    import base64

    refs = {".zgroup": {"zarr_format": 2},
            "x/.zarray": {"zarr_format": 2, "shape": [40], "chunks": [8], "dtype": "<i4", "fill_value": 0,
                          "order": "C", "compressor": None, "filters": None}}
    for i in range(5):
        refs[f"x/{i}"] = "base64:" + base64.b64encode(np.arange(8, dtype="<i4").tobytes()).decode()
    store = lindi_core.ReferenceStore.from_dict({"version": 1, "refs": refs})
    cancelled = []
    real_get = store.get

    async def get(key, prototype, byte_range=None):
        if key.rsplit("/", 1)[-1].startswith("."):  # metadata
            return await real_get(key, prototype, byte_range)
        if key == "x/3":
            raise ByteSourceError("x/3 is gone")
        try:
            await asyncio.Event().wait()  # a read that would never end by itself
        except asyncio.CancelledError:
            cancelled.append(key)
            raise

    monkeypatch.setattr(store, "get", get)
    with pytest.raises(ByteSourceError, match="x/3 is gone"):
        zarr.open_array(store, path="x", mode="r", zarr_format=2)[...]
    assert sorted(cancelled) == ["x/0", "x/1", "x/2", "x/4"]


def test_small_chunks_are_checked_without_a_hop_to_a_thread_large_ones_with_one(tmp_path, monkeypatch):
    """A thread hop per 64-byte chunk cost more than checking it: only chunks over
    CHECK_HERE_BYTES (decoded) are checked in a worker thread."""
    from lindi_core.store import reference_store

    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("small", data=np.arange(8000, dtype="<i4"), chunks=(16,), compression="gzip")
        f.create_dataset("large", data=np.arange(200_000, dtype="<i4"), chunks=(50_000,), compression="gzip")
    rfs = lindi_core.translate(str(tmp_path / "data.h5"), progress=False)
    hops = []
    to_thread = reference_store.asyncio.to_thread

    async def counting_to_thread(function, *args):
        if getattr(function, "__name__", "") in ("check_encoded_chunk", "check"):  # not zarr's decoding
            hops.append(function.__name__)
        return await to_thread(function, *args)

    monkeypatch.setattr(reference_store.asyncio, "to_thread", counting_to_thread)  # (asyncio's, for all)
    np.testing.assert_array_equal(_read_named(rfs, "small"), np.arange(8000))
    assert hops == []
    np.testing.assert_array_equal(_read_named(rfs, "large"), np.arange(200_000))
    assert hops == ["check_encoded_chunk"] * 4


def _read_named(rfs, name):
    store = lindi_core.ReferenceStore(rfs)
    try:
        return zarr.open_array(store, path=name, mode="r", zarr_format=2)[...]
    finally:
        store.close()
