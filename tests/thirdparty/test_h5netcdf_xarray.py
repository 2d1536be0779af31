"""Files written by h5netcdf (legacy and new API, also with ``invalid_netcdf``) and by
``xarray.Dataset.to_netcdf`` with both engines, read through the translation as h5py reads them
(issue 13).

h5netcdf writes netCDF4 files through h5py (dimension scales, ``_Netcdf4Dimid``, phony
dimensions, ``_nc3_strict``); with ``invalid_netcdf=True`` it also writes what netCDF cannot
(bool, complex, h5py compression options). xarray adds CF encodings: datetime and cftime
coordinates as numbers with ``units``/``calendar``, packed integers with ``scale_factor``, NaN
fill values, string coordinates.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.h5walk import ROOT_ONLY, TranslatedFile

h5netcdf = pytest.importorskip("h5netcdf")
xr = pytest.importorskip("xarray")


def _write_h5netcdf_new(path) -> None:
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"x": 4, "t": None}
        f.attrs["title"] = "h5netcdf new API"
        f.attrs["numbers"] = np.arange(3, dtype="i2")
        x = f.create_variable("x", ("x",), "i4", data=np.arange(4) * 2)
        x.attrs["units"] = "m"
        f.resize_dimension("t", 3)
        v = f.create_variable("v", ("t", "x"), "f8", data=np.arange(12.0).reshape(3, 4), chunks=(1, 4),
                              compression="gzip", compression_opts=6, shuffle=True, fillvalue=np.nan)
        v.attrs["long_name"] = "a variable"
        f.create_variable("text", ("x",), h5py.string_dtype(), data=np.array(["a", "bb", "", "\u00e9"], dtype=object))
        g = f.create_group("sub")
        g.dimensions = {"y": 2}
        g.create_variable("y", ("y",), "f4", data=[0.5, 1.5])
        g.create_variable("uses_both", ("x", "y"), "u2", data=np.arange(8).reshape(4, 2))
        f.create_variable("scalar", (), "i8", data=np.int64(-5))


def _write_h5netcdf_legacy(path) -> None:
    import h5netcdf.legacyapi as legacy

    with legacy.Dataset(path, "w") as ds:
        ds.createDimension("x", 3)
        ds.createDimension("t", None)
        ds.setncattr("title", "h5netcdf legacy API")
        x = ds.createVariable("x", "f4", ("x",))
        x[:] = [1.0, 2.0, 3.0]
        t = ds.createVariable("t", "i8", ("t",))
        t[:] = [10, 20]
        v = ds.createVariable("v", "i2", ("t", "x"), fill_value=-1, zlib=True)
        v[:] = np.array([[1, 2, 3], [4, 5, 6]], "i2")
        v.setncattr("scale", np.float32(0.5))
        grp = ds.createGroup("grp")
        grp.createVariable("w", "f8", ("x",))[:] = [0.1, 0.2, 0.3]


def _write_h5netcdf_invalid(path) -> None:
    with h5netcdf.File(path, "w", invalid_netcdf=True) as f:
        f.dimensions = {"n": 5}
        f.create_variable("flags", ("n",), bool, data=np.array([True, False, True, True, False]))
        f.create_variable("complex", ("n",), "c16", data=np.arange(5) * (1 + 2j))
        f.create_variable("lzf", ("n",), "f4", data=np.arange(5.0), compression="lzf")
        f.create_variable("scaleoffset", ("n",), "i4", data=np.arange(5) * 1000, scaleoffset=0, chunks=(5,))
        f.create_variable("fletcher", ("n",), "f8", data=np.arange(5.0), fletcher32=True, chunks=(2,))
        f.attrs["bool_attr"] = np.bool_(True)
        f.attrs["complex_attr"] = np.complex64(1 - 1j)


def _xarray_dataset():
    import pandas as pd

    times = pd.date_range("2000-01-01", periods=6, freq="6h")
    data = np.arange(24.0).reshape(6, 4)
    data[2, 1] = np.nan
    return xr.Dataset(
        {
            "temperature": (("time", "station"), data, {"units": "K"}),
            "packed": (("time",), np.linspace(0.0, 1.0, 6)),
            "counts": (("time", "station"), np.arange(24, dtype="i8").reshape(6, 4)),
            "label": (("station",), np.array(["a", "bb", "ccc", "\u00e9"], dtype=object)),
            "fixed_label": (("station",), np.array([b"w", b"xy", b"", b"z"], dtype="S2")),
            "elapsed": (("time",), pd.to_timedelta(np.arange(6), unit="h")),
            "flag": (("station",), np.array([True, False, True, False])),
        },
        coords={
            "time": times,
            "station": ["s1", "s2", "s3", "s4"],
            "lat": (("station",), np.array([10.0, np.nan, 12.5, -3.0], "f4")),
        },
        attrs={"title": "xarray file", "version": 3, "weights": np.array([0.5, 0.25])},
    )


def _xarray_encoding():
    return {
        "temperature": {"zlib": True, "complevel": 5, "chunksizes": (3, 2), "_FillValue": -9999.0},
        "packed": {"dtype": "i2", "scale_factor": 0.001, "add_offset": 0.5, "_FillValue": -32768},
        "counts": {"zlib": True, "shuffle": True},
        "time": {"units": "hours since 2000-01-01", "calendar": "proleptic_gregorian"},
    }


def _write_xarray(engine: str):
    def write(path) -> None:
        _xarray_dataset().to_netcdf(path, engine=engine, encoding=_xarray_encoding())
    return write


def _write_xarray_cftime(engine: str):
    def write(path) -> None:
        cftime = pytest.importorskip("cftime")
        times = [cftime.DatetimeNoLeap(2001, 2, 28), cftime.DatetimeNoLeap(2001, 3, 1),
                 cftime.DatetimeNoLeap(2001, 3, 2)]
        ds = xr.Dataset({"v": (("time",), np.array([1.0, np.nan, 3.0]))}, coords={"time": times})
        ds.to_netcdf(path, engine=engine)
    return write


def _write_xarray_invalid_netcdf(path) -> None:
    ds = xr.Dataset({"flags": (("n",), np.array([True, False, True])),
                     "z": (("n",), np.array([1 + 1j, np.nan, -2j], "c16"))},
                    attrs={"flag_attr": np.bool_(True)})
    ds.to_netcdf(path, engine="h5netcdf", invalid_netcdf=True, encoding={"z": {"compression": "gzip"}})


FILES = {
    "xarray_invalid_netcdf": _write_xarray_invalid_netcdf,
    "h5netcdf_new": _write_h5netcdf_new,
    "h5netcdf_legacy": _write_h5netcdf_legacy,
    "h5netcdf_invalid": _write_h5netcdf_invalid,
    "xarray_netcdf4": _write_xarray("netcdf4"),
    "xarray_h5netcdf": _write_xarray("h5netcdf"),
    "xarray_cftime_netcdf4": _write_xarray_cftime("netcdf4"),
    "xarray_cftime_h5netcdf": _write_xarray_cftime("h5netcdf"),
}

# The objects of each file, known before the files are written (tests are collected first).
OBJECTS = {
    "xarray_invalid_netcdf": ["flags", "z", "n"],
    "h5netcdf_new": ["x", "t", "v", "text", "sub", "scalar"],
    "h5netcdf_legacy": ["x", "t", "v", "grp"],
    "h5netcdf_invalid": ["n", "flags", "complex", "lzf", "scaleoffset", "fletcher"],
    "xarray_netcdf4": ["time", "station", "temperature", "packed", "counts", "label", "fixed_label", "elapsed",
                       "flag", "lat", "string2"],
    "xarray_h5netcdf": ["time", "station", "temperature", "packed", "counts", "label", "fixed_label", "elapsed",
                        "flag", "lat", "string2"],
    "xarray_cftime_netcdf4": ["time", "v"],
    "xarray_cftime_h5netcdf": ["time", "v"],
}

XFAIL: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="session")
def netcdf_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("h5netcdf_xarray")
    files = {}
    yield directory, files
    for translated in files.values():
        translated.close()


def _translated(netcdf_files, file: str) -> TranslatedFile:
    directory, files = netcdf_files
    if file not in files:
        path = directory / f"{file}.nc"
        FILES[file](path)
        files[file] = TranslatedFile(path, directory)
    return files[file]


def _params():
    params = []
    for file, objects in OBJECTS.items():
        for name in [ROOT_ONLY] + objects:
            marks = [pytest.mark.xfail(strict=True, reason=XFAIL[file, name])] if (file, name) in XFAIL else []
            params.append(pytest.param(file, name, marks=marks, id=f"{file}-{name}"))
    return params


@pytest.mark.parametrize(("file", "name"), _params())
def test_netcdf_object_reads_as_h5py_reads_it(netcdf_files, file, name):
    translated = _translated(netcdf_files, file)
    translated.assert_matches(name if name == ROOT_ONLY else "/" + name)
