"""``lindi_group.copy(source, <h5py group>, name=...)``: from a reference file into a file
opened with h5py, by value, compared with h5py copying the same objects between two HDF5 files
(values, types, layout, filters, fill values, attributes, links, hard links, creation order,
object references nulled). Before, this raised OSError in mode ``r`` and TypeError in ``r+``."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lindi_core.facade.files import LindiH5pyFile as H5


def _build(f: h5py.File) -> None:
    rng = np.random.default_rng(2)
    g = f.create_group("g", track_order=True)
    d = g.create_dataset("d", data=rng.standard_normal((10, 10)), chunks=(5, 5), compression="gzip",
                         compression_opts=3, shuffle=True, maxshape=(None, 10), fillvalue=-1.0)
    d.attrs["unit"] = "volt"
    d.attrs["scale"] = np.float32(2.5)
    d.attrs["arr"] = [1, 2, 3]
    d.attrs["ref"] = f.ref
    g.attrs["title"] = "group"
    g["hard"] = d
    g["soft"] = h5py.SoftLink("/g/d")
    g["dangling"] = h5py.SoftLink("/nowhere")
    g["ext"] = h5py.ExternalLink("other.h5", "/x")
    g.create_group("sub").create_group("deep").create_dataset("i", data=np.arange(7, dtype="i2"))
    g.create_dataset("s", data="a string")
    g.create_dataset("strs", data=["a", "bc"], dtype=h5py.string_dtype())
    g.create_dataset("lz", data=np.arange(100), chunks=(10,), compression="lzf")
    g.create_dataset("fl", data=np.arange(100.0), chunks=(10,), fletcher32=True)
    g.create_dataset("contig", data=np.arange(12).reshape(3, 4))
    g.create_dataset("refs", data=[d.ref, g.ref], dtype=h5py.ref_dtype)
    g.create_dataset("cmp", data=np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]))
    g.create_dataset("empty", shape=(0,), dtype="f4", chunks=(4,), maxshape=(None,))
    g.create_dataset("scalar", data=3.5)


def _attribute(obj, key):
    dtype = obj.attrs.get_id(key).dtype
    value = obj.attrs[key]
    shown = bool(value) if h5py.check_ref_dtype(dtype) is not None else repr(value)
    return key, shown, str(dtype), h5py.check_string_dtype(dtype)


def _describe(group: h5py.Group) -> tuple:
    """Everything h5py tells of a copied tree."""
    rows = []

    def visit(name, obj):
        row = [name, type(obj).__name__, sorted(_attribute(obj, k) for k in obj.attrs)]
        if isinstance(obj, h5py.Group):
            row.append(list(obj.keys()))
            row.append([(k, type(link).__name__, getattr(link, "path", None), getattr(link, "filename", None))
                        for k in obj for link in [obj.get(k, getlink=True)]])
        else:
            row += [obj.dtype.descr, h5py.check_string_dtype(obj.dtype), obj.shape, obj.chunks, obj.maxshape,
                    obj.compression, obj.compression_opts, obj.shuffle, obj.fletcher32, repr(obj.fillvalue),
                    obj.id.get_create_plist().get_layout()]
            values = obj[()]
            row.append([bool(r) for r in values] if h5py.check_ref_dtype(obj.dtype) is not None else repr(values))
        rows.append(row)

    group.visititems(visit)
    top = [(k, type(link).__name__, getattr(link, "path", None)) for k in group
           for link in [group.get(k, getlink=True)]]
    return rows, top, group.id.get_create_plist().get_link_creation_order(), group["d"].id == group["hard"].id


@pytest.fixture
def h5_path(make_h5):
    return make_h5(_build)


@pytest.fixture
def truth(h5_path, tmp_path):
    with h5py.File(h5_path, "r") as source, h5py.File(tmp_path / "truth.h5", "w") as target:
        source.copy(source["g"], target, name="copy")
    with h5py.File(tmp_path / "truth.h5", "r") as f:
        yield _describe(f["copy"])


@pytest.mark.parametrize("mode", ["r", "r+"])
def test_copy_into_an_h5py_file_is_h5pys_copy(h5_path, tmp_path, truth, mode):
    lindi_json = tmp_path / "data.lindi.json"
    with H5.from_hdf5_file(h5_path) as f:
        f.write_lindi_file(str(lindi_json))
    with H5.from_lindi_file(str(lindi_json), mode=mode) as f, h5py.File(tmp_path / "ours.h5", "w") as target:
        f.copy("g", target, name="copy")
    with h5py.File(tmp_path / "ours.h5", "r") as f:
        assert _describe(f["copy"]) == truth


def test_copy_into_h5py_by_object_into_a_group_and_under_a_path(h5_path, tmp_path):
    with H5.from_hdf5_file(h5_path) as f, h5py.File(tmp_path / "ours.h5", "w") as target, \
            h5py.File(h5_path, "r") as expected:
        f["g"].copy(f["g/d"], target)  # named after the source
        f.copy("g/sub", target.create_group("into"), name="a/b")  # groups on the way made, as h5py does
        np.testing.assert_array_equal(target["d"][()], expected["g/d"][()])
        assert target["d"].chunks == (5, 5) and target["d"].compression == "gzip"
        np.testing.assert_array_equal(target["into/a/b/deep/i"][()], expected["g/sub/deep/i"][()])
        with pytest.raises(RuntimeError, match="destination object already exists"):  # h5py's error
            f.copy("g/d", target, name="d")


def test_datasets_written_into_a_reference_file_copy_out_by_value(tmp_path):
    values = np.random.default_rng(3).standard_normal(5000)
    with H5.from_lindi_file(str(tmp_path / "made.lindi.d"), mode="w") as f:
        f.create_dataset("x", data=values, chunks=(1000,), compression="gzip", fillvalue=np.nan)
        f["x"].attrs["note"] = "made here"
        with h5py.File(tmp_path / "out.h5", "w") as target:
            f.copy("x", target)
    with h5py.File(tmp_path / "out.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][()], values)
        assert (f["x"].chunks, f["x"].compression, f["x"].attrs["note"]) == ((1000,), "gzip", "made here")
        assert np.isnan(f["x"].fillvalue)
