"""Writes through the facade behave as h5py's: the same operation on an h5py file and on a new
reference file gives the same values (also after reopening) or the same exception type.

Each case was a difference once: writes of the wrong size truncated instead of refused, a
failed write left part of itself behind, rows did not broadcast into blocks, integers wrapped
around instead of saturating, compound members were matched by position.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import lindi_core


def _outcome(f, operation):
    try:
        return operation(f)
    except Exception as exc:  # the type is what must match
        return type(exc)


def _same_on_both(tmp_path, operation, read_back):
    """(h5py's outcome, the facade's), and the values read back after reopening."""
    h5_path, lindi_path = str(tmp_path / "truth.h5"), str(tmp_path / "facade.lindi.json")
    with h5py.File(h5_path, "w") as f:
        truth = _outcome(f, operation)
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi_path, "w") as f:
        facade = _outcome(f, operation)
    with h5py.File(h5_path, "r") as f:
        truth_again = read_back(f)
    with lindi_core.LindiH5pyFile.from_lindi_file(lindi_path) as f:
        facade_again = read_back(f)
    return truth, facade, truth_again, facade_again


def _values(f):
    return {name: f[name][()].tolist() for name in sorted(f)}


def _block(f, **kwargs):
    return f.create_dataset("d", data=np.arange(20).reshape(4, 5), **kwargs)


CASES = {
    "longer value into a slice": lambda f: f.create_dataset("d", data=np.arange(10)).__setitem__(
        slice(0, 3), [1, 2, 3, 4]),
    "longer array into everything": lambda f: f.create_dataset("d", data=np.arange(10)).__setitem__(
        Ellipsis, np.ones(20)),
    "too many rows into a chunked block": lambda f: _block(f, chunks=(2, 5)).__setitem__(Ellipsis, np.ones((2, 5))),
    "too many values into a fancy selection": lambda f: _block(f).__setitem__(([0, 2], 0), [1, 2, 3]),
    "too many strings": lambda f: f.create_dataset("d", data=["a", "b", "c"],
                                                   dtype=h5py.string_dtype()).__setitem__(slice(0, 2), ["x", "y", "z"]),
    "a row broadcast into a block": lambda f: _block(f).__setitem__((slice(None), slice(None)), np.arange(5)),
    "a row broadcast into some rows": lambda f: _block(f, chunks=(3, 2)).__setitem__(slice(0, 2), np.arange(5) * 10),
    "a column broadcast": lambda f: _block(f).__setitem__((slice(1, 3), slice(None)), np.ones((2, 1))),
    "a one-element list into one element": lambda f: _block(f).__setitem__((0, 0), [7]),
    "a scalar into a strided selection": lambda f: f.create_dataset("d", data=np.arange(10)).__setitem__(
        slice(None, None, 4), 9),
    "integers saturate on create": lambda f: f.create_dataset("d", data=np.array([70000, -70000]), dtype="i2"),
    "integers saturate on write": lambda f: f.create_dataset("d", shape=(3,), dtype="u1").__setitem__(
        slice(None), np.array([-3.5, 300.2, 7.9])),
    "NaN and infinities into integers": lambda f: f.create_dataset("d", shape=(3,), dtype="i4").__setitem__(
        slice(None), np.array([np.nan, np.inf, -np.inf])),
    "a list is cast as NumPy casts it": lambda f: f.create_dataset("d", shape=(2,), dtype="u1").__setitem__(
        slice(None), [-3.5, 300.2]),
    "compound members by name on create": lambda f: f.create_dataset(
        "d", data=np.array([(1.5, 2)], dtype=[("b", "f8"), ("a", "i4")]), dtype=[("a", "i4"), ("b", "f8")]),
    "compound members by name on write": lambda f: f.create_dataset(
        "d", data=np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])).__setitem__(
        0, np.array((3.5, 4), dtype=[("b", "f8"), ("a", "i4")])),
    "records with some of the members": lambda f: f.create_dataset(
        "d", data=np.zeros(3, dtype=[("a", "i4"), ("b", "f8")])).__setitem__(0, np.array((5,), dtype=[("b", "f8")])),
}


@pytest.mark.parametrize("case", CASES)
def test_a_write_does_what_h5py_does(tmp_path, case):
    truth, facade, truth_again, facade_again = _same_on_both(tmp_path, CASES[case], _values)
    if isinstance(truth, type):
        assert facade is truth
    assert facade_again == truth_again  # a refused write changed nothing, in either


def _tree(f):
    names: list[str] = []
    f.visit(names.append)
    return sorted(names)


def _paths(f):
    return (f.create_group("a//b").name, f.create_group("a/./c").name, f.create_group(b"x").name, f["//a"].name,
            f["a/."].name, "." in f, "a/." in f, "/" in f, "a//b" in f, "" in f)


def _relative_soft_links(f):
    f.create_group("g/inner/deep")
    f["g"]["rel"] = h5py.SoftLink("inner")
    f["g"]["rel2"] = h5py.SoftLink("./inner/deep")
    f["abs"] = h5py.SoftLink("/g/inner")
    return f["g/rel"].name, f["g/rel/deep"].name, f["g/rel2"].name, f["abs/deep"].name, "g/rel/deep" in f


def _copy_with_outside_hard_link(f):
    f.create_dataset("d", data=np.arange(3))
    f.create_group("g")["hl"] = f["d"]
    f["g"]["hl2"] = f["d"]
    f.copy("g", "h")
    f["h/hl"][0] = 77  # the copy holds its own copy of d, shared by its two links
    return f["d"][()].tolist(), f["h/hl"][()].tolist(), f["h/hl2"][()].tolist()


def _copy_of_the_root(f):
    f.create_dataset("d", data=np.arange(3))
    f.create_group("g/k").attrs["a"] = 1
    f.copy("/", "rc")
    return sorted(f["rc"]), f["rc/g/k"].attrs["a"], f["rc/d"][()].tolist()


def _a_name_used_again(f):
    f.create_dataset("d", data=np.arange(3.0))
    before = f["d"][()].tolist()
    del f["d"]
    f.create_dataset("d", data=np.array([1, 2, 3, 4]))
    after_delete = (f["d"][()].tolist(), str(f["d"].dtype))
    f.move("d", "e")
    f.create_group("d")
    return before, after_delete, type(f["d"]).__name__.replace("LindiH5py", ""), f["e"][()].tolist()


def _shrink_then_grow(f):
    d = f.create_dataset("d", data=np.arange(12).reshape(3, 4), maxshape=(None, None), chunks=(2, 3), fillvalue=-1)
    d.resize((1, 1))
    d.resize((3, 4))
    first = d[()].tolist()
    d[...] = 7
    d.resize((3, 2))
    d.resize(5, axis=1)
    e = f.create_dataset("e", data=np.arange(10), maxshape=(None,), chunks=(4,))
    e.resize((3,))
    e.resize((10,))
    return first, d[()].tolist(), e[()].tolist()


def _failed_creations_leave_nothing(f):
    outcomes = []
    for options in (dict(compression="gzip", compression_opts=12), dict(chunks=(0,)), dict(chunks=(2, 2))):
        try:
            f.create_dataset("d", data=np.arange(10), **options)
            outcomes.append("made")
        except Exception as exc:
            outcomes.append(type(exc).__name__)
    f.create_group("d")  # the name is free, and stays a group after reopening
    f.create_dataset("c", data=np.arange(10), chunks=5)
    return outcomes, "d" in f, f["c"].chunks


def _bytes_attribute_names(f):
    f.attrs[b"nm"] = 1
    f.attrs.create(b"other", [1.5])
    return int(f.attrs["nm"]), b"nm" in f.attrs, f.attrs[b"other"].tolist(), sorted(f.attrs)


def _bytes_and_zero_dimensional_values(f):
    f.create_dataset("a", data=[b"a", b"bcd"])
    f.create_dataset("b", data=b"hello")
    f.create_dataset("c", data=np.array([b"a", b"bcd"]))
    f["a"][0] = b"xyz"
    f.attrs["z"] = np.array(5, dtype="i2")
    return ([(str(f[n].dtype), h5py.check_string_dtype(f[n].dtype), f[n][()].tolist() if f[n].shape else f[n][()])
             for n in "abc"], repr(f.attrs["z"]))


def _string_fill_value(f):
    d = f.create_dataset("d", shape=(2,), dtype=h5py.string_dtype(), fillvalue="zz", maxshape=(None,))
    d[0] = "a"
    d.resize((4,))
    return d[()].tolist(), d.fillvalue


def _hard_link_to_another_file(f):
    other = h5py.File(f.filename + ".other.h5", "w")
    other["d"] = np.arange(3)
    try:
        f["h"] = other["d"]
    finally:
        other.close()


def _compound_with_array_members(f):
    records = np.array([([1, 2, 3], 1.0), ([4, 5, 6], 2.5)], dtype=[("arr", "<i4", (3,)), ("x", "<f4")])
    d = f.create_dataset("c", data=records)
    d[1] = (np.array([9, 9, 9]), 7.0)
    f.attrs.create("a", records)

    def plain(array):  # tolist() keeps member arrays as arrays, which compare elementwise
        return [[row[name].tolist() for name in array.dtype.names] for row in array]

    return str(d.dtype), plain(d[()]), plain(f.attrs["a"])


def _maximum_shapes(f):
    d = f.create_dataset("d", data=np.arange(5), maxshape=(5,))
    out = [d.chunks, d.maxshape]
    d.resize((2,))
    e = f.create_dataset("e", data=np.arange(5), chunks=True)
    e.resize((3,))
    out += [d.maxshape, e.maxshape]
    for grow in ((e, (6,)), (d, 4, 3)):
        try:
            grow[0].resize(*grow[1:])
        except Exception as exc:
            out.append(type(exc).__name__)
    e.resize((5,))
    g = f.create_dataset("g", shape=(3,), dtype="u1", fillvalue=300)
    return out, e[()].tolist(), int(g.fillvalue), g[()].tolist()


def _a_new_file_exists_at_once(f):
    return os.path.exists(f.filename)


def _copy_from_an_hdf5_file(f):
    source_path = f.filename + ".source.h5"
    with h5py.File(source_path, "w") as source:
        g = source.create_group("g", track_order=True)
        g.attrs["a"] = 1
        g.attrs["r"] = source.ref
        g.create_dataset("c", data=np.arange(100).reshape(10, 10), chunks=(5, 5), compression="gzip",
                         maxshape=(None, 10), fillvalue=-1)
        g.create_dataset("s", data=["x", "yy"], dtype=h5py.string_dtype())
        g["soft"] = h5py.SoftLink("/g/c")
        g["hard"] = g["c"]
        g.create_group("k/l").attrs["deep"] = "yes"
    with h5py.File(source_path, "r") as source:
        f.copy(source["g"], "copy")
        f.copy(source["g"], "shallow", shallow=True)
        f["into"] = h5py.SoftLink("/copy")
        f.copy(source["/g/c"], f["copy/k"], name="c2")
    c = f["copy/c"]
    return (list(f["copy"]), int(f["copy"].attrs["a"]), bool(f["copy"].attrs["r"]), c[()].tolist(), c.chunks,
            c.compression, c.maxshape, int(c.fillvalue), f["copy/s"][()].tolist(), f["copy/hard"] == c,
            f.get("copy/soft", getlink=True).path, f["copy/k/l"].attrs["deep"], list(f["shallow/k"]),
            f["copy/k/c2"][3, 3])


STRUCTURE_CASES = {
    "a copy from an HDF5 file": _copy_from_an_hdf5_file,
    "maximum shapes, a clipped fill value": _maximum_shapes,
    "a new file exists at once": _a_new_file_exists_at_once,
    "compound members of fixed shape": _compound_with_array_members,
    "bytes, lists of bytes, 0-d attributes": _bytes_and_zero_dimensional_values,
    "the fill value of a string dataset": _string_fill_value,
    "a hard link to an object of another file": _hard_link_to_another_file,
    "shrink, then grow: the fill value": _shrink_then_grow,
    "failed creations leave nothing behind": _failed_creations_leave_nothing,
    "bytes attribute names": _bytes_attribute_names,
    "paths read as libhdf5 reads them": _paths,
    "'.' names the group itself": lambda f: f.create_group("."),
    "relative soft links": _relative_soft_links,
    "a copy shares nothing with the original": _copy_with_outside_hard_link,
    "a copy of the root": _copy_of_the_root,
    "a name deleted or moved, then used again": _a_name_used_again,
}


@pytest.mark.parametrize("case", STRUCTURE_CASES)
def test_structure_edits_do_what_h5py_does(tmp_path, case):
    truth, facade, truth_again, facade_again = _same_on_both(tmp_path, STRUCTURE_CASES[case], _tree)
    if isinstance(truth, type):
        assert isinstance(facade, type) and issubclass(facade, truth)
    else:
        assert facade == truth
    assert facade_again == truth_again  # and the file reopens with the same tree


def test_a_copy_from_an_hdf5_file_into_a_group_of_another_reference_file_lands_there(tmp_path):
    source_path = str(tmp_path / "source.h5")
    with h5py.File(source_path, "w") as source:
        source["d"] = np.arange(4)
    first = lindi_core.LindiH5pyFile.from_lindi_file(str(tmp_path / "first.lindi.json"), "w")
    second = lindi_core.LindiH5pyFile.from_lindi_file(str(tmp_path / "second.lindi.json"), "w")
    with h5py.File(source_path, "r") as source:
        first.copy(source["d"], second.create_group("g"), name="d")
    assert "g/d" in second and "g" not in first
    assert second["g/d"][()].tolist() == [0, 1, 2, 3]
    first.close()
    second.close()
