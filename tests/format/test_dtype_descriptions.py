"""Type descriptions (spec section 10) read back as the very dtype h5py reports, for every kind.

Each type is written to an HDF5 file by h5py and read back by h5py: that dtype (with the
metadata marks h5py puts on it) is the truth. Its description, through JSON text, must rebuild a
dtype equal to it with the same marks."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from lindi_core.errors import UnsupportedTypeError
from lindi_core.format.dtype_descriptions import describe, dtype_from_description, exact_description

_PADDED = np.dtype({"names": ["a", "b"], "formats": ["<i2", "<f8"], "offsets": [0, 8], "itemsize": 24})
_REORDERED = np.dtype({"names": ["late", "early"], "formats": ["<i4", "<u2"], "offsets": [4, 0], "itemsize": 8})

TYPES = {
    "int": np.dtype("<i2"),
    "big-endian float": np.dtype(">f4"),
    "bool": np.dtype("bool"),
    "complex": np.dtype("<c16"),
    "long double": np.dtype(np.longdouble),
    "ascii fixed": h5py.string_dtype("ascii", 5),
    "utf-8 fixed": h5py.string_dtype("utf-8", 7),
    "vlen str": h5py.string_dtype("utf-8"),
    "vlen bytes": h5py.string_dtype("ascii"),
    "enum": h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 42}, basetype="i1"),
    "vlen of ints": h5py.vlen_dtype(np.dtype("<i4")),
    "vlen of arrays": h5py.vlen_dtype(np.dtype(("<f4", (2,)))),
    "object reference": h5py.ref_dtype,
    "region reference": h5py.regionref_dtype,
    "opaque bytes": np.dtype("|V6"),
    "opaque datetime": h5py.opaque_dtype(np.dtype("<M8[s]")),
    "packed compound": np.dtype([("x", "<i4"), ("y", "<f8"), ("s", "|S3")]),
    "compound with padding": _PADDED,
    "compound reordered": _REORDERED,
    "compound with array member": np.dtype([("v", "<f4", (3,)), ("n", "<u1")]),
    "compound with vlen and refs": np.dtype([("name", h5py.string_dtype()), ("ref", h5py.ref_dtype)]),
    "nested compound": np.dtype([("inner", [("a", "<i2"), ("b", h5py.string_dtype("utf-8", 4))]), ("c", "<f2")]),
    "compound with enum": np.dtype([("e", h5py.enum_dtype({"OFF": 0, "ON": 1}, basetype="u1")), ("f", "<f4")]),
}


def _as_h5py_reads_it(tmp_path, dtype: np.dtype) -> np.dtype:
    with h5py.File(tmp_path / "types.h5", "w") as f:
        f.create_dataset("d", shape=(1,), dtype=dtype)
    with h5py.File(tmp_path / "types.h5", "r") as f:
        return f["d"].dtype


def _marks(dtype: np.dtype):
    """Everything h5py tells of a dtype, members and array elements included."""
    if dtype.names is not None:
        return ("compound", dtype.itemsize, [(n, dtype.fields[n][1], _marks(dtype.fields[n][0])) for n in dtype.names])
    if dtype.subdtype is not None:
        return ("array", dtype.shape, _marks(dtype.subdtype[0]))
    string = h5py.check_string_dtype(dtype)
    vlen = h5py.check_vlen_dtype(dtype)
    return (dtype.str, string and (string.encoding, string.length), h5py.check_enum_dtype(dtype),
            h5py.check_ref_dtype(dtype), vlen is not None and _marks(np.dtype(vlen)), h5py.check_opaque_dtype(dtype))


@pytest.mark.parametrize("name", list(TYPES))
def test_description_rebuilds_the_dtype_h5py_reads(tmp_path, name):
    truth = _as_h5py_reads_it(tmp_path, TYPES[name])
    description = json.loads(json.dumps(describe(truth)))
    rebuilt = dtype_from_description(description)
    assert rebuilt == truth
    assert _marks(rebuilt) == _marks(truth)


def test_described_twice_is_the_same_json(tmp_path):
    for name, dtype in TYPES.items():
        truth = _as_h5py_reads_it(tmp_path, dtype)
        assert describe(dtype_from_description(describe(truth))) == describe(truth), name


def test_exact_descriptions_of_native_floats_read_back_as_those_floats():
    for dtype in (np.dtype("<f2"), np.dtype(">f4"), np.dtype("<f8"), np.dtype(np.longdouble)):
        assert dtype_from_description(exact_description(h5py.h5t.py_create(dtype))) == dtype


def _five_bit_integer() -> h5py.h5t.TypeID:
    type_id = h5py.h5t.STD_I32LE.copy()
    type_id.set_precision(5)
    return type_id


@pytest.mark.parametrize("make_type", [_five_bit_integer, h5py.h5t.STD_B8LE.copy], ids=["5-bit integer", "bitfield"])
def test_exact_descriptions_of_types_h5py_cannot_read_raise(make_type):
    description = json.loads(json.dumps(exact_description(make_type())))
    with pytest.raises(UnsupportedTypeError):
        dtype_from_description(description)
