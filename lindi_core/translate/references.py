"""HDF5 object and region references -> their JSON form (``{"_REFERENCE": {...}}``).

A reference names its target by path. An object with several hard-linked names is referred to
by its *primary* path, the one the translator stores it under, so references and hard-link
annotations agree.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from lindi_core.format import annotations as ann

ObjectKey = tuple


def object_key(objid: h5py.h5o.ObjectID) -> ObjectKey:
    """An identity for an HDF5 object that is the same under every path that leads to it.

    ``H5Gget_objinfo`` rather than ``H5Oget_info``: the latter also counts the object's
    storage, which walks the whole chunk index of a big dataset (0.1 s for a million chunks).
    """
    info = h5py.h5g.get_objinfo(objid)
    return (tuple(info.fileno), tuple(info.objno))


def object_id_attribute(obj: h5py.HLObject) -> str | None:
    """The NWB ``object_id`` attribute of an object, when it has one."""
    if "object_id" not in obj.attrs:
        return None
    value = obj.attrs["object_id"]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


class ReferenceEncoder:
    """Encodes references found in one HDF5 file."""

    def __init__(self, h5file: h5py.File, primary_paths: dict[ObjectKey, str]):
        self.h5file = h5file
        self.primary_paths = primary_paths
        self.root_object_id = object_id_attribute(h5file)
        # Tables refer to the same few objects over and over (an electrodes table: one group per
        # row): their object ids are read once.
        self._object_ids: dict[ObjectKey, str | None] = {}

    def encode(self, ref: h5py.Reference) -> dict | None:
        """The JSON form of a reference; None for a null reference."""
        if not ref:
            return None
        target = h5py.h5r.dereference(ref, self.h5file.id)  # the low-level object: no File built
        if target is None:
            raise ValueError("a reference to an object that does not exist")
        key = object_key(target)
        path = self.primary_paths.get(key) or h5py.h5i.get_name(target).decode("utf-8", "surrogateescape")
        region = None
        if isinstance(ref, h5py.RegionReference):
            region = encode_region(h5py.h5r.get_region(ref, self.h5file.id))
        if key not in self._object_ids:
            self._object_ids[key] = object_id_attribute(self.h5file[ref])
        return ann.reference_value(path, self._object_ids[key], self.root_object_id, region)

    def encode_array(self, values: np.ndarray) -> list:
        """Nested lists of encoded references, shaped like ``values``."""
        if values.ndim == 0:
            return self.encode(values[()])
        return [self.encode_array(v) if isinstance(v, np.ndarray) else self.encode(v) for v in values]


def encode_region(space: h5py.h5s.SpaceID) -> dict[str, Any]:
    """The selection of a region reference: all, none, points or hyperslab blocks.

    Blocks are ``[start, end]`` pairs with inclusive ends, as HDF5 reports them.
    """
    kind = space.get_select_type()
    if kind == h5py.h5s.SEL_ALL:
        return {"kind": "all"}
    if kind == h5py.h5s.SEL_NONE:
        return {"kind": "none"}
    if kind == h5py.h5s.SEL_POINTS:
        points = np.asarray(space.get_select_elem_pointlist()).reshape(-1, space.get_simple_extent_ndims())
        return {"kind": "points", "points": points.tolist()}
    blocks = np.asarray(space.get_select_hyper_blocklist())
    blocks = blocks.reshape(-1, 2, space.get_simple_extent_ndims())
    return {"kind": "blocks", "blocks": blocks.tolist()}
