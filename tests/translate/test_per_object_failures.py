"""One object never stops a whole file (issue 13).

h5py opens a file holding a dataset whose filter is missing on this machine, or an attribute it
cannot give, and raises only when that object is read. A translation must do the same: every
other object translates and reads as h5py reads it; the unreadable one keeps its shape, type,
chunk shape, attributes and chunk references, and reading it (through the facade or through
Zarr) raises an :class:`UnreadableObjectError` naming it and the reason.
"""

from __future__ import annotations

import json
import zlib

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import MissingFilterError, UnreadableObjectError
from lindi_core.format import families
from lindi_core.format.validate import validate_file
from tests.h5compare import assert_same_as_h5py

LZO = 305  # registered with The HDF Group; no plugin for it here (neither hdf5plugin nor libhdf5)


def _build(f: h5py.File) -> None:
    f.attrs["title"] = "per-object"
    # a record whose fixed-length string is not UTF-8 beside a variable-length one: no JSON text
    # form (a string alone is kept as its bytes, spec section 7, but records holding objects are JSON)
    f.attrs.create("bad", np.array((b"\xff", "x"), dtype=[("s", "S1"), ("v", h5py.string_dtype())]))
    f.create_dataset("good", data=np.arange(100, dtype="<f8").reshape(10, 10), chunks=(5, 5), compression="gzip")
    group = f.create_group("acq")
    group.attrs["rate"] = np.float32(30.0)
    group.create_dataset("names", data=np.array(["ab", "cde", "f"], dtype=object), dtype=h5py.string_dtype())
    # A chunked dataset whose chunks went through LZO (written as stored bytes: libhdf5 here
    # cannot run the filter); chunks 0..4 stored, 5..9 never written (they read as the fill value).
    lzo = group.create_dataset("lzo", shape=(100,), chunks=(10,), dtype="<i4", fillvalue=-1,
                               compression=LZO, allow_unknown_filter=True)
    for start in range(0, 50, 10):
        lzo.id.write_direct_chunk((start,), zlib.compress(np.arange(start, start + 10, dtype="<i4").tobytes()), 0)
    lzo.attrs["unit"] = "mV"
    lzo.attrs["scale"] = np.int16(3)
    # Variable-length strings under LZO: their values must be read through libhdf5 to be
    # translated. The stored records (heap addresses) are borrowed from an unfiltered twin.
    twin = f.create_dataset("twin", data=np.array(["x", "yy", "zzz", "w"], dtype=object), chunks=(2,),
                            dtype=h5py.string_dtype())
    strings = group.create_dataset("strings", shape=(6,), chunks=(2,), dtype=h5py.string_dtype(),
                                   compression=LZO, allow_unknown_filter=True)
    for start in (0, 2):  # the last chunk never written
        strings.id.write_direct_chunk((start,), twin.id.read_direct_chunk((start,))[1], 0)
    strings.attrs["note"] = "strings"


def _readable_with_h5py(dset: h5py.Dataset) -> bool:
    try:
        dset[()]
    except OSError:
        return False
    return True


@pytest.fixture
def unreadable_file(make_h5) -> str:
    path = make_h5(_build, name="per_object.h5")
    with h5py.File(path) as f:  # the premise: h5py opens the file and fails on those two only
        assert not _readable_with_h5py(f["acq/lzo"]) and not _readable_with_h5py(f["acq/strings"])
        assert _readable_with_h5py(f["good"]) and _readable_with_h5py(f["acq/names"])
    return path


def _walk(h5: h5py.File | lindi_core.LindiH5pyFile) -> dict[str, tuple]:
    """What a pynwb-like walker learns of every object without reading data."""
    seen: dict[str, tuple] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            seen[name] = ("dataset", obj.shape, obj.dtype, obj.chunks, sorted(obj.attrs.keys()))
        else:
            seen[name] = ("group", sorted(obj.attrs.keys()))

    h5.visititems(visit)
    return seen


@pytest.mark.parametrize("inline_threshold", [0, 4096], ids=["referenced", "inlined"])
def test_a_file_with_unreadable_objects_translates_and_the_rest_reads_as_h5py(unreadable_file, tmp_path,
                                                                               inline_threshold):
    out = str(tmp_path / "per_object.lindi.json")
    lindi_core.translate_to_file(unreadable_file, out, progress=False,
                                 options=lindi_core.ChunkOptions(inline_threshold=inline_threshold))
    with h5py.File(unreadable_file) as h5, lindi_core.LindiH5pyFile.from_lindi_file(out) as f:
        assert _walk(f) == _walk(h5)
        assert list(f.attrs) == list(h5.attrs)
        assert f.attrs["title"] == h5.attrs["title"]
        np.testing.assert_array_equal(f["good"][:], h5["good"][:])
        assert list(f["acq/names"][:]) == list(h5["acq/names"][:])
        assert f["acq"].attrs["rate"] == h5["acq"].attrs["rate"]
        for name in ("acq/lzo", "acq/strings"):
            mine, theirs = f[name], h5[name]
            assert (mine.shape, mine.dtype, mine.chunks, mine.fillvalue, mine.compression) == (
                theirs.shape, theirs.dtype, theirs.chunks, theirs.fillvalue, theirs.compression)
            assert {k: mine.attrs[k] for k in mine.attrs} == {k: theirs.attrs[k] for k in theirs.attrs}
            for selection in (np.s_[:], np.s_[0], np.s_[1:3]):
                with pytest.raises(UnreadableObjectError) as raised:
                    mine[selection]
                message = str(raised.value)
                assert f"/{name}" in message and "305 (lzo)" in message, message
                assert raised.value.object_path == f"/{name}"
        with pytest.raises(MissingFilterError):
            f["acq/lzo"][:]
        # Chunks never written read as the fill value, as in h5py (no filter runs for them).
        np.testing.assert_array_equal(f["acq/lzo"][60:80], h5["acq/lzo"][60:80])
        with pytest.raises(UnreadableObjectError, match="'bad'.*'utf-8' codec") as raised:
            f.attrs["bad"]
        assert raised.value.object_path == "/"


def test_the_chunk_references_of_an_unreadable_dataset_are_those_h5py_reports(unreadable_file, translated):
    root, rfs = translated(unreadable_file, options=lindi_core.ChunkOptions(inline_threshold=0))
    with h5py.File(unreadable_file) as h5:
        for name in ("acq/lzo", "acq/strings"):
            expected = {}
            h5[name].id.chunk_iter(lambda info, out=expected: out.__setitem__(
                info.chunk_offset, (info.byte_offset, info.size)))
            chunks = h5[name].chunks
            found = {tuple(int(i) * c for i, c in zip(key.split("."), chunks)): (ref.offset, ref.length)
                     for key, ref in rfs.chunk_refs(name)}
            assert found == expected and len(found) in (2, 5)


def test_zarr_refuses_the_stored_chunks_of_an_unreadable_dataset_naming_it(unreadable_file, translated):
    root, _ = translated(unreadable_file, options=lindi_core.ChunkOptions(inline_threshold=0))
    with h5py.File(unreadable_file) as h5:
        assert_same_as_h5py(root, "good", h5["good"])
        for name in ("acq/lzo", "acq/strings"):
            array = root[name]
            assert array.shape == h5[name].shape and array.chunks == h5[name].chunks
            with pytest.raises(UnreadableObjectError, match="305 \\(lzo\\)") as raised:
                array[:]
            assert raised.value.object_path == f"/{name}"
        np.testing.assert_array_equal(root["acq/lzo"][60:80], h5["acq/lzo"][60:80])
        # An unreadable dataset's unwritten chunks do not read as a fill value either.
        with pytest.raises(UnreadableObjectError, match="305 \\(lzo\\)") as raised:
            root["acq/strings"][4:6]
        assert raised.value.object_path == "/acq/strings"


def test_unreadable_annotations_stay_out_of_what_lindi_04_reads(unreadable_file, tmp_path):
    out = tmp_path / "x.lindi.json"
    lindi_core.translate_to_file(unreadable_file, str(out), progress=False)
    refs = json.loads(out.read_text())["refs"]
    assert "bad" not in refs[".zattrs"] and refs[".zattrs"]["title"] == "per-object"
    assert "'utf-8' codec" in refs[".zhdf5"]["_ATTRIBUTES"]["bad"]["_UNREADABLE"]["reason"]
    assert refs[".zhdf5"]["_ATTRIBUTE_ORDER"] == ["bad", "title"]  # by name, as HDF5 lists them
    assert "_UNREADABLE" not in refs["acq/strings/.zattrs"]
    assert "305 (lzo)" in refs["acq/strings/.zhdf5"]["_UNREADABLE"]["reason"]
    assert refs["acq/strings/.zarray"]["filters"][0]["id"] == "lindi_core.unreadable"
    # The numeric dataset is described exactly: readable wherever the filter is available.
    assert refs["acq/lzo/.zarray"]["filters"] == [
        {"id": "lindi_core.hdf5_filters", "filters": [[LZO, 1, []]], "dtype": "<i4", "chunk_shape": [10]}]
    validate_file(out)


def test_a_dataset_whose_type_has_no_zarr_form_is_recorded_and_raises_when_read(make_h5, tmp_path, monkeypatch):
    # The mechanism type translations use (float128, int128, ... have their own tests): a type
    # classify() rejects. Here int16 stands in for such a type, so the test pins the mechanism.
    def build(f):
        f.create_dataset("odd", data=np.arange(40, dtype="<i2").reshape(4, 10), chunks=(2, 5)).attrs["a"] = 1
        f.create_dataset("plain", data=np.arange(6, dtype="<i2"))  # contiguous
        f.create_dataset("fine", data=np.arange(5.0))

    path = make_h5(build)
    real = families.classify

    def classify(dtype):
        if dtype == np.dtype("<i2"):
            raise TypeError(f"unsupported HDF5 datatype {dtype!r}")
        return real(dtype)

    monkeypatch.setattr(families, "classify", classify)
    rfs = lindi_core.translate(path, options=lindi_core.ChunkOptions(inline_threshold=0))
    with h5py.File(path) as h5, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["fine"][:], h5["fine"][:])
        for name in ("odd", "plain"):
            assert (f[name].shape, f[name].dtype, f[name].chunks) == (h5[name].shape, h5[name].dtype, h5[name].chunks)
            assert dict(f[name].attrs) == dict(h5[name].attrs)
            with pytest.raises(UnreadableObjectError, match="unsupported HDF5 datatype") as raised:
                f[name][...]
            assert raised.value.object_path == f"/{name}"
        assert len(list(rfs.chunk_refs("odd"))) == 4 and len(list(rfs.chunk_refs("plain"))) == 1


def test_a_dataset_under_a_plugin_filter_reports_compression_unknown_as_h5py_does(make_h5):
    import hdf5plugin

    def build(f):
        data = np.arange(1000)
        f.create_dataset("zstd", data=data, chunks=(100,), **hdf5plugin.Zstd())
        f.create_dataset("bitshuffle", data=data, chunks=(100,), **hdf5plugin.Bitshuffle())
        f.create_dataset("gzip", data=data, chunks=(100,), compression="gzip", shuffle=True, fletcher32=True)
        f.create_dataset("scaleoffset", data=data, chunks=(100,), scaleoffset=0)
        f.create_dataset("strings", data=np.array(["a", "b"], dtype=object), dtype=h5py.string_dtype(), chunks=(1,))
        f.create_dataset("lzo", shape=(10,), chunks=(5,), dtype="<i4", compression=LZO, allow_unknown_filter=True)

    path = make_h5(build)
    with h5py.File(path) as h5, lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        assert {name: f[name].compression for name in h5} == {name: h5[name].compression for name in h5}
        assert h5["zstd"].compression == "unknown" and h5["strings"].compression is None


def test_a_virtual_dataset_whose_source_needs_a_missing_filter_is_recorded_and_raises_when_read(make_h5):
    def build(f):
        lzo = f.create_dataset("lzo", shape=(20,), chunks=(10,), dtype="<i4", compression=LZO,
                               allow_unknown_filter=True)
        lzo.id.write_direct_chunk((0,), zlib.compress(np.arange(10, dtype="<i4").tobytes()), 0)
        layout = h5py.VirtualLayout(shape=(20,), dtype="<i4")
        layout[:] = h5py.VirtualSource(".", "lzo", shape=(20,))
        f.create_virtual_dataset("virtual", layout, fillvalue=-1).attrs["a"] = "b"
        f["fine"] = np.arange(3)

    path = make_h5(build)
    with h5py.File(path) as h5:
        with pytest.raises(OSError):
            h5["virtual"][:]  # h5py opens the file, and fails on reading this dataset only
        rfs = lindi_core.translate(path)
        with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
            np.testing.assert_array_equal(f["fine"][:], h5["fine"][:])
            assert (f["virtual"].shape, f["virtual"].dtype, f["virtual"].attrs["a"]) == (
                h5["virtual"].shape, h5["virtual"].dtype, h5["virtual"].attrs["a"])
            with pytest.raises(UnreadableObjectError, match="305 \\(lzo\\).*source dataset") as raised:
                f["virtual"][:5]
            assert raised.value.object_path == "/virtual"


def test_the_command_line_names_each_unreadable_object_and_why(unreadable_file, tmp_path, capsys):
    from lindi_core.cli import main

    out = tmp_path / "per_object.lindi.json"
    assert main(["translate", unreadable_file, "-o", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "3 object(s) cannot be read" in err
    lines = [line.strip() for line in err.splitlines()[1:]]
    assert [line.split(":")[0] for line in lines] == ["/@bad", "/acq/lzo", "/acq/strings"]
    assert "305 (lzo)" in lines[1] and "305 (lzo)" in lines[2] and "UTF-8" in lines[0].upper()
    # A file every object of which translates says nothing.
    with h5py.File(tmp_path / "fine.h5", "w") as f:
        f["x"] = np.arange(3)
    assert main(["translate", str(tmp_path / "fine.h5"), "-o", str(tmp_path / "fine.json"), "--no-progress"]) == 0
    assert "cannot be read" not in capsys.readouterr().err


def test_external_storage_that_cannot_be_read_makes_only_that_dataset_unreadable(tmp_path):
    raw = tmp_path / "beside.bin"
    raw.write_bytes(np.arange(10, dtype="<i4").tobytes())
    path = tmp_path / "external.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("present", shape=(10,), dtype="<i4", external=[(str(raw), 0, 40)])
        f.create_dataset("gone", shape=(4,), dtype="<f8", external=[(str(tmp_path / "missing.bin"), 0, 32)])
        f["gone"].attrs["unit"] = "s"
    with lindi_core.LindiH5pyFile.from_hdf5_file(str(path)) as f, h5py.File(path, "r") as h:
        with pytest.raises(OSError):
            h["gone"][()]  # the premise: h5py opens the file and fails on reading this one only
        np.testing.assert_array_equal(f["present"][()], h["present"][()])
        assert (f["gone"].shape, f["gone"].dtype, dict(f["gone"].attrs)) == ((4,), np.dtype("<f8"), {"unit": "s"})
        with pytest.raises(UnreadableObjectError, match="missing.bin") as raised:
            f["gone"][()]
        assert raised.value.object_path == "/gone"
