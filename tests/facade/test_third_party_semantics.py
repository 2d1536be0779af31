"""h5py's answers about datasets written with other tools' conventions (issue 13): filters h5py
does not name, and enum members of compounds read from referenced chunks."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np
import pytest

import lindi_core
from lindi_core.format.validate import validate_file

_FILTERS = {
    "blosc": dict(compression=hdf5plugin.Blosc(cname="lz4")),
    "bzip2": dict(compression=hdf5plugin.BZip2()),
    "zstd": dict(compression=hdf5plugin.Zstd()),
    "lz4": dict(compression=hdf5plugin.LZ4()),
    "blosc-fletcher32": dict(compression=hdf5plugin.Blosc(cname="zstd"), fletcher32=True),
    "gzip-shuffle": dict(compression="gzip", shuffle=True),
    "shuffle-fletcher32": dict(shuffle=True, fletcher32=True),
    "none": dict(),
}
# Variable-length strings are re-encoded, their Zarr codecs are no filters. (libhdf5 with
# hdf5plugin's blosc and lz4 crashes writing them, so those are not among these.)
_CASES = ([("numbers", name) for name in _FILTERS]
          + [("vlen-strings", name) for name in ("bzip2", "zstd", "gzip-shuffle", "none")])


@pytest.mark.parametrize(("kind", "filters"), _CASES, ids=[f"{k}-{n}" for k, n in _CASES])
def test_compression_names_filters_as_h5py_does(make_h5, kind, filters):
    if kind == "numbers":
        data, dtype = np.arange(5000.0), "f8"
    else:
        data, dtype = np.array([str(i) for i in range(500)], dtype=object), h5py.string_dtype()
    path = make_h5(lambda f: f.create_dataset("x", data=data, dtype=dtype, chunks=(100,), **_FILTERS[filters]))
    with h5py.File(path, "r") as h, lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        assert (f["x"].compression, f["x"].compression_opts) == (h["x"].compression, h["x"].compression_opts)
        assert (f["x"].shuffle, f["x"].fletcher32) == (h["x"].shuffle, h["x"].fletcher32)


def test_enum_member_of_a_referenced_compound_keeps_its_mapping(make_h5):
    # PyTables' enum columns: its tables have a fill value other than zeros (column defaults),
    # so their chunks are referenced in place and read as bytes whose NumPy type lacks h5py's
    # enum mark.
    colors = h5py.enum_dtype({"red": 1, "green": 2, "blue": 7}, basetype="u1")
    row = np.dtype([("n", "<i8"), ("color", colors), ("x", "<f8")])
    values = np.array([(i, [1, 2, 7][i % 3], i / 3) for i in range(10)], dtype=row)
    fill = np.array((-1, 2, 0.0), dtype=row)[()]
    path = make_h5(lambda f: f.create_dataset("table", data=values, chunks=(1000,), maxshape=(None,), fillvalue=fill))
    with h5py.File(path, "r") as h, lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        for selection in ((), slice(2, 5), 3):
            got, expected = f["table"][selection], h["table"][selection]
            assert h5py.check_enum_dtype(got.dtype["color"]) == h5py.check_enum_dtype(expected.dtype["color"])
            assert got.tobytes() == expected.tobytes()
        assert h5py.check_enum_dtype(f["table"]["color"].dtype) == {"red": 1, "green": 2, "blue": 7}


@pytest.mark.parametrize("base", ["i4", "f8"])
def test_vlen_fill_value_the_file_defines_is_kept(tmp_path, base):
    # libnetcdf defines an (empty) fill value for its vlen types; h5py then reports it, not None.
    netCDF4 = pytest.importorskip("netCDF4")
    path = tmp_path / "vlen.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("n", 3)
        var = nc.createVariable("ragged", nc.createVLType(base, "ragged_t"), ("n",))
        var[0] = np.arange(2, dtype=base)
    with h5py.File(path, "r") as h:
        expected = h["ragged"].fillvalue
        values = h["ragged"][()]
    with lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        f.write_lindi_file(tmp_path / "vlen.lindi.json")
        validate_file(tmp_path / "vlen.lindi.json")
        for view in (f, lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "vlen.lindi.json")):
            got = view["ragged"].fillvalue
            assert type(got) is type(expected) and got.dtype == expected.dtype and got.tolist() == expected.tolist()
            assert [v.tolist() for v in view["ragged"][()]] == [v.tolist() for v in values]


def test_vlen_without_a_defined_fill_value_has_none(make_h5):
    path = make_h5(lambda f: f.create_dataset("ragged", shape=(2,), dtype=h5py.vlen_dtype("i4")))
    with h5py.File(path, "r") as h, lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        assert h["ragged"].fillvalue is None and f["ragged"].fillvalue is None
