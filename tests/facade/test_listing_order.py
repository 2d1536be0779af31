"""Members and attributes are listed in HDF5's order: by name, or by creation where the object
tracks it; for new objects as for translated ones, before and after saving."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from tests.h5compare import assert_new_file_matches_h5py

NAMES = ["zeta", "b", "alpha", "B", "a10", "a9", "é", "_x", "Z"]


def _build(f) -> None:
    for tracked in (False, True):
        g = f.create_group(f"group-{tracked}", track_order=tracked)
        for i, name in enumerate(NAMES):
            if i % 3 == 0:
                g.create_dataset(name, data=np.arange(i + 1), track_order=tracked)
            else:
                g.create_group(name, track_order=tracked)
            g.attrs[name] = i
        g[NAMES[0]].attrs["y"] = 1
        g[NAMES[0]].attrs["x"] = 2
        g["soft"] = h5py.SoftLink("/elsewhere")
        g.move("alpha", "omega")
        del g["b"]
        g.create_group("b")
    f.create_group("k")
    f.create_group("c")


def _listing(f) -> dict:
    out = {"/": list(f), "/ attrs": list(f.attrs)}
    for tracked in (False, True):
        g = f[f"group-{tracked}"]
        out[g.name] = list(g)
        out[g.name + " attrs"] = list(g.attrs)
        out[g.name + " keys"] = list(g.keys())
        out[g.name + "/zeta attrs"] = list(g["zeta"].attrs)
        out[g.name + " visit"] = []
        g.visit(out[g.name + " visit"].append)
    return out


@pytest.fixture
def truth(tmp_path) -> dict:
    with h5py.File(tmp_path / "truth.h5", "w") as f:
        _build(f)
    with h5py.File(tmp_path / "truth.h5") as f:
        return _listing(f)


def test_new_objects_are_listed_like_h5py(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "new", _build, _listing)


def test_translated_objects_are_listed_like_h5py(tmp_path, truth):
    lindi_core.translate_to_file(tmp_path / "truth.h5", tmp_path / "t.lindi.json", progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "t.lindi.json") as f:
        assert _listing(f) == truth
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "t.lindi.json", mode="r+") as f, \
            h5py.File(tmp_path / "truth.h5", "r+") as h:
        for target in (f, h):  # members added later take their place in each order
            for tracked in (False, True):
                target[f"group-{tracked}"].create_group("m")
                target[f"group-{tracked}"].attrs["m"] = 0
        assert _listing(f) == _listing(h)


def test_default_order_follows_h5py_config(tmp_path):
    config = h5py.get_config()
    saved = config.track_order
    config.track_order = True
    try:
        with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "c.lindi.json", mode="w") as f, \
                h5py.File(tmp_path / "c.h5", "w") as h:
            for target in (f, h):
                g = target.create_group("g")
                for name in ("z", "a", "m"):
                    g.create_group(name)
            assert list(f["g"]) == list(h["g"]) == ["z", "a", "m"]
    finally:
        config.track_order = saved
