"""A write to a file open as ``r`` raises h5py's exception type and also the ``ValueError`` LINDI
0.4 raises (LINDI's test ``test_fail_attempt_write_in_read_only_mode``), checked against h5py
refusing the same writes."""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np
import pytest

import lindi_core as lindi
from lindi_core.errors import LindiError

WRITES: dict[str, Callable[[h5py.Group], object]] = {
    "create attribute": lambda f: f.attrs.__setitem__("attr2", 2),
    "create group": lambda f: f.create_group("group1"),
    "create dataset": lambda f: f.create_dataset("dataset1", data=[1, 2, 3]),
    "require group": lambda f: f.require_group("group1"),
    "require dataset": lambda f: f.require_dataset("dataset1", shape=(3,), dtype=int),
    "write data": lambda f: f["existing"].__setitem__(0, 5),
    "write dataset attribute": lambda f: f["existing"].attrs.__setitem__("a", 1),
}


def _build(f: h5py.Group) -> None:
    f.attrs["attr1"] = "value1"
    f.create_dataset("existing", data=np.arange(3))


@pytest.mark.parametrize("write", sorted(WRITES))
def test_write_in_mode_r_raises_h5pys_type_and_lindis_value_error(write, make_h5, tmp_path):
    h5_path = make_h5(_build)
    ref_path = str(tmp_path / "x.lindi.json")
    with lindi.LindiH5pyFile.from_lindi_file(ref_path, mode="w") as f:
        _build(f)
    with h5py.File(h5_path, "r") as h5:
        with pytest.raises(Exception) as from_h5py:
            WRITES[write](h5)
    with lindi.LindiH5pyFile.from_lindi_file(ref_path, mode="r") as f:
        with pytest.raises(ValueError) as ours:  # LINDI 0.4's type
            WRITES[write](f)
    assert isinstance(ours.value, type(from_h5py.value)), (type(ours.value), type(from_h5py.value))
    assert "no write intent on file" in str(ours.value)
    if not isinstance(from_h5py.value, ValueError):  # h5py's OSError: ours is lindi-core's error
        assert isinstance(ours.value, LindiError)
    with h5py.File(h5_path, "r") as h5, lindi.LindiH5pyFile.from_lindi_file(ref_path, mode="r") as f:
        assert dict(f.attrs) == dict(h5.attrs)
        assert f["existing"][()].tolist() == h5["existing"][()].tolist() == [0, 1, 2]


@pytest.mark.parametrize("mode", ["w-", "x"])
def test_creating_an_existing_file_raises_h5pys_type_and_lindis_value_error(mode, tmp_path):
    """LINDI's test_fail_open_existing_file_for_new_writing expects ValueError; h5py raises
    FileExistsError: lindi-core's error is both, and the file is left as it was."""
    h5_path = str(tmp_path / "existing.h5")
    ref_path = str(tmp_path / "existing_file.lindi.json")
    with h5py.File(h5_path, "w"):
        pass
    with open(ref_path, "w") as f:
        f.write("test")
    with pytest.raises(FileExistsError) as from_h5py:
        h5py.File(h5_path, mode)
    with pytest.raises(ValueError) as ours:
        lindi.LindiH5pyFile.from_lindi_file(ref_path, mode=mode)
    assert isinstance(ours.value, type(from_h5py.value))
    with open(ref_path) as f:
        assert f.read() == "test"
