"""Committed (named) HDF5 datatypes read and written as h5py's ``Datatype``.

The translator keeps a committed datatype as an empty group annotated ``_NAMED_DATATYPE``
(spec sections 8 and 10). The facade showed it as an empty group; h5py shows a ``Datatype``
with the type (enum mapping, compound fields, vlen base), its attributes, a name and a
reference. Files made by h5py and by netCDF-4 (whose user types are committed datatypes) are
compared object by object with h5py reading the same file; writes with h5py writing the same.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import ReferenceFormatError
from tests.h5compare import assert_new_file_matches_h5py
from tests.h5tree import describe_tree, dtype_marks

ENUM = h5py.enum_dtype({"off": 0, "on": 1, "unknown": -1}, basetype="i1")
COMPOUND = np.dtype([("x", "<i4"), ("y", "<f8")])
PADDED = np.dtype({"names": ["a", "b"], "formats": ["<i2", "<f8"], "offsets": [0, 8], "itemsize": 16})
RAGGED = h5py.vlen_dtype(np.dtype("<i2"))


def _build_h5py(f) -> None:
    f["enum_t"] = ENUM
    f["compound_t"] = COMPOUND
    f["padded_t"] = PADDED
    f["types/ragged_t"] = RAGGED
    f["types/float_t"] = np.dtype(">f4")
    f["types/string_t"] = h5py.string_dtype("utf-8", 7)
    f["enum_t"].attrs["units"] = "state"
    f["enum_t"].attrs["self"] = f["enum_t"].ref
    f["compound_t"].attrs.create("default", 3, dtype=f["enum_t"])
    f["alias_t"] = f["enum_t"]  # a second (hard) link to the committed type
    f.create_dataset("states", data=np.array([0, 1, -1, 1], dtype="i1"), dtype=f["enum_t"])
    f.create_dataset("points", data=np.array([(1, 2.5), (3, 4.5)], dtype=COMPOUND), dtype=f["compound_t"])
    ragged = f.create_dataset("ragged", shape=(2,), dtype=f["types/ragged_t"])
    ragged[0] = np.array([1, 2, 3], dtype="<i2")
    ragged[1] = np.array([], dtype="<i2")
    f.attrs.create("state", 1, dtype=f["enum_t"])
    f.attrs["type_ref"] = f["types/ragged_t"].ref
    f.create_dataset("type_refs", data=[f["enum_t"].ref, f["padded_t"].ref], dtype=h5py.ref_dtype)


def _build_netcdf(path) -> None:
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("x", 3)
        cloud_t = ds.createEnumType(np.uint8, "cloud_t", {"clear": 0, "cloudy": 1, "missing": 255})
        pair_t = ds.createCompoundType(np.dtype([("a", "i4"), ("b", "f8")]), "pair_t")
        ragged_t = ds.createVLType(np.int16, "ragged_t")
        cloud = ds.createVariable("cloud", cloud_t, ("x",), fill_value=255)
        cloud[:] = np.array([0, 1, 255], dtype="u1")
        pairs = ds.createVariable("pairs", pair_t, ("x",))
        pairs[:] = np.array([(1, 2.0), (3, 4.0), (5, 6.0)], dtype=[("a", "i4"), ("b", "f8")])
        ragged = ds.createVariable("ragged", ragged_t, ("x",))
        for i, row in enumerate(([1, 2], [3], [])):
            ragged[i] = np.array(row, dtype="i2")
        sub = ds.createGroup("sub")
        sub.createEnumType(np.int8, "flag_t", {"no": 0, "yes": 1})
        sub.setncattr("title", "inner")


@pytest.fixture(scope="module")
def h5py_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("committed") / "types.h5"
    with h5py.File(path, "w") as f:
        _build_h5py(f)
    return path


@pytest.fixture(scope="module")
def netcdf_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("committed") / "types.nc"
    _build_netcdf(path)
    return path


@pytest.mark.parametrize("which", ["h5py_file", "netcdf_file"])
def test_translated_file_matches_h5py_object_by_object(request, which):
    path = request.getfixturevalue(which)
    with h5py.File(path, "r") as h:
        expected = describe_tree(h)
    with lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        got = describe_tree(f)
    assert [name for name in expected if name != "order" and expected[name].get("class") == "Datatype"]
    assert got == expected


def test_datatype_object_surface_matches_h5py(h5py_file):
    with h5py.File(h5py_file, "r") as h, lindi_core.LindiH5pyFile.from_hdf5_file(h5py_file) as f:
        for name in ("enum_t", "compound_t", "padded_t", "types/ragged_t", "types/float_t", "types/string_t"):
            t, truth = f[name], h[name]
            assert isinstance(t, h5py.Datatype)
            assert not isinstance(t, (h5py.Group, h5py.Dataset))
            assert repr(t) == repr(truth)
            assert t.dtype == truth.dtype and dtype_marks(t.dtype) == dtype_marks(truth.dtype)
            assert t.name == truth.name
            assert t.parent.name == truth.parent.name and t.file is f
            assert t.id.committed() is truth.id.committed() is True
            assert t.id.dtype == truth.id.dtype
            assert f[t.ref] == t and f[t.ref].name == h[truth.ref].name
            assert f.get(name, getclass=True) is h.get(name, getclass=True) is h5py.Datatype
            assert isinstance(f.get(name, getlink=True), h5py.HardLink)
        assert h5py.check_enum_dtype(f["enum_t"].dtype) == {"off": 0, "on": 1, "unknown": -1}
        assert h5py.check_vlen_dtype(f["types/ragged_t"].dtype) == np.dtype("<i2")
        assert f["padded_t"].dtype.fields == h["padded_t"].dtype.fields
        assert f[f.attrs["type_ref"]] == f["types/ragged_t"]
        assert f["alias_t"] == f["enum_t"]  # one object, two names
        assert f["alias_t"].name == "/alias_t"
        assert f["states"].dtype == h["states"].dtype
        assert h5py.check_enum_dtype(f["states"].dtype) == h5py.check_enum_dtype(h["states"].dtype)


def test_paths_through_a_datatype_lead_nowhere_as_in_h5py(h5py_file):
    with h5py.File(h5py_file, "r") as h, lindi_core.LindiH5pyFile.from_hdf5_file(h5py_file) as f:
        for name in ("enum_t/x", "types/float_t/x/y"):
            assert (name in f) is (name in h) is False
            with pytest.raises(KeyError):
                h[name]
            with pytest.raises(KeyError):
                f[name]


def test_reference_file_keeps_the_datatype_an_empty_group_for_lindi_04(h5py_file, tmp_path):
    """LINDI 0.4 readers see `.zattrs` only: the datatype is an empty group there, its
    attributes beside it; `_NAMED_DATATYPE` lives in `.zhdf5` (spec section 8)."""
    out = tmp_path / "types.lindi.json"
    with lindi_core.LindiH5pyFile.from_hdf5_file(h5py_file) as f:
        f.write_lindi_file(out)
    refs = json.loads(out.read_text())["refs"]
    assert refs["compound_t/.zgroup"] == {"zarr_format": 2}
    assert not [k for k in refs if k.startswith("compound_t/")
                and k.rsplit("/", 1)[-1] not in (".zgroup", ".zattrs", ".zhdf5")]
    assert refs["compound_t/.zattrs"] == {"default": 3}
    assert refs["compound_t/.zhdf5"]["_NAMED_DATATYPE"] == {"dtype": {"compound": [["x", "<i4"], ["y", "<f8"]]}}
    with h5py.File(h5py_file, "r") as h, lindi_core.LindiH5pyFile.from_lindi_file(out) as f:
        assert describe_tree(f) == describe_tree(h)


def _write_types(f) -> None:
    f["enum_t"] = ENUM
    f["compound_t"] = COMPOUND
    f["padded_t"] = PADDED
    f["bool_t"] = np.dtype("?")  # libhdf5 stores an enum; h5py reads back bool
    f["g/ragged_t"] = RAGGED
    f["g/string_t"] = h5py.string_dtype("ascii")
    f["enum_t"].attrs["units"] = "state"
    f["compound_t"].attrs.create("default", 1, dtype=f["enum_t"])
    f["alias_t"] = f["enum_t"]
    f.create_dataset("states", data=np.array([0, 1, -1], dtype="i1"), dtype=f["enum_t"])
    f.create_dataset("points", shape=(2,), dtype=f["compound_t"])
    f.create_dataset("ragged", shape=(2,), dtype=f["g/ragged_t"])
    f.attrs.create("state", -1, dtype=f["enum_t"])
    f.attrs["type_ref"] = f["g/ragged_t"].ref
    f.require_dataset("required", (2,), dtype=f["compound_t"])


def test_written_datatypes_match_h5py_writing_the_same(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "types", _write_types, describe_tree)


def _outcome(operation, f):
    try:
        operation(f)
        return None
    except Exception as exc:  # the type is what must match
        return type(exc)


def _prepared(f) -> None:
    f["t"] = np.dtype("<i4")
    f["d"] = np.arange(2)


@pytest.mark.parametrize("operation", [
    pytest.param(lambda f: f.__setitem__("t", np.dtype("<i2")), id="commit-over-datatype"),
    pytest.param(lambda f: f.__setitem__("d", np.dtype("<i2")), id="commit-over-dataset"),
    pytest.param(lambda f: f.__setitem__("t/x", np.dtype("<i2")), id="commit-below-datatype"),
    pytest.param(lambda f: f.create_group("t/x"), id="group-below-datatype"),
    pytest.param(lambda f: f.create_group("d/x"), id="group-below-dataset"),
    pytest.param(lambda f: f.create_dataset("t/x", shape=(2,)), id="dataset-below-datatype"),
    pytest.param(lambda f: f.__setitem__("t/x", h5py.SoftLink("/d")), id="link-below-datatype"),
    pytest.param(lambda f: f.move("d", "t/x"), id="move-below-datatype"),
    pytest.param(lambda f: f.copy("d", "t/x"), id="copy-below-datatype"),
    pytest.param(lambda f: f.__setitem__("u", np.dtype("U3")), id="commit-unicode"),
    pytest.param(lambda f: f.create_dataset("e", data=np.array([5], "i1"), dtype=f["t"]), id="dataset-of-datatype"),
])
def test_refused_writes_fail_as_in_h5py_and_leave_nothing(tmp_path, operation):
    with h5py.File(tmp_path / "truth.h5", "w") as h:
        _prepared(h)
        expected = _outcome(operation, h)
        expected_tree = describe_tree(h)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "f.lindi.json", "w") as f:
        _prepared(f)
        assert _outcome(operation, f) is expected
        assert describe_tree(f) == expected_tree
        keys = set(f._rfs.metadata) | set(f._rfs.inline)
        assert not [k for k in keys if k.startswith(("t/", "d/x", "u/"))
                    and k not in ("t/.zgroup", "t/.zattrs")]


def test_datatype_attributes_are_writable_in_r_plus_only(h5py_file, tmp_path):
    path = tmp_path / "types.lindi.json"
    with lindi_core.LindiH5pyFile.from_hdf5_file(h5py_file) as f:
        f.write_lindi_file(path)
        with pytest.raises(OSError):
            f["enum_t"].attrs["new"] = 1
    with lindi_core.LindiH5pyFile.from_lindi_file(path, "r+") as f:
        f["enum_t"].attrs["new"] = np.arange(3)
        del f["enum_t"].attrs["units"]
    with lindi_core.LindiH5pyFile.from_lindi_file(path) as f:
        assert sorted(f["enum_t"].attrs) == ["new", "self"]
        np.testing.assert_array_equal(f["enum_t"].attrs["new"], np.arange(3))
        assert isinstance(f["enum_t"], h5py.Datatype)


def _copy_within(f) -> None:
    _write_types(f)
    f.copy("enum_t", "copied_t")
    f.copy("g", "g_copy")
    f.copy(f["padded_t"], f["g"], name="padded_copy")


def test_copies_within_a_file_match_h5py(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "copies", _copy_within, describe_tree)


def test_copy_from_an_hdf5_file_matches_h5py_copying_between_hdf5_files(h5py_file, tmp_path):
    with h5py.File(h5py_file, "r") as source:
        with h5py.File(tmp_path / "truth.h5", "w") as h:
            h.copy(source["types"], "types")
            h.copy(source["enum_t"], "enum_t")
            h.copy(source["types/float_t"], h, name="f")
        with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "f.lindi.json", "w") as f:
            f.copy(source["types"], "types")
            f.copy(source["enum_t"], "enum_t")
            f.copy(source["types/float_t"], f, name="f")
    with h5py.File(tmp_path / "truth.h5", "r") as h, \
            lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "f.lindi.json") as f:
        expected = describe_tree(h)
        assert expected["enum_t"]["class"] == expected["f"]["class"] == "Datatype"
        assert describe_tree(f) == expected


def test_copy_between_reference_files_matches_h5py_copying_between_hdf5_files(h5py_file, tmp_path):
    with h5py.File(h5py_file, "r") as source, h5py.File(tmp_path / "truth.h5", "w") as h:
        h.copy(source["types"], "types")
        h.copy(source["padded_t"], h, name="p")
        expected = describe_tree(h)
    with lindi_core.LindiH5pyFile.from_hdf5_file(h5py_file) as source, \
            lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "f.lindi.json", "w") as f:
        f.copy(source["types"], "types")
        f.copy(source["padded_t"], f, name="p")
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "f.lindi.json") as f:
        assert expected["p"]["class"] == "Datatype"
        assert describe_tree(f) == expected


@pytest.mark.parametrize("annotation", [{"dtype": {"enum": "oops"}}, {}, 5, {"dtype": {"vlen": None}}])
def test_a_datatype_without_a_type_description_is_a_format_error(annotation):
    rfs = {"version": 1, "refs": {".zgroup": {"zarr_format": 2}, "bad/.zgroup": {"zarr_format": 2},
                                  "bad/.zhdf5": {"_NAMED_DATATYPE": annotation}}}
    with pytest.raises(ReferenceFormatError, match="bad"):
        with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
            assert isinstance(f["bad"], h5py.Datatype)
            _ = f["bad"].dtype


def test_a_datatypes_id_is_a_committed_libhdf5_type_equal_to_its_datasets_type(tmp_path):
    """h5py compares type ids with libhdf5's type equality; h5netcdf finds a netCDF variable's
    user type by comparing the dataset's type with each committed type's id, as here."""
    netCDF4 = pytest.importorskip("netCDF4")
    h5netcdf = pytest.importorskip("h5netcdf")
    path = str(tmp_path / "user_types.nc")
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("x", 4)
        cloud = nc.createEnumType(np.uint8, "cloud_t", {"clear": 0, "cloudy": 1})
        nc.createVariable("clouds", cloud, ("x",))[:] = [0, 1, 1, 0]
        point = nc.createCompoundType(np.dtype([("lat", "<f4"), ("lon", "<f4")]), "point_t")
        nc.createVariable("points", point, ("x",))
    with lindi_core.LindiH5pyFile.from_hdf5_file(path) as f, h5py.File(path, "r") as h:
        for name, variable in (("cloud_t", "clouds"), ("point_t", "points")):
            got, expected = f[name].id, h[name].id
            assert isinstance(got, h5py.h5t.TypeID) and got.committed() and expected.committed()
            assert got.get_class() == expected.get_class()
            assert (f[variable].id.get_type() == got) == (h[variable].id.get_type() == expected) is True
            assert got == f[name].id and hash(got) == hash(f[name].id)  # the same stored object
        assert f["cloud_t"].id != f["point_t"].id
        for source in (f, path):
            with h5netcdf.File(source, "r") as nc:
                datatype = nc.variables["clouds"].datatype
                assert (type(datatype).__name__, datatype.name, datatype.enum_dict) == \
                    ("EnumType", "cloud_t", {"clear": 0, "cloudy": 1})
