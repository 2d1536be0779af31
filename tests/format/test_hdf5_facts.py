"""Extension annotations live in ``.zhdf5`` beside ``.zattrs`` on disk (spec §8), with the
attributes LINDI 0.4 cannot read; in memory, and to every reader of lindi-core, nothing moved."""

from __future__ import annotations

import h5py
import numpy as np
import orjson
import pytest

import lindi_core
from lindi_core.format import annotations as ann
from lindi_core.format import hdf5_facts, jsonio


@pytest.mark.parametrize("value, readable", [
    ("text", True), (3, True), (2.5, True), (True, True), ([1, 2, 3], True), ([[1.5, 2], [3, 4]], True),
    (["a", "b"], True), ([True, False], True), ([], True), ([1.0, "NaN"], True),
    ({"_REFERENCE": {"path": "/x"}}, True),
    (None, False), ({"_EMPTY": True}, False), ([1, "a"], False), (["a", "NaN"], False), ([1, None], False),
    ([[1, 2], ["x"]], False), ([{"_REFERENCE": {}}, None], False), ([True, 1], False),
])
def test_what_lindi04_can_read(value, readable):
    assert hdf5_facts.lindi04_reads(value) is readable


def test_split_and_merge_give_back_the_attributes_in_their_order():
    zattrs = {"b": 1, "empty": {"_EMPTY": True}, "a": "x", "mixed": [1, "two"], ann.SCALAR: True,
              ann.ATTR_DTYPES: {"b": "<i2", "empty": "<f8"}, ann.CREATION_ORDER: {"links": False, "attributes": True}}
    visible, facts = hdf5_facts.split_for_disk(zattrs)
    assert visible == {"b": 1, "a": "x", ann.SCALAR: True}
    assert all(hdf5_facts.lindi04_reads(v) for k, v in visible.items() if k not in ann.LINDI_SPECIAL_KEYS)
    assert facts[hdf5_facts.ATTRIBUTES] == {"empty": {"_EMPTY": True}, "mixed": [1, "two"]}
    merged = hdf5_facts.merge_from_disk(visible, facts)
    assert merged == zattrs
    assert [k for k in merged if k not in ann.SPECIAL_ATTRIBUTE_KEYS] == ["b", "empty", "a", "mixed"]
    assert hdf5_facts.split_for_disk({"plain": 1}) == ({"plain": 1}, None)


def _variety(f):
    f.attrs["rate"] = np.float32(30.0)
    f.attrs["empty"] = h5py.Empty("<f8")
    f.attrs["compound"] = np.array((1, 2.5), dtype=[("i", "<i4"), ("x", "<f8")])
    f.attrs["texts"] = np.array(["a", "NaN"], dtype=h5py.string_dtype())
    g = f.create_group("g", track_order=True)
    g.attrs["z"] = 1
    g.attrs["a"] = h5py.Empty("<i4")
    g.attrs["m"] = 2
    g.create_dataset("contiguous", data=np.arange(10, dtype="<i2"), maxshape=(None,), chunks=(5,))
    g.create_dataset("text", data="x", dtype=h5py.string_dtype("ascii"))
    f["hard"] = g["contiguous"]
    f["ext"] = h5py.ExternalLink("other.h5", "/x")


def test_written_zattrs_hold_only_what_lindi04_reads_and_everything_reads_back(tmp_path):
    with h5py.File(tmp_path / "v.h5", "w") as f:
        _variety(f)
    rfs = lindi_core.translate(tmp_path / "v.h5")
    text = jsonio.dumps(rfs)
    refs = orjson.loads(text)["refs"]
    facts_keys = [k for k in refs if k.endswith(".zhdf5")]
    assert facts_keys  # the variety needs them
    for key, value in refs.items():
        if key.endswith(".zattrs"):
            assert not set(value) & hdf5_facts.EXTENSION_KEYS, key
            assert all(hdf5_facts.lindi04_reads(v) for k, v in value.items() if k not in ann.LINDI_SPECIAL_KEYS), key
    reloaded = jsonio.loads(text)
    assert reloaded.metadata == rfs.metadata  # in memory nothing moved
    (tmp_path / "v.lindi.json").write_bytes(text)
    with h5py.File(tmp_path / "v.h5") as h, lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "v.lindi.json") as f:
        for path in ("/", "/g"):
            assert list(f[path].attrs) == list(h[path].attrs)
            for name in h[path].attrs:
                ours, theirs = f[path].attrs[name], h[path].attrs[name]
                assert type(ours) is type(theirs) and getattr(ours, "dtype", None) == getattr(theirs, "dtype", None)
        assert f["g/contiguous"].maxshape == (None,) and f["g/text"].dtype == h["g/text"].dtype
        assert f["hard"] == f["g/contiguous"]
        assert f.get("ext", getlink=True).filename == "other.h5"


def test_annotations_kept_in_zattrs_by_earlier_writers_still_read(tmp_path):
    with h5py.File(tmp_path / "v.h5", "w") as f:
        _variety(f)
    rfs = lindi_core.translate(tmp_path / "v.h5")
    old_style = {"version": 1, "refs": {k: v for k, v in orjson.loads(jsonio.dumps(rfs))["refs"].items()
                                        if not k.endswith((".zattrs", ".zhdf5"))}}
    for key, value in rfs.metadata.items():
        if key.endswith(".zattrs"):
            old_style["refs"][key] = value  # everything in .zattrs, as before .zhdf5
    assert jsonio.from_json_dict(old_style).metadata == rfs.metadata


def test_a_zhdf5_before_its_zattrs_merges_too():
    refs = {".zgroup": {"zarr_format": 2}, ".zhdf5": {ann.ATTR_DTYPES: {"a": "<i2"}}, ".zattrs": {"a": 1}}
    rfs = jsonio.from_json_dict({"version": 1, "refs": refs})
    assert rfs.metadata[".zattrs"] == {"a": 1, ann.ATTR_DTYPES: {"a": "<i2"}}


def test_user_attributes_named_like_the_keys_of_zhdf5_survive(tmp_path):
    zattrs = {hdf5_facts.ATTRIBUTE_ORDER: "user value", hdf5_facts.ATTRIBUTES: 3, "e": {"_EMPTY": True},
              ann.ATTR_DTYPES: {"e": "<f8"}}
    visible, facts = hdf5_facts.split_for_disk(zattrs)
    assert visible == {hdf5_facts.ATTRIBUTE_ORDER: "user value", hdf5_facts.ATTRIBUTES: 3}
    assert hdf5_facts.merge_from_disk(visible, facts) == zattrs
    with h5py.File(tmp_path / "u.h5", "w") as f:
        f.attrs[hdf5_facts.ATTRIBUTE_ORDER] = "user value"
        f.attrs[hdf5_facts.ATTRIBUTES] = 3
        f.attrs["e"] = h5py.Empty("<f8")
    lindi_core.translate_to_file(tmp_path / "u.h5", tmp_path / "u.lindi.json", progress=False)
    with h5py.File(tmp_path / "u.h5") as h, lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "u.lindi.json") as f:
        assert sorted(f.attrs) == sorted(h.attrs)
        assert f.attrs[hdf5_facts.ATTRIBUTE_ORDER] == h.attrs[hdf5_facts.ATTRIBUTE_ORDER]
        assert f.attrs[hdf5_facts.ATTRIBUTES] == 3


@pytest.mark.parametrize("facts, message", [
    ({hdf5_facts.ATTRIBUTES: ["a"]}, "must be an object"), ({hdf5_facts.ATTRIBUTES: "x"}, "must be an object"),
    ({hdf5_facts.ATTRIBUTE_ORDER: [[1]]}, "list of attribute names"), ({"_SOMETHING": 1}, "unknown keys"),
])
def test_a_malformed_zhdf5_is_a_format_error(facts, message):
    from lindi_core.errors import ReferenceFormatError

    with pytest.raises(ReferenceFormatError, match=message):
        jsonio.from_json_dict({"version": 1, "refs": {".zgroup": {"zarr_format": 2}, ".zhdf5": facts}})
