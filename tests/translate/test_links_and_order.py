"""Links (hard, soft, external), committed datatypes, and creation order."""

from __future__ import annotations

import h5py
import numpy as np

from lindi_core import ChunkOptions
from lindi_core.format import annotations as ann


def test_hard_linked_objects_are_stored_once(make_h5, translated):
    def build(f):
        data = f.create_dataset("data", data=np.arange(10_000), chunks=(100,))
        group = f.create_group("group")
        group.attrs["x"] = 1
        f["elsewhere/alias_of_data"] = data
        f["elsewhere/alias_of_group"] = group

    path = make_h5(build)
    root, rfs = translated(path, options=ChunkOptions(inline_threshold=0))
    assert list(rfs.tables) == ["data"]  # one chunk list
    assert root["elsewhere/alias_of_data"].attrs[ann.HARD_LINK] == {"path": "/data"}
    # depth first in name order: /elsewhere/alias_of_group comes before /group
    assert root["group"].attrs[ann.HARD_LINK] == {"path": "/elsewhere/alias_of_group"}
    assert root["elsewhere/alias_of_group"].attrs["x"] == 1


def test_soft_links_including_dangling_and_external_links(make_h5, translated):
    def build(f):
        f.create_dataset("target", data=[1, 2])
        f["soft"] = h5py.SoftLink("/target")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["ext"] = h5py.ExternalLink("other.h5", "/some/path")

    root, _ = translated(make_h5(build))
    assert dict(root["soft"].attrs) == {ann.SOFT_LINK: {"path": "/target"}}
    assert dict(root["dangling"].attrs) == {ann.SOFT_LINK: {"path": "/nowhere"}}
    assert dict(root["ext"].attrs) == {ann.EXTERNAL_LINK: {"file": "other.h5", "path": "/some/path"}}


def test_references_name_the_primary_path_of_hard_linked_targets(make_h5, translated):
    def build(f):
        target = f.create_group("a/target")
        f["b/alias"] = target
        f.attrs["ref"] = f["b/alias"].ref

    root, _ = translated(make_h5(build))
    assert root.attrs["ref"][ann.REFERENCE]["path"] == "/a/target"


def test_committed_datatypes_are_kept(make_h5, translated):
    def build(f):
        f["my_type"] = np.dtype([("a", "<i4"), ("b", "<f8")])
        f["my_type"].attrs["doc"] = "a type"

    root, _ = translated(make_h5(build))
    attrs = dict(root["my_type"].attrs)
    assert attrs[ann.NAMED_DATATYPE] == {"dtype": {"compound": [["a", "<i4"], ["b", "<f8"]]}}
    assert attrs["doc"] == "a type"


def test_creation_order_of_groups_and_attributes_is_kept(make_h5, translated):
    names = ["zeta", "alpha", "mid", "beta"]

    def build(f):
        g = f.create_group("ordered", track_order=True)
        for n in names:
            g.create_group(n)
            g.attrs[n] = 1
        u = f.create_group("unordered")
        for n in names:
            u.create_group(n)

    path = make_h5(build)
    root, rfs = translated(path)
    with h5py.File(path) as f:
        expected_ordered = list(f["ordered"])
        expected_attrs = list(f["ordered"].attrs)
    assert expected_ordered == names
    assert _child_groups(rfs, "ordered") == names
    assert ann.user_attributes(dict(root["ordered"].attrs)) == {n: 1 for n in names}
    assert list(ann.user_attributes(dict(root["ordered"].attrs))) == expected_attrs == names
    # the annotation that tells readers to keep this order
    assert root["ordered"].attrs[ann.CREATION_ORDER] == {"links": True, "attributes": True}
    assert _child_groups(rfs, "unordered") == sorted(names)
    assert ann.CREATION_ORDER not in root["unordered"].attrs


def _child_groups(rfs, parent: str) -> list[str]:
    parts = [k.split("/") for k in rfs.metadata]
    return [p[1] for p in parts if len(p) == 3 and p[0] == parent and p[2] == ".zgroup"]
