"""Groups and links through the facade match h5py (see :mod:`tests.facade.h5py_semantics_harness`).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.facade.h5py_semantics_harness import (
    OPENERS,
    Pair,
    module_pair,
)

# --------------------------------------------------------------------------------------------
# Groups and links
# --------------------------------------------------------------------------------------------


def build_tree(f: h5py.File) -> None:
    a = f.create_group("a")
    b = a.create_group("b")
    b.create_dataset("ds", data=np.arange(6, dtype="<i4").reshape(2, 3))
    a.create_dataset("x", data=np.float64(1.5))
    a.create_group("empty")
    f.create_dataset("data", data=np.arange(10, dtype="<i8"))
    f["hard"] = f["data"]  # hard link to a dataset
    f["z_alias"] = f["a"]  # hard link to a group (its members are visited once)
    f["soft"] = h5py.SoftLink("/data")
    f["softg"] = h5py.SoftLink("/a")
    f["a/b/up"] = h5py.SoftLink("/a/x")
    f["dangling"] = h5py.SoftLink("/nowhere")
    f["ext"] = h5py.ExternalLink("missing_file.h5", "/somewhere")
    f.attrs["root_attr"] = 1
    a.attrs["group_attr"] = "a"


@pytest.fixture(scope="module", params=OPENERS)
def tree(request, tmp_path_factory):
    pair = module_pair(request, tmp_path_factory, build_tree, "tree")
    yield pair
    pair.close()


GROUPS = ["/", "a", "a/b", "/a/b", "a/empty", "z_alias", "softg"]
NAMES = ["a", "a/b", "/a/b", "a/b/ds", "/a/b/ds", "a/x", "data", "hard", "z_alias", "z_alias/b/ds",
         "soft", "softg", "softg/b/ds", "a/b/up", "dangling", "ext", "missing", "a/missing",
         "a/b/ds/deeper", "/", "missing/deeper"]


@pytest.mark.parametrize("group", GROUPS)
def test_group_keys_match_h5py(tree, group):
    tree.check(group, lambda g: list(g.keys()))
    tree.check(group, lambda g: list(g))
    tree.check(group, lambda g: len(g))


@pytest.mark.parametrize("group", ["/", "a", "a/b"])
def test_group_values_and_items_match_h5py(tree, group):
    h5g, lg = tree.both(group)
    # dangling soft and external links make values()/items() raise in h5py at those members
    tree.check(group, lambda g: [(k, g.get(k)) for k in g.keys()])
    if not any(k in ("dangling", "ext") for k in h5g.keys()):
        tree.check(group, lambda g: list(g.values()))
        tree.check(group, lambda g: list(g.items()))


def test_group_values_and_items_with_dangling_links_behave_like_h5py(tree):
    tree.check(None, lambda f: list(f.values()))
    tree.check(None, lambda f: list(f.items()))


@pytest.mark.parametrize("name", NAMES)
def test_group_contains_matches_h5py(tree, name):
    tree.check(None, lambda f: name in f)


@pytest.mark.parametrize("name", ["b", "b/ds", "/a/b", "x", "missing", "/data", "b/up", "../data"])
def test_group_contains_relative_and_absolute_paths_from_subgroup_matches_h5py(tree, name):
    tree.check("a", lambda g: name in g)


@pytest.mark.parametrize("name", NAMES)
def test_getitem_by_path_matches_h5py(tree, name):
    tree.check(None, lambda f: f[name])


@pytest.mark.parametrize("name", ["b", "b/ds", "/data", "/a/b/ds", "x", "missing", "/missing"])
def test_getitem_from_subgroup_matches_h5py(tree, name):
    tree.check("a", lambda g: g[name])


@pytest.mark.parametrize("name", ["missing", "a/missing", "dangling", "ext", "a/b/ds/deeper"])
def test_missing_name_raises_same_exception_type_as_h5py(tree, name):
    with pytest.raises(KeyError):
        tree.h5[name]
    tree.check(None, lambda f: f[name])


@pytest.mark.parametrize("name", NAMES)
def test_get_matches_h5py(tree, name):
    tree.check(None, lambda f: f.get(name))


@pytest.mark.parametrize("name", ["missing", "a/missing", "dangling", "data"])
def test_get_with_default_matches_h5py(tree, name):
    sentinel = "DEFAULT"
    tree.check(None, lambda f: f.get(name, sentinel))
    tree.check(None, lambda f: f.get(name, default=None))


def _link_description(link):
    if link is None:
        return None
    kinds = [k.__name__ for k in (h5py.HardLink, h5py.SoftLink, h5py.ExternalLink) if isinstance(link, k)]
    return kinds, getattr(link, "path", None), getattr(link, "filename", None)


@pytest.mark.parametrize("name", ["a", "data", "hard", "z_alias", "soft", "softg", "a/b/up", "dangling",
                                  "ext", "missing", "a/b", "softg/b"])
def test_get_with_getlink_gives_same_link_class_and_path_as_h5py(tree, name):
    tree.check(None, lambda f: _link_description(f.get(name, getlink=True)))


@pytest.mark.parametrize("name", ["a", "data", "hard", "z_alias", "soft", "softg", "a/b/up", "dangling",
                                  "ext", "missing"])
def test_get_with_getclass_gives_same_class_as_h5py(tree, name):
    tree.check(None, lambda f: f.get(name, getclass=True))


@pytest.mark.parametrize("name", ["a", "data", "hard", "soft", "dangling", "ext", "missing"])
def test_get_with_getclass_and_getlink_gives_same_link_class_as_h5py(tree, name):
    tree.check(None, lambda f: f.get(name, getclass=True, getlink=True))


def test_soft_links_resolve_like_h5py(tree):
    for name in ["soft", "softg", "softg/b/ds", "a/b/up", "softg/b/up"]:
        tree.check(None, lambda f, name=name: f[name])
        tree.check(None, lambda f, name=name: f[name].name)
    tree.check(None, lambda f: f["soft"][...])
    tree.check(None, lambda f: f["softg/b/ds"][1, :])
    tree.check(None, lambda f: f["a/b/up"][()])
    tree.check(None, lambda f: list(f["softg"].keys()))
    tree.check(None, lambda f: f["softg"].attrs["group_attr"])


def test_dangling_soft_link_raises_keyerror_like_h5py(tree):
    tree.check(None, lambda f: f["dangling"])
    tree.check(None, lambda f: f["dangling"].name)
    tree.check(None, lambda f: "dangling" in f)
    tree.check(None, lambda f: "dangling" in f.keys())
    tree.check(None, lambda f: f.get("dangling"))


def test_hard_linked_objects_have_the_name_they_were_opened_by_like_h5py(tree):
    for name in ["hard", "data", "z_alias", "z_alias/b", "z_alias/b/ds", "a/b/ds"]:
        tree.check(None, lambda f, name=name: f[name].name)
        tree.check(None, lambda f, name=name: f[name].parent.name)
    h5a, la = tree.both("z_alias")
    assert (h5a == tree.h5["a"]) is True
    assert la == tree.lf["a"]
    assert la.id == tree.lf["a"].id and hash(la.id) == hash(tree.lf["a"].id)


def test_visit_yields_same_names_in_same_order_as_h5py(tree):
    tree.check(None, lambda f: _collect_visit(f))
    tree.check("a", lambda g: _collect_visit(g))
    tree.check("a/b", lambda g: _collect_visit(g))
    tree.check("a/empty", lambda g: _collect_visit(g))


def _collect_visit(group):
    names = []
    assert group.visit(names.append) is None
    return names


def test_visititems_yields_same_names_and_objects_as_h5py(tree):
    def collect(group):
        seen = []
        group.visititems(lambda name, obj: seen.append((name, obj)))
        return seen

    tree.check(None, collect)
    tree.check("a", collect)
    tree.check("z_alias", collect)


def test_visit_stops_at_first_non_none_return_like_h5py(tree):
    tree.check(None, lambda f: f.visit(lambda name: name if name.endswith("ds") else None))
    tree.check(None, lambda f: f.visititems(lambda name, obj: obj if isinstance(obj, h5py.Dataset) else None))


@pytest.mark.skipif(not hasattr(h5py.Group, "visit_links"), reason="h5py without visit_links")
def test_visit_links_yields_same_names_as_h5py(tree):
    def collect(group):
        names = []
        group.visit_links(names.append)
        return names

    def collect_items(group):
        seen = []
        group.visititems_links(lambda name, link: seen.append((name, _link_description(link))))
        return seen

    tree.check(None, collect)
    tree.check(None, collect_items)


@pytest.mark.parametrize("group", GROUPS)
def test_group_name_parent_and_file_match_h5py(tree, group):
    tree.check(group, lambda g: g.name)
    tree.check(group, lambda g: g.parent.name)
    tree.check(group, lambda g: g.parent)
    h5g, lg = tree.both(group)
    assert (h5g.file == tree.h5) is True
    assert lg.file == tree.lf
    assert type(lg.file) is type(tree.lf)


def test_root_group_access_matches_h5py(tree):
    tree.check(None, lambda f: f["/"])
    tree.check(None, lambda f: f["/"].name)
    tree.check(None, lambda f: f.name)
    tree.check(None, lambda f: f.parent.name)
    tree.check(None, lambda f: list(f["/"].keys()))
    tree.check(None, lambda f: f["/"] == f)
    tree.check(None, lambda f: f["a"].parent == f["/"])
    tree.check(None, lambda f: f["/"]["a/b"].name)
    assert tree.lf["/"].file == tree.lf


def test_root_group_and_parents_of_top_level_objects_are_groups_not_files_like_h5py(tree):
    for path in ["/", "a", "data", "soft", "z_alias"]:
        tree.check(None, lambda f, path=path: isinstance(f[path].parent, h5py.File))
    tree.check(None, lambda f: isinstance(f["/"], h5py.File))
    tree.check(None, lambda f: isinstance(f.get("/"), h5py.File))
    tree.check(None, lambda f: isinstance(f.parent, h5py.File))


def test_file_attributes_of_the_facade_match_h5py(tree):
    tree.check(None, lambda f: f.mode)
    tree.check(None, lambda f: bool(f))
    tree.check(None, lambda f: f.attrs["root_attr"])


def test_group_and_dataset_isinstance_checks_match_h5py(tree):
    for name in ["a", "a/b", "a/b/ds", "data", "soft", "softg"]:
        tree.check(None, lambda f, name=name: tuple(isinstance(f[name], k) for k in
                                         (h5py.Group, h5py.Dataset, h5py.File, h5py.Datatype)))


def _build_ordered(f: h5py.File) -> None:
    for name in ["zeta", "alpha", "mid", "Beta", "_under", "10", "9"]:
        f.create_group(name)
    f.create_dataset("dset_c", data=[1])
    f.create_dataset("dset_a", data=[2])
    for name in ["zz", "aa", "Mm", "b", "_x"]:
        f.attrs[name] = name
    tracked = f.create_group("tracked_group", track_order=True)
    untracked = f.create_group("untracked_group", track_order=False)
    for g in (tracked, untracked):
        for name in ["z", "a", "y", "b", "c10", "c9"]:
            g.create_group(name)
            g.attrs[name] = 0
        g.create_dataset("first_dataset", data=[0])
        g.attrs.create("last_attr", 1.0)


@pytest.mark.parametrize("group", [None, "tracked_group", "untracked_group"])
@pytest.mark.parametrize("track_order", [True, False], ids=["tracked_file", "untracked_file"])
def test_group_member_order_matches_h5py(open_pair, track_order, group):
    pair = open_pair(_build_ordered, track_order=track_order)
    pair.check(group, lambda g: list(g.keys()))
    pair.check(group, lambda g: list(g))
    pair.check(group, lambda g: [obj.name for obj in g.values()])


@pytest.mark.parametrize("group", [None, "tracked_group", "untracked_group"])
@pytest.mark.parametrize("track_order", [True, False], ids=["tracked_file", "untracked_file"])
def test_attribute_order_matches_h5py(open_pair, track_order, group):
    pair = open_pair(_build_ordered, track_order=track_order)
    pair.check(group, lambda g: list(g.attrs.keys()))
    pair.check(group, lambda g: list(g.attrs))
    pair.check(group, lambda g: list(g.attrs.items()))


@pytest.mark.parametrize("track_order", [True, False], ids=["tracked_file", "untracked_file"])
def test_visit_order_in_creation_ordered_groups_matches_h5py(open_pair, track_order):
    # h5py's visit goes through H5Ovisit by name, whatever the groups' link order
    pair = open_pair(_build_ordered, track_order=track_order)
    pair.check(None, _collect_visit)
    pair.check("tracked_group", _collect_visit)


def test_dataset_attribute_creation_order_matches_h5py(open_pair):
    def build(f):
        tracked = f.create_dataset("tracked", data=[1], track_order=True)
        untracked = f.create_dataset("untracked", data=[1])
        for ds in (tracked, untracked):
            for name in ["units", "conversion", "resolution", "a"]:
                ds.attrs[name] = name

    pair = open_pair(build)
    pair.check("tracked", lambda d: list(d.attrs))
    pair.check("untracked", lambda d: list(d.attrs))


def _external_link_pair(open_pair, tmp_path) -> Pair:
    with h5py.File(tmp_path / "target.h5", "w") as t:
        t.create_dataset("t/values", data=np.arange(4))

    def build(f):
        f["ext"] = h5py.ExternalLink(str(tmp_path / "target.h5"), "/t/values")
        f["ext_group"] = h5py.ExternalLink(str(tmp_path / "target.h5"), "/t")

    return open_pair(build)


def test_external_link_to_existing_file_is_described_like_h5py(open_pair, tmp_path):
    pair = _external_link_pair(open_pair, tmp_path)
    pair.check(None, lambda f: _link_description(f.get("ext", getlink=True)))
    pair.check(None, lambda f: _link_description(f.get("ext_group", getlink=True)))
    pair.check(None, lambda f: f.get("ext", getclass=True, getlink=True))
    pair.check(None, lambda f: list(f.keys()))


def test_external_link_to_existing_file_is_followed_like_h5py(open_pair, tmp_path):
    pair = _external_link_pair(open_pair, tmp_path)
    pair.check(None, lambda f: "ext" in f)
    pair.check(None, lambda f: f["ext"][...])
    pair.check(None, lambda f: list(f["ext_group"].keys()))



def test_relative_soft_links_resolve_from_their_group(open_pair):
    def build(f):
        f.create_group("g/inner/deep").create_dataset("x", data=np.arange(4))
        f["g"]["rel"] = h5py.SoftLink("inner")
        f["g"]["rel_dot"] = h5py.SoftLink("./inner/deep/x")
        f["g/inner"]["up"] = h5py.SoftLink("deep")

    pair = open_pair(build)
    for name in ("g/rel", "g/rel/deep/x", "g/rel_dot", "g/inner/up/x", "g/rel/up/x"):
        pair.check(None, lambda f, name=name: f[name].name)
    pair.check(None, lambda f: f["g/rel_dot"][()].tolist())
    pair.check(None, lambda f: [n for n in ("g/rel/deep", "g/rel/nothing", ".", "g/.", "") if n in f])


