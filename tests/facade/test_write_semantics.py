"""Writes through the facade behave as h5py's: the same operation on an h5py file and on a new
reference file gives the same values (also after reopening) or the same exception type.

Each case was a difference once: writes of the wrong size truncated instead of refused, a
failed write left part of itself behind, rows did not broadcast into blocks, integers wrapped
around instead of saturating, compound members were matched by position.
"""

from __future__ import annotations

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
