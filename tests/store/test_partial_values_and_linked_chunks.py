"""``ReferenceStore.get_partial_values`` reads its ranges concurrently, and ``exists`` answers
for the chunks of arrays linked to their HDF5 dataset as ``get`` finds them (issue 15)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import zarr
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

import lindi_core
from lindi_core.store.reference_store import ReferenceStore

VALUES = np.arange(64 * 1000, dtype="<f8")


def _chunk_ranges(path: str, name: str) -> list[tuple[int, int]]:
    """(offset, size) of each chunk, from h5py's chunk index."""
    with h5py.File(path, "r") as f:
        dsid = f[name].id
        return [(info.byte_offset, info.size) for info in map(dsid.get_chunk_info, range(dsid.get_num_chunks()))]


def test_partial_values_are_read_at_once_and_are_the_files_bytes(make_h5, serve, tmp_path):
    h5 = make_h5(lambda f: f.create_dataset("x", data=VALUES, chunks=(1000,)), name="plain.h5")
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("plain.h5"), str(tmp_path / "plain.lindi.json"), progress=False)
    store = ReferenceStore.from_file(server.url_for("plain.lindi.json"))
    with open(h5, "rb") as raw:
        file_bytes = raw.read()
    ranges = _chunk_ranges(h5, "x")
    wanted = [(f"x/{i}", None) for i in range(0, 64, 2)] + [("x/5", RangeByteRequest(8, 800)), ("x/5", None)]
    try:
        server.stats.reset()
        got = sync(store.get_partial_values(default_buffer_prototype(), wanted))
        # One request per key, were they read one after another; at once, ranges merge.
        assert 0 < server.stats.requests < len(wanted) // 4, server.stats.requests
        for (key, byte_range), buffer in zip(wanted, got):
            offset, size = ranges[int(key.split("/")[1])]
            chunk = file_bytes[offset : offset + size]
            assert buffer.to_bytes() == (chunk if byte_range is None else chunk[8:800]), key
        # x/5 was read twice at once: remembered once, its bytes counted once against the bound.
        assert store._recent_bytes == sum(map(len, store._recent.values()))
        assert sync(store.get_partial_values(default_buffer_prototype(), [("x/999", None), ("x/.zarray", None)]))[
            0] is None
    finally:
        store.close()


def _sparse(f: h5py.File) -> None:
    x = f.create_dataset("x", shape=(40,), chunks=(10,), dtype="<i4", fillvalue=-1)
    x[0:10] = np.arange(10)
    x[20:30] = np.arange(20, 30)


@pytest.fixture
def linked_store(make_h5, tmp_path):
    """A LINDI 0.4 style reference file whose array ``x`` is linked to the HDF5 dataset."""
    h5 = make_h5(_sparse, name="linked.h5")
    zarray = {"zarr_format": 2, "shape": [40], "chunks": [10], "dtype": "<i4", "fill_value": -1, "order": "C",
              "compressor": None, "filters": None}
    refs = {"version": 1, "refs": {
        ".zgroup": json.dumps({"zarr_format": 2}),
        "x/.zarray": json.dumps(zarray),
        "x/.zattrs": json.dumps({"_EXTERNAL_ARRAY_LINK": {"link_type": "hdf5_dataset", "url": h5, "name": "x"}}),
    }}
    store = ReferenceStore.from_dict(refs, base_dir=str(tmp_path))
    yield h5, store
    store.close()


def test_exists_finds_the_chunks_of_linked_arrays_that_get_finds(linked_store):
    h5, store = linked_store
    with h5py.File(h5, "r") as f:
        allocated = {i for i in range(4) if f["x"].id.get_chunk_info_by_coord((i * 10,)).byte_offset is not None}
        expected = f["x"][()]
    assert allocated == {0, 2}
    for i in range(5):
        key = f"x/{i}"
        found = sync(store.get(key, default_buffer_prototype())) is not None
        assert sync(store.exists(key)) is (i in allocated) is found, key
    assert sync(store.exists("x/.zattrs")) and not sync(store.exists("x/.zmetadata"))
    assert not sync(store.exists("y/0"))
    np.testing.assert_array_equal(zarr.open_array(store, path="x", mode="r", zarr_format=2)[:], expected)
