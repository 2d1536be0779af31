"""Attribute values through their JSON form and back equal what h5py reads, type included.

Each value is stored as an attribute by h5py and read back by h5py (the truth); its JSON form
(through JSON text) and, where recorded, its type description must decode to an equal value of
the same dtype."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from lindi_core.format.attribute_json import decode_attribute, encode_value, value_dtype, value_shape
from lindi_core.format.dtype_descriptions import describe


def _no_references(value, region):
    raise AssertionError("no references expected")


VALUES = {
    "int64": np.int64(7),
    "int16": np.int16(-3),
    "uint8 array": np.arange(5, dtype=np.uint8),
    "float64 nan and infinities": np.array([1.5, np.nan, np.inf, -np.inf]),
    "float32": np.float32(0.1),
    "long double": np.longdouble(1) / 3,
    "complex": np.complex64(1 - 2j),
    "bool array": np.array([True, False]),
    "str": "text ü",
    "str array": np.array(["a", "bc"], dtype=h5py.string_dtype()),
    "the string NaN": "NaN",
    "fixed ascii": np.bytes_(b"abc"),
    "fixed utf-8 not utf-8 text": np.array([b"\xff\xfe"], dtype="S2"),
    "empty": h5py.Empty("<i4"),
    "empty list": np.zeros(0, dtype=np.int64),
    "enum": (np.array([0, 1], dtype="u1"), h5py.enum_dtype({"OFF": 0, "ON": 1}, basetype="u1")),
    "compound": np.array([(1, 2.5, b"x")], dtype=[("a", "<i4"), ("b", "<f8"), ("c", "S1")]),
    "padded compound": np.zeros(2, dtype={"names": ["a", "b"], "formats": ["<i2", "<f8"], "offsets": [0, 8],
                                          "itemsize": 16}),
    "array type": (np.arange(6, dtype="<f4").reshape(2, 3), np.dtype(("<f4", (3,)))),
    "vlen ints": (np.array([np.arange(3), np.arange(1)], dtype=object), h5py.vlen_dtype("<i8")),
    "datetime": (np.array(["2020-01-02"], dtype="<M8[D]"), h5py.opaque_dtype(np.dtype("<M8[D]"))),
}


def _as_h5py_reads_it(tmp_path, spec):
    value, dtype = spec if isinstance(spec, tuple) else (spec, None)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.attrs.create("a", value, dtype=dtype)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        return f.attrs["a"], f.attrs.get_id("a").dtype, f.attrs.get_id("a").shape


@pytest.mark.parametrize("name", list(VALUES))
def test_attribute_json_round_trip(tmp_path, name):
    value, dtype, shape = _as_h5py_reads_it(tmp_path, VALUES[name])
    encoded, needs_type = encode_value(value, dtype, None)
    description = json.loads(json.dumps(describe(dtype))) if needs_type else None
    decoded = decode_attribute(json.loads(json.dumps(encoded)), description, _no_references)
    if isinstance(value, h5py.Empty):
        assert isinstance(decoded, h5py.Empty) and decoded.dtype == value.dtype
        return
    assert type(decoded) is type(value)
    if isinstance(value, np.ndarray):
        assert decoded.dtype == value.dtype and decoded.shape == value.shape
        if value.dtype.hasobject:  # ragged rows, variable-length strings
            assert [np.asarray(v).tolist() for v in decoded.reshape(-1)] == [np.asarray(v).tolist() for v in value.reshape(-1)]
        else:  # member by member (padding bytes between compound members hold no value)
            np.testing.assert_array_equal(decoded, value)
    else:
        assert np.asarray(decoded).tobytes() == np.asarray(value).tobytes() or decoded == value
    recorded = description is not None and describe(dtype) == description
    assert (dtype if recorded else value_dtype(decoded)) == dtype
    assert value_shape(decoded, dtype) == shape
