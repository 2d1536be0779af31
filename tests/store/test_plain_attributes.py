"""The plain view of a reference store: Zarr readers see an object's attributes, not lindi-core's
annotations; the store itself, the facade and the reference file keep every annotation."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import ReferenceFormatError
from lindi_core.format import annotations as ann
from lindi_core.store.plain_attributes import PlainAttributesStore


def _build(f: h5py.File) -> None:
    f.attrs["title"] = "plain"
    f.attrs.create("typed", 3, dtype="i2")  # recorded in _ATTR_DTYPES
    x = f.create_dataset("x", data=np.arange(6.0), maxshape=(None,), chunks=(2,))  # _HDF5_MAXSHAPE
    x.make_scale("x")
    x.attrs["units"] = "s"
    f.create_dataset("v", data=np.arange(6.0) * 2)
    f["v"].dims[0].attach_scale(x)
    f["scalar"] = 1.5  # _SCALAR
    f.create_dataset("contiguous", data=np.arange(4))  # _HDF5_CHUNKS: null


@pytest.fixture
def translated(make_h5, tmp_path):
    path = make_h5(_build)
    lindi = tmp_path / "plain.lindi.json"
    lindi_core.translate_to_file(path, str(lindi), progress=False)
    return path, lindi


def _user_attrs(h5obj) -> dict:
    return sorted(h5obj.attrs)


def test_the_view_shows_the_hdf5_attributes_and_the_dimension_names_only(translated):
    path, lindi = translated
    store = lindi_core.ReferenceStore.from_file(lindi)
    view = store.plain_view()
    try:
        annotated = zarr.open_group(store, mode="r", zarr_format=2)
        plain = zarr.open_group(view, mode="r", zarr_format=2)
        with h5py.File(path, "r") as h:
            assert sorted(plain.attrs) == _user_attrs(h)
            assert plain.attrs["title"] == "plain" and plain.attrs["typed"] == 3
            assert ann.ATTR_DTYPES in annotated.attrs  # the store itself keeps them
            for name in ("x", "v", "scalar", "contiguous"):
                names = [k for k in plain[name].attrs if k != ann.ARRAY_DIMENSIONS]
                assert sorted(names) == _user_attrs(h[name]), name
                assert set(annotated[name].attrs) - set(plain[name].attrs), name  # something was hidden
        assert plain["v"].attrs[ann.ARRAY_DIMENSIONS] == ["x"]
        assert annotated["scalar"].attrs[ann.SCALAR] is True and ann.SCALAR not in plain["scalar"].attrs
        np.testing.assert_array_equal(plain["x"][...], np.arange(6.0))
    finally:
        store.close()


def test_a_zarr_writer_through_the_view_keeps_the_annotations(translated, tmp_path):
    _, lindi = translated
    store = lindi_core.ReferenceStore.from_file(lindi).with_read_only(False)
    before = dict(store.rfs.metadata["x/.zattrs"])
    assert ann.HDF5_MAXSHAPE in before
    view = store.plain_view()
    array = zarr.open_array(view, path="x", mode="r+", zarr_format=2)
    array.resize((8,))  # rewrites .zarray and .zattrs
    array.attrs["added"] = 1
    after = store.rfs.metadata["x/.zattrs"]
    assert {k: after[k] for k in before} == before
    assert after["added"] == 1
    group = zarr.open_group(view, mode="r+", zarr_format=2)
    with pytest.raises(ReferenceFormatError, match="_SCALAR"):
        group["scalar"].attrs[ann.SCALAR] = False
    assert store.rfs.metadata["scalar/.zattrs"][ann.SCALAR] is True


def test_the_view_pickles_as_a_view_and_the_file_on_disk_is_unchanged(translated):
    _, lindi = translated
    on_disk = json.loads(lindi.read_text())
    view = lindi_core.ReferenceStore.from_file(lindi).plain_view()
    copy = pickle.loads(pickle.dumps(view))
    assert isinstance(copy, PlainAttributesStore) and copy == view
    assert view != lindi_core.ReferenceStore.from_file(lindi)
    assert ann.ATTR_DTYPES not in zarr.open_group(copy, mode="r", zarr_format=2).attrs
    # the facade over the same file still reads the exact attribute types
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f:
        assert f.attrs["typed"].dtype == np.dtype("i2")
    assert json.loads(lindi.read_text()) == on_disk
