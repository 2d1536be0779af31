"""Scalars, null dataspaces, strings, references and the facade's classes match h5py
(see :mod:`tests.facade.h5py_semantics_harness`).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from tests.facade.h5py_semantics_harness import (
    SANITY_MODE,
    SCALARS,
    assert_same_object,
    assert_same_reference,
    assert_same_value,
)

# --------------------------------------------------------------------------------------------
# Scalars, null dataspaces, strings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCALARS)
def test_scalar_dataset_value_type_and_shape_match_h5py(zoo, name):
    h5ds, lds = zoo.both(name)
    assert lds.shape == () == h5ds.shape
    assert lds.ndim == 0
    assert_same_value(zoo, lds[()], h5ds[()])


@pytest.mark.parametrize("name", ["scalar_vlen_str", "scalar_vlen_ascii"])
def test_scalar_vlen_string_reads_as_bytes_like_h5py(zoo, name):
    h5ds, lds = zoo.both(name)
    assert type(h5ds[()]) is bytes
    assert type(lds[()]) is bytes
    assert lds[()] == h5ds[()]
    assert lds.asstr()[()] == h5ds.asstr()[()]


@pytest.mark.parametrize("name", ["null", "null_str"])
def test_null_dataspace_dataset_reads_as_empty_like_h5py(zoo, name):
    h5ds, lds = zoo.both(name)
    assert h5ds.shape is None
    assert lds.shape is None
    value = lds[()]
    assert isinstance(value, h5py.Empty)
    assert value.dtype == h5ds[()].dtype
    assert lds.dtype == h5ds.dtype
    zoo.check(name, lambda d: d[...])
    zoo.check(name, lambda d: d[0])
    zoo.check(name, lambda d: (d.size, d.ndim, d.maxshape, d.chunks))


@pytest.mark.parametrize("name", ["vlen_str", "vlen_str2d", "vlen_ascii", "vlen_str_chunked"])
def test_vlen_string_dataset_reads_bytes_objects_like_h5py(zoo, name):
    h5ds, lds = zoo.both(name)
    expected, got = h5ds[...], lds[...]
    assert got.dtype == np.dtype("O")
    assert all(type(v) is bytes for v in got.ravel())
    assert_same_value(zoo, got, expected)
    zoo.check(name, lambda d: d[0])
    zoo.check(name, lambda d: d.asstr()[...])


@pytest.mark.parametrize("name", ["fixed_S", "fixed_utf8", "scalar_fixed_S", "scalar_fixed_utf8"])
def test_fixed_length_string_dataset_reads_bytes_arrays_like_h5py(zoo, name):
    h5ds, lds = zoo.both(name)
    assert lds.dtype == h5ds.dtype
    assert h5py.check_string_dtype(lds.dtype) == h5py.check_string_dtype(h5ds.dtype)
    assert_same_value(zoo, lds[()], h5ds[()])
    zoo.check(name, lambda d: d[...])


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(4))
def test_object_reference_dataset_resolves_like_h5py(zoo, index):
    h5ref, lref = zoo.h5["refs"][index], zoo.lf["refs"][index]
    assert isinstance(lref, h5py.Reference)
    assert bool(lref) == bool(h5ref)
    if h5ref:
        assert zoo.lf[lref].name == zoo.h5[h5ref].name
        assert_same_object(zoo.lf[lref], zoo.h5[h5ref], f"refs[{index}]")
    # dereferencing (a null reference raises in h5py)
    zoo.check_with_args(lambda f, ref: f[ref], (zoo.h5, h5ref), (zoo.lf, lref))


def test_null_object_reference_is_falsy(zoo):
    assert not zoo.h5["refs"][2]
    assert not zoo.lf["refs"][2]
    assert bool(zoo.lf["refs"][0]) is True


def test_object_reference_read_in_bulk_resolves_like_h5py(zoo):
    zoo.check("refs", lambda d: d[...])
    zoo.check("refs", lambda d: d[1:])
    zoo.check("scalar_ref", lambda d: d[()])


def test_dereferenced_object_is_readable_like_h5py(zoo):
    h5obj, lobj = zoo.h5[zoo.h5["refs"][0]], zoo.lf[zoo.lf["refs"][0]]
    assert_same_value(zoo, lobj[...], h5obj[...])
    h5obj, lobj = zoo.h5[zoo.h5["scalar_ref"][()]], zoo.lf[zoo.lf["scalar_ref"][()]]
    assert_same_value(zoo, lobj[1:3], h5obj[1:3])


def test_reference_resolves_from_a_subgroup_like_h5py(zoo):
    h5ref, lref = zoo.h5["refs"][3], zoo.lf["refs"][3]
    assert zoo.lf["g"][lref].name == zoo.h5["g"][h5ref].name
    assert zoo.lf["int1d"].parent[lref].name == zoo.h5["int1d"].parent[h5ref].name


def test_object_ref_property_round_trips_like_h5py(zoo):
    for name in ["int1d", "g", "g/nested", "f2d"]:
        h5obj, lobj = zoo.both(name)
        lref = lobj.ref
        assert isinstance(lref, h5py.Reference)
        assert not isinstance(lref, h5py.RegionReference)
        assert zoo.lf[lref].name == zoo.h5[h5obj.ref].name


@pytest.mark.parametrize("index", range(6))
def test_region_reference_dataset_resolves_like_h5py(zoo, index):
    h5ref, lref = zoo.h5["regionrefs"][index], zoo.lf["regionrefs"][index]
    assert_same_reference(zoo, lref, h5ref, f"regionrefs[{index}]")


@pytest.mark.parametrize("index", [0, 1, 2, 3, 5])
def test_region_reference_selects_same_values_as_h5py(zoo, index):
    h5ref, lref = zoo.h5["regionrefs"][index], zoo.lf["regionrefs"][index]
    h5target, ltarget = zoo.h5[h5ref], zoo.lf[lref]
    assert ltarget.name == h5target.name
    assert_same_value(zoo, ltarget[lref], h5target[h5ref])


def test_region_reference_on_other_dataset_raises_like_h5py(zoo):
    h5ref, lref = zoo.h5["regionrefs"][0], zoo.lf["regionrefs"][0]  # points into int1d
    zoo.check_with_args(lambda d, ref: d[ref], (zoo.h5["f2d"], h5ref), (zoo.lf["f2d"], lref))


# h5py can only create region references on a file opened with write intent: on a read-only
# file ``ds.regionref[sel]`` raises RuntimeError ("no write intent on file"). The facade is a
# read-only file, so it must behave the same way (and if h5py ever returns a reference here,
# the comparison checks that both select the same values).
REGIONREF_SELECTIONS = [np.s_[2:5], np.s_[...], np.s_[::3], np.s_[[1, 4, 9]], np.s_[7],
                        np.arange(20) % 3 == 0]


@pytest.mark.parametrize("sel", REGIONREF_SELECTIONS, ids=repr)
def test_regionref_property_on_read_only_file_behaves_like_h5py(zoo, sel):
    zoo.check("int1d", lambda d: d.regionref[sel])


def test_regionref_property_on_2d_dataset_behaves_like_h5py(zoo):
    for sel in [np.s_[1:3, 2:4], np.s_[:, 0], np.s_[4, :], np.s_[::2, 1:5:2]]:
        zoo.check("f2d", lambda d, sel=sel: d.regionref[sel])


def test_regionref_property_exists_on_datasets_like_h5py(zoo):
    zoo.check("int1d", lambda d: hasattr(d, "regionref"))
    zoo.check("g", lambda g: hasattr(g, "regionref"))


def test_reference_dtype_checks_match_h5py(zoo):
    for name in ["refs", "scalar_ref", "regionrefs"]:
        h5ds, lds = zoo.both(name)
        assert h5py.check_ref_dtype(lds.dtype) is h5py.check_ref_dtype(h5ds.dtype)
        assert lds.dtype == h5ds.dtype


# --------------------------------------------------------------------------------------------
# Facade classes
# --------------------------------------------------------------------------------------------

needs_facade = pytest.mark.skipif(SANITY_MODE, reason="sanity mode opens h5py on both sides")


@needs_facade
def test_facade_objects_are_h5py_subclasses(zoo):
    lf = zoo.lf
    assert isinstance(lf, lindi_core.LindiH5pyFile) and isinstance(lf, h5py.File)
    assert isinstance(lf["g"], lindi_core.LindiH5pyGroup) and isinstance(lf["g"], h5py.Group)
    assert isinstance(lf["/"], lindi_core.LindiH5pyGroup)
    assert isinstance(lf["int1d"], lindi_core.LindiH5pyDataset) and isinstance(lf["int1d"], h5py.Dataset)
    assert isinstance(lf["refs"][0], lindi_core.LindiH5pyReference)
    assert isinstance(lf["refs"][0], h5py.Reference)
    assert isinstance(lf["int1d"].parent, lindi_core.LindiH5pyGroup)
    assert isinstance(lf["int1d"].file, lindi_core.LindiH5pyFile)


