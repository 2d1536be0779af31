"""The group tree of a reference file system: children in order, kinds, links.

Built once when a file opens, from the metadata keys alone, so that group listings and path
lookups are dictionary operations rather than store queries.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from lindi_core.format import annotations as ann
from lindi_core.format.keys import join_key, split_key
from lindi_core.format.refs import ReferenceFileSystem

GROUP, DATASET, DATATYPE = "group", "dataset", "datatype"
LEAF_KINDS = frozenset({DATASET, DATATYPE})  # objects that hold no links



def path_parts(name: str) -> list[str]:
    """The names along an HDF5 path, as libhdf5 reads it: empty components and "." dropped."""
    return [part for part in name.split("/") if part not in ("", ".")]

@dataclass(frozen=True)
class Link:
    """A link annotation: ``kind`` is ``"soft"``, ``"hard"`` or ``"external"``."""

    kind: str
    path: str
    file: str | None = None


class ExternalTarget(Exception):
    """Raised while resolving a path that continues through an external link."""

    def __init__(self, link: Link, rest: list[str], used_name: str):
        super().__init__(f"{link.file}:{link.path}")
        self.link = link
        self.rest = rest
        self.used_name = used_name


class Hierarchy:
    """Children and kinds of every group and dataset, keyed by Zarr path ("" is the root)."""

    def __init__(self, rfs: ReferenceFileSystem):
        self.rfs = rfs
        self.kinds: dict[str, str] = {}
        self.children: dict[str, list[str]] = {"": []}
        self.links: dict[str, Link] = {}
        self._building = False
        self.rebuild()

    def rebuild(self) -> None:
        self.kinds = {"": GROUP}
        self.children = {"": []}
        self.links = {}
        self._building = True
        try:
            for key in self.rfs.metadata:
                parent_key, name = split_key(key)
                if name == ".zgroup":
                    self.add(parent_key, GROUP)
                elif name == ".zarray":
                    self.add(parent_key, DATASET)
        finally:
            self._building = False
        # HDF5 lists the links of a group by name unless the group tracks creation order (then
        # the order of the keys is that order).
        for path, names in self.children.items():
            if not self.tracks_link_order(path):
                names.sort()

    def tracks_link_order(self, path: str) -> bool:
        return ann.tracks_creation_order(self.rfs.metadata.get(join_key(path, ".zattrs")), "links")

    def add(self, path: str, kind: str) -> None:
        if path in self.kinds and path != "":
            return
        if kind == GROUP:
            self.children.setdefault(path, [])
            zattrs = self.rfs.metadata.get(join_key(path, ".zattrs")) or {}
            if path and ann.NAMED_DATATYPE in zattrs:  # a committed datatype (spec §8)
                kind = DATATYPE
            link = ann.link_annotation(zattrs)
            if link is not None:
                key, body = link
                kind_name = {ann.SOFT_LINK: "soft", ann.HARD_LINK: "hard", ann.EXTERNAL_LINK: "external"}[key]
                self.links[path] = Link(kind_name, str(body.get("path", "")), body.get("file"))
        self.kinds[path] = kind
        if path == "":
            return
        parent, name = split_key(path)
        if parent not in self.kinds:
            self.add(parent, GROUP)  # an implied group (missing .zgroup)
        siblings = self.children.setdefault(parent, [])
        if self._building or self.tracks_link_order(parent):
            siblings.append(name)
        else:
            bisect.insort(siblings, name)  # code point order is the UTF-8 byte order HDF5 sorts by

    def child_names(self, path: str) -> list[str]:
        return self.children.get(path, [])
