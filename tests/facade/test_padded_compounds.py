"""Compound types with padding or reordered members keep HDF5's layout: the dtype (offsets,
itemsize) and the values are h5py's, for translated files and for datasets created here."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core

ALIGNED = np.dtype([("a", "u1"), ("b", "<i4"), ("c", "<f8")], align=True)
REORDERED = np.dtype({"names": ["x", "y"], "formats": ["<i2", "<f4"], "offsets": [6, 0], "itemsize": 12})
NESTED = np.dtype([("head", "u1"), ("inner", ALIGNED), ("tail", "<u2")], align=True)


def _values(dtype: np.dtype, n: int = 5) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    for i, name in enumerate(dtype.names):
        field = dtype.fields[name][0]
        if field.fields is not None:
            out[name] = _values(field, n)
        else:
            out[name] = (np.arange(n) * (i + 3) + 1).astype(field)
    return out


def _build(f) -> None:
    for name, dtype in (("aligned", ALIGNED), ("reordered", REORDERED), ("nested", NESTED)):
        f.create_dataset(name, data=_values(dtype))
        f.attrs.create(name, _values(dtype, 2))


@pytest.mark.parametrize("route", ["translated", "created"])
def test_layout_and_values_match_h5py(tmp_path, route):
    with h5py.File(tmp_path / "truth.h5", "w") as f:
        _build(f)
    if route == "translated":
        lindi_core.translate_to_file(tmp_path / "truth.h5", tmp_path / "x.lindi.json", progress=False)
    else:
        with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "x.lindi.json", mode="w") as f:
            _build(f)
    with h5py.File(tmp_path / "truth.h5") as h, lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "x.lindi.json") as f:
        for name in ("aligned", "reordered", "nested"):
            assert f[name].dtype == h[name].dtype
            assert f[name].dtype.itemsize == h[name].dtype.itemsize
            got, expected = f[name][()], h[name][()]
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(f[name][1:4][f[name].dtype.names[-1]],
                                          h[name][1:4][h[name].dtype.names[-1]])
            assert f.attrs[name].dtype == h.attrs[name].dtype
            np.testing.assert_array_equal(f.attrs[name], h.attrs[name])
