"""HDF5 names that are not UTF-8: h5py lists such an attribute name as bytes, and so must the
translation (spec §7, ``_ATTRIBUTE_NAMES``), rather than failing on the whole file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from tests.h5walk import TranslatedFile

RAW = b"\xff\xfename"


def _raw_attribute(obj_id, name: bytes, value: np.ndarray) -> None:
    space = h5py.h5s.create(h5py.h5s.SCALAR) if value.ndim == 0 else h5py.h5s.create_simple(value.shape)
    attr = h5py.h5a.create(obj_id, name, h5py.h5t.py_create(value.dtype), space)
    attr.write(value)


def _non_utf8_attributes(f: h5py.File) -> None:
    f.attrs["b"] = 1
    f.attrs["\xe9"] = 3.5
    _raw_attribute(f.id, RAW, np.array(7, dtype="<i4"))
    # UTF-8 names that are the escaped text of the raw names: still other attributes
    f.attrs["\\xff\\xfename"] = "literal"
    ds = f.create_dataset("d", data=np.arange(3))
    _raw_attribute(ds.id, b"a\x80", np.arange(4, dtype="<u2"))
    g = f.create_group("ordered", track_order=True)
    g.attrs["z"] = "first"
    _raw_attribute(g.id, b"\xc3(", np.array([1.5, 2.5]))
    g.attrs["a"] = "last"


def test_attributes_whose_names_are_not_utf8_list_and_read_as_h5py(make_h5, tmp_path):
    path = make_h5(_non_utf8_attributes, name="names.h5")
    translated = TranslatedFile(path, tmp_path)
    try:
        translated.assert_matches("/")
        f = translated.views["reopened"]
        assert list(f.attrs) == ["\\xff\\xfename", "b", "\xe9", RAW]
        assert f.attrs[RAW] == 7 and f.attrs[RAW].dtype == np.dtype("<i4")
        assert RAW in f.attrs and "\\xff\\xfename" in f.attrs and f.attrs["\\xff\\xfename"] == "literal"
        assert f.attrs.get_id(RAW).name == RAW
        assert list(f["ordered"].attrs) == ["z", b"\xc3(", "a"]
    finally:
        translated.close()


def test_names_not_utf8_stay_out_of_lindi04s_view(make_h5, tmp_path):
    # LINDI 0.4 reads only .zattrs: it must not show such an attribute under its escaped key.
    import json

    path = make_h5(_non_utf8_attributes, name="names.h5")
    out = tmp_path / "names.lindi.json"
    lindi_core.translate_to_file(path, str(out), progress=False)
    refs = json.loads(out.read_text())["refs"]
    assert "\\xff\\xfename" in refs[".zattrs"] and refs[".zattrs"]["\\xff\\xfename"] == "literal"
    assert [k for k in refs[".zattrs"] if k.startswith("\\xff")] == ["\\xff\\xfename"]
    assert refs[".zhdf5"]["_ATTRIBUTE_NAMES"] == {"\\xff\\xfename~": "//5uYW1l"}


def test_editing_keeps_and_deletes_attributes_whose_names_are_not_utf8(make_h5, tmp_path):
    path = make_h5(_non_utf8_attributes, name="names.h5")
    out = tmp_path / "names.lindi.json"
    lindi_core.translate_to_file(path, str(out), progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(str(out), mode="r+") as f:
        f.attrs["new"] = 1
        f["d"].attrs[b"a\x80"] = np.arange(2, dtype="<u2")  # replaced under its own name
        del f.attrs[RAW]
        with pytest.raises(ValueError, match="UTF-8"):
            f.attrs[b"\xfe new"] = 1
    with lindi_core.LindiH5pyFile.from_lindi_file(str(out)) as f:
        assert list(f.attrs) == ["\\xff\\xfename", "b", "new", "\xe9"]
        assert list(f["d"].attrs) == [b"a\x80"]
        np.testing.assert_array_equal(f["d"].attrs[b"a\x80"], np.arange(2, dtype="<u2"))
        assert f["ordered"].attrs[b"\xc3("].tolist() == [1.5, 2.5]


def _non_utf8_links(f: h5py.File) -> None:
    f.create_group("g").attrs["a"] = 1
    f.create_dataset("z", data=np.arange(3))
    f.id.links.create_soft(b"so\xea", b"/g")
    f.id.links.create_hard(b"h\xea", f.id, b"z")
    inner = f.create_group("ordered", track_order=True)
    inner.create_group("b")
    inner.id.links.create_soft(b"\xff", b"/z")
    inner.create_group("a")


def test_links_whose_names_are_not_utf8_are_listed_and_refuse_to_be_followed(make_h5, tmp_path):
    path = make_h5(_non_utf8_links, name="links.h5")
    out = tmp_path / "links.lindi.json"
    lindi_core.translate_to_file(path, str(out), progress=False)
    from lindi_core.format.validate import validate_file

    validate_file(out)
    with lindi_core.LindiH5pyFile.from_lindi_file(str(out)) as f, h5py.File(path) as truth:
        assert list(f) == list(truth) == ["g", b"h\xea", "ordered", b"so\xea", "z"]
        assert list(f["ordered"]) == list(truth["ordered"]) == ["b", b"\xff", "a"]
        assert len(f) == len(truth) == 5
        assert b"h\xea" in f and b"\xfe" not in f
        for name in (b"h\xea", b"so\xea"):
            truth[name]  # h5py follows it
            with pytest.raises(lindi_core.errors.UnreadableObjectError, match="not UTF-8") as raised:
                f[name]
            assert raised.value.object_path == "/" and repr(name) in str(raised.value)
        with pytest.raises(KeyError):
            f[b"\xfe"]
        # the rest of the file reads as h5py reads it
        assert f["g"].attrs["a"] == 1 and f["z"][()].tolist() == [0, 1, 2]
