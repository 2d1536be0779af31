"""Bad input gives a clear lindi_core.errors exception and never a half-written output."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import LindiError, NotHDF5Error, TranslationError


def test_non_hdf5_input_is_refused_and_no_output_is_written(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not HDF5\n" * 100)
    out = tmp_path / "out.lindi.json"
    with pytest.raises(NotHDF5Error, match="notes.txt"):
        lindi_core.translate_to_file(str(bogus), str(out), progress=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no temp file left behind


def test_truncated_file_is_refused_and_existing_output_is_kept(make_h5, tmp_path):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(100_000)))
    data = open(path, "rb").read()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 3])
    out = tmp_path / "out.lindi.json"
    out.write_text("previous content")
    with pytest.raises(LindiError, match="truncated.h5"):
        lindi_core.translate_to_file(str(truncated), str(out), progress=False)
    assert out.read_text() == "previous content"


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(TranslationError, match="no such file"):
        lindi_core.translate(str(tmp_path / "missing.h5"))


def test_an_optional_filter_missing_here_that_every_chunk_skipped_reads_as_h5py_does(make_h5):
    # (It used to fail the whole translation with UnsupportedFilterError: a missing filter now
    # costs only the chunks that need it; see tests/translate/test_per_object_failures.py.)
    def build(f):
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((10,))
        dcpl.set_filter(31999, 1, ())  # optional, and no such filter exists here: libhdf5 skips it
        space = h5py.h5s.create_simple((100,))
        dsid = h5py.h5d.create(f.require_group("grp").id, b"odd", h5py.h5t.STD_I32LE, space, dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(100, dtype="<i4"))

    path = make_h5(build)
    with h5py.File(path) as f:
        expected = f["grp/odd"][:]
    for threshold in (0, 4096):
        rfs = lindi_core.translate(path, options=lindi_core.ChunkOptions(inline_threshold=threshold))
        with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
            np.testing.assert_array_equal(f["grp/odd"][:], expected)


def test_corrupt_object_header_names_the_object(make_h5):
    path = make_h5(lambda f: f.create_dataset("victim", data=np.arange(10)).attrs.create("a", 1))
    with h5py.File(path) as f:
        address = h5py.h5o.get_info(f["victim"].id).addr
    with open(path, "r+b") as f:  # clobber the object header
        f.seek(address)
        f.write(b"\xff" * 64)
    with pytest.raises(TranslationError) as info:
        lindi_core.translate(path)
    assert "victim" in str(info.value)


def test_a_string_attribute_that_is_not_utf8_keeps_its_bytes(make_h5, tmp_path):
    # (it used to fail the whole translation, then to be unreadable: its bytes are now kept as
    # base64, spec section 7, and read back as h5py reads them)
    def build(f):
        group = f.create_group("g")
        group.attrs.create("bad", b"\xff\xfe", dtype=h5py.string_dtype("ascii"))
        group.attrs["fine"] = 7

    path = make_h5(build)
    with h5py.File(path) as h:
        expected = h["g"].attrs["bad"]  # h5py: str with the bytes as surrogate escapes
    lindi_core.translate_to_file(path, str(tmp_path / "x.lindi.json"), progress=False)
    for opened in (lindi_core.LindiH5pyFile.from_lindi_file(str(tmp_path / "x.lindi.json")),
                   lindi_core.LindiH5pyFile.from_hdf5_file(path)):
        with opened as f:
            assert sorted(f["g"].attrs) == ["bad", "fine"] and f["g"].attrs["fine"] == 7
            assert f["g"].attrs["bad"] == expected == "\udcff\udcfe"


@pytest.mark.parametrize("field, value", [
    ("shape", None), ("shape", "200"), ("shape", [-1]), ("chunks", [0]), ("chunks", [10, 10]), ("dtype", "<q9"),
    ("dtype", [["a"]]), ("dtype", 5), ("order", "X"), ("dimension_separator", 5), ("filters", ["zlib"]),
    ("filters", {"id": "zlib"}), ("compressor", "zlib"),
])
def test_malformed_array_metadata_is_a_reference_format_error(make_h5, tmp_path, field, value):
    from lindi_core.errors import ReferenceFormatError
    from lindi_core.format import jsonio

    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(100.0), chunks=(10,)))
    obj = jsonio.to_json_dict(lindi_core.translate(path))
    zarray = obj["refs"]["x/.zarray"]
    if value is None:
        del zarray[field]
    else:
        zarray[field] = value
    out = tmp_path / "bad.lindi.json"
    out.write_text(__import__("json").dumps(obj))
    with pytest.raises(ReferenceFormatError, match=r"x/\.zarray"):
        with lindi_core.LindiH5pyFile.from_lindi_file(str(out)) as f:
            f["x"][()]
