"""``Group.copy`` with h5py's options (shallow, expand_soft, expand_external, references across
files), against h5py doing the same copies on the HDF5 file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core


def _build(f) -> None:
    f.create_group("t").attrs["kind"] = "target"
    f["t"].create_dataset("inside", data=np.arange(3))
    s = f.create_group("src")
    s.attrs["a"] = 1
    s.create_group("sub/deep").attrs["c"] = 3
    s["sub"].attrs["b"] = 2
    s.create_dataset("d", data=np.arange(20_000).reshape(200, 100), chunks=(50, 100), compression="gzip")
    s["soft"] = h5py.SoftLink("/t")
    s["dangling"] = h5py.SoftLink("/nope")
    s["ext"] = h5py.ExternalLink("other.h5", "/e")
    s["sub/soft_up"] = h5py.SoftLink("/t/inside")
    s.create_dataset("refs", data=[f["t"].ref, f["src/d"].ref], dtype=h5py.ref_dtype)
    s.attrs["points_at"] = f["t"].ref


def _describe(f, name: str) -> dict:
    """Links (with their kinds), attributes, values and reference targets under ``name``."""
    out: dict = {}

    def visit(path):
        link = f[name].get(path, getlink=True)
        entry = {"link": type(link).__name__.replace("Lindi", "").replace("H5py", "")}
        if not isinstance(link, h5py.HardLink):
            out[path] = entry
            return
        obj = f[name][path]
        entry["attrs"] = {k: (f[v].name if isinstance(v, h5py.Reference) and v else
                              None if isinstance(v, h5py.Reference) else np.asarray(v).tolist())
                          for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            values = obj[()]
            if h5py.check_ref_dtype(obj.dtype) is not None:
                entry["values"] = [f[r].name if r else None for r in values]
            else:
                entry["values"] = np.asarray(values).tolist()
        out[path] = entry

    f[name].visit_links(visit)
    top = f[name]
    out["."] = {k: (f[v].name if isinstance(v, h5py.Reference) and v else
                    None if isinstance(v, h5py.Reference) else np.asarray(v).tolist())
                for k, v in top.attrs.items()}
    return out


@pytest.fixture
def files(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_group("e").create_dataset("x", data=np.arange(4) * 10)
    with h5py.File(tmp_path / "main.h5", "w") as f:
        _build(f)
    lindi_core.translate_to_file(tmp_path / "main.h5", tmp_path / "main.lindi.json", progress=False)
    return tmp_path


@pytest.mark.parametrize("options", [
    {}, {"shallow": True}, {"expand_soft": True}, {"expand_external": True},
    {"expand_soft": True, "expand_external": True, "shallow": True}, {"without_attrs": True},
])
def test_copy_within_a_file_matches_h5py(files, options):
    with h5py.File(files / "main.h5", "r+") as h:
        h.copy("src", "copied", **options)
        expected = _describe(h, "copied")
    with lindi_core.LindiH5pyFile.from_lindi_file(files / "main.lindi.json", mode="r+") as f:
        f.copy("src", "copied", **options)
        assert _describe(f, "copied") == expected
        assert _describe(f, "src") == _describe(f, "src")  # the source is untouched
    with lindi_core.LindiH5pyFile.from_lindi_file(files / "main.lindi.json") as f:
        assert _describe(f, "copied") == expected


@pytest.mark.parametrize("options", [{}, {"expand_soft": True}])
def test_copy_into_another_file_matches_h5py(files, options):
    with h5py.File(files / "main.h5", "r") as h, h5py.File(files / "dest.h5", "w") as d:
        h.copy(h["src"], d, "copied", **options)
        expected = _describe(d, "copied")
    with lindi_core.LindiH5pyFile.from_lindi_file(files / "main.lindi.json") as f, \
            lindi_core.LindiH5pyFile.from_lindi_file(files / "dest.lindi.json", mode="w") as d:
        d.copy(f["src"], d, "copied", **options)
        assert _describe(d, "copied") == expected
        # chunks are copied by reference into the original file, not as bytes
        assert {r.url for _, r in d._rfs.chunk_refs("copied/d")} == {str(files / "main.h5")}


def test_expanding_references_is_refused_clearly(files):
    with lindi_core.LindiH5pyFile.from_lindi_file(files / "main.lindi.json", mode="r+") as f, \
            lindi_core.LindiH5pyFile.from_lindi_file(files / "dest.lindi.json", mode="w") as d:
        for target in (f, d):
            with pytest.raises(ValueError, match="expand_refs is not available"):
                target.copy(f["src"], target, "copied", expand_refs=True)
            assert "copied" not in target


def test_expanding_a_link_to_an_ancestor_ends_and_reads_like_h5py(tmp_path):
    def build(f):
        s = f.create_group("src")
        s.create_dataset("d", data=np.arange(3))
        s.create_group("sub")["up"] = h5py.SoftLink("/src")
        s["sub"]["root"] = h5py.SoftLink("/")

    with h5py.File(tmp_path / "anc.h5", "w") as f:
        build(f)
    lindi_core.translate_to_file(tmp_path / "anc.h5", tmp_path / "anc.lindi.json", progress=False)
    with h5py.File(tmp_path / "anc.h5", "r+") as h:
        h.copy("src", "copied", expand_soft=True)
        expected_up = h["copied/sub/up/d"][()]
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "anc.lindi.json", mode="r+") as f:
        f.copy("src", "copied", expand_soft=True)
        # libhdf5 makes "up" a hard link to the copy itself; here a soft link to it, read the same
        assert f["copied/sub/up"] == f["copied"]
        np.testing.assert_array_equal(f["copied/sub/up/d"][()], expected_up)
        assert f["copied"].get("sub/up", getlink=True).path == "/copied"
        assert f["copied"].get("sub/root", getlink=True).path == "/"  # above the copy: left as it was
        np.testing.assert_array_equal(f["copied/d"][()], np.arange(3))


def test_a_copied_creation_ordered_group_keeps_its_order_as_h5py_does(tmp_path):
    names = ["zeta", "alpha", "mid", "beta", "omega", "a0"]
    with h5py.File(tmp_path / "ordered.h5", "w", track_order=True) as f:
        g = f.create_group("g", track_order=True)
        for i, name in enumerate(names):
            g.create_dataset(name, data=[i])
            g.attrs[name] = i
    lindi_core.translate_to_file(tmp_path / "ordered.h5", tmp_path / "ordered.lindi.json", progress=False)
    with h5py.File(tmp_path / "ordered.h5", "r+") as h:
        h.copy("g", "copied")
        expected = (list(h["copied"]), list(h["copied"].attrs))
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "ordered.lindi.json", mode="r+") as f, \
            lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "dest.lindi.json", mode="w") as d:
        f.copy("g", "copied")
        d.copy(f["g"], d, "copied")
        assert (list(f["copied"]), list(f["copied"].attrs)) == expected
        assert (list(d["copied"]), list(d["copied"].attrs)) == expected
