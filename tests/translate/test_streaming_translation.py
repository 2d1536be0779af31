"""Chunk references stream from the HDF5 chunk index into the table, batch by batch.

Every test compares the translated refs with h5py's own account of each chunk
(``get_chunk_info``: grid position, byte offset, size, filter mask), with tiny batches so that
one dataset crosses many batch boundaries and the table's sparse-to-dense switch happens in the
middle of the walk.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
import zlib

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import TranslationError
from lindi_core.format import jsonio
from lindi_core.format.refs import ChunkRef, ChunkTable, ReferenceFileSystem
from lindi_core.translate import chunks as chunking

URL = "http://example.org/data.h5"


@pytest.fixture
def tiny_batches(monkeypatch):
    monkeypatch.setattr(chunking, "BATCH", 7, raising=False)


def translate(path: str, **options) -> ReferenceFileSystem:
    # Refs name the file by its path, so that the facade can read the values through them.
    return lindi_core.translate(path, ref_url=str(path), progress=False,
                                options=lindi_core.ChunkOptions(inline_threshold=0, **options))


def assert_refs_are_h5pys(rfs: ReferenceFileSystem, path: str) -> int:
    """Every chunk h5py lists has exactly its ref, and no other chunk has one; returns the count."""
    checked = 0
    with h5py.File(path) as f:
        for name, dset in f.items():
            chunk_shape = dset.chunks
            expected = {}
            for i in range(dset.id.get_num_chunks()):
                info = dset.id.get_chunk_info(i)
                cell = ".".join(str(o // c) for o, c in zip(info.chunk_offset, chunk_shape))
                expected[cell] = ChunkRef(str(path), info.byte_offset, info.size, info.filter_mask)
            got = dict(rfs.chunk_refs(name))
            assert got == expected, name
            checked += len(expected)
    return checked


def test_refs_of_a_one_dimensional_dataset_across_many_batches(make_h5, tiny_batches):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(3001, dtype="<i4"), chunks=(2,)))
    rfs = translate(path)
    assert assert_refs_are_h5pys(rfs, path) == 1501
    assert rfs.tables["x"].is_dense


def test_refs_of_a_2d_dataset_with_edge_chunks_and_missing_chunks(make_h5, tiny_batches):
    def build(f):
        d = f.create_dataset("grid", shape=(95, 67), chunks=(4, 5), dtype="<f8", fillvalue=-1)
        d[:40, :] = 1.5  # the first ten rows of chunks, edge chunks included
        d[60:63, 30:41] = 2.5  # a few chunks further on; the rest never written
        d[94, 66] = 3.5  # the corner chunk, partial along both axes

    path = make_h5(build)
    rfs = translate(path)
    assert assert_refs_are_h5pys(rfs, path) == 10 * 14 + 3 + 1
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as got, h5py.File(path) as truth:
        np.testing.assert_array_equal(got["grid"][:], truth["grid"][:])


def test_refs_of_scattered_chunks_stay_in_a_sparse_table(make_h5, tiny_batches):
    positions = np.unique(np.random.default_rng(1).integers(0, 10**6, 300))

    def build(f):
        d = f.create_dataset("sparse", shape=(10**6,), chunks=(10,), dtype="<i2", fillvalue=3)
        for p in positions.tolist():
            d[p] = p % 1000

    path = make_h5(build)
    rfs = translate(path)
    assert assert_refs_are_h5pys(rfs, path) == len(np.unique(positions // 10))
    assert not rfs.tables["sparse"].is_dense
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as got, h5py.File(path) as truth:
        np.testing.assert_array_equal(got["sparse"][positions], truth["sparse"][positions])


def test_filter_masks_of_chunks_that_skipped_their_filter(make_h5, tiny_batches):
    raw = np.arange(8, dtype="<i8")

    def build(f):
        d = f.create_dataset("z", shape=(400,), chunks=(8,), dtype="<i8", compression="gzip")
        d[:] = np.arange(400)
        for origin in (16, 200, 392):  # stored without deflate: bit 0 of the mask set
            d.id.write_direct_chunk((origin,), (raw + origin).tobytes(), filter_mask=1)
        d.id.write_direct_chunk((8,), zlib.compress((raw + 8).tobytes()), filter_mask=0)

    path = make_h5(build)
    rfs = translate(path)
    assert assert_refs_are_h5pys(rfs, path) == 50
    masks = rfs.tables["z"].present_columns()[4]
    assert masks is not None and np.flatnonzero(masks).tolist() == [2, 25, 49]
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as got, h5py.File(path) as truth:
        np.testing.assert_array_equal(got["z"][:], truth["z"][:])


def test_several_datasets_each_get_their_own_refs(make_h5, tiny_batches):
    def build(f):
        f.create_dataset("a", data=np.arange(500, dtype="<u1"), chunks=(3,))
        f.create_dataset("b", data=np.arange(600, dtype="<f4").reshape(20, 30), chunks=(7, 4))
        f.create_dataset("c", data=np.arange(90, dtype="<i8").reshape(3, 5, 6), chunks=(2, 2, 2),
                         compression="gzip", shuffle=True)

    path = make_h5(build)
    rfs = translate(path, chunk_table="binary")
    assert assert_refs_are_h5pys(rfs, path) == 167 + 3 * 8 + 2 * 3 * 3
    reopened = jsonio.loads(jsonio.dumps(rfs))
    assert reopened.same_references(rfs)


def test_a_corrupt_unfiltered_chunk_size_in_a_later_batch_is_refused(tmp_path, tiny_batches):
    # A chunk B-tree key of the 21st chunk saying 255 bytes for a 32-byte unfiltered chunk
    # (see test_hostile_hdf5 for why libhdf5 must never read it): refused in its batch.
    path = tmp_path / "chunks.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=np.arange(160, dtype="<i8"), chunks=(4,))
    raw = bytearray(path.read_bytes())
    node = raw.index(b"TREE\x01")  # a version 1 B-tree of raw data chunks, one leaf node
    key = node + 24 + 20 * (24 + 8)  # header; 20 (key, child address) pairs; key 20's size
    assert int.from_bytes(raw[key : key + 4], "little") == 32
    raw[key] = 255
    path.write_bytes(raw)
    was_collecting = gc.isenabled()
    with pytest.raises(TranslationError, match="255 bytes"):
        translate(str(path))
    assert gc.isenabled() == was_collecting  # the walk's pause of the collector ends with it


def test_the_walk_restores_a_disabled_collector_as_it_was(make_h5):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(4000, dtype="<i8"), chunks=(4,)))
    gc.disable()
    try:
        translate(path)
        assert not gc.isenabled()
    finally:
        gc.enable()
    translate(path)
    assert gc.isenabled()


def test_filling_the_table_of_50000_chunks_holds_no_object_per_chunk(tmp_path, monkeypatch):
    # The old walk packed the whole index into int64 arrays (32 bytes a chunk) and then copied
    # them into the table (20 bytes a cell): about 90 bytes a chunk at its peak. Streamed, a
    # chunk costs its table cell (9 bytes: url index, 4-byte offset, 4-byte length) plus its
    # share of one batch's transient objects.
    monkeypatch.setattr(chunking, "BATCH", 512, raising=False)
    count = 50_000
    path = str(tmp_path / "many.h5")
    with h5py.File(path, "w", libver="latest") as f:  # every chunk allocated at once: a fast write
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((1,))
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        h5py.h5d.create(f.id, b"x", h5py.h5t.NATIVE_UINT8, h5py.h5s.create_simple((count,)), dcpl=dcpl)
    with h5py.File(path) as f:
        dsid = f["x"].id
        rfs = ReferenceFileSystem()
        tracemalloc.start()
        try:
            table = chunking.chunked_refs(rfs, "x", URL, dsid, (count,), (1,))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 20 * count, f"{peak / count:.1f} bytes a chunk"
        assert len(table) == count == dsid.get_num_chunks()
        first, last = dsid.get_chunk_info(0), dsid.get_chunk_info(count - 1)
    assert rfs.get("x/0") == ChunkRef(URL, first.byte_offset, 1)
    assert rfs.get(f"x/{count - 1}") == ChunkRef(URL, last.byte_offset, 1)


@pytest.mark.parametrize("dense", [True, False])
def test_narrow_table_columns_widen_for_values_that_do_not_fit(dense):
    table = ChunkTable((100,), dense=dense)
    table.set(1, 3, 17, 64)
    table.set(2, 300, 2**40 + 5, 2**33 + 1, 2**31)  # every column past its narrow start
    table.assign(np.array([4, 5]), np.array([70_000, 0]), np.array([2**62, 2**32 - 1]), np.array([-1, 2**31]))
    assert table.lookup(1) == (3, 17, 64, 0)
    assert table.lookup(2) == (300, 2**40 + 5, 2**33 + 1, 2**31)
    assert table.lookup(4) == (70_000, 2**62, -1, 0)
    assert table.lookup(5) == (0, 2**32 - 1, 2**31, 0)
    assert table.lookup(3) is None and len(table) == 4
    assert table.stored_length() == 64 + 2**33 + 1 - 1 + 2**31


@pytest.mark.parametrize("missing", [[], [0], [3, 9]])
def test_present_columns_and_url_ids_of_a_dense_table_match_its_cells(missing):
    # A full table's columns come back as views, a gappy one's as copies: both say what lookup says.
    table = ChunkTable((12,), dense=True)
    table.assign(np.arange(12), np.where(np.arange(12) % 5 == 4, 2, 0), np.arange(12) * 100, np.arange(12) + 1)
    for cell in missing:
        table.clear(cell)
    linear, url_ids, offsets, lengths, masks = table.present_columns()
    assert masks is None
    assert linear.tolist() == [c for c in range(12) if c not in missing]
    assert [(int(u), int(o), int(n), 0) for u, o, n in zip(url_ids, offsets, lengths)] == \
        [table.lookup(c) for c in linear.tolist()]
    assert table.url_ids().tolist() == [0, 2]
    single = ChunkTable((5,), dense=True)
    single.assign(np.array([1, 3]), np.array([4, 4]), np.array([0, 8]), np.array([8, 8]))
    assert single.url_ids().tolist() == [4] and single.stored_length() == 16


def test_cyclic_garbage_made_during_the_walk_is_collected_batch_by_batch(monkeypatch):
    # The collector is paused while chunk_iter runs (a remote file's reads run Python code
    # then): each full batch collects the young garbage, so it does not pile up until the end.
    monkeypatch.setattr(chunking, "BATCH", 64)
    freed = []

    class Node:
        pass

    stream = chunking._ChunkStream(ChunkTable((64 * 10,)), 0, (1,), 8, collecting=True)
    gc.disable()
    try:
        for i in range(64 * 10):
            node = Node()
            node.me = node  # a cycle: only the collector frees it
            weakref.finalize(node, freed.append, i)
            del node
            stream.visit(((i,), 0, 1000 + 8 * i, 8))
        assert len(freed) >= 64 * 9
    finally:
        gc.enable()
    stream.flush()
    assert stream.finish().lookup(639) == (0, 1000 + 8 * 639, 8, 0)


def test_a_walk_shorter_than_a_batch_runs_no_collection(monkeypatch):
    # A file of many small datasets would pay one collection per dataset (15% of translating an
    # NWB file): only a full batch of a long walk collects.
    monkeypatch.setattr(chunking, "BATCH", 64)
    collections = []
    monkeypatch.setattr(chunking.gc, "collect", lambda generation=2: collections.append(generation) or 0)
    short = chunking._ChunkStream(ChunkTable((10,)), 0, (1,), 8, collecting=True)
    for i in range(10):
        short.visit(((i,), 0, 1000 + 8 * i, 8))
    short.flush()
    assert collections == [] and short.finish().lookup(9) == (0, 1072, 8, 0)
    long = chunking._ChunkStream(ChunkTable((64 * 3 + 5,)), 0, (1,), 8, collecting=True)
    for i in range(64 * 3 + 5):
        long.visit(((i,), 0, 1000 + 8 * i, 8))
    long.flush()
    assert collections == [1, 1, 1]  # after each full batch, not after the last 5 entries


def test_virtual_chunks_of_a_contiguous_dataset_fit_any_url_index_and_offset():
    # The narrow columns of a dense table widen for a 300th URL and offsets past 4 GiB.
    rfs = ReferenceFileSystem()
    for i in range(299):
        rfs.url_id(f"http://example.org/{i}.h5")
    chunking.contiguous_refs(rfs, "a", URL, 2**33, 1000, (1000,), (64,), 1)
    assert rfs.get("a/0") == ChunkRef(URL, 2**33, 64)
    assert rfs.get("a/15") == ChunkRef(URL, 2**33 + 960, 40)
    assert rfs.get("a/16") is None and len(rfs.tables["a"]) == 16
