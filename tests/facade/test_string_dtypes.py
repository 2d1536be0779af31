"""String types carry h5py's dtype metadata, as h5py reports them.

h5py marks string dtypes with NumPy metadata (``vlen=str`` / ``vlen=bytes`` for variable-length
strings, ``h5py_encoding`` for fixed-length ones) and ``h5py.check_string_dtype`` reads only
that metadata, so a dtype equal to h5py's (NumPy's ``==`` ignores metadata) is not enough: the
descriptions below spell the metadata out and are compared with h5py reading the same file.
"""

from __future__ import annotations

import base64
import json

import h5py
import numpy as np
import pytest

import lindi_core
from tests.h5compare import assert_new_file_matches_h5py


def _dtype(dtype: np.dtype | None):
    if dtype is None:
        return None
    metadata = dict(dtype.metadata) if dtype.metadata else None
    described = (dtype.str, metadata, h5py.check_string_dtype(dtype))
    if dtype.names:
        described += (tuple(_dtype(dtype.fields[name][0]) for name in dtype.names),)
    return described


def _value(value):
    if isinstance(value, np.ndarray):
        items = repr(value.tolist()) if value.dtype.names else \
            [(type(v).__name__, v) for v in value.ravel().tolist()]
        return ("ndarray", _dtype(value.dtype), value.shape, items)
    dtype = getattr(value, "dtype", None)
    return (type(value).__name__, _dtype(dtype), repr(value))


def describe(f) -> dict:
    """Every attribute's type, shape and value, and every dataset's type, shape and values (whole,
    sliced, one element, through ``asstr()`` and by field), with their types' metadata."""
    out = {}
    objects = [("/", f)]
    f.visititems(lambda name, obj: objects.append((name, obj)))
    for path, obj in objects:
        for name in obj.attrs:
            attr_id = obj.attrs.get_id(name)
            out[f"{path}@{name}"] = (_dtype(attr_id.dtype), attr_id.shape, _value(obj.attrs[name]))
        if not isinstance(obj, h5py.Dataset):
            continue
        entry = [_dtype(obj.dtype), obj.shape, _value(obj[()])]
        if obj.ndim == 1 and obj.shape[0] > 0:
            entry += [_value(obj[0]), _value(obj[:1])]
        try:
            entry.append(("asstr", _value(obj.asstr()[()])))
        except TypeError:  # not a string dataset: h5py refuses, and so must the facade
            entry.append(("asstr", "TypeError"))
        for field in obj.dtype.names or ():
            entry.append((field, _value(obj.fields(field)[()])))
        out[path] = tuple(entry)
    return out


COMPOUND = np.dtype([("i", "<i4"), ("fixed", "S3"), ("fixed_utf8", h5py.string_dtype("utf-8", 4)),
                     ("text", h5py.string_dtype()), ("ascii", h5py.string_dtype("ascii"))])


def write_strings(f) -> None:
    """Every kind of string attribute and dataset, as h5py code writes them."""
    f.attrs["vlen_utf8"] = "héllo"
    f.attrs["vlen_utf8_list"] = ["a", "bé"]
    f.attrs["vlen_utf8_2d"] = [["a", "b"], ["c", "d"]]
    f.attrs.create("vlen_ascii", "abc", dtype=h5py.string_dtype("ascii"))
    f.attrs.create("vlen_ascii_list", ["a", "bc"], dtype=h5py.string_dtype("ascii"))
    f.attrs.create("fixed_ascii", "abc", dtype=h5py.string_dtype("ascii", 5))
    f.attrs.create("fixed_ascii_list", ["a", "bc"], dtype=h5py.string_dtype("ascii", 5))
    f.attrs.create("fixed_utf8", "abc", dtype=h5py.string_dtype("utf-8", 10))
    f.attrs.create("fixed_utf8_list", ["a", "bc"], dtype=h5py.string_dtype("utf-8", 10))
    f.attrs["numpy_bytes"] = np.bytes_(b"xyz")
    f.attrs["numpy_bytes_array"] = np.array([b"x", b"yz"])
    f.attrs["bytes"] = b"xyz"
    f.attrs["bytes_list"] = [b"xyz", b"a"]
    f.attrs["compound"] = np.array([(1, b"ab", "é".encode(), "y", "z")], dtype=COMPOUND)
    f.attrs.create("empty_string", h5py.Empty(h5py.string_dtype()))
    f.create_dataset("vlen_utf8", data=["a", "bé"], dtype=h5py.string_dtype())
    f.create_dataset("vlen_utf8_by_value", data=["a", "b"])
    f.create_dataset("vlen_ascii", data=[b"a", b"b"], dtype=h5py.string_dtype("ascii"))
    f.create_dataset("fixed_ascii", data=[b"a", b"b"], dtype=h5py.string_dtype("ascii", 4))
    f.create_dataset("fixed_by_value", data=np.array([b"a", b"bc"]))
    f.create_dataset("fixed_utf8", data=["a", "b"], dtype=h5py.string_dtype("utf-8", 4))
    f.create_dataset("scalar_vlen", data="abc", dtype=h5py.string_dtype())
    f.create_dataset("scalar_vlen_ascii", data=b"abc", dtype=h5py.string_dtype("ascii"))
    f.create_dataset("scalar_fixed", data=b"abc", dtype=h5py.string_dtype("ascii", 4))
    f.create_dataset("scalar_fixed_utf8", data="abc", dtype=h5py.string_dtype("utf-8", 4))
    f.create_dataset("never_written", shape=(3,), dtype=h5py.string_dtype())
    f.create_dataset("compound", data=np.array([(1, b"x", b"yy", "z", "w")] * 2, dtype=COMPOUND))
    f.create_dataset("numbers", data=[1, 2])


@pytest.fixture
def h5_strings(tmp_path):
    path = tmp_path / "strings.h5"
    with h5py.File(path, "w") as h:
        write_strings(h)
    with h5py.File(path, "r") as h:
        return path, describe(h)


def _differences(got: dict, expected: dict) -> dict:
    return {key: (got.get(key), expected.get(key)) for key in sorted(set(got) | set(expected))
            if got.get(key) != expected.get(key)}


def test_translated_strings_have_h5pys_dtypes(h5_strings):
    path, expected = h5_strings
    with lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        assert _differences(describe(f), expected) == {}


def test_translated_reference_file_reopened_has_h5pys_dtypes(h5_strings, tmp_path):
    path, expected = h5_strings
    lindi_core.translate_to_file(path, tmp_path / "strings.lindi.json")
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "strings.lindi.json") as f:
        assert _differences(describe(f), expected) == {}


def test_strings_written_through_the_facade_have_h5pys_dtypes(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "strings", write_strings, describe)


def write_strings_piecewise(f) -> None:
    """Strings written by element, resized, required and modified: each keeps its type."""
    f.attrs["object_array"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
    f.attrs["object_array_ascii"] = np.array([b"a", b"bc"], dtype=h5py.string_dtype("ascii"))
    f.attrs["no_strings"] = np.array([], dtype=h5py.string_dtype())
    f.attrs.create("shaped", "ab", shape=(1,), dtype=h5py.string_dtype())
    f.attrs.create("fixed_ascii", "abc", dtype=h5py.string_dtype("ascii", 5))
    f.attrs.create("vlen_ascii", "abc", dtype=h5py.string_dtype("ascii"))
    f.attrs.create("fixed_utf8", "abc", dtype=h5py.string_dtype("utf-8", 5))
    # modify() writes into the attribute's type: a fixed-length one keeps its length (the new
    # value is longer than the old), a variable-length ASCII one its encoding
    f.attrs.modify("fixed_ascii", "abcd")
    f.attrs.modify("vlen_ascii", "xyz")
    f.attrs.modify("fixed_utf8", "xy")
    f.create_dataset("object_array", data=np.array(["a", "bc"], dtype=h5py.string_dtype()))
    f.create_dataset("no_strings", data=np.array([], dtype=h5py.string_dtype()))
    f.create_dataset("resized", data=["a", "b"], dtype=h5py.string_dtype(), maxshape=(None,), chunks=True)
    f["resized"].resize((3,))
    f["resized"][2] = "c"
    f.create_dataset("ascii_by_element", shape=(2,), dtype=h5py.string_dtype("ascii"))
    f["ascii_by_element"][0] = b"q"
    f.create_dataset("fixed_utf8_by_element", shape=(2,), dtype=h5py.string_dtype("utf-8", 3))
    f["fixed_utf8_by_element"][1] = "é".encode()
    f.require_dataset("required", shape=(1,), dtype=h5py.string_dtype())
    f.create_dataset("ascii_2d", data=[["a", "b"], ["c", "d"]], dtype=h5py.string_dtype("ascii"))


def test_strings_written_piecewise_through_the_facade_keep_h5pys_dtypes(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "piecewise", write_strings_piecewise, describe)


def test_strings_copied_keep_h5pys_dtypes(tmp_path):
    with h5py.File(tmp_path / "source.h5", "w") as h:
        write_strings(h.create_group("g"))

    def copy(f):
        with h5py.File(tmp_path / "source.h5", "r") as source:
            f.copy(source["g"], "from_hdf5")
            if isinstance(f, lindi_core.LindiH5pyFile):  # and from a translated file, by reference
                with lindi_core.LindiH5pyFile.from_hdf5_file(tmp_path / "source.h5") as translated:
                    f.copy(translated["g"], "from_translated")
            else:
                f.copy(source["g"], "from_translated")

    assert_new_file_matches_h5py(tmp_path, "copies", copy, describe)


_JSON2 = {"allow_nan": True, "check_circular": True, "encoding": "utf-8", "ensure_ascii": True, "id": "json2",
          "indent": None, "separators": [",", ":"], "skipkeys": False, "sort_keys": True, "strict": True}


def test_lindi04_strings_have_h5pys_dtypes(tmp_path):
    # LINDI 0.4 writes string attributes as bare JSON, variable-length string datasets as json2
    # arrays, scalar string datasets as <U arrays and compounds as json2 rows typed by
    # _COMPOUND_DTYPE, none with an exact type record (spec sections 4 and 8):
    # h5py's view of the file LINDI 0.4 translated (its strings were variable-length UTF-8).
    refs = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": {"label": "abc", "names": ["a", "bc"]},
        "names/.zarray": {"chunks": [2], "compressor": None, "dtype": "|O", "fill_value": 0, "filters": [_JSON2],
                          "order": "C", "shape": [2], "zarr_format": 2},
        "names/0": json.dumps(["ab", "cdé", "|O", [2]]),
        "label/.zarray": {"chunks": [1], "compressor": None, "dtype": "<U3", "fill_value": "", "filters": None,
                          "order": "C", "shape": [1], "zarr_format": 2},
        "label/.zattrs": {"_SCALAR": True},
        "label/0": "base64:" + base64.b64encode(np.array(["abc"], "<U3").tobytes()).decode(),
        "table/.zarray": {"chunks": [2], "compressor": None, "dtype": "|O", "fill_value": 0, "filters": [_JSON2],
                          "order": "C", "shape": [2], "zarr_format": 2},
        "table/.zattrs": {"_COMPOUND_DTYPE": [["idx", "int32"], ["label", "object"], ["code", "|S4"]]},
        "table/0": json.dumps([[1, "a", "xy"], [2, "bé", "z"], "|O", [2]]),
    }
    with h5py.File(tmp_path / "original.h5", "w") as h:
        h.attrs["label"] = "abc"
        h.attrs["names"] = ["a", "bc"]
        h.create_dataset("names", data=["ab", "cdé"], dtype=h5py.string_dtype())
        h.create_dataset("label", data="abc", dtype=h5py.string_dtype())
        table = np.dtype([("idx", "<i4"), ("label", h5py.string_dtype()), ("code", "S4")])
        h.create_dataset("table", data=np.array([(1, b"a", b"xy"), (2, "bé".encode(), b"z")], dtype=table))
    with h5py.File(tmp_path / "original.h5", "r") as h:
        expected = describe(h)
    with lindi_core.LindiH5pyFile.from_reference_file_system({"version": 1, "refs": refs}) as f:
        assert _differences(describe(f), expected) == {}


def test_attribute_ids_of_other_types_match_h5py(tmp_path):
    def write(f):
        f.attrs["empty"] = h5py.Empty("<f4")
        f.attrs["reference"] = f.ref
        f.attrs["flag"] = True
        f.attrs["small"] = np.int16(3)
        f.attrs["matrix"] = np.zeros((2, 3))

    def ids(f):
        return {name: (_dtype(f.attrs.get_id(name).dtype), f.attrs.get_id(name).shape,
                       f.attrs.get_id(name).name) for name in f.attrs}

    assert_new_file_matches_h5py(tmp_path, "ids", write, ids)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "ids.lindi.json") as f, pytest.raises(KeyError):
        f.attrs.get_id("missing")
