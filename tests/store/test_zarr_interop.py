"""The store is an ordinary zarr-python 3 store: format detection, listing, dask."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import zarr

import lindi_core


def test_open_group_detects_v2_and_lists_members(make_h5, tmp_path):
    def build(f):
        f.create_group("b").create_dataset("x", data=np.arange(10))
        f.create_group("a")

    out = tmp_path / "x.lindi.json"
    lindi_core.translate_to_file(make_h5(build), out, progress=False)
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(out), mode="r")
    assert root.metadata.zarr_format == 2
    assert sorted(root.group_keys()) == ["a", "b"]
    assert list(root["b"].array_keys()) == ["x"]


def test_store_refuses_writes(make_h5, tmp_path):
    out = tmp_path / "x.lindi.json"
    lindi_core.translate_to_file(make_h5(lambda f: f.create_dataset("x", data=np.arange(10))), out, progress=False)
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(out), mode="r")
    with pytest.raises(ValueError, match="read-only"):
        root["x"][0] = 5
    with pytest.raises(ValueError, match="read-only"):
        zarr.open_group(lindi_core.ReferenceStore.from_file(out), mode="a")


def test_dask_reads_translated_arrays(make_h5, tmp_path):
    da = pytest.importorskip("dask.array")
    data = np.random.default_rng(0).normal(size=(3000, 8))
    path = make_h5(lambda f: f.create_dataset("x", data=data, chunks=(250, 8), compression="gzip"))
    out = tmp_path / "x.lindi.json"
    lindi_core.translate_to_file(path, out, progress=False)
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(out), mode="r")
    lazy = da.from_zarr(root["x"])
    assert lazy.chunks[0][0] == 250
    with h5py.File(path) as f:
        np.testing.assert_allclose(lazy.mean(axis=0).compute(), f["x"][...].mean(axis=0))
