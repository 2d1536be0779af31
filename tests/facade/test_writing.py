"""Writes through the facade behave like h5py doing the same operations on a real file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core


def _same_operations(f) -> None:
    g = f.create_group("a/b")
    g.attrs["i16"] = np.int16(3)
    g.attrs["text"] = "hello"
    g.attrs["floats"] = [1.5, 2.5]
    g.attrs["bytes"] = b"raw"
    g.attrs["empty"] = h5py.Empty("f4")
    g.attrs.modify("i16", 7)
    d = g.create_dataset("d", data=np.arange(100, dtype="<f4").reshape(10, 10), chunks=(5, 5), compression="gzip",
                         shuffle=True)
    d[2:4, 1] = -1
    d[[0, 9], 5] = 42
    d.attrs["unit"] = "volts"
    f.create_dataset("strs", data=["a", "bb", "ccc"])
    f.create_dataset("fixed", data=np.array([b"ab", b"c"], dtype="S2"))
    f.create_dataset("scalar", data=2.5)
    f.create_dataset("table", data=np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]))
    f.create_dataset("shape_only", shape=(4, 2), dtype="<i2", fillvalue=-7)
    e = f.create_dataset("ext", shape=(0, 3), maxshape=(None, 3), dtype="i4", chunks=(4, 3))
    e.resize((5, 3))
    e[...] = np.arange(15).reshape(5, 3)
    f.create_dataset("refs", data=[g.ref, d.ref], dtype=h5py.ref_dtype)
    f.create_dataset("packed_strs", data=["x", "yy"] * 5, chunks=(4,), compression="gzip", compression_opts=6,
                     shuffle=True)
    f.create_dataset("checked_refs", data=[g.ref] * 3, dtype=h5py.ref_dtype, fletcher32=True)
    f.create_dataset("lzf_strs", data=["z"] * 3, compression="lzf")
    f.create_dataset("lzf_numbers", data=np.arange(1000, dtype="<i8"), compression="lzf")
    f["soft"] = h5py.SoftLink("/a/b/d")
    f["hard"] = d
    f.create_group("gone").attrs["x"] = 1
    del f["gone"]
    f.create_group("from")
    f.move("from", "to")
    del g.attrs["bytes"]


def _snapshot(f) -> dict:
    out = {}

    def visit(name, obj):
        attrs = {k: (type(v).__name__, getattr(getattr(v, "dtype", None), "str", None),
                     f"Empty({v.dtype.str})" if isinstance(v, h5py.Empty) else repr(v)) for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            value = obj[()]
            if h5py.check_ref_dtype(obj.dtype) is not None:
                value = [f[r].name for r in value]
            out[name] = ("dataset", obj.shape, obj.dtype, obj.maxshape, repr(value), attrs, obj.chunks,
                         obj.compression, obj.compression_opts, obj.shuffle, obj.fletcher32)
        else:
            out[name] = ("group", attrs)

    f.visititems(visit)
    out["/links"] = sorted((n, type(f.get(n, getlink=True)).__bases__[0].__name__
                            if type(f.get(n, getlink=True)).__module__.startswith("lindi") else
                            type(f.get(n, getlink=True)).__name__) for n in f)
    return out


def test_same_operations_same_result_as_h5py(tmp_path):
    with h5py.File(tmp_path / "truth.h5", "w") as truth:
        _same_operations(truth)
        expected = _snapshot(truth)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "x.lindi.json", mode="w") as f:
        _same_operations(f)
        during = _snapshot(f)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "x.lindi.json", mode="r") as f:
        after = _snapshot(f)
    assert during == expected
    assert after == expected


def test_modes_follow_h5py(tmp_path):
    path = tmp_path / "m.lindi.json"
    with pytest.raises(FileNotFoundError):
        lindi_core.LindiH5pyFile.from_lindi_file(path, mode="r+")
    lindi_core.LindiH5pyFile.from_lindi_file(path, mode="a").close()  # creates it
    with pytest.raises(FileExistsError):
        lindi_core.LindiH5pyFile.from_lindi_file(path, mode="x")
    with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="r") as f:
        with pytest.raises(ValueError, match="no write intent"):
            f.create_group("g")
        with pytest.raises(OSError, match="no write intent"):
            f.attrs["x"] = 1
    with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="w") as f:
        f.create_group("g")
        with pytest.raises(ValueError, match="already exists"):
            f.create_group("g")
        with pytest.raises(ValueError, match="already exists"):
            f.create_dataset("g", data=[1])
        with pytest.raises(KeyError):
            del f["missing"]


def test_editing_a_translated_file_keeps_original_chunks_remote(make_h5, tmp_path, serve):
    data = np.arange(200_000, dtype="<i4").reshape(2000, 100)
    make_h5(lambda f: f.create_dataset("x", data=data, chunks=(500, 100), compression="gzip"), name="orig.h5")
    server = serve(tmp_path)
    url = server.url_for("orig.h5")
    lindi_core.translate_to_file(url, tmp_path / "orig.lindi.json", progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "orig.lindi.json", mode="r+") as f:
        f.attrs["session_description"] = "fixed"
        f.create_dataset("processed", data=data[:10] * 2)
    rfs = lindi_core.load_reference_file(tmp_path / "orig.lindi.json")
    assert {ref.url for _, ref in rfs.chunk_refs("x")} == {url}
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "orig.lindi.json") as f:
        assert f.attrs["session_description"] == "fixed"
        np.testing.assert_array_equal(f["processed"][...], data[:10] * 2)
        np.testing.assert_array_equal(f["x"][1990:], data[1990:])


def test_copy_within_and_between_files_copies_references_not_bytes(make_h5, tmp_path):
    data = np.arange(30_000, dtype="<i4").reshape(300, 100)

    def build(f):
        g = f.create_group("g")
        g.attrs["note"] = "kept"
        g.create_dataset("x", data=data, chunks=(100, 100), compression="gzip")

    path = make_h5(build)
    lindi_core.translate_to_file(path, tmp_path / "src.lindi.json", progress=False)
    src = lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "src.lindi.json", mode="r+")
    src.copy("g", "g_copy")
    src.copy(src["g/x"], src["g_copy"], name="x_again")
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "dst.lindi.json", mode="w") as dst:
        dst.copy(src["g"], "imported", without_attrs=True)
        np.testing.assert_array_equal(dst["imported/x"][...], data)
        assert "note" not in dst["imported"].attrs
        assert {r.url for _, r in dst._rfs.chunk_refs("imported/x")} == {path}
    np.testing.assert_array_equal(src["g_copy/x"][...], data)
    np.testing.assert_array_equal(src["g_copy/x_again"][...], data)
    assert src["g_copy"].attrs["note"] == "kept"
    with pytest.raises(ValueError, match="already exists"):
        src.copy("g", "g_copy")
    src.close()
