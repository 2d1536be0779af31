"""zarr's road places uncompressed chunks of a chunk table in bulk, and reads what h5py reads.

For a batch of chunks that :mod:`lindi_core.store.bulk_reads` proves it reads (uncompressed
table refs of full size), the codec pipeline places the bytes of each merged span into zarr's
output with NumPy, without zarr decoding chunk by chunk; chunks not stored hold the fill value,
and every selection kind zarr hands over (slices with steps, integers, orthogonal index lists and
masks, coordinates) lands where zarr would put it. The truth is h5py reading the same file.
"""

from __future__ import annotations

import dask.array as da
import h5py
import numpy as np
import pytest
import zarr
from zarr.codecs._v2 import V2Codec

import lindi_core
from lindi_core.store import bulk_reads, codec_pipeline


@pytest.fixture(scope="module")
def h5_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bulk_zarr") / "data.h5"
    rng = np.random.default_rng(17)
    with h5py.File(path, "w") as f:
        f.create_dataset("one_d", data=np.arange(1000 * 8 + 5, dtype="<i8") * 3 - 7, chunks=(8,))  # edge chunk
        f.create_dataset("two_d", data=rng.normal(size=(203, 77)).astype("<f4"), chunks=(10, 7))
        f.create_dataset("big_endian", data=rng.integers(-999, 999, size=(61, 45)).astype(">i4"), chunks=(4, 3))
        sparse = f.create_dataset("sparse", shape=(50, 900), dtype="<u2", chunks=(5, 6), fillvalue=7)
        sparse[11:33, 100:700] = rng.integers(0, 60_000, size=(22, 600))  # most chunks never written
    return path


@pytest.fixture(scope="module")
def store(h5_path):
    return lindi_core.ReferenceStore(lindi_core.translate(str(h5_path), progress=False))


def _truth(h5_path, name):
    with h5py.File(h5_path, "r") as f:
        return f[name][...]


@pytest.fixture
def zarr_decodes(monkeypatch):
    """Counts of zarr's per-chunk decodes and of spans placed in bulk, during the test; every
    batch read in bulk, however few its chunks (fewer than BULK_MIN_CHUNKS keep zarr's road)."""
    monkeypatch.setattr(bulk_reads, "BULK_MIN_CHUNKS", 1)
    counts = {"zarr_decodes": 0, "spans_placed": 0}
    decode, place = V2Codec._decode_single, codec_pipeline._BulkWindow._place

    async def counting_decode(self, *args, **kwargs):
        counts["zarr_decodes"] += 1
        return await decode(self, *args, **kwargs)

    def counting_place(self, *args, **kwargs):
        counts["spans_placed"] += 1
        return place(self, *args, **kwargs)

    monkeypatch.setattr(V2Codec, "_decode_single", counting_decode)
    monkeypatch.setattr(codec_pipeline._BulkWindow, "_place", counting_place)
    return counts


RNG = np.random.default_rng(3)
ONE_D = [(Ellipsis,), (slice(3, 7777, 3),), (slice(17, 8005),), (slice(8000, None),), (slice(None, None, 9),)]
TWO_D = [(Ellipsis,), (slice(3, 200, 4), slice(5, 70)), (7, slice(None)), (slice(None), 9),
         (slice(1, None, 2), slice(None, None, 5)), (slice(None), slice(70, 77))]


@pytest.mark.parametrize("name, selection", [("one_d", s) for s in ONE_D]
                         + [(n, s) for n in ("two_d", "big_endian", "sparse") for s in TWO_D], ids=repr)
def test_basic_selections_are_placed_in_bulk_as_h5py_reads_them(store, h5_path, zarr_decodes, name, selection):
    array = zarr.open_array(store, path=name, mode="r", zarr_format=2)
    value = array[selection]
    expected = _truth(h5_path, name)[selection]
    assert value.dtype == expected.dtype
    np.testing.assert_array_equal(value, expected)
    assert zarr_decodes["zarr_decodes"] == 0
    assert zarr_decodes["spans_placed"] >= 1 or not expected.size or (name == "sparse" and (expected == 7).all())


@pytest.mark.parametrize("name", ["two_d", "big_endian", "sparse"])
def test_index_lists_masks_and_coordinates_are_placed_as_h5py_reads_them(store, h5_path, zarr_decodes, name):
    array = zarr.open_array(store, path=name, mode="r", zarr_format=2)
    truth = _truth(h5_path, name)
    rows = np.unique(RNG.integers(0, truth.shape[0], size=30))
    columns = np.unique(RNG.integers(0, truth.shape[1], size=25))
    row_mask = RNG.random(truth.shape[0]) < 0.5
    np.testing.assert_array_equal(array.oindex[rows, 2:40], truth[rows, 2:40])
    np.testing.assert_array_equal(array.oindex[row_mask, columns], truth[row_mask][:, columns])
    np.testing.assert_array_equal(array.oindex[5, columns], truth[5, columns])  # drops an axis
    points = (RNG.integers(0, truth.shape[0], size=200), RNG.integers(0, truth.shape[1], size=200))
    np.testing.assert_array_equal(array.vindex[points], truth[points])
    mask = RNG.random(truth.shape) < 0.3
    np.testing.assert_array_equal(array.vindex[mask], truth[mask])
    assert zarr_decodes["zarr_decodes"] == 0
    assert zarr_decodes["spans_placed"] >= 3


def test_few_chunks_keep_zarrs_road(store, h5_path, monkeypatch):
    decoded = []
    decode = V2Codec._decode_single

    async def counting_decode(self, *args, **kwargs):
        decoded.append(1)
        return await decode(self, *args, **kwargs)

    monkeypatch.setattr(V2Codec, "_decode_single", counting_decode)
    array = zarr.open_array(store, path="two_d", mode="r", zarr_format=2)
    np.testing.assert_array_equal(array[7, :], _truth(h5_path, "two_d")[7, :])
    assert len(decoded) == 11  # fewer chunks than BULK_MIN_CHUNKS: zarr decodes each


def test_missing_chunks_hold_the_fill_value(store, h5_path):
    array = zarr.open_array(store, path="sparse", mode="r", zarr_format=2)
    value = array[...]
    np.testing.assert_array_equal(value, _truth(h5_path, "sparse"))
    assert (value[:10] == 7).all() and (value[11:33, 100:700] != 7).any()


def test_dask_from_zarr_reads_what_h5py_reads(store, h5_path, zarr_decodes):
    for name in ("one_d", "two_d", "sparse"):
        array = zarr.open_array(store, path=name, mode="r", zarr_format=2)
        lazy = da.from_zarr(array, chunks=tuple(max(1, n // 3) for n in array.shape))
        np.testing.assert_array_equal(lazy.compute(scheduler="threads"), _truth(h5_path, name))
    assert zarr_decodes["zarr_decodes"] == 0


def test_compressed_chunks_keep_zarrs_decoding(tmp_path, zarr_decodes):
    data = np.arange(4000, dtype="<i4")
    with h5py.File(tmp_path / "gz.h5", "w") as f:
        f.create_dataset("x", data=data, chunks=(40,), compression="gzip")
    store = lindi_core.ReferenceStore(lindi_core.translate(str(tmp_path / "gz.h5"), progress=False))
    np.testing.assert_array_equal(zarr.open_array(store, path="x", mode="r", zarr_format=2)[::3], data[::3])
    assert zarr_decodes["zarr_decodes"] == 100 and zarr_decodes["spans_placed"] == 0


def _whole_read_decodes_nothing(tmp_path, zarr_decodes, chunks: int) -> None:
    data = np.arange(chunks * 8, dtype="<i8")
    with h5py.File(tmp_path / "tiny.h5", "w") as f:
        f.create_dataset("x", data=data, chunks=(8,))
    store = lindi_core.ReferenceStore(lindi_core.translate(str(tmp_path / "tiny.h5"), progress=False))
    np.testing.assert_array_equal(zarr.open_array(store, path="x", mode="r", zarr_format=2)[...], data)
    assert zarr_decodes["zarr_decodes"] == 0
    assert 1 <= zarr_decodes["spans_placed"] <= 2  # the spans of the byte source's merging rules


def test_a_whole_read_of_many_tiny_chunks_has_no_per_chunk_decode(tmp_path, zarr_decodes):
    _whole_read_decodes_nothing(tmp_path, zarr_decodes, 5_000)


@pytest.mark.slow
def test_a_whole_read_of_100k_tiny_chunks_has_no_per_chunk_decode(tmp_path, zarr_decodes):
    _whole_read_decodes_nothing(tmp_path, zarr_decodes, 100_000)
