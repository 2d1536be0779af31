"""``group.get`` with every option (``default``, ``getclass``, ``getlink``), for names, object
references, missing names and hard/soft/external links, compared with h5py on the same file."""

from __future__ import annotations

import itertools
import os

import h5py
import numpy as np
import pytest

import lindi_core

NAMES = ["g", "g/d", "/g/", b"g", "//g", "g//", ".", "g/.", "g/..", "/", "", "ds", "soft", "softg", "dangling",
         "dangling/x", "ext", "extmissing", "extnopath", "missing", "g/missing", "missing/x", 3, None,
         "REF:g", "REF:ds"]
DEFAULT = object()


def _build(folder) -> None:
    with h5py.File(folder / "other.h5", "w") as other:
        other.create_dataset("d", data=[1, 2])
    with h5py.File(folder / "main.h5", "w") as f:
        f.create_group("g").create_dataset("d", data=np.arange(3))
        f.create_dataset("ds", data=5)
        f["soft"] = h5py.SoftLink("/g/d")
        f["softg"] = h5py.SoftLink("/g")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["ext"] = h5py.ExternalLink("other.h5", "/d")
        f["extmissing"] = h5py.ExternalLink("nofile.h5", "/d")
        f["extnopath"] = h5py.ExternalLink("other.h5", "/nope")
        f.attrs["REF:g"] = f["g"].ref
        f.attrs["REF:ds"] = f["ds"].ref


def _outcome(f, name, getclass: bool, getlink: bool) -> tuple:
    """What ``f.get`` gives, in terms both libraries share."""
    if isinstance(name, str) and name.startswith("REF:"):
        name = f.attrs[name]  # an object reference of the file itself
    try:
        got = f.get(name, DEFAULT, getclass=getclass, getlink=getlink)
    except Exception as exc:
        message = str(exc)
        if message.startswith("A name should be string or bytes"):
            message = "A name should be string or bytes"  # then the reference class, each library's own
        return "raises", type(exc), message
    if got is DEFAULT:
        return ("default",)
    if isinstance(got, type):
        return "class", got
    if isinstance(got, h5py.SoftLink):
        return "soft link", got.path
    if isinstance(got, h5py.ExternalLink):
        return "external link", got.filename, got.path
    if isinstance(got, h5py.HardLink):
        return ("hard link",)
    kind = "group" if isinstance(got, h5py.Group) else "dataset" if isinstance(got, h5py.Dataset) else repr(got)
    filename = os.path.basename(got.file.filename).replace("main.lindi.json", "main.h5")
    return kind, got.name, filename


@pytest.fixture
def both(tmp_path, monkeypatch):
    _build(tmp_path)
    lindi_core.translate_to_file(tmp_path / "main.h5", tmp_path / "main.lindi.json", progress=False)
    monkeypatch.chdir(tmp_path)  # h5py resolves external links next to the file and in the cwd
    with h5py.File(tmp_path / "main.h5", "r") as h5, \
            lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "main.lindi.json") as lindi:
        yield h5, lindi


@pytest.mark.parametrize(("getclass", "getlink"), list(itertools.product([False, True], repeat=2)))
def test_get_matches_h5py(both, getclass, getlink):
    h5, lindi = both
    for name in NAMES:
        assert _outcome(lindi, name, getclass, getlink) == _outcome(h5, name, getclass, getlink), (name, getclass,
                                                                                                     getlink)


def test_get_link_classes_are_h5pys_own(both):
    _, lindi = both
    assert lindi.get("soft", getclass=True, getlink=True) is h5py.SoftLink
    assert lindi.get("ext", getclass=True, getlink=True) is h5py.ExternalLink
    assert lindi.get("g", getclass=True, getlink=True) is h5py.HardLink
    assert lindi["g"].get("d", getclass=True, getlink=True) is h5py.HardLink
