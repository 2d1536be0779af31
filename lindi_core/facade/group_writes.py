"""Changing the group tree of a translated file: new groups, links and committed datatypes,
deleted and moved links, with libhdf5's rules and error messages (h5py's ``Group`` writes).

A link is a group annotated with the link (spec section 8); a committed datatype is a group
annotated with its type. Nothing may be made below a dataset or a committed datatype, which
hold no links. Every change goes through the file's :class:`~lindi_core.facade.lowlevel.FileHandle`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lindi_core.facade import scratch
from lindi_core.format import annotations as ann
from lindi_core.format import dtype_descriptions
from lindi_core.format.keys import join_key

if TYPE_CHECKING:
    from lindi_core.facade.lowlevel import FileHandle


def _refuse_below_leaf(handle: FileHandle, zpath: str, error: type[Exception], what: str) -> None:
    if handle.leaf_above(zpath) is not None:
        raise error(f"Unable to {what} (message type not found)")  # libhdf5's error


def create_group(handle: FileHandle, zpath: str, extra_attrs: dict | None = None) -> None:
    """Create the group at ``zpath`` and any missing parents."""
    _refuse_below_leaf(handle, zpath, ValueError, "synchronously create group")
    parts = zpath.split("/")
    for depth in range(1, len(parts) + 1):
        path = "/".join(parts[:depth])
        kind = handle.kind(path)
        if kind is None:
            handle.rfs.set_metadata(join_key(path, ".zgroup"), {"zarr_format": 2})
            if depth == len(parts) and extra_attrs:
                handle.rfs.set_metadata(join_key(path, ".zattrs"), dict(extra_attrs))
            handle.hierarchy.add(path, "group")
        elif depth == len(parts):
            raise ValueError("Unable to synchronously create group (name already exists)")


def _claim_name(handle: FileHandle, zpath: str, error: type[Exception], what: str, taken: str) -> None:
    """Refuse ``zpath`` for a new link as libhdf5 does, with h5py's ``error``: below a dataset
    or a committed datatype, or where a link of that name exists (message ``taken``)."""
    _refuse_below_leaf(handle, zpath, error, what)
    if handle.kind(zpath) is not None:
        raise error(taken)


def _create_parent(handle: FileHandle, zpath: str) -> None:
    """Create the group that will hold ``zpath`` (and those above it) where it is missing."""
    parent = zpath.rpartition("/")[0]
    if parent and handle.kind(parent) is None:
        create_group(handle, parent)


def create_link(handle: FileHandle, zpath: str, annotation: str, body: dict) -> None:
    _claim_name(handle, zpath, OSError, "synchronously create link",
                "Unable to synchronously create link (name already exists)")
    _create_parent(handle, zpath)
    create_group(handle, zpath, {annotation: body})


def commit_datatype(handle: FileHandle, zpath: str, dtype: np.dtype) -> None:
    """Store ``dtype`` at ``zpath`` as a committed datatype (``group[name] = dtype``): the type
    libhdf5 would store, as h5py converts and reads it back, described in ``_NAMED_DATATYPE``."""
    _claim_name(handle, zpath, KeyError, "commit datatype synchronously",  # h5py's error
                "Unable to commit datatype synchronously (name already exists)")
    with scratch.LOCK:  # h5py decides the stored type, exactly as it would for a real file
        h5 = scratch.scratch_file()
        name = scratch.fresh_name("t")
        try:
            h5[name] = dtype
            stored = h5[name].dtype
        finally:
            if name in h5:
                del h5[name]
    _create_parent(handle, zpath)
    create_group(handle, zpath, {ann.NAMED_DATATYPE: {"dtype": dtype_descriptions.describe(stored)}})


def delete_object(handle: FileHandle, zpath: str) -> None:
    """Remove the link at ``zpath``. An object that other hard links still name moves to the
    first of them (HDF5 keeps an object while any link names it)."""
    link = handle.hierarchy.links.get(zpath)
    aliases = [p for p, other in handle.hierarchy.links.items()
               if other.kind == "hard" and other.path.strip("/") == zpath] if link is None else []
    if aliases:
        heir = aliases[0]
        handle.remove_keys(heir)
        handle.move_keys(zpath, heir)
        for other in aliases[1:]:
            handle.rfs.set_metadata(join_key(other, ".zattrs"), {ann.HARD_LINK: {"path": "/" + heir}})
    else:
        handle.remove_keys(zpath)
    handle.forget_objects(zpath)
    for heir in aliases[:1]:
        handle.forget_objects(heir)
    handle.hierarchy.rebuild()


def move_object(handle: FileHandle, source: str, dest: str) -> None:
    _claim_name(handle, dest, ValueError, "move link",
                "Unable to synchronously move object (destination object already exists)")
    _create_parent(handle, dest)
    handle.move_keys(source, dest)
    for path, other in list(handle.hierarchy.links.items()):  # hard links follow the object
        if other.kind == "hard" and (other.path.strip("/") + "/").startswith(source + "/"):
            new_target = dest + other.path.strip("/")[len(source):]
            handle.rfs.set_metadata(join_key(path, ".zattrs"), {ann.HARD_LINK: {"path": "/" + new_target}})
    handle.forget_objects(source)
    handle.forget_objects(dest)
    handle.hierarchy.rebuild()
