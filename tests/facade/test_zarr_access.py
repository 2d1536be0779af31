"""The facade's datasets are zarr-python 3 arrays underneath, usable from dask."""

from __future__ import annotations

import numpy as np
import pytest

import lindi_core


def test_zarr_array_and_dask_on_facade_datasets(make_h5):
    da = pytest.importorskip("dask.array")
    data = np.arange(20_000, dtype="<f4").reshape(2000, 10)
    path = make_h5(lambda f: f.create_dataset("x", data=data, chunks=(500, 10), compression="gzip"))
    f = lindi_core.LindiH5pyFile.from_hdf5_file(path)
    array = f["x"].zarr_array
    assert array.shape == (2000, 10) and array.chunks == (500, 10)
    np.testing.assert_allclose(da.from_zarr(array).sum(axis=0).compute(), data.sum(axis=0))
    rfs = f.to_reference_file_system()
    assert rfs["refs"]["x/.zarray"]["chunks"] == [500, 10]
    f.close()


def test_empty_and_sparse_boolean_masks_read_like_h5py(make_h5):
    import h5py

    data = np.arange(600).reshape(20, 30)
    path = make_h5(lambda g: g.create_dataset("x", data=data, chunks=(5, 7)))
    f = lindi_core.LindiH5pyFile.from_hdf5_file(path, options=lindi_core.ChunkOptions(inline_threshold=0))
    with h5py.File(path) as h:
        for mask in (np.zeros(data.shape, bool), data % 97 == 0):
            np.testing.assert_array_equal(f["x"][mask], h["x"][mask])
    f.close()
