"""Files written by netCDF4-python (libnetcdf), read through the translation as h5py reads them
(issue 13).

libnetcdf writes dimensions as dimension scales (``CLASS``/``NAME``/``REFERENCE_LIST``/
``DIMENSION_LIST`` with object references, ``_Netcdf4Dimid``, ``_Netcdf4Coordinates``), the
root's ``_NCProperties``, fill values as ``_FillValue`` attributes of the variable's type,
strings as variable-length strings or char arrays, and user types (enum, compound, vlen) as
committed datatypes.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.h5walk import ROOT_ONLY, TranslatedFile

netCDF4 = pytest.importorskip("netCDF4")

NUMERIC_TYPES = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"]


def _write_main(path) -> None:
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.title = "a netCDF4 file"
        nc.int_attr = np.int16(-3)
        nc.float_attrs = np.array([1.5, np.nan, -np.inf], "f4")
        nc.unsigned = np.uint64(2**64 - 1)
        nc.bytes_attr = np.bytes_(b"fixed")
        nc.empty_text = ""
        # Lists of strings and NC_STRING attributes are variable-length string attributes.
        vlen = nc.createGroup("vlen_string_attributes")
        vlen.history = ["created", "by a test"]
        vlen.unicode_title = "h\u00e9llo \u65e5\u672c"  # non-ASCII text: NC_STRING too
        vlen.setncattr_string("vlen_string_attr", "h\u00e9llo")
        vlen.setncattr_string("vlen_string_list", ["a", "bc"])
        nc.createDimension("time", None)
        nc.createDimension("x", 5)
        nc.createDimension("y", 3)
        nc.createDimension("nchar", 4)
        time = nc.createVariable("time", "f8", ("time",))
        time.units = "days since 2000-01-01"
        time[:] = np.arange(7) / 2
        nc.createVariable("x", "i4", ("x",))[:] = np.arange(5) * 10
        for dtype in NUMERIC_TYPES:
            var = nc.createVariable(f"var_{dtype}", dtype, ("time", "x"), fill_value=np.array(7, dtype)[()])
            var.long_name = f"a {dtype} variable"
            var.valid_range = np.array([0, 100], dtype)
            values = (np.arange(35).reshape(7, 5) % 100).astype(dtype)
            var[:] = np.ma.masked_where(values == 3, values)
        nc.createVariable("no_fill", "f4", ("x",), fill_value=False)[:3] = [1, 2, 3]
        nc.createVariable("default_fill", "f8", ("x",))[:2] = [np.nan, 1.0]
        nc.createVariable("scalar", "f8", ())[...] = np.pi
        packed = nc.createVariable("packed", "i2", ("time",), fill_value=-999)
        packed.scale_factor, packed.add_offset = 0.01, 5.0
        packed[:] = np.linspace(0, 1, 7)
        compressed = nc.createVariable("compressed", "f4", ("time", "x", "y"), zlib=True, complevel=4,
                                       shuffle=True, fletcher32=True, chunksizes=(2, 5, 3))
        compressed[:] = np.random.default_rng(0).standard_normal((7, 5, 3))
        contiguous = nc.createVariable("contiguous", "u2", ("x", "y"), contiguous=True)
        contiguous[:] = np.arange(15).reshape(5, 3)
        strings = nc.createVariable("strings", str, ("x",))
        strings[:] = np.array(["", "a", "h\u00e9", "longer string", "x"], dtype=object)
        chars = nc.createVariable("chars", "S1", ("x", "nchar"))
        chars[:] = netCDF4.stringtochar(np.array([b"ab", b"cdef", b"", b"g", b"hi"], "S4"))
        encoded_chars = nc.createVariable("encoded_chars", "S1", ("y", "nchar"))
        encoded_chars._Encoding = "ascii"
        encoded_chars[:] = np.array(["abc", "d", "efgh"], "S4")
        big = nc.createVariable("big_endian", "i4", ("time", "x"), endian="big", fill_value=-1)
        big[:] = np.arange(35).reshape(7, 5) - 10
        # Only some chunks written: the others read as the fill value.
        nc.createDimension("long", 1000)
        sparse = nc.createVariable("sparse_chunks", "f8", ("long",), chunksizes=(64,), fill_value=-2.5, zlib=True)
        sparse[100:130] = np.arange(30.0)
        sparse[900:901] = [np.nan]
        contiguous_long = nc.createVariable("contiguous_long", "f8", ("long", "y"), contiguous=True)
        contiguous_long[:] = np.random.default_rng(4).standard_normal((1000, 3))
        unwritten = nc.createVariable("unwritten", "i2", ("long",), chunksizes=(100,), fill_value=9)
        unwritten.comment = "no chunk written"
        quantized = nc.createVariable("quantized", "f4", ("time", "x"), significant_digits=3, zlib=True)
        quantized[:] = np.random.default_rng(1).standard_normal((7, 5)).astype("f4")
        lsd = nc.createVariable("least_significant_digit", "f8", ("time",), least_significant_digit=2)
        lsd[:] = np.random.default_rng(2).standard_normal(7)
        compressed_strings = nc.createVariable("compressed_strings", str, ("long",), zlib=True, chunksizes=(300,))
        compressed_strings[:] = np.array([f"s{i}" * (i % 5) for i in range(1000)], dtype=object)
        group = nc.createGroup("group")
        group.createDimension("z", 2)
        inner = group.createVariable("inner", "f8", ("time", "z"))
        inner[:] = np.ones((7, 2))
        inner.coordinates = "time"
        sub = group.createGroup("subgroup")
        sub.createVariable("uses_parent_dim", "i2", ("x",))[:] = np.arange(5)
        sub.note = "nested"


def _write_user_types(path) -> None:
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.createDimension("n", 3)
        cloud = nc.createEnumType("u1", "cloud_t", {"clear": 0, "cumulus": 1, "stratus": 2, "missing": 255})
        var = nc.createVariable("enum_var", cloud, ("n",), fill_value=255)
        var[:] = [0, 2, 1]
        point = np.dtype([("lat", "f4"), ("lon", "f4"), ("tag", "i2")], align=False)
        point_t = nc.createCompoundType(point, "point_t")
        var = nc.createVariable("compound_var", point_t, ("n",))
        var[:] = np.array([(1.0, 2.0, 3), (4.0, 5.0, 6), (7.0, 8.0, 9)], point)
        ragged_t = nc.createVLType("i4", "ragged_t")
        var = nc.createVariable("vlen_var", ragged_t, ("n",))
        values = np.empty(3, object)
        values[:] = [np.arange(1, dtype="i4"), np.arange(3, dtype="i4"), np.arange(0, dtype="i4")]
        var[:] = values


def _write_plugin_compression(path) -> None:
    """libnetcdf's own zstd/bzip2/blosc/szip filters, those this libnetcdf can write (each is
    tried in a file of its own first: a libnetcdf may claim a filter whose plugin is missing)."""
    available = [name for name, options in PLUGIN_COMPRESSION.items()
                 if _can_write(path.with_name(f"probe_{name}.nc"), options)]
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.createDimension("n", 200)
        for name in available:
            var = nc.createVariable(name, "f8", ("n",), chunksizes=(50,), **PLUGIN_COMPRESSION[name])
            var[:] = np.sin(np.arange(200.0))


def _can_write(path, options) -> bool:
    try:
        with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
            nc.createDimension("n", 4)
            nc.createVariable("v", "f8", ("n",), chunksizes=(2,), **options)[:] = np.arange(4.0)
        return True
    except (RuntimeError, ValueError):
        return False


PLUGIN_COMPRESSION = {
    "zstd": dict(compression="zstd", complevel=4),
    "bzip2": dict(compression="bzip2", complevel=4),
    "blosc_lz4": dict(compression="blosc_lz4", complevel=4),
    "blosc_zstd_bitshuffle": dict(compression="blosc_zstd", complevel=4, blosc_shuffle=2),
    "szip": dict(compression="szip", szip_coding="nn", szip_pixels_per_block=8),
}


def _write_classic(path) -> None:
    with netCDF4.Dataset(path, "w", format="NETCDF4_CLASSIC") as nc:
        nc.createDimension("t", None)
        nc.createDimension("c", 3)
        nc.source = "classic model"
        var = nc.createVariable("v", "f4", ("t", "c"), zlib=True, fill_value=np.float32(1e20))
        var[:] = np.arange(12, dtype="f4").reshape(4, 3)
        var[1, 1] = np.ma.masked
        nc.createVariable("c", "i4", ("c",))[:] = [3, 2, 1]


FILES = {"classic": _write_classic, "main": _write_main, "user_types": _write_user_types, "plugin_compression": _write_plugin_compression}


@pytest.fixture(scope="session")
def netcdf4_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("netcdf4")
    files = {}
    for name, write in FILES.items():
        path = directory / f"{name}.nc"
        write(path)
        files[name] = TranslatedFile(path, directory)
    yield files
    for translated in files.values():
        translated.close()


MAIN_OBJECTS = (["time", "x"] + [f"var_{dtype}" for dtype in NUMERIC_TYPES]
                + ["no_fill", "default_fill", "scalar", "packed", "compressed", "contiguous", "strings", "chars",
                   "encoded_chars", "big_endian", "contiguous_long", "sparse_chunks", "unwritten", "quantized", "least_significant_digit",
                   "compressed_strings", "long", "group", "vlen_string_attributes", "nchar", "y"])
XFAIL_MAIN: dict[str, str] = {}


def _params(objects, xfails):
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=xfails[name])) if name in xfails else name
            for name in objects]


@pytest.mark.parametrize("name", _params([ROOT_ONLY] + MAIN_OBJECTS, XFAIL_MAIN))
def test_netcdf4_object_reads_as_h5py_reads_it(netcdf4_files, name):
    netcdf4_files["main"].assert_matches(name if name == ROOT_ONLY else "/" + name)


USER_TYPE_OBJECTS = ["cloud_t", "point_t", "ragged_t", "enum_var", "compound_var", "vlen_var", "n"]
XFAIL_USER_TYPES: dict[str, str] = {}


@pytest.mark.parametrize("name", _params([ROOT_ONLY] + USER_TYPE_OBJECTS, XFAIL_USER_TYPES))
def test_netcdf4_user_type_reads_as_h5py_reads_it(netcdf4_files, name):
    netcdf4_files["user_types"].assert_matches(name if name == ROOT_ONLY else "/" + name)


@pytest.mark.parametrize("name", [ROOT_ONLY] + list(PLUGIN_COMPRESSION))
def test_netcdf4_plugin_compression_reads_as_h5py_reads_it(netcdf4_files, name):
    if name != ROOT_ONLY and name not in netcdf4_files["plugin_compression"].expected:
        pytest.skip(f"this libnetcdf lacks the {name} filter")
    netcdf4_files["plugin_compression"].assert_matches(name if name == ROOT_ONLY else "/" + name)


@pytest.mark.parametrize("name", [ROOT_ONLY, "t", "c", "v"])
def test_netcdf4_classic_reads_as_h5py_reads_it(netcdf4_files, name):
    netcdf4_files["classic"].assert_matches(name if name == ROOT_ONLY else "/" + name)
