"""Dimension scales (``ds.dims``) read and written as h5py does them."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core


def _dims_state(f) -> dict:
    """Everything the dims API tells about every dataset of ``f``."""
    state = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            state[name] = (obj.is_scale, len(obj.dims), [
                (dim.label, len(dim), dim.keys(), [v.name for v in dim.values()], list(dim)) for dim in obj.dims])

    f.visititems(visit)
    return state


def _with_scales(f) -> None:
    data = f.create_dataset("data", data=np.zeros((3, 4)))
    time = f.create_dataset("time", data=np.arange(3.0))
    time.make_scale("time")
    channel = f.create_dataset("channel", data=np.arange(4))
    channel.make_scale()
    other = f.create_dataset("g/other_time", data=np.arange(3.0) * 2)
    data.dims[0].attach_scale(time)
    data.dims[0].attach_scale(other)  # made a scale by attaching, with no name
    data.dims[1].attach_scale(channel)
    data.dims[0].label = "t"
    f.create_dataset("plain", data=np.ones(2))


@pytest.mark.parametrize("opener", ["from_hdf5_file", "lindi_json"])
def test_scales_of_a_translated_file_read_as_with_h5py(make_h5, tmp_path, opener):
    path = make_h5(_with_scales)
    if opener == "from_hdf5_file":
        f = lindi_core.LindiH5pyFile.from_hdf5_file(path)
    else:
        lindi_core.LindiH5pyFile.from_hdf5_file(path).write_lindi_file(tmp_path / "d.lindi.json")
        f = lindi_core.LindiH5pyFile.from_lindi_file(str(tmp_path / "d.lindi.json"))
    with h5py.File(path, "r") as h5:
        assert _dims_state(f) == _dims_state(h5)
        assert f["data"].dims[0]["time"] == f["time"]
        assert f["data"].dims[0][1].name == "/g/other_time"
        with pytest.raises(KeyError):
            f["data"].dims[0]["nope"]
        with pytest.raises(IndexError):
            f["data"].dims[2]
        assert dict(f["time"].attrs.items()).keys() == dict(h5["time"].attrs.items()).keys()


def _edits(f) -> None:
    _with_scales(f)
    f["data"].dims[0].detach_scale(f["g/other_time"])
    f["data"].dims[1].label = "channel"
    f["data"].dims[0].attach_scale(f["time"])  # already attached: no second entry


def test_scale_edits_match_h5py(tmp_path):
    with h5py.File(tmp_path / "truth.h5", "w") as truth:
        _edits(truth)
        expected = _dims_state(truth)
        with pytest.raises(RuntimeError):
            truth["data"].dims[0].detach_scale(truth["channel"])
        with pytest.raises(RuntimeError):
            truth["time"].dims[0].attach_scale(truth["channel"])
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "x.lindi.json", mode="w") as f:
        _edits(f)
        assert _dims_state(f) == expected
        with pytest.raises(RuntimeError):
            f["data"].dims[0].detach_scale(f["channel"])
        with pytest.raises(RuntimeError):
            f["time"].dims[0].attach_scale(f["channel"])
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "x.lindi.json") as f:
        assert _dims_state(f) == expected
        with pytest.raises(RuntimeError):
            f["data"].dims[0].attach_scale(f["channel"])  # read-only file
