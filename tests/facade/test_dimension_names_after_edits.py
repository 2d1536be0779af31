"""Dimension names (``_ARRAY_DIMENSIONS``) follow the facade's edits: a reference file edited in r+
mode names its arrays' dimensions as the translation of the same edits made with h5py does."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.format import annotations as ann

xr = pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")


def _base(f) -> None:
    x = f.create_dataset("x", data=np.arange(6.0))
    x.make_scale("x")
    f.create_dataset("v", data=np.zeros((4, 6)))
    f["v"].dims[1].attach_scale(x)
    f.create_dataset("w", data=np.ones(4))
    f.create_dataset("y", data=np.arange(4.0))
    f.create_dataset("g/u", data=np.arange(5.0))
    f.create_dataset("m", data=np.zeros((4, 6)))


def _edits(f) -> None:
    f["y"].make_scale("y")
    f["w"].dims[0].attach_scale(f["y"])
    f["v"].dims[1].detach_scale(f["x"])  # v's axes unlabelled again
    f["m"].dims[0].attach_scale(f["y"])
    f["m"].dims[1].attach_scale(f["x"])
    t = f.create_dataset("g/t", data=np.arange(5.0) * 2)  # a new scale in a group
    t.make_scale("t")
    f["g/u"].dims[0].attach_scale(t)
    f.create_dataset("aa", data=np.zeros((4, 7)))  # first by name: new phony dimensions, numbered first
    f.create_dataset("g/h/deep", data=np.zeros(9))
    # made in the opposite of their link order (by name): phony dimensions are numbered in link order
    f.create_dataset("b2", data=np.zeros(3))
    f.create_dataset("b1", data=np.zeros(5))
    f.create_dataset("a0/in_new_group", data=np.zeros(11))


def _dimension_names(rfs) -> dict[str, list[str]]:
    return {key[: -len("/.zarray")]: (rfs.metadata.get(key[: -len(".zarray")] + ".zattrs") or {}).get(ann.ARRAY_DIMENSIONS)
            for key in rfs.metadata if key.endswith("/.zarray")}


@pytest.fixture
def edited(tmp_path):
    """(the h5py file with the edits made by h5py, the reference file of the base with the same
    edits made through the facade in r+ mode)."""
    base = tmp_path / "base.h5"
    with h5py.File(base, "w") as f:
        _base(f)
    truth = tmp_path / "truth.h5"
    shutil.copy(base, truth)
    with h5py.File(truth, "r+") as f:
        _edits(f)
    lindi = tmp_path / "edited.lindi.json"
    lindi_core.translate_to_file(str(base), str(lindi), progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi, mode="r+") as f:
        _edits(f)
    return truth, lindi


def test_edited_reference_file_names_dimensions_as_translating_the_edited_file(edited):
    truth, lindi = edited
    expected = _dimension_names(lindi_core.translate(str(truth), progress=False))
    store = lindi_core.ReferenceStore.from_file(lindi)
    try:
        got = _dimension_names(store.rfs)
    finally:
        store.close()
    assert got == expected
    assert got["m"] == ["y", "x"] and got["g/u"] == ["t"]  # attached; a new scale
    assert all(got[name] for name in ("aa", "g/h/deep"))  # new datasets are named too


def test_xarray_over_the_edited_reference_file_sees_the_edited_dimensions(edited):
    truth, lindi = edited
    store = lindi_core.ReferenceStore.from_file(lindi).plain_view()
    try:
        for group in (None, "g", "g/h"):
            with xr.open_dataset(truth, engine="h5netcdf", phony_dims="sort", group=group) as expected:
                got = xr.open_zarr(store, group=group, consolidated=False).load()
                assert {n: v.dims for n, v in got.variables.items()} == \
                    {n: v.dims for n, v in expected.variables.items()}, group
                assert sorted(got.coords) == sorted(expected.coords), group
    finally:
        store.close()


def test_a_file_written_elsewhere_carries_the_edited_names(edited, tmp_path):
    truth, lindi = edited
    copy = tmp_path / "copy.lindi.json"
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi, mode="r+") as f:
        del f["aa"]
        f.write_lindi_file(copy)
    with h5py.File(truth, "r+") as f:
        del f["aa"]
    expected = _dimension_names(lindi_core.translate(str(truth), progress=False))
    for written in (copy, lindi):
        store = lindi_core.ReferenceStore.from_file(written)
        try:
            assert _dimension_names(store.rfs) == expected, written
        finally:
            store.close()
