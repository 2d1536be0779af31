"""Attributes of every type, with their exact dtypes recorded where JSON loses them."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lindi_core.format import annotations as ann


@pytest.fixture
def attrs_of(make_h5, translated):
    def run(values: dict):
        def build(f):
            g = f.create_group("g")
            for name, value in values.items():
                if isinstance(value, tuple) and value and value[0] == "create":
                    g.attrs.create(name, value[1], dtype=value[2])
                else:
                    g.attrs[name] = value

        path = make_h5(build)
        root, _ = translated(path)
        return dict(root["g"].attrs), path

    return run


def test_numbers_keep_their_width_and_signedness(attrs_of):
    values = {"i8": np.int8(-3), "u16": np.uint16(7), "i32": np.int32(5), "i64": np.int64(9),
              "u64": np.uint64(2**63), "f32": np.float32(1.5), "f64": 2.25, "f16": np.float16(0.5)}
    got, _ = attrs_of(values)
    assert got["i8"] == -3 and got["u64"] == 2**63 and got["f32"] == 1.5
    assert got[ann.ATTR_DTYPES] == {"i8": "|i1", "u16": "<u2", "i32": "<i4", "u64": "<u8", "f32": "<f4",
                                    "f16": "<f2"}


def test_arrays_bools_complex_and_special_floats(attrs_of):
    values = {"ints": np.array([[1, 2], [3, 4]], dtype="<i2"), "bools": np.array([True, False]),
              "flag": True, "nan": np.nan, "infs": np.array([np.inf, -np.inf, 1.0]),
              "complex": np.complex64(1 + 2j), "floats": np.array([0.5, 1.5])}
    got, _ = attrs_of(values)
    assert got["ints"] == [[1, 2], [3, 4]]
    assert got["bools"] == [True, False]
    assert got["flag"] is True
    assert got["nan"] == "NaN"
    assert got["infs"] == ["Infinity", "-Infinity", 1.0]
    assert got["complex"] == [1.0, 2.0]
    assert got["floats"] == [0.5, 1.5]
    dtypes = got[ann.ATTR_DTYPES]
    assert dtypes["ints"] == "<i2" and dtypes["bools"] == "|b1" and dtypes["complex"] == "<c8"
    assert "floats" not in dtypes and "nan" not in dtypes


def test_strings_fixed_and_variable(attrs_of):
    values = {"text": "héllo", "fixed": np.bytes_(b"abc"), "list": ["a", "bb"],
              "ascii": ("create", "plain", h5py.string_dtype("ascii")), "looks_like_nan": "NaN"}
    got, _ = attrs_of(values)
    assert got["text"] == "héllo" and got["fixed"] == "abc" and got["list"] == ["a", "bb"]
    dtypes = got[ann.ATTR_DTYPES]
    assert dtypes["fixed"] == "|S3"
    assert dtypes["ascii"] == {"string": "ascii"}
    assert dtypes["looks_like_nan"] == {"string": "utf-8"}  # so readers keep it a string
    assert "text" not in dtypes and "list" not in dtypes


def test_empty_enum_compound_and_reference_attributes(attrs_of, make_h5, translated):
    compound = np.dtype([("a", "<i4"), ("b", "<f8")])
    values = {"empty": h5py.Empty("<f4"),
              "enum": ("create", 1, h5py.enum_dtype({"OFF": 0, "ON": 1}, basetype="u1")),
              "compound": np.array((3, 0.5), dtype=compound),
              "compounds": np.array([(1, 1.5), (2, 2.5)], dtype=compound)}
    got, _ = attrs_of(values)
    assert got["empty"] == {ann.EMPTY: True}
    assert got["enum"] == 1 and got["compound"] == [3, 0.5] and got["compounds"] == [[1, 1.5], [2, 2.5]]
    dtypes = got[ann.ATTR_DTYPES]
    assert dtypes["empty"] == "<f4"
    assert dtypes["enum"] == {"enum": {"OFF": 0, "ON": 1}, "base": "|u1"}
    assert dtypes["compound"] == {"compound": [["a", "<i4"], ["b", "<f8"]]}

    def build(f):
        d = f.create_dataset("d", data=np.arange(10))
        f.attrs["one"] = d.ref
        f.attrs.create("many", [d.ref, f.ref], dtype=h5py.ref_dtype)
        f.attrs["region"] = d.regionref[2:5]

    root, _ = translated(make_h5(build, name="refs.h5"))
    assert root.attrs["one"][ann.REFERENCE]["path"] == "/d"
    assert [r[ann.REFERENCE]["path"] for r in root.attrs["many"]] == ["/d", "/"]
    assert root.attrs["region"][ann.REFERENCE]["region"] == {"kind": "blocks", "blocks": [[[2], [4]]]}
    assert root.attrs[ann.ATTR_DTYPES] == {"one": {"reference": "object"}, "many": {"reference": "object"},
                                           "region": {"reference": "region"}}


def test_empty_arrays_and_fixed_length_byte_arrays_keep_their_types(attrs_of):
    values = {"empty_floats": np.zeros(0), "empty_strings": np.array([], dtype=h5py.string_dtype()),
              "fixed_bytes": np.array([b"x", b"yz"], dtype="S3")}
    got, _ = attrs_of(values)
    assert got["empty_floats"] == [] and got["empty_strings"] == [] and got["fixed_bytes"] == ["x", "yz"]
    assert got[ann.ATTR_DTYPES] == {"empty_floats": "<f8", "empty_strings": {"string": "utf-8"},
                                    "fixed_bytes": "|S3"}
