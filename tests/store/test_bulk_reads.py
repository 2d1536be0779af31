"""Boxes of many chunks read in bulk (lindi_core.store.bulk_reads): refs as columns, ranges merged
into spans, uncompressed chunks placed without Python per chunk, coded ones decoded in batches;
what the bulk road does not prove it reads takes the per-chunk road. Checked against h5py reading
the same file, and by counting the per-chunk road's reads and the server's requests."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import ByteSourceError, ChunkDecodeError, ReferenceFormatError
from lindi_core.format.refs import ChunkRef, ChunkTable
from lindi_core.io import coalesce
from lindi_core.store import bulk_reads
from lindi_core.store.reference_store import ReferenceStore
from lindi_core.testing.range_server import ServerFaults
from lindi_core.translate.chunks import ChunkOptions


def _walk(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(-20, 20, size=shape), axis=0).astype(dtype)


LAYOUTS = {
    "plain 1D with an edge": dict(shape=(1003,), dtype="<i8", chunks=(8,)),
    "plain 2D": dict(shape=(61, 47), dtype="<f4", chunks=(4, 5)),
    "big-endian 3D": dict(shape=(13, 11, 9), dtype=">i4", chunks=(3, 4, 2)),
    "gzip 2D": dict(shape=(61, 47), dtype="<i2", chunks=(4, 5), compression="gzip"),
    "gzip+shuffle 1D": dict(shape=(2000,), dtype="<f8", chunks=(16,), compression="gzip", shuffle=True),
    "contiguous": dict(shape=(1003, 3), dtype="<i2"),  # virtual chunks, a short last one
}

SELECTIONS = [
    (slice(None),), (slice(3, 817),), (slice(None, None, 3),), (slice(5, None, 31),), (7,), (slice(40, 40),),
    (Ellipsis, slice(2, 9)), (slice(1, -1, 2), Ellipsis), (slice(9, 60), Ellipsis, 1),
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("bulk") / "layouts.h5"
    with h5py.File(path, "w") as f:
        for index, (name, spec) in enumerate(LAYOUTS.items()):
            spec = dict(spec)
            f.create_dataset(name, data=_walk(spec.pop("shape"), spec.pop("dtype"), index), **spec)
        sparse = f.create_dataset("sparse", shape=(100, 100), dtype="<f4", chunks=(5, 5), fillvalue=-2.5)
        sparse[10:30, 40:63] = 7.0
        nan_filled = f.create_dataset("nan filled gzip", shape=(500,), dtype="<f8", chunks=(8,), fillvalue=np.nan,
                                      compression="gzip")
        nan_filled[90:200] = np.arange(110.0)
    rfs = lindi_core.translate(str(path), progress=False,
                               options=ChunkOptions(inline_threshold=0, contiguous_chunk_target=64))
    return path, rfs


class _PerChunkRoad:
    """Counts the chunks read through the store's per-chunk road (``chunk_bytes``)."""

    def __init__(self, monkeypatch):
        self.keys: list[str] = []
        original = ReferenceStore.chunk_bytes

        async def counted(store, key):
            self.keys.append(key)
            return await original(store, key)

        monkeypatch.setattr(ReferenceStore, "chunk_bytes", counted)


def _selections_for(shape):
    for selection in SELECTIONS:
        try:
            np.empty(shape)[selection]
        except IndexError:
            continue
        yield selection


@pytest.mark.parametrize("name", [*LAYOUTS, "sparse", "nan filled gzip"])
def test_boxes_of_many_chunks_match_h5py(sample, name):
    path, rfs = sample
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        for selection in _selections_for(h[name].shape):
            np.testing.assert_array_equal(f[name][selection], h[name][selection], err_msg=f"{name} {selection}")


def test_a_whole_read_of_plain_chunks_takes_no_per_chunk_road(sample, monkeypatch):
    path, rfs = sample
    road = _PerChunkRoad(monkeypatch)
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["plain 2D"][:], h["plain 2D"][:])
        np.testing.assert_array_equal(f["gzip 2D"][:], h["gzip 2D"][:])
        np.testing.assert_array_equal(f["sparse"][:], h["sparse"][:])
        assert road.keys == []
        # The short last virtual chunk of contiguous data is padded (and checked) chunk by chunk.
        np.testing.assert_array_equal(f["contiguous"][:], h["contiguous"][:])
        assert len(road.keys) == 1


def test_inline_chunks_among_refs(tmp_path, monkeypatch):
    values = _walk((400, 6), "<i4", 3)
    path = tmp_path / "mixed.h5"
    with h5py.File(path, "w") as h:
        h.create_dataset("x", data=values, chunks=(8, 3), compression="gzip")
    rfs = lindi_core.translate(str(path), progress=False, options=ChunkOptions(inline_threshold=0))
    with h5py.File(path) as h:
        dsid = h["x"].id
        inline = [f"x/{i}.{j}" for i in range(0, 50, 3) for j in range(2)]
        for key in inline:
            i, j = map(int, key[2:].split("."))
            rfs.set_inline(key, dsid.read_direct_chunk((i * 8, j * 3))[1])
    road = _PerChunkRoad(monkeypatch)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["x"][:], values)
        assert sorted(road.keys) == sorted(inline)
        np.testing.assert_array_equal(f["x"][13:390:2, 1:], values[13:390:2, 1:])


def test_refs_into_several_files(tmp_path):
    values = _walk((3000,), "<i8", 5)
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as h:
        h.create_dataset("x", data=values, chunks=(10,))
    rfs = lindi_core.translate(str(path), progress=False, options=ChunkOptions(inline_threshold=0))
    # Every third chunk's bytes go into another file, in reverse order, at offsets of their own.
    other = tmp_path / "b.bin"
    moved = list(range(0, 300, 3))
    with h5py.File(path) as h, open(other, "wb") as out:
        out.write(b"\xff" * 100)
        for index in reversed(moved):
            data = h["x"].id.read_direct_chunk((index * 10,))[1]
            rfs.set_ref(f"x/{index}", ChunkRef(str(other), out.tell(), len(data)))
            out.write(data + b"\xee" * 7)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["x"][:], values)
        np.testing.assert_array_equal(f["x"][25:2977:4], values[25:2977:4])


def test_chunks_with_a_skipped_filter_take_the_per_chunk_road(tmp_path, monkeypatch):
    values = _walk((800,), "<i4", 8)
    path = tmp_path / "masked.h5"
    with h5py.File(path, "w") as h:
        ds = h.create_dataset("x", data=values, chunks=(16,), compression="gzip")
        for index in (3, 17, 40):  # stored without deflate, as HDF5 does when deflate fails
            ds.id.write_direct_chunk((index * 16,), values[index * 16 : (index + 1) * 16].tobytes(), filter_mask=1)
    rfs = lindi_core.translate(str(path), progress=False, options=ChunkOptions(inline_threshold=0))
    road = _PerChunkRoad(monkeypatch)
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["x"][:], h["x"][:])
    assert sorted(road.keys) == ["x/17", "x/3", "x/40"]


def test_a_compression_bomb_among_many_chunks_is_refused(tmp_path):
    values = np.random.default_rng(1).integers(0, 2**60, size=800)
    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as h:
        ds = h.create_dataset("x", data=values, chunks=(8,), compression="gzip")
        ds.id.write_direct_chunk((8 * 60,), zlib.compress(bytes(64 * 1000)))  # 64 kB in a chunk of 64 bytes
    rfs = lindi_core.translate(str(path), progress=False, options=ChunkOptions(inline_threshold=0))
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["x"][:480], values[:480])
        with pytest.raises(ChunkDecodeError, match="x/60"):
            f["x"][:]


def test_a_ref_shorter_than_its_chunk_is_refused(tmp_path):
    values = _walk((800,), "<i8", 2)
    path = tmp_path / "short.h5"
    with h5py.File(path, "w") as h:
        h.create_dataset("x", data=values, chunks=(8,))
    rfs = lindi_core.translate(str(path), progress=False, options=ChunkOptions(inline_threshold=0))
    ref = rfs.get("x/33")
    rfs.set_ref("x/33", ChunkRef(ref.url, ref.offset, ref.length - 8))
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        with pytest.raises(ReferenceFormatError, match="x/33"):
            f["x"][:]


@pytest.mark.slow
def test_a_whole_read_of_100000_chunks_over_http_is_a_few_requests(tmp_path, serve, monkeypatch):
    values = np.arange(800_000, dtype="<i8")
    with h5py.File(tmp_path / "many.h5", "w", libver="latest") as h:
        h.create_dataset("x", data=values, chunks=(8,))
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("many.h5"), progress=False)
    road = _PerChunkRoad(monkeypatch)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        server.stats.reset()
        np.testing.assert_array_equal(f["x"][:], values)
        # 6.4 MB of chunks (and the chunk index between them): spans of at most 16 MiB
        assert 1 <= server.stats.requests <= 3
        assert road.keys == []
        first = server.stats.requests
        np.testing.assert_array_equal(f["x"][3:799_990], values[3:799_990])
        assert server.stats.requests == first  # read again: the store remembers the spans it read


def test_bulk_reads_survive_faults_and_report_failures(tmp_path, serve):
    values = _walk((2000, 3), "<i4", 6)
    with h5py.File(tmp_path / "flaky.h5", "w") as h:
        h.create_dataset("plain", data=values, chunks=(20, 3))
        h.create_dataset("gzip", data=values, chunks=(20, 3), compression="gzip")
    clean = serve(tmp_path)
    rfs = lindi_core.translate(clean.url_for("flaky.h5"), progress=False, options=ChunkOptions(inline_threshold=0))
    for faults in [ServerFaults(reset_rate=0.5, seed=3), ServerFaults(truncate_rate=0.5, seed=4),
                   ServerFaults(error_rate=0.3, seed=5), ServerFaults(ignore_range=True),
                   ServerFaults(shifted_range_times=2), ServerFaults(superset_range_times=2)]:
        flaky = serve(tmp_path, faults=faults, latency=0.002)
        rfs.urls[:] = [flaky.url_for("flaky.h5")]
        with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
            for name in ("plain", "gzip"):
                np.testing.assert_array_equal(f[name][7:1990:3], values[7:1990:3], err_msg=f"{faults} {name}")
                np.testing.assert_array_equal(f[name][:], values, err_msg=f"{faults} {name}")
    broken = serve(tmp_path, faults=ServerFaults(statuses={"flaky.h5": [404] * 50}))
    rfs.urls[:] = [broken.url_for("flaky.h5")]
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        with pytest.raises(ByteSourceError, match="404"):
            f["plain"][:]


def _merged(offsets, lengths, max_gap, max_size):
    """merge_spans' answer as (order, span number of each range in that order, bounds)."""
    order, firsts, bounds = bulk_reads.merge_spans(offsets, lengths, max_gap=max_gap, max_size=max_size)
    order = np.arange(len(offsets)) if order is None else order
    assert firsts[0] == 0 and (np.diff(firsts) > 0).all() and len(firsts) == len(bounds)
    return order, np.repeat(np.arange(len(bounds)), np.diff(np.append(firsts, len(offsets)))), bounds


def test_spans_are_the_merged_requests_of_the_coalescing_engine():
    rng = np.random.default_rng(0)
    for trial in range(200):
        count = int(rng.integers(1, 300))
        lengths = rng.integers(0, 5000, size=count)
        gaps = rng.choice([0, 0, 1, 100, 3000, 20000], size=count)
        offsets = np.cumsum(gaps + np.concatenate([[0], lengths[:-1]]))  # in order, not overlapping
        shuffle = rng.permutation(count) if trial % 2 else np.arange(count)
        offsets, lengths = offsets[shuffle], lengths[shuffle]
        max_gap, max_size = int(rng.choice([0, 50, 2000])), int(rng.choice([1, 4000, 30000, 10**9]))
        order, member_span, bounds = _merged(offsets, lengths, max_gap, max_size)
        ours = [(int(bounds[s][0]), int(bounds[s][1]), tuple(sorted(order[member_span == s].tolist())))
                for s in range(len(bounds))]
        theirs = [(m.start, m.stop, tuple(sorted(m.members)))
                  for m in coalesce.plan(list(zip(offsets.tolist(), lengths.tolist())), max_gap=max_gap,
                                         max_size=max_size)]
        assert ours == theirs


def test_table_lookups_of_many_chunks_agree_with_single_lookups():
    rng = np.random.default_rng(2)
    dense = ChunkTable.for_array([40, 30], [2, 3])
    sparse = ChunkTable((20, 10))
    for table in (dense, sparse):
        cells = rng.choice(table.size, size=table.size // 3, replace=False)
        for cell in cells.tolist():
            table.set(cell, int(rng.integers(0, 3)), int(rng.integers(0, 10**9)), int(rng.integers(1, 10**6)),
                      int(rng.integers(0, 2)) * 4)
        table.set(int(cells[0]), 1, 5, 6)  # a pending edit of a sparse table
        asked = np.concatenate([rng.integers(0, table.size, size=100), np.arange(table.size)])
        columns = table.lookup_many(asked)
        for row, linear in enumerate(asked.tolist()):
            single = table.lookup(linear)
            assert bool(columns.present[row]) == (single is not None)
            if single is not None:
                got = (columns.url_index[row], columns.offset[row], columns.length[row], columns.filter_mask[row])
                assert tuple(int(v) for v in got) == single


def test_small_windows_and_waves_of_spans_read_the_same_values(sample, monkeypatch, span_reads):
    """Windows of a few chunks, spans of a few bytes and waves of one span each: a large read cut
    into many small steps gives the same values as h5py."""
    from lindi_core.store import read_engine

    monkeypatch.setattr(read_engine, "WINDOW_BYTES", 256)
    path, rfs = sample
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        f._store.sources.http.max_merged = 100  # (local files here: only the span sizes change)
        for name in ("plain 1D with an edge", "gzip 2D", "sparse", "big-endian 3D"):
            np.testing.assert_array_equal(f[name][:], h[name][:], err_msg=name)
            np.testing.assert_array_equal(f[name][1:-1], h[name][1:-1], err_msg=name)
    assert 0 < span_reads["most"] <= 256  # the spans of one wave at a time (each smaller than a wave here)


class _ZarrPerChunkRoad:
    """Counts the chunks zarr's road reads through the store's ``get`` one by one."""

    def __init__(self, monkeypatch):
        self.keys: list[str] = []
        original = ReferenceStore.get

        async def counted(store, key, prototype=None, byte_range=None):
            if not key.rsplit("/", 1)[-1].startswith("."):
                self.keys.append(key)
            return await original(store, key, prototype, byte_range)

        monkeypatch.setattr(ReferenceStore, "get", counted)


def test_zarr_reads_fetch_their_windows_in_bulk(sample, monkeypatch):
    import zarr

    path, rfs = sample
    store = ReferenceStore(rfs)
    road = _ZarrPerChunkRoad(monkeypatch)
    with h5py.File(path) as h:
        for name in ("plain 2D", "gzip 2D", "big-endian 3D", "sparse", "nan filled gzip"):
            array = zarr.open_array(store, path=name, mode="r", zarr_format=2)
            np.testing.assert_array_equal(array[:], h[name][:], err_msg=name)
            np.testing.assert_array_equal(array[3:-2:2], h[name][3:-2:2], err_msg=name)
        # Chunks that no table ref holds (the fill value) are asked of get: it knows inline and
        # linked chunks; every stored chunk came as part of a span.
        assert road.keys and all(rfs.get(key) is None for key in road.keys)
        road.keys.clear()
        array = zarr.open_array(store, path="contiguous", mode="r", zarr_format=2)
        np.testing.assert_array_equal(array[:], h["contiguous"][:])
        assert road.keys == ["contiguous/100.0"]  # the short last chunk, padded by get
    store.close()


def test_zarr_reads_in_bulk_still_refuse_a_compression_bomb(tmp_path):
    import zarr

    values = np.random.default_rng(1).integers(0, 2**60, size=800)
    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as h:
        ds = h.create_dataset("x", data=values, chunks=(8,), compression="gzip")
        ds.id.write_direct_chunk((8 * 60,), zlib.compress(bytes(64 * 1000)))
    store = ReferenceStore(lindi_core.translate(str(path), progress=False, options=ChunkOptions(inline_threshold=0)))
    array = zarr.open_array(store, path="x", mode="r", zarr_format=2)
    np.testing.assert_array_equal(array[:480], values[:480])
    with pytest.raises(ChunkDecodeError, match="x/60"):
        array[:]
    store.close()


def test_spans_of_overlapping_ranges_cover_them_within_the_size_bound():
    rng = np.random.default_rng(7)
    for _ in range(200):
        count = int(rng.integers(1, 3000))
        offsets = rng.integers(0, 50_000, size=count)
        lengths = rng.choice([0, 10, 100, 2000, 40_000], size=count)
        max_gap, max_size = int(rng.choice([0, 50, 2000])), int(rng.choice([1, 4000, 30000]))
        order, member_span, bounds = _merged(offsets, lengths, max_gap, max_size)
        assert sorted(order.tolist()) == list(range(count))
        assert (np.diff(member_span) >= 0).all()
        starts, stops = bounds[member_span, 0], bounds[member_span, 1]
        assert (starts <= offsets[order]).all() and (offsets[order] + lengths[order] <= stops).all()
        members = np.bincount(member_span, minlength=len(bounds))
        sizes = bounds[:, 1] - bounds[:, 0]
        assert ((sizes <= max_size) | (members == 1)).all()


def test_large_chunks_keep_the_per_chunk_road(tmp_path, monkeypatch):
    """Chunks above BULK_MAX_CHUNK_BYTES are each decoded as soon as their bytes are in, while
    the rest of a merged request still arrives: the bulk road would wait for whole spans."""
    rows = bulk_reads.BULK_MAX_CHUNK_BYTES // (8 * 4) + 1
    values = _walk((rows * 40, 4), "<f8", 4)
    path = tmp_path / "large.h5"
    with h5py.File(path, "w") as h:
        h.create_dataset("x", data=values, chunks=(rows, 4), compression="gzip")
    rfs = lindi_core.translate(str(path), progress=False)
    road = _PerChunkRoad(monkeypatch)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["x"][:], values)
    assert len(road.keys) == 40
