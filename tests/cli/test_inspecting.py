"""``ls``, ``tree``, ``attrs`` and ``cat`` on every file form, against h5py reading the file."""

from __future__ import annotations

import io
import re

import h5py
import numpy as np
import pytest

from lindi_core.cli import main
from lindi_core.samples import write_sample_nwb


def _h5py_tree(path: str) -> dict[str, str]:
    """path -> 'group' or 'shape dtype', every object reachable by hard links (h5py's visit)."""
    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            found["/" + name] = "group" if isinstance(obj, h5py.Group) else f"{obj.shape} {obj.dtype}"
        f.visititems(visit)
    return found


def _parse_tree(text: str) -> dict[str, str]:
    """The tree output back into path -> 'group' or 'shape dtype' (links left out)."""
    lines = text.splitlines()
    assert lines[0].startswith("/")
    found, stack = {}, []
    for line in lines[1:]:
        depth = (len(line) - len(line.lstrip(" "))) // 2
        entry = line.strip()
        stack[depth:] = []
        if " -> " in entry:
            continue
        name, _, rest = entry.partition("  ")
        path = "/" + "/".join(stack + [name.rstrip("/")])
        if name.endswith("/"):
            found[path] = "group"
            stack.append(name.rstrip("/"))
        else:
            found[path] = re.match(r"(\(.*?\) \S+)", rest).group(1)
    return found


@pytest.fixture
def nwb(tmp_path):
    return write_sample_nwb(tmp_path / "sample.nwb", n_samples=10_000)


def test_tree_of_an_nwb_file_in_every_form_lists_what_h5py_sees(nwb, every_form, capsys):
    truth = _h5py_tree(nwb)
    for form, where in every_form(nwb).items():
        capsys.readouterr()
        assert main(["tree", where]) == 0, form
        out = capsys.readouterr().out
        assert _parse_tree(out) == truth, form
        assert "ElectricalSeries/  [ElectricalSeries]" in out, form
        assert "data  (10000, 16) int16  chunks=(" in out and "codecs=gzip(4),shuffle" in out, form


def test_tree_depth_zero_is_the_root_only_and_one_its_members(nwb, capsys):
    assert main(["tree", nwb, "--depth", "0"]) == 0
    assert capsys.readouterr().out == "/  [NWBFile]\n"
    assert main(["tree", nwb, "--depth", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    with h5py.File(nwb, "r") as f:
        names = sorted(f.keys())
    assert [line.split("  ")[0].rstrip("/") for line in lines[1:]] == names


def test_ls_lists_a_groups_members_as_h5py_sees_them(make_h5, every_form, capsys):
    def build(f):
        g = f.create_group("g")
        g.create_dataset("a", data=np.arange(60, dtype="<i2").reshape(6, 10), chunks=(3, 5), compression="gzip",
                         compression_opts=2, shuffle=True)
        g.create_dataset("b", data=np.ones(7))
        g.create_group("sub").attrs["neurodata_type"] = "Thing"
        g["soft"] = h5py.SoftLink("/g/a")
    path = make_h5(build)
    for form, where in every_form(path).items():
        capsys.readouterr()
        assert main(["ls", where, "g"]) == 0, form
        assert capsys.readouterr().out.splitlines() == [
            "a  (6, 10) int16  chunks=(3, 5)  codecs=gzip(2),shuffle",
            "b  (7,) float64",
            "soft -> /g/a (soft link)",
            "sub/  [Thing]",
        ], form
        assert main(["ls", where, "g/a"]) == 0
        assert capsys.readouterr().out.startswith("/g/a  (6, 10) int16")


def test_attrs_prints_every_attribute_with_its_value(make_h5, every_form, capsys):
    def build(f):
        d = f.create_dataset("d", data=np.arange(3))
        d.attrs["unit"] = "volts"
        d.attrs["rate"] = 30000.0
        d.attrs["channels"] = np.array([1, 2, 3], dtype="<i4")
        d.attrs["names"] = np.array([b"x", b"yy"], dtype="S2")
    path = make_h5(build)
    for form, where in every_form(path).items():
        capsys.readouterr()
        assert main(["attrs", where, "d"]) == 0, form
        assert capsys.readouterr().out.splitlines() == [
            "channels = [1 2 3]", "names = ['x', 'yy']", "rate = 30000.0", "unit = 'volts'"], form


@pytest.mark.parametrize("selection, index", [
    ("", ()), ("[2:5, 1]", (slice(2, 5), 1)), ("[::3, -2:]", (slice(None, None, 3), slice(-2, None))),
    ("[4]", (4,)), ("[..., 0]", (Ellipsis, 0)),
])
def test_cat_saves_the_values_h5py_reads(make_h5, every_form, tmp_path, capsys, selection, index):
    values = np.random.default_rng(1).normal(size=(40, 6))
    path = make_h5(lambda f: f.create_dataset("x/y", data=values, chunks=(7, 4), compression="gzip"))
    with h5py.File(path, "r") as f:
        expected = f["x/y"][index]
    for form, where in every_form(path).items():
        out = tmp_path / f"{form}.npy"
        assert main(["cat", where, f"x/y{selection}", "--out", str(out)]) == 0, form
        got = np.load(out)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), form


def test_cat_prints_numbers_and_strings(make_h5, capsys):
    path = make_h5(lambda f: (f.create_dataset("n", data=np.arange(12).reshape(3, 4)),
                              f.create_dataset("s", data=[b"alpha", b"beta"]),
                              f.create_dataset("u", data="one string", dtype=h5py.string_dtype())))
    assert main(["cat", path, "n[1:]"]) == 0
    assert capsys.readouterr().out == np.array2string(np.arange(12).reshape(3, 4)[1:]) + "\n"
    assert main(["cat", path, "s"]) == 0
    assert capsys.readouterr().out == "alpha\nbeta\n"
    assert main(["cat", path, "u"]) == 0
    assert capsys.readouterr().out == "one string\n"


def test_cat_of_what_is_not_a_dataset_is_a_one_line_error(make_h5, capsys):
    path = make_h5(lambda f: f.create_group("g").create_dataset("d", data=[1]))
    for argv in (["cat", path, "g"], ["cat", path, "nope"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("lindi-core: error:") and err.count("\n") == 1, err
    assert main(["cat", path, "g/d[1:x]"]) == 2  # a usage error
    assert "cannot read the selection of 'g/d[1:x]'" in capsys.readouterr().err


def test_cat_out_dash_writes_npy_to_standard_output(make_h5):
    from tests.cli.conftest import run_cli

    path = make_h5(lambda f: f.create_dataset("d", data=np.arange(10.0)))
    done = run_cli("cat", path, "d[3:]", "--out", "-")
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.load(io.BytesIO(done.stdout)), np.arange(10.0)[3:])


def test_cat_saves_strings_as_a_numpy_string_array(make_h5, tmp_path):
    path = make_h5(lambda f: (f.create_dataset("s", data=[b"alpha", b"beta"]),
                              f.create_dataset("u", data=["x", "yz"], dtype=h5py.string_dtype())))
    assert main(["cat", path, "s", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").tolist() == [b"alpha", b"beta"]
    assert main(["cat", path, "u[1:]", "--out", str(tmp_path / "u.npy")]) == 0
    assert np.load(tmp_path / "u.npy").tolist() == ["yz"]
