"""Region references' JSON form, written from libhdf5's selection and read back as an index,
selects exactly what h5py's own region reference selects."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from lindi_core.format.references_json import (
    encode_nested,
    holds_references,
    is_region_body,
    reference_body,
    reference_json,
    region_json,
    region_selection,
    region_shape,
)

SELECTIONS = {
    "all": np.s_[...],
    "one block": np.s_[1:3, 2:5],
    "strided blocks": np.s_[::2, 1:6:3],
    "strided blocks of two": np.s_[0:4:2, 0:6:3],
    "points": np.s_[np.array([[True, False, False, False, False, True]] * 4)],
    "one element": np.s_[2, 3],
}


@pytest.mark.parametrize("selection", list(SELECTIONS.values()), ids=list(SELECTIONS))
def test_region_json_selects_what_h5py_selects(tmp_path, selection):
    data = np.arange(24, dtype="<i4").reshape(4, 6)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        dset = f.create_dataset("d", data=data)
        ref = dset.regionref[selection]
        truth = dset[ref]
        region = json.loads(json.dumps(region_json(h5py.h5r.get_region(ref, f.id))))
    index = region_selection(region, data.shape)
    got = data[index]
    if isinstance(index, np.ndarray) and region["kind"] == "blocks":
        got = got.reshape(region_shape(index))
    np.testing.assert_array_equal(got, truth)
    assert got.shape == truth.shape


def test_reference_json_reads_back_its_body():
    region = {"kind": "blocks", "blocks": [[[0], [2]]]}
    plain = json.loads(json.dumps(reference_json("/a/b", "id-1", "root-id")))
    with_region = json.loads(json.dumps(reference_json("/a", None, None, region)))
    assert reference_body(plain) == {"object_id": "id-1", "path": "/a/b", "source": ".", "source_object_id": "root-id"}
    assert not is_region_body(reference_body(plain))
    assert is_region_body(reference_body(with_region)) and reference_body(with_region)["region"] == region
    assert reference_body(None) is None


def test_encode_nested_keeps_the_shape():
    values = np.empty((2, 3), dtype=object)
    values[...] = h5py.Reference()
    assert encode_nested(values, lambda ref: "r") == [["r"] * 3] * 2
    assert encode_nested(values[0, 0:1].reshape(()), lambda ref: "r") == "r"
    assert holds_references(values) and holds_references([h5py.Reference()])
    assert not holds_references([1, 2]) and not holds_references([])
