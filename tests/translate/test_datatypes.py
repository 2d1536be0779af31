"""Every HDF5 datatype family reads back through zarr exactly as h5py reads the original."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
import lindi_core.format.jsonio
from lindi_core import ChunkOptions
from lindi_core.format import annotations as ann
from tests.h5compare import assert_same_as_h5py

rng = np.random.default_rng(42)

NUMERIC = ["<i1", "<u1", "<i2", ">i2", "<u2", "<i4", ">i4", "<u4", "<i8", ">u8", "<f2", "<f4", ">f4", "<f8",
           ">f8", "<c8", "<c16", ">c16"]


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("layout", ["chunked", "contiguous", "compact"])
def test_numeric_types_read_identically(make_h5, translated, dtype, layout):
    data = (rng.normal(0, 100, (40, 6)) * (1 if np.dtype(dtype).kind in "fc" else 1)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        data = (data + 1j * data.real[::-1]).astype(dtype)

    def build(f):
        kwargs = {"chunks": (7, 6), "compression": "gzip"} if layout == "chunked" else {}
        if layout == "compact":
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.COMPACT)
            space = h5py.h5s.create_simple(data.shape)
            dsid = h5py.h5d.create(f.id, b"x", h5py.h5t.py_create(data.dtype), space, dcpl=dcpl)
            dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
        else:
            f.create_dataset("x", data=data, **kwargs)

    path = make_h5(build)
    root, rfs = translated(path, options=_tiny_inline())
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "x", f["x"])
    # zarr hands back native byte order; the stored type keeps the file's.
    assert rfs.metadata["x/.zarray"]["dtype"] == np.dtype(dtype).str


def _tiny_inline():
    from lindi_core import ChunkOptions

    return ChunkOptions(inline_threshold=0)


def test_bool_and_enum_keep_their_values_and_mapping(make_h5, translated):
    colors = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 42}, basetype="i1")

    def build(f):
        f.create_dataset("flags", data=np.array([True, False, True] * 50), chunks=(16,))
        f.create_dataset("color", data=np.array([0, 42, 1] * 50, dtype="i1"), dtype=colors, chunks=(16,))

    path = make_h5(build)
    root, _ = translated(path, options=_tiny_inline())
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "flags", f["flags"])
        assert root["flags"].dtype == np.bool_
        assert_same_as_h5py(root, "color", f["color"])
    assert root["color"].attrs[ann.HDF5_DTYPE] == {"enum": {"RED": 0, "GREEN": 1, "BLUE": 42}, "base": "|i1"}


@pytest.mark.parametrize("encoding", ["ascii", "utf-8"])
def test_variable_length_strings(make_h5, translated, encoding):
    values = ["a", "", "longer text", "émoji ✓" if encoding == "utf-8" else "plain"] * 10

    def build(f):
        array = np.array(values, dtype=object)
        f.create_dataset("chunked", data=array, dtype=h5py.string_dtype(encoding), chunks=(7,))
        f.create_dataset("contiguous", data=array, dtype=h5py.string_dtype(encoding))
        f.create_dataset("scalar", data=values[2], dtype=h5py.string_dtype(encoding))
        f.create_dataset("matrix", data=np.array(values, dtype=object).reshape(8, 5),
                         dtype=h5py.string_dtype(encoding))

    path = make_h5(build)
    root, _ = translated(path)
    with h5py.File(path) as f:
        for name in ["chunked", "contiguous", "scalar", "matrix"]:
            assert_same_as_h5py(root, name, f[name])
    assert root["chunked"].attrs[ann.HDF5_DTYPE] == {"string": encoding}


def test_variable_length_strings_that_are_not_utf8_stay_bytes(make_h5, translated):
    raw = [b"\xff\xfe", b"ok"]

    def build(f):
        f.create_dataset("s", data=np.array(raw, dtype=object), dtype=h5py.string_dtype("ascii"))

    path = make_h5(build)
    root, _ = translated(path)
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "s", f["s"])


def test_fixed_length_strings(make_h5, translated):
    def build(f):
        f.create_dataset("ascii", data=np.array([b"ab", b"cde", b""] * 20, dtype="S3"), chunks=(8,))
        utf8 = h5py.string_dtype("utf-8", 4)
        f.create_dataset("utf8", data=np.array(["é".encode(), b"x"], dtype=utf8), dtype=utf8)
        f.create_dataset("scalar", data=np.bytes_(b"hello"))

    path = make_h5(build)
    root, _ = translated(path, options=_tiny_inline())
    with h5py.File(path) as f:
        for name in ["ascii", "utf8", "scalar"]:
            assert_same_as_h5py(root, name, f[name])
    assert root["utf8"].attrs[ann.HDF5_DTYPE] == {"string": "utf-8", "length": 4}


def test_flat_compound_is_referenced_in_place(make_h5, translated):
    dtype = np.dtype([("a", "<i4"), ("b", ">f8"), ("name", "S5"), ("flag", "|b1")])
    data = np.zeros(300, dtype=dtype)
    data["a"] = np.arange(300)
    data["b"] = np.linspace(0, 1, 300)
    data["name"] = [f"n{i}".encode() for i in range(300)]
    data["flag"] = data["a"] % 2 == 0

    path = make_h5(lambda f: f.create_dataset("table", data=data, chunks=(64,), compression="gzip"))
    root, rfs = translated(path, options=ChunkOptions(inline_threshold=0, compound_rows_limit=0))
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "table", f["table"])
    assert "table" in rfs.tables  # referenced, not copied


def test_small_flat_compound_is_stored_as_lindi_rows(make_h5, tmp_path):
    dtype = np.dtype([("x", "<u4"), ("y", "<u4"), ("weight", "<f4")])  # NWB's pixel_mask
    data = np.array([(1, 2, 0.5), (3, 4, 1.5), (5, 6, 2.5)], dtype=dtype)
    path = make_h5(lambda f: f.create_dataset("pixel_mask", data=data, chunks=(2,), compression="gzip"))
    rfs = lindi_core.translate(path)
    zattrs = rfs.metadata["pixel_mask/.zattrs"]
    assert zattrs[ann.COMPOUND_DTYPE] == [["x", "uint32"], ["y", "uint32"], ["weight", "float32"]]
    assert not list(rfs.chunk_refs("pixel_mask"))  # rows in the reference file, as LINDI 0.4 writes them
    lindi_core.format.jsonio.write_atomic(rfs, tmp_path / "c.lindi.json")
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "c.lindi.json") as f:
        assert f["pixel_mask"].dtype == h["pixel_mask"].dtype
        np.testing.assert_array_equal(f["pixel_mask"][()], h["pixel_mask"][()])
        np.testing.assert_array_equal(f["pixel_mask"][1:, "weight"], h["pixel_mask"][1:, "weight"])
        assert f["pixel_mask"].chunks == h["pixel_mask"].chunks and f["pixel_mask"].compression == "gzip"


def test_nested_compound_is_stored_as_json_rows(make_h5, translated):
    inner = np.dtype([("u", "<u2"), ("v", ">f4")])
    dtype = np.dtype([("a", "<i4"), ("inner", inner)])
    data = np.array([(1, (2, 0.5)), (3, (4, 1.5))], dtype=dtype)
    path = make_h5(lambda f: f.create_dataset("table", data=data))
    root, _ = translated(path)
    assert root["table"].attrs[ann.COMPOUND_DTYPE] == [["a", "int32"], ["inner", str(inner)]]
    assert root["table"].attrs[ann.HDF5_DTYPE] == {
        "compound": [["a", "<i4"], ["inner", {"compound": [["u", "<u2"], ["v", ">f4"]]}]]}
    assert [list(r) for r in root["table"][...]] == [[1, [2, 0.5]], [3, [4, 1.5]]]


def test_compound_with_references_and_strings_uses_lindi_json_form(make_h5, translated):
    def build(f):
        target = f.create_group("target")
        dtype = np.dtype([("idx", "<i4"), ("ref", h5py.ref_dtype), ("label", h5py.string_dtype())])
        f.create_dataset("table", data=np.array([(1, target.ref, "one"), (2, f.ref, "two")], dtype=dtype))

    path = make_h5(build)
    root, _ = translated(path)
    attrs = dict(root["table"].attrs)
    assert attrs[ann.COMPOUND_DTYPE] == [["idx", "int32"], ["ref", "<REFERENCE>"], ["label", "object"]]
    rows = root["table"][...]
    assert rows[0][0] == 1 and rows[0][2] == "one"
    assert rows[0][1][ann.REFERENCE]["path"] == "/target"
    assert rows[1][1][ann.REFERENCE]["path"] == "/"


def test_object_and_region_references(make_h5, translated):
    def build(f):
        d = f.create_dataset("d", data=np.arange(100).reshape(10, 10))
        g = f.create_group("g")
        g.attrs["object_id"] = "g-id"
        f.attrs["object_id"] = "root-id"
        f.create_dataset("refs", data=[d.ref, g.ref, h5py.Reference()], dtype=h5py.ref_dtype)
        f.create_dataset("regions", data=[d.regionref[2:4, 1:3], d.regionref[...]], dtype=h5py.regionref_dtype)

    path = make_h5(build)
    root, _ = translated(path)
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "refs", f["refs"])
    refs = root["refs"][...]
    assert refs[1] == {ann.REFERENCE: {"object_id": "g-id", "path": "/g", "source": ".",
                                       "source_object_id": "root-id"}}
    assert refs[2] is None
    regions = root["regions"][...]
    assert regions[0][ann.REFERENCE]["region"] == {"kind": "blocks", "blocks": [[[2, 1], [3, 2]]]}
    assert regions[1][ann.REFERENCE]["region"] == {"kind": "all"}


def test_ragged_numeric_arrays(make_h5, translated):
    values = [np.arange(n, dtype="<f4") for n in (0, 3, 1, 7)] * 3

    def build(f):
        ds = f.create_dataset("ragged", shape=(len(values),), dtype=h5py.vlen_dtype("<f4"), chunks=(5,))
        for i, v in enumerate(values):
            ds[i] = v

    path = make_h5(build)
    root, _ = translated(path)
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "ragged", f["ragged"])


def test_empty_null_and_scalar_datasets(make_h5, translated):
    def build(f):
        f.create_dataset("empty", shape=(0, 3), dtype="<f4", maxshape=(None, 3), chunks=(4, 3))
        f.create_dataset("empty_contiguous", shape=(0,), dtype="<i2")
        f.create_dataset("null", data=h5py.Empty("<f8"))
        f.create_dataset("scalar", data=np.int16(-5))
        f.create_dataset("scalar_compound", data=np.array((1, 2.5), dtype=[("a", "<i4"), ("b", "<f8")]))

    path = make_h5(build)
    root, _ = translated(path, options=ChunkOptions(compound_rows_limit=0))  # the compound as a Zarr scalar
    with h5py.File(path) as f:
        for name in ["empty", "empty_contiguous", "null", "scalar", "scalar_compound"]:
            assert_same_as_h5py(root, name, f[name])
    assert root["empty"].attrs[ann.HDF5_MAXSHAPE] == [None, 3]
    assert root["scalar"].attrs[ann.SCALAR] is True
    assert root["null"].attrs[ann.NULL_DATASPACE] is True


def test_opaque_type_is_referenced(make_h5, translated):
    data = np.frombuffer(bytes(range(256)) * 4, dtype="V8")
    path = make_h5(lambda f: f.create_dataset("blob", data=data, chunks=(32,)))
    root, _ = translated(path, options=_tiny_inline())
    with h5py.File(path) as f:
        np.testing.assert_array_equal(root["blob"][...], f["blob"][...])


def test_small_compounds_stored_as_rows_resize_write_and_keep_fill_values_as_h5py(make_h5, tmp_path):
    dtype = np.dtype([("x", "<u4"), ("w", "<f4")])

    def build(f):
        f.create_dataset("growing", data=np.array([(1, 0.5), (2, 1.5)], dtype=dtype), maxshape=(None,), chunks=(2,))
        filled = f.create_dataset("filled", shape=(3,), dtype=dtype, fillvalue=np.array((7, 2.5), dtype=dtype))
        filled[0] = (1, 1.0)

    path = make_h5(build)
    rfs = lindi_core.translate(path)
    assert ann.COMPOUND_DTYPE in rfs.metadata["growing/.zattrs"]  # rows
    assert ann.COMPOUND_DTYPE not in rfs.metadata.get("filled/.zattrs", {})  # a fill value rows cannot keep
    lindi_core.format.jsonio.write_atomic(rfs, tmp_path / "c.lindi.json")
    with h5py.File(path, "r+") as h, lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "c.lindi.json", "r+") as f:
        for target in (h, f):
            target["growing"].resize((5,))
            target["growing"][3] = (9, 9.5)
            target["growing"][1:3, "w"] = [4.0, 5.0]
        for name in ("growing", "filled"):
            assert f[name].dtype == h[name].dtype and f[name].fillvalue == h[name].fillvalue
            np.testing.assert_array_equal(f[name][()], h[name][()])
