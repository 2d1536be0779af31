"""Attribute writes to a file open for reading fail as h5py's do: the same exception type and
message for replacing, creating, modifying and deleting (h5py replaces an attribute by deleting
it first, so replacing one is a KeyError; modifying one in place is an OSError)."""

from __future__ import annotations

import h5py
import pytest

import lindi_core

WRITES = {
    "set existing": lambda a: a.__setitem__("a", 2),
    "set new": lambda a: a.__setitem__("b", 2),
    "create existing": lambda a: a.create("a", 3),
    "create new": lambda a: a.create("b", 3),
    "modify existing": lambda a: a.modify("a", 3),
    "modify new": lambda a: a.modify("b", 3),
    "delete": lambda a: a.__delitem__("a"),
}


@pytest.fixture(scope="module")
def h5_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ro") / "attrs.h5"
    with h5py.File(path, "w") as f:
        f.attrs["a"] = 1
        f.create_dataset("d", data=[1]).attrs["a"] = 1
    return path


def _failure(write, attrs) -> tuple[type, str]:
    with pytest.raises(Exception) as info:
        write(attrs)
    return info.type, str(info.value)


@pytest.mark.parametrize("owner", ["/", "d"])
@pytest.mark.parametrize("write", list(WRITES.values()), ids=list(WRITES))
def test_attribute_writes_in_mode_r_fail_as_in_h5py(h5_path, write, owner):
    with h5py.File(h5_path, "r") as f:
        h5py_type, h5py_message = _failure(write, f[owner].attrs)
    with lindi_core.LindiH5pyFile.from_hdf5_file(h5_path) as f:
        ours_type, ours_message = _failure(write, f[owner].attrs)
        assert f[owner].attrs["a"] == 1  # nothing changed
    assert issubclass(ours_type, h5py_type), (ours_type, h5py_type)
    assert ours_message == h5py_message
