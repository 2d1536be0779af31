"""JSON rows of compounds (the json2 family) and the _COMPOUND_DTYPE annotation, written and
read back, equal what h5py reads from the HDF5 file."""

from __future__ import annotations

import json

import h5py
import numpy as np

from lindi_core.format.attribute_json import to_json
from lindi_core.format.encoded_families import (
    compound_annotation,
    dtype_from_compound_annotation,
    rows_to_structured,
)


def _reference_marker(value, region):
    return ("reference", json.dumps(value), region)


def test_compound_rows_round_trip_as_h5py_reads_them(tmp_path):
    dtype = np.dtype([("s", h5py.string_dtype()), ("v", h5py.vlen_dtype("<i4")), ("c", "<c8"), ("f", "<f8"),
                      ("n", [("a", "<u2"), ("b", "S3")])])
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        dset = f.create_dataset("d", shape=(3,), dtype=dtype)
        dset[0] = ("ü", np.arange(3, dtype="<i4"), 1 - 2j, np.nan, (7, b"abc"))
        dset[1] = ("", np.zeros(0, dtype="<i4"), 0j, -np.inf, (0, b""))
    with h5py.File(tmp_path / "rows.h5", "r") as f:
        truth = f["d"][()]
        dtype = f["d"].dtype
    rows = np.empty(truth.shape, dtype=object)
    for i in range(truth.shape[0]):
        rows[i] = json.loads(json.dumps(to_json(np.asarray(truth[i], dtype=dtype), None)))
    got = rows_to_structured(rows, dtype, _reference_marker)
    assert got.dtype == dtype
    for name in ("c", "f", "n"):
        np.testing.assert_array_equal(got[name], truth[name])
    assert list(got["s"]) == list(truth["s"])  # bytes, as h5py gives vlen strings inside compounds
    assert [v.tolist() for v in got["v"]] == [v.tolist() for v in truth["v"]]
    assert all(v.dtype == np.dtype("<i4") for v in got["v"])


def test_null_rows_read_as_what_libhdf5_reads_unwritten_rows():
    dtype = np.dtype([("s", h5py.string_dtype()), ("r", h5py.ref_dtype), ("x", "<i8")])
    rows = np.empty(2, dtype=object)
    rows[0] = None
    rows[1] = ["t", {"_REFERENCE": {"path": "/g"}}, 5]
    got = rows_to_structured(rows, dtype, _reference_marker)
    assert got[0]["s"] == b"" and got[0]["x"] == 0 and got[0]["r"] == ("reference", "null", False)
    assert got[1]["s"] == b"t" and got[1]["x"] == 5
    assert got[1]["r"] == ("reference", json.dumps({"_REFERENCE": {"path": "/g"}}), False)


def test_compound_annotation_round_trip():
    dtype = np.dtype([("r", h5py.ref_dtype), ("x", "<f4"), ("name", "|S4")])
    annotation = json.loads(json.dumps(compound_annotation(dtype)))
    assert annotation == [["r", "<REFERENCE>"], ["x", "float32"], ["name", "|S4"]]
    rebuilt = dtype_from_compound_annotation(annotation)
    assert rebuilt == dtype
    assert h5py.check_ref_dtype(rebuilt["r"]) is h5py.Reference
    assert h5py.check_string_dtype(rebuilt["name"]).encoding == "ascii"
    assert h5py.check_string_dtype(dtype_from_compound_annotation([["o", "object"]])["o"]).encoding == "utf-8"
