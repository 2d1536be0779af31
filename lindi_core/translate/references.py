"""HDF5 object and region references -> their JSON form (:mod:`lindi_core.format.references_json`).

A reference names its target by path. An object with several hard-linked names is referred to
by its *primary* path, the one the translator stores it under, so references and hard-link
annotations agree.
"""

from __future__ import annotations

import h5py
import numpy as np

from lindi_core.format.references_json import encode_nested, reference_json, region_json

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
            region = region_json(h5py.h5r.get_region(ref, self.h5file.id))
        if key not in self._object_ids:
            self._object_ids[key] = object_id_attribute(self.h5file[ref])
        return reference_json(path, self._object_ids[key], self.root_object_id, region)

    def encode_array(self, values: np.ndarray) -> list:
        """Nested lists of encoded references, shaped like ``values``."""
        return encode_nested(values, self.encode)
