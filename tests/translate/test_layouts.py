"""Storage layouts: chunk indexes, virtual chunks of contiguous data, inline small data."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lindi_core import ChunkOptions
from lindi_core.format import annotations as ann
from lindi_core.translate.chunks import virtual_chunk_shape
from tests.h5compare import assert_same_as_h5py


def test_every_allocated_chunk_is_referenced_and_missing_ones_read_as_fill(make_h5, translated):
    def build(f):
        ds = f.create_dataset("x", shape=(1000, 30), chunks=(10, 7), dtype="<f4", fillvalue=-1.5)
        ds[100:250, 3:20] = 2.0
        ds[990:, 28:] = 3.0

    path = make_h5(build)
    root, rfs = translated(path, options=ChunkOptions(inline_threshold=0))
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "x", f["x"])
        allocated = []
        f["x"].id.chunk_iter(allocated.append)
    assert len(rfs.tables["x"]) == len(allocated)
    assert rfs.metadata["x/.zarray"]["fill_value"] == -1.5


@pytest.mark.parametrize("index", ["btree_v1", "btree_v2", "extensible_array", "fixed_array", "single"])
def test_all_chunk_index_types(make_h5, translated, index):
    libver = "earliest" if index == "btree_v1" else "latest"
    shapes = {
        "btree_v1": dict(shape=(200, 20), chunks=(16, 5), maxshape=(None, None)),
        "btree_v2": dict(shape=(200, 20), chunks=(16, 5), maxshape=(None, None)),
        "extensible_array": dict(shape=(200, 20), chunks=(16, 5), maxshape=(None, 20)),
        "fixed_array": dict(shape=(200, 20), chunks=(16, 5)),
        "single": dict(shape=(200, 20), chunks=(200, 20)),
    }[index]
    data = np.arange(4000, dtype="<i8").reshape(200, 20)

    def build(f):
        ds = f.create_dataset("x", dtype="<i8", compression="gzip", **shapes)
        ds[...] = data

    path = make_h5(build, libver=libver)
    root, rfs = translated(path, options=ChunkOptions(inline_threshold=0))
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "x", f["x"])


def test_chunks_beyond_a_shrunk_shape_are_ignored(make_h5, translated):
    def build(f):
        ds = f.create_dataset("x", data=np.arange(100), chunks=(10,), maxshape=(None,))
        ds.resize((45,))

    path = make_h5(build)
    root, rfs = translated(path, options=ChunkOptions(inline_threshold=0))
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "x", f["x"])
    assert len(rfs.tables["x"]) == 5


@pytest.mark.parametrize("shape,itemsize,target,expected", [
    ((1000, 64), 2, 1 << 20, (1000, 64)),
    ((1_000_000, 64), 2, 1 << 20, (8131, 64)),  # 123 chunks of <= 1 MiB
    ((10, 3_000_000), 4, 1 << 20, (1, 250_000)),
    ((7,), 8, 16, (2,)),
    ((5, 4, 1000), 8, 8000, (1, 1, 1000)),
])
def test_virtual_chunks_are_contiguous_and_evenly_sized(shape, itemsize, target, expected):
    assert virtual_chunk_shape(shape, itemsize, target) == expected


def test_contiguous_data_is_cut_into_small_byte_ranges(make_h5, translated):
    data = np.arange(250_000, dtype=">i4").reshape(5000, 50)
    path = make_h5(lambda f: f.create_dataset("x", data=data))
    root, rfs = translated(path, options=ChunkOptions(contiguous_chunk_target=64 * 1024))
    table = rfs.tables["x"]
    chunk_rows = rfs.metadata["x/.zarray"]["chunks"][0]
    assert len(table) == -(-5000 // chunk_rows) > 10
    assert table.length.max() <= 64 * 1024
    assert int(table.length.sum()) == data.nbytes  # ranges tile the data exactly
    assert root["x"].attrs[ann.HDF5_CHUNKS] is None
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "x", f["x"])
        np.testing.assert_array_equal(root["x"][4990:, 7], f["x"][4990:, 7])


def test_unwritten_contiguous_dataset_reads_as_fill(make_h5, translated):
    path = make_h5(lambda f: f.create_dataset("x", shape=(100_000,), dtype="<i2", fillvalue=9))
    root, rfs = translated(path)
    assert "x" not in rfs.tables or len(rfs.tables["x"]) == 0
    assert (root["x"][...] == 9).all()


def test_small_datasets_are_inlined_and_threshold_is_configurable(make_h5, translated, tmp_path):
    def build(f):
        f.create_dataset("tiny", data=np.arange(10))
        f.create_dataset("tiny_chunked", data=np.arange(10), chunks=(3,), compression="gzip")
        f.create_dataset("big", data=np.arange(10_000))

    path = make_h5(build)
    root, rfs = translated(path)
    assert "tiny/0" in rfs.inline and "tiny_chunked/0" in rfs.inline
    assert "big" in rfs.tables
    with h5py.File(path) as f:
        for name in ["tiny", "tiny_chunked", "big"]:
            assert_same_as_h5py(root, name, f[name])
    root2, rfs2 = translated(path, options=ChunkOptions(inline_threshold=0))
    assert not rfs2.inline


def test_compact_datasets_of_any_size_are_read_not_zeroed(make_h5, translated):
    data = np.arange(8000, dtype="<u1").reshape(100, 80)

    def build(f):
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        dsid = h5py.h5d.create(f.id, b"c", h5py.h5t.STD_U8LE, h5py.h5s.create_simple(data.shape), dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)

    path = make_h5(build)
    root, _ = translated(path, options=ChunkOptions(inline_threshold=0))
    np.testing.assert_array_equal(root["c"][...], data)


def test_external_storage_and_virtual_datasets_are_read(make_h5, translated, tmp_path):
    raw = tmp_path / "external.bin"
    raw.write_bytes(np.arange(100, dtype="<i4").tobytes())

    def build(f):
        f.create_dataset("ext", shape=(100,), dtype="<i4", external=[(str(raw), 0, 400)])
        a = f.create_dataset("a", data=np.arange(10))
        layout = h5py.VirtualLayout(shape=(2, 10), dtype=a.dtype)
        layout[0] = h5py.VirtualSource(a)
        layout[1] = h5py.VirtualSource(a)
        f.create_virtual_dataset("virtual", layout, fillvalue=0)

    path = make_h5(build)
    root, _ = translated(path)
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "ext", f["ext"])
        assert_same_as_h5py(root, "virtual", f["virtual"])
