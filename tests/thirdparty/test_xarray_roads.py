"""xarray opens translated files by both roads (issue 15), and sees what it sees in the original.

* The Zarr road: ``xarray.open_zarr(ReferenceStore.plain_view())`` (the view serves ``.zattrs``
  without lindi-core's annotations, which would otherwise show as attributes). It needs every array's dimension names
  (``_ARRAY_DIMENSIONS``, written by the translation as h5netcdf names them). What xarray's Zarr
  backend then shows differs from its netCDF backends in ways of its own, which the comparisons
  here undo explicitly, each for its reason:

  - it masks values equal to the Zarr ``fill_value`` (the HDF5 fill value), where the netCDF
    backends mask only a declared ``_FillValue`` (an int variable without one becomes float).
    So the netCDF files are compared with ``mask_and_scale=False`` on both sides, and
    ``test_cf_decoding_over_zarr_*`` checks xarray's default decoding on a file whose every
    variable declares its fill value (as xarray writes floats and packed integers);
  - it shows every HDF5 attribute: netCDF-4's bookkeeping (``CLASS``, ``NAME``,
    ``DIMENSION_LIST``, ``_Netcdf4Dimid``...) which h5netcdf hides;
    attribute arrays of one element stay arrays (netCDF readers give the element), complex
    values are ``[re, im]`` (spec section 7);
  - a netCDF dimension without a coordinate variable is an HDF5 dataset (a dimension scale named
    "This is a netCDF dimension but not a netCDF variable"), so a Zarr array: dropped with
    ``drop_variables``. xarray decides whether to join character arrays (``S1`` along a
    character dimension) into strings before it drops variables, and joins none along a
    dimension that has a variable: the netCDF files are compared with ``concat_characters=False``;
  - a scalar dataset is a one-element array along ``_scalar``.

* The h5py road: ``xarray.open_dataset(LindiH5pyFile, engine="h5netcdf")``: h5netcdf drives the
  facade as it drives h5py. Compared with ``assert_identical`` as it is.

The netCDF files are those of the netCDF4 and h5netcdf/xarray corpora (unlimited dimensions,
groups, compression, strings, coordinates, attributes, datetime coordinates, NaN, packed
integers); netCDF4's user-type file is left out: h5netcdf cannot open the original.
"""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.format import annotations as ann
from tests.thirdparty.test_h5netcdf_xarray import FILES as H5NETCDF_FILES
from tests.thirdparty.test_netcdf4 import FILES as NETCDF4_FILES

xr = pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")

FILES = {**{f"netcdf4_{name}": write for name, write in NETCDF4_FILES.items() if name != "user_types"},
         **H5NETCDF_FILES}
# What h5netcdf hides from a variable's or group's attributes (h5netcdf.attrs._HIDDEN_ATTRS).
NETCDF_BOOKKEEPING = {"REFERENCE_LIST", "CLASS", "DIMENSION_LIST", "NAME", "_Netcdf4Dimid", "_Netcdf4Coordinates",
                      "_nc3_strict", "_NCProperties"}
DIMENSION_ONLY = b"This is a netCDF dimension but not a netCDF variable"


@pytest.fixture(scope="module")
def netcdf_file(tmp_path_factory):
    directory = tmp_path_factory.mktemp("xarray_roads")
    made: dict[str, tuple] = {}

    def make(name: str):
        if name not in made:
            path = directory / f"{name}.nc"
            FILES[name](path)
            lindi = directory / f"{name}.lindi.json"
            lindi_core.translate_to_file(str(path), str(lindi), progress=False)
            made[name] = path, lindi
        return made[name]

    return make


def _groups(path) -> list[str | None]:
    found: list[str | None] = [None]
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Group) else None)
    return found


def _dimension_only(path, group: str | None) -> list[str]:
    with h5py.File(path, "r") as f:
        g = f[group or "/"]
        return [name for name, obj in g.items()
                if isinstance(obj, h5py.Dataset) and DIMENSION_ONLY in bytes(obj.attrs.get("NAME", b""))]


def _attribute_as_netcdf_gives_it(value, like):
    """An attribute's JSON value (spec section 7) as netCDF readers give the HDF5 attribute."""
    if like is not None and np.asarray(like).dtype.kind == "f":  # non-finite floats are strings in JSON
        items = np.asarray(value, dtype=object)
        value = np.array([ann.NAN_STRINGS.get(v, v) if isinstance(v, str) else v for v in items.ravel()],
                         dtype=float).reshape(items.shape)
    if like is not None and np.iscomplexobj(like):  # complex numbers are [re, im]
        value = np.asarray(value)[..., 0] + 1j * np.asarray(value)[..., 1]
    if isinstance(value, list):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.size == 1:
        value = value[0]
    return value


def _as_netcdf_readers_show(zarr_road, reference):
    """The Zarr road's dataset with xarray's Zarr-specific differences (module docstring) undone."""
    if "_scalar" in zarr_road.dims:
        zarr_road = zarr_road.squeeze("_scalar")
    hidden = NETCDF_BOOKKEEPING  # (no annotation: the plain view leaves them out)
    for name, variable in [(None, zarr_road), *zarr_road.variables.items()]:
        like = reference.attrs if name is None else reference[name].attrs
        attrs = {k: _attribute_as_netcdf_gives_it(v, like.get(k)) for k, v in variable.attrs.items() if k not in hidden}
        # the Zarr fill value xarray puts there: netCDF's _FillValue where the file declares one
        fill = attrs.pop("_FillValue", None)
        if "_FillValue" in like:
            assert np.array_equal(fill, like["_FillValue"], equal_nan=np.asarray(fill).dtype.kind == "f"), name
            attrs["_FillValue"] = like["_FillValue"]
        variable.attrs = attrs
    return zarr_road


@pytest.mark.parametrize("name", sorted(FILES))
def test_h5netcdf_opens_the_facade_as_it_opens_the_file(netcdf_file, name):
    path, lindi = netcdf_file(name)
    for group in _groups(path):
        with lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f, \
                xr.open_dataset(f, engine="h5netcdf", group=group) as got, \
                xr.open_dataset(path, engine="h5netcdf", group=group) as expected:
            xr.testing.assert_identical(got.load(), expected.load())


@pytest.mark.parametrize("name", sorted(FILES))
def test_open_zarr_gives_the_stored_netcdf_variables(netcdf_file, name):
    path, lindi = netcdf_file(name)
    store = lindi_core.ReferenceStore.from_file(lindi).plain_view()
    try:
        for group in _groups(path):
            with xr.open_dataset(path, engine="h5netcdf", group=group, mask_and_scale=False,
                                 concat_characters=False) as expected:
                expected = expected.load()
                got = xr.open_zarr(store, group=group, consolidated=False, mask_and_scale=False,
                                   concat_characters=False, drop_variables=_dimension_only(path, group)).load()
                xr.testing.assert_identical(_as_netcdf_readers_show(got, expected), expected)
    finally:
        store.close()


def _write_cf(path) -> None:
    import pandas as pd

    temperature = np.arange(15.0).reshape(5, 3) + 270.0
    temperature[1, 2] = np.nan
    ds = xr.Dataset(
        {"temperature": (("time", "x"), temperature, {"units": "K", "long_name": "air temperature"}),
         "packed": (("time",), np.array([0.1, 0.25, np.nan, 0.4, 0.5]))},
        coords={"time": pd.date_range("2000-01-01", periods=5, freq="12h"), "x": [0.5, 1.5, 2.5],
                "lat": (("x",), np.array([10.0, np.nan, -3.5]))},
        attrs={"title": "CF decoding over Zarr"},
    )
    ds.to_netcdf(path, engine="netcdf4", encoding={
        "temperature": {"zlib": True, "chunksizes": (2, 3)},
        "packed": {"dtype": "i2", "scale_factor": 0.01, "add_offset": 0.0, "_FillValue": -32768},
        "time": {"units": "hours since 2000-01-01", "dtype": "i8"},
    })


def _assert_cf_road_matches(store, path) -> None:
    with xr.open_dataset(path, engine="h5netcdf") as expected:
        expected = expected.load()
        got = xr.open_zarr(store, consolidated=False).load()
        assert got["packed"].dtype == np.float64 and np.isnan(got["packed"].values[2])  # unpacked, masked
        assert got["time"].dtype.kind == "M"
        xr.testing.assert_identical(_as_netcdf_readers_show(got, expected), expected)


def test_cf_decoding_over_zarr_matches_the_netcdf_backends(tmp_path):
    _write_cf(tmp_path / "cf.nc")
    lindi_core.translate_to_file(str(tmp_path / "cf.nc"), str(tmp_path / "cf.lindi.json"), progress=False)
    store = lindi_core.ReferenceStore.from_file(tmp_path / "cf.lindi.json").plain_view()
    try:
        _assert_cf_road_matches(store, tmp_path / "cf.nc")
    finally:
        store.close()


def test_both_roads_over_http(tmp_path, serve):
    _write_cf(tmp_path / "cf.nc")
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("cf.nc"), str(tmp_path / "cf.lindi.json"), progress=False)
    store = lindi_core.ReferenceStore.from_file(server.url_for("cf.lindi.json")).plain_view()
    try:
        _assert_cf_road_matches(store, tmp_path / "cf.nc")
    finally:
        store.close()
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("cf.lindi.json")) as f, \
            xr.open_dataset(f, engine="h5netcdf") as got, \
            xr.open_dataset(tmp_path / "cf.nc", engine="h5netcdf") as expected:
        xr.testing.assert_identical(got.load(), expected.load())


def _write_plain(f: h5py.File) -> None:
    """HDF5 without a dimension scale: every axis is a phony dimension."""
    f["a"] = np.arange(1.0, 13.0).reshape(3, 4)
    f["b"] = np.arange(1.0, 5.0)
    f["square"] = np.ones((4, 4))  # two axes of one length: two dimensions
    f["scalar"] = 3.5
    g = f.create_group("g")
    g["d"] = np.full((5, 3), 2.0)
    g["e"] = np.full(3, 7.0)
    g.create_group("h")["f"] = np.full((2, 2, 7), 9.0)
    f["after_groups"] = np.full(7, 1.5)


def test_open_zarr_names_unlabelled_axes_as_h5netcdf_does(make_h5, tmp_path):
    path = make_h5(_write_plain)
    lindi = tmp_path / "plain.lindi.json"
    lindi_core.translate_to_file(path, str(lindi), progress=False)
    store = lindi_core.ReferenceStore.from_file(lindi).plain_view()
    try:
        for group in _groups(path):
            with xr.open_dataset(path, engine="h5netcdf", phony_dims="sort", group=group) as expected, \
                    lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f, \
                    xr.open_dataset(f, engine="h5netcdf", phony_dims="sort", group=group) as by_facade:
                expected = expected.load()
                xr.testing.assert_identical(by_facade.load(), expected)
                got = xr.open_zarr(store, group=group, consolidated=False).load()
                xr.testing.assert_identical(_as_netcdf_readers_show(got, expected), expected)
    finally:
        store.close()
    refs = json.loads(lindi.read_text())["refs"]
    assert refs["square/.zhdf5"][ann.ARRAY_DIMENSIONS] == ["phony_dim_1", "phony_dim_2"]
    assert refs["scalar/.zhdf5"][ann.ARRAY_DIMENSIONS] == ["_scalar"]


def test_the_dimension_names_are_no_hdf5_attribute(make_h5, tmp_path):
    def build(f):
        f["x"] = np.arange(3.0)
        f["x"].make_scale("x")
        f["v"] = np.arange(6.0).reshape(2, 3)
        f["v"].dims[1].attach_scale(f["x"])
        f["v"].attrs["units"] = "m"

    path = make_h5(build)
    lindi = tmp_path / "scales.lindi.json"
    lindi_core.translate_to_file(path, str(lindi), progress=False)
    refs = json.loads(lindi.read_text())["refs"]
    # On disk beside the attributes, in .zhdf5: LINDI 0.4 shows every .zattrs key as an HDF5
    # attribute. lindi-core's store serves them in .zattrs, where Zarr readers look.
    assert refs["v/.zhdf5"][ann.ARRAY_DIMENSIONS] == ["phony_dim_1", "x"]
    assert refs["x/.zhdf5"][ann.ARRAY_DIMENSIONS] == ["x"]
    assert all(ann.ARRAY_DIMENSIONS not in refs.get(f"{name}/.zattrs", {}) for name in ("v", "x"))
    store = lindi_core.ReferenceStore.from_file(lindi)
    try:
        assert zarr.open_array(store, path="v", mode="r", zarr_format=2).attrs[ann.ARRAY_DIMENSIONS] == ["phony_dim_1", "x"]
    finally:
        store.close()
    with h5py.File(path, "r") as h, lindi_core.LindiH5pyFile.from_lindi_file(lindi) as f:
        for name in ("v", "x"):
            assert sorted(f[name].attrs) == sorted(h[name].attrs)
            assert ann.ARRAY_DIMENSIONS not in f[name].attrs
        assert math.isclose(float(f["v"][1, 2]), 5.0)


def _write_hdf5_of_every_kind(f: h5py.File) -> None:
    f["data"] = np.arange(1.0, 11.0)
    f["rows"] = np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")])  # JSON rows
    f["table"] = np.zeros(100_000, dtype=[("a", "i4"), ("b", "f8")])  # a structured Zarr array
    f["strings"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
    f.create_dataset("refs", data=[f["data"].ref, f["data"].ref], dtype=h5py.ref_dtype)
    f.create_dataset("enum", data=np.array([0, 1], "u1"), dtype=h5py.enum_dtype({"a": 0, "b": 1}, basetype="u1"))
    f.create_dataset("empty", data=h5py.Empty("f4"))
    f.create_dataset("ragged", shape=(2,), dtype=h5py.vlen_dtype("i4"))[0] = [1, 2, 3]
    f["text"] = "hello"
    f.create_group("grp")["x"] = np.ones((2, 3))
    f["soft"] = h5py.SoftLink("/data")
    f["hard"] = f["data"]
    f["named_type"] = np.dtype("i2")


def test_open_zarr_opens_hdf5_of_every_kind(make_h5, tmp_path):
    path = make_h5(_write_hdf5_of_every_kind)
    lindi = tmp_path / "kinds.lindi.json"
    lindi_core.translate_to_file(path, str(lindi), progress=False)
    store = lindi_core.ReferenceStore.from_file(lindi)
    try:
        # (xarray cannot mask the fill value of a structured array: values as stored)
        got = xr.open_zarr(store, consolidated=False, mask_and_scale=False).load()
        grp = xr.open_zarr(store, group="grp", consolidated=False).load()
    finally:
        store.close()
    with h5py.File(path, "r") as h:
        assert np.array_equal(got["data"].values, h["data"][()])
        assert np.array_equal(got["table"].values, h["table"][()])
        assert got["strings"].values.tolist() == ["a", "bc"]
        assert got["text"].dims == ("_scalar",) and got["text"].values.tolist() == ["hello"]
        assert got["empty"].dims == ("_null",) and got["empty"].size == 0
        assert np.array_equal(grp["x"].values, h["grp/x"][()])
    # lengths 10, 2 and 100000, in the order the datasets first need them
    assert got["data"].dims == ("phony_dim_0",) and got["rows"].dims == got["enum"].dims == ("phony_dim_1",)
    assert got["table"].dims == ("phony_dim_2",)


def test_deeply_nested_groups_are_named_without_recursion(make_h5, tmp_path):
    def build(f):
        group = f
        for _ in range(1200):  # deeper than Python's recursion limit
            group = group.create_group("g")
        group["deep"] = np.arange(3.0)

    path = make_h5(build)
    rfs = lindi_core.translate(path, progress=False)
    deepest = "/".join(["g"] * 1200)
    assert rfs.metadata[f"{deepest}/deep/.zattrs"][ann.ARRAY_DIMENSIONS] == ["phony_dim_0"]
