"""Dataset indexing through the facade matches h5py (see :mod:`tests.facade.h5py_semantics_harness`).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.facade.h5py_semantics_harness import (
    ALL_DATASETS,
    SCALARS,
)

# --------------------------------------------------------------------------------------------
# Dataset indexing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["int1d", "be_f8", "u8", "large2d"])
@pytest.mark.parametrize("index", [0, 3, -1, -2], ids=lambda i: f"i{i}")
def test_integer_index_matches_h5py(zoo, name, index):
    zoo.check(name, lambda d: d[index])


@pytest.mark.parametrize("index", [np.s_[1, 2], np.s_[-1, -1], np.s_[0, -5], np.s_[5, 0]], ids=repr)
def test_integer_index_per_axis_gives_scalar_like_h5py(zoo, index):
    zoo.check("f2d", lambda d: d[index])


@pytest.mark.parametrize("index", [np.int64(4), np.int32(-3), np.uint8(2)], ids=repr)
def test_numpy_integer_scalar_index_matches_h5py(zoo, index):
    zoo.check("int1d", lambda d: d[index])


SLICES_1D = [np.s_[2:8], np.s_[:5], np.s_[15:], np.s_[-5:], np.s_[:-3], np.s_[::2], np.s_[1:19:3],
             np.s_[3:4], np.s_[-7:-2:2], np.s_[:], np.s_[::7], np.s_[5:100], np.s_[25:30], np.s_[::100]]


@pytest.mark.parametrize("name", ["int1d", "gzip", "lzf", "partial", "unwritten", "vlen_str_chunked"])
@pytest.mark.parametrize("index", SLICES_1D, ids=repr)
def test_slice_with_start_stop_step_matches_h5py(zoo, name, index):
    zoo.check(name, lambda d: d[index])


@pytest.mark.parametrize("index", [np.s_[1:4, 2:5], np.s_[::2, ::3], np.s_[-2:, :2], np.s_[:, 1:5:2],
                                   np.s_[1:5, 0:4], np.s_[10:250:7, 3:190:11]], ids=repr)
@pytest.mark.parametrize("name", ["f2d", "large2d", "resizable"])
def test_multidimensional_slices_match_h5py(zoo, name, index):
    zoo.check(name, lambda d: d[index])


@pytest.mark.parametrize("index", [np.s_[::-1], np.s_[5:1:-1], np.s_[::0], np.s_[1:8:-2]], ids=repr)
def test_slice_step_below_one_raises_like_h5py(zoo, index):
    zoo.check("int1d", lambda d: d[index])
    zoo.check("f2d", lambda d: d[:, index])


@pytest.mark.parametrize("index", [np.s_[...], np.s_[..., 1], np.s_[1, ...], np.s_[..., 1:3],
                                   np.s_[1:3, ...], np.s_[1, ..., 2], np.s_[..., ::2, 3]], ids=repr)
def test_ellipsis_alone_and_combined_matches_h5py(zoo, index):
    zoo.check("i3d", lambda d: d[index])
    if index in (np.s_[...], np.s_[1:3, ...]):
        zoo.check("int1d", lambda d: d[index])


@pytest.mark.parametrize("name", SCALARS)
def test_empty_tuple_on_scalar_dataset_matches_h5py(zoo, name):
    zoo.check(name, lambda d: d[()])


@pytest.mark.parametrize("name", ["int1d", "f2d", "vlen_str", "compound", "empty0"])
def test_empty_tuple_on_non_scalar_dataset_reads_everything_like_h5py(zoo, name):
    zoo.check(name, lambda d: d[()])


@pytest.mark.parametrize("name", SCALARS)
def test_ellipsis_on_scalar_dataset_matches_h5py(zoo, name):
    zoo.check(name, lambda d: d[...])


@pytest.mark.parametrize("index", [[1, 3, 5], [0], [2, 3, 4, 19], [-1]], ids=repr)
def test_increasing_fancy_list_index_matches_h5py(zoo, index):
    zoo.check("int1d", lambda d: d[index])
    zoo.check("gzip", lambda d: d[index])
    zoo.check("compound", lambda d: d[[i for i in index if i < 4]])


@pytest.mark.parametrize("index", [[0, 2], [1, 3, 4], [-1]], ids=repr)
def test_increasing_fancy_list_index_on_string_datasets_matches_h5py(zoo, index):
    for name in ["vlen_str", "fixed_S"]:
        zoo.check(name, lambda d: d[index if max(index) < len(d) else index[:1]])


@pytest.mark.parametrize("index", [np.s_[:, [0, 2, 4]], np.s_[[1, 4], :], np.s_[[0, 5], 1:3],
                                   np.s_[1:3, [0, 2]], np.s_[2, [1, 3]], np.s_[[1, 2], -1]], ids=repr)
def test_fancy_list_combined_with_ints_and_slices_matches_h5py(zoo, index):
    zoo.check("f2d", lambda d: d[index])


@pytest.mark.parametrize("index", [[3, 1], [1, 1], [0, 2, 2], [5, 4, 6]], ids=repr)
def test_non_increasing_or_duplicate_fancy_list_raises_like_h5py(zoo, index):
    zoo.check("int1d", lambda d: d[index])
    zoo.check("f2d", lambda d: d[:, [i % 5 for i in index]])


def test_empty_fancy_list_matches_h5py(zoo):
    zoo.check("int1d", lambda d: d[[]])


@pytest.mark.parametrize("index", [np.array([0, 4, 8]), np.array([2], dtype=np.uint8),
                                   np.array([1, 2, 3], dtype=np.int32)], ids=repr)
def test_numpy_integer_array_index_matches_h5py(zoo, index):
    zoo.check("int1d", lambda d: d[index])
    zoo.check("f2d", lambda d: d[index % 6])
    zoo.check("f2d", lambda d: d[:, index % 5])


def test_numpy_integer_array_non_increasing_raises_like_h5py(zoo):
    zoo.check("int1d", lambda d: d[np.array([4, 0])])


def test_boolean_mask_1d_matches_h5py(zoo):
    mask = np.zeros(20, dtype=bool)
    mask[[0, 3, 4, 17]] = True
    zoo.check("int1d", lambda d: d[mask])
    zoo.check("int1d", lambda d: d[np.zeros(20, dtype=bool)])
    zoo.check("vlen_str", lambda d: d[np.array([True, False, True, False, True])])


def test_boolean_mask_full_shape_matches_h5py(zoo):
    zoo.check("f2d", lambda d: d[np.arange(30).reshape(6, 5) % 4 == 1])
    zoo.check("i3d", lambda d: d[np.arange(120).reshape(4, 5, 6) % 7 == 0])


def test_boolean_mask_computed_from_the_data_matches_h5py(zoo):
    zoo.check("f2d", lambda d: d[d[...] > 3.0])


def test_boolean_mask_of_wrong_shape_raises_like_h5py(zoo):
    zoo.check("int1d", lambda d: d[np.ones(7, dtype=bool)])


@pytest.mark.parametrize("index", [np.s_[1, 2:5], np.s_[-1, ::2], np.s_[1:3, 4], np.s_[0, [1, 3], 2:5],
                                   np.s_[3, 1:4, [0, 5]], np.s_[..., [1, 2], 0]], ids=repr)
def test_mixed_int_slice_and_list_index_matches_h5py(zoo, index):
    zoo.check("i3d", lambda d: d[index])


@pytest.mark.parametrize("name,index", [
    ("int1d", 20), ("int1d", -21), ("int1d", 1000), ("int1d", [1, 100]), ("int1d", np.s_[0, 0]),
    ("f2d", 6), ("f2d", np.s_[0, 5]), ("f2d", np.s_[0, -6]), ("f2d", np.s_[1, 2, 3]),
    ("f2d", np.s_[:, [1, 7]]), ("large2d", np.s_[300, 0]), ("vlen_str", 5), ("compound", -5),
], ids=repr)
def test_out_of_range_index_raises_like_h5py(zoo, name, index):
    zoo.check(name, lambda d: d[index])


@pytest.mark.parametrize("index", [np.s_[5:5], np.s_[7:3], np.s_[20:], np.s_[100:200]], ids=repr)
def test_empty_selection_matches_h5py(zoo, index):
    for name in ["int1d", "vlen_str", "fixed_S", "compound", "be_f8"]:
        zoo.check(name, lambda d: d[index])
    zoo.check("f2d", lambda d: d[index, :])
    zoo.check("f2d", lambda d: d[1, index])


@pytest.mark.parametrize("index", [np.s_[...], np.s_[()], np.s_[:], np.s_[0], np.s_[0:0],
                                   np.s_[:, 1], np.s_[:, :2], np.s_[-1]], ids=repr)
@pytest.mark.parametrize("name", ["empty0", "empty03"])
def test_indexing_zero_size_dataset_matches_h5py(zoo, name, index):
    zoo.check(name, lambda d: d[index])


@pytest.mark.parametrize("name", ["int1d", "f2d", "large2d", "be_i4", "f16", "scalar_f8", "scalar_vlen_str",
                                  "vlen_str", "fixed_S", "compound", "empty0", "enum", "null"])
def test_numpy_array_of_dataset_matches_h5py(zoo, name):
    zoo.check(name, lambda d: np.array(d))
    zoo.check(name, lambda d: np.asarray(d))


@pytest.mark.parametrize("name", ["int1d", "f2d", "be_i4", "scalar_i4"])
def test_numpy_array_with_dtype_matches_h5py(zoo, name):
    zoo.check(name, lambda d: np.asarray(d, dtype="f8"))


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_read_everything_matches_h5py_including_dtype(zoo, name):
    zoo.check(name, lambda d: d[...])


@pytest.mark.parametrize("name", ["be_i4", "be_f8", "scalar_be_u2", "f16", "c8", "u8", "i1"])
def test_byte_order_and_width_of_dtype_kept_like_h5py(zoo, name):
    h5ds, lds = zoo.both(name)
    assert lds.dtype == h5ds.dtype
    assert lds.dtype.str == h5ds.dtype.str
    assert lds[...].dtype == h5ds[...].dtype
    assert lds[...].dtype.str == h5ds[...].dtype.str


