"""Writing into reference, ragged and reference-holding compound datasets after creation, and
resizing them: the same operations on h5py and on the facade give the same values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from tests.h5compare import assert_new_file_matches_h5py

REF_COMPOUND = np.dtype([("id", "<i4"), ("target", h5py.ref_dtype), ("weight", "<f8")])
RAGGED = h5py.vlen_dtype(np.dtype("<i2"))


def _edit(f) -> None:
    """The same edits, whichever library ``f`` belongs to."""
    f.create_group("a")
    f.create_group("b/c")
    f.create_dataset("values", data=np.arange(5))
    refs = f.create_dataset("refs", shape=(4,), dtype=h5py.ref_dtype, maxshape=(None,), chunks=(2,))
    refs[1] = f["a"].ref
    refs[2:4] = [f["b/c"].ref, f["values"].ref]
    refs[0] = f["b"].ref
    refs.resize((6,))
    refs[5] = f["a"].ref
    grid = f.create_dataset("grid", shape=(2, 3), dtype=h5py.ref_dtype)
    grid[1, ::2] = f["values"].ref
    grid[0, 1] = f["b"].ref
    scalar = f.create_dataset("scalar", shape=(), dtype=h5py.ref_dtype)
    scalar[()] = f["b/c"].ref
    table = f.create_dataset("table", shape=(3,), dtype=REF_COMPOUND, maxshape=(None,), chunks=(2,))
    table[0] = (7, f["a"].ref, 0.5)
    table[2] = (9, f["values"].ref, -1.25)
    table.resize((4,))
    table[3] = (11, f["b"].ref, 2.0)
    ragged = f.create_dataset("ragged", shape=(4,), dtype=RAGGED, maxshape=(None,), chunks=(3,))
    ragged[0] = [1, 2, 3]
    ragged[2:4] = [[4], [5, 6]]
    ragged.resize((5,))
    ragged[4] = np.arange(7, dtype="<i2")
    ragged.resize((4,))
    ragged[1] = []


def _name(f, ref) -> str | None:
    return f[ref].name if ref else None


def _snapshot(f) -> dict:
    """Everything the edits produced, in plain Python values."""
    out = {"refs": [_name(f, r) for r in f["refs"][()]],
           "grid": [[_name(f, r) for r in row] for row in f["grid"][()]],
           "scalar": _name(f, f["scalar"][()]),
           "table": [(int(row["id"]), _name(f, row["target"]), float(row["weight"])) for row in f["table"][()]],
           "ragged": [np.asarray(row).tolist() for row in f["ragged"][()]],
           "ragged dtype": str(f["ragged"][0].dtype) if len(f["ragged"][0]) else str(f["ragged"][3].dtype),
           "shapes": {name: f[name].shape for name in ("refs", "grid", "scalar", "table", "ragged")}}
    return out


def test_edits_match_h5py_in_memory_and_after_reopening(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "edited", _edit, _snapshot)


def test_edits_of_a_translated_file_match_h5py(tmp_path):
    def build(f):
        f.create_group("x")
        f.create_dataset("refs", data=np.array([None, None, None], dtype=object), dtype=h5py.ref_dtype,
                         maxshape=(None,), chunks=(2,))
        f["refs"][1] = f["x"].ref

    with h5py.File(tmp_path / "src.h5", "w") as f:
        build(f)
    lindi_core.translate_to_file(tmp_path / "src.h5", tmp_path / "src.lindi.json", progress=False)
    with h5py.File(tmp_path / "src.h5", "r+") as f:
        f["refs"][2] = f["refs"].ref
        f["refs"].resize((4,))
        expected = [_name(f, r) for r in f["refs"][()]]
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "src.lindi.json", mode="r+") as f:
        f["refs"][2] = f["refs"].ref
        f["refs"].resize((4,))
        assert [_name(f, r) for r in f["refs"][()]] == expected == [None, "/x", "/refs", None]


def test_bad_writes_raise_like_h5py(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as h, \
            lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "t.lindi.json", mode="w") as f:
        for target in (h, f):
            target.create_dataset("ragged", shape=(2,), dtype=RAGGED)
            target.create_dataset("refs", shape=(2,), dtype=h5py.ref_dtype)
        for target in (h, f):
            with pytest.raises((TypeError, ValueError)):
                target["ragged"][0:2] = [[1], [2], [3]]
            with pytest.raises(IndexError):
                target["refs"][5] = target["refs"].ref
            with pytest.raises(TypeError):
                target["refs"].resize((3,))  # not chunked
    with h5py.File(tmp_path / "t.h5", "r") as h, pytest.raises(Exception) as expected:
        h["refs"][0] = h["ragged"].ref
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "t.lindi.json") as f:
        with pytest.raises(type(expected.value)):
            f["refs"][0] = f["ragged"].ref


PLAIN_COMPOUND = np.dtype([("a", "<i4"), ("b", "<f8"), ("c", "<i2")])


def _field_edits(f) -> None:
    """Writes to some fields of compound records, whichever library ``f`` belongs to."""
    f.create_group("g")
    plain = f.create_dataset("plain", data=np.zeros(6, PLAIN_COMPOUND), chunks=(4,))
    plain[1:3, "a"] = [7, 8]
    plain["b"] = np.arange(6) * 0.5
    plain[4, "c"] = 9
    plain[np.array([True, False, True, False, False, True]), "a"] = -1
    scalar = f.create_dataset("scalar", data=np.zeros((), PLAIN_COMPOUND))
    scalar["b"] = 3.5
    table = f.create_dataset("table", shape=(3,), dtype=REF_COMPOUND)
    table[0] = (1, f["g"].ref, 0.25)
    table["id"] = [4, 5, 6]
    table[2, "weight"] = -2.0


def _field_snapshot(f) -> dict:
    return {"plain": f["plain"][()].tolist(), "plain row": f["plain"][4].tolist(),
            "plain a": f["plain"]["a"].tolist(), "scalar": f["scalar"][()].tolist(),
            "table": [(int(r["id"]), _name(f, r["target"]), float(r["weight"])) for r in f["table"][()]],
            "table row": (int(f["table"][0]["id"]), _name(f, f["table"][0]["target"])),
            "table weight": f["table"][1:, "weight"].tolist()}


def test_writes_to_fields_of_compound_records_match_h5py(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "fields", _field_edits, _field_snapshot)


def test_a_write_to_a_field_that_does_not_exist_raises_like_h5py(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as h, \
            lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "t.lindi.json", mode="w") as f:
        for target in (h, f):
            target.create_dataset("plain", data=np.zeros(3, PLAIN_COMPOUND))
            with pytest.raises(ValueError, match="zz"):
                target["plain"]["zz"] = 1
            assert target["plain"][()].tolist() == [(0, 0.0, 0)] * 3
