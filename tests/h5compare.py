"""Reading a translated array back the way h5py presents the original, for comparisons.

This is deliberately independent of the library's own decoding of annotations beyond what
the spec states, so tests compare zarr-python's view of the reference file against h5py's view
of the HDF5 file.
"""

from __future__ import annotations

import h5py
import numpy as np
import zarr

import lindi_core
from lindi_core.format import annotations as ann


def assert_same_as_h5py(root: zarr.Group, key: str, dset: h5py.Dataset) -> None:
    array = root[key]
    attrs = dict(array.attrs)
    expected = dset[()]
    if dset.shape is None:
        assert attrs.get(ann.NULL_DATASPACE) is True
        assert array.shape == (0,)
        return
    got = array[...]
    if attrs.get(ann.SCALAR):
        assert array.shape == (1,)
        got = got[0]
    if h5py.check_string_dtype(dset.dtype) is not None and dset.dtype.kind == "O":
        got = _as_bytes(got)
        np.testing.assert_array_equal(np.asarray(got, dtype=object), np.asarray(expected, dtype=object))
        return
    if h5py.check_ref_dtype(dset.dtype) is not None:
        assert _ref_paths(got) == _ref_paths_h5(expected, dset.file)
        return
    if h5py.check_vlen_dtype(dset.dtype) is not None:
        for a, b in zip(np.ravel(got), np.ravel(expected)):
            np.testing.assert_array_equal(a, b)
        return
    assert got.dtype == expected.dtype if isinstance(expected, np.ndarray) else True
    np.testing.assert_array_equal(got, expected)


def _as_bytes(values):
    if isinstance(values, np.ndarray):
        return np.array([_as_bytes(v) for v in values.ravel()], dtype=object).reshape(values.shape)
    return values.encode("utf-8") if isinstance(values, str) else values


def _ref_paths(values) -> list:
    return [None if v is None else v[ann.REFERENCE]["path"] for v in np.ravel(values)]


def _ref_paths_h5(values, h5file) -> list:
    return [h5file[r].name if r else None for r in np.ravel(values)]


def assert_new_file_matches_h5py(tmp_path, name: str, edit, describe) -> None:
    """``edit(f)`` run on a new HDF5 file (h5py) and on a new reference file: ``describe(f)``
    of the reference file, in memory and after reopening, equals that of the HDF5 file."""
    with h5py.File(tmp_path / f"{name}.h5", "w") as h:
        edit(h)
    with h5py.File(tmp_path / f"{name}.h5", "r") as h:
        expected = describe(h)
    path = tmp_path / f"{name}.lindi.json"
    with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="w") as f:
        edit(f)
        assert describe(f) == expected
    with lindi_core.LindiH5pyFile.from_lindi_file(path) as f:
        assert describe(f) == expected

