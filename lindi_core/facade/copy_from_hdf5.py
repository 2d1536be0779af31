"""Copies by value between a reference file and a plain HDF5 file opened with h5py.

``lindi_group.copy(<object of an h5py file>, ...)`` and ``lindi_group.copy(source,
<h5py group>, name=...)``: objects of translated files copy among themselves by reference (no
bytes move, :mod:`lindi_core.facade.copying`), but an h5py file on either side holds its bytes
itself: values are read and written, as ``H5Ocopy`` copies them between two HDF5 files, with
their layout (chunks, filters, maximum shape, fill value), attributes and links. What libhdf5
does across files, this does too: object references in attributes become null (no
``expand_refs``), hard links inside the copied tree stay hard links among the copies.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from lindi_core.facade.base import FacadeObject

_COPIED_COMPRESSION = ("gzip", "lzf")  # filters a new dataset here can have; others are left off


def copy_from_hdf5(source: h5py.Group | h5py.Dataset | h5py.Datatype, target_group: Any, name: str, *, shallow: bool = False,
                   without_attrs: bool = False, expand_soft: bool = False, expand_external: bool = False) -> None:
    copied: dict[int, str] = {}  # object address in the source file -> path of its copy
    _copy(source, target_group, name, copied, levels=1 if shallow else None, without_attrs=without_attrs,
          expand_soft=expand_soft, expand_external=expand_external)


def copy_into_hdf5(source: Any, target_group: h5py.Group, name: str, *, shallow: bool = False,
                   without_attrs: bool = False, expand_soft: bool = False, expand_external: bool = False,
                   expand_refs: bool = False) -> None:
    """Copy ``source`` (an object of a reference file) into the h5py group ``target_group`` as
    ``name`` (a path: missing groups on the way are made), by value, as h5py's ``copy`` between
    two HDF5 files does."""
    if expand_refs:
        raise ValueError("expand_refs is not available: libhdf5 copies referenced objects under names made from "
                         "HDF5 file addresses; copy the referenced objects explicitly instead")
    if name in target_group:  # h5py's error for this
        raise RuntimeError("Unable to synchronously copy object (destination object already exists)")
    parent, _, last = name.rstrip("/").rpartition("/")
    into = target_group.require_group(parent) if parent else target_group
    copy_from_hdf5(source, into, last, shallow=shallow, without_attrs=without_attrs, expand_soft=expand_soft,
                   expand_external=expand_external)


def _copy(source: Any, target_group: Any, name: str, copied: dict[int, str], levels: int | None,
          **options: Any) -> None:
    address = _identity(source)
    if address in copied:
        target_group[name] = target_group.file[copied[address]]
        return
    if isinstance(source, h5py.Dataset) and source.dtype.subdtype is not None:
        # h5py creates datasets of an array type without data (nor fill value): written after
        made = target_group.create_dataset(name, shape=source.shape, **_layout(source))
        if source.shape and source.size:
            made[...] = source[...]
        elif source.shape == ():
            made[()] = source[()]
    elif isinstance(source, h5py.Dataset):
        made = target_group.create_dataset(name, data=source[()], **_layout(source))
    elif isinstance(source, h5py.Datatype):  # a committed datatype: committed again here
        target_group[name] = source.dtype
        made = target_group[name]
    else:
        made = target_group.create_group(name, track_order=_tracks_order(source))
    copied[address] = made.name
    if not options["without_attrs"]:
        _copy_attributes(source, made)
    if isinstance(source, (h5py.Dataset, h5py.Datatype)) or levels == 0:
        return
    for member in source:
        link = source.get(member, getlink=True)
        expand = (isinstance(link, h5py.SoftLink) and options["expand_soft"]) or \
            (isinstance(link, h5py.ExternalLink) and options["expand_external"])
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)) and not (expand and member in source):
            made[member] = link  # as it is (dangling links too, as libhdf5 copies them)
            continue
        _copy(source[member], made, member, copied, None if levels is None else levels - 1, **options)


def _layout(source: h5py.Dataset) -> dict[str, Any]:
    options: dict[str, Any] = {"dtype": source.dtype}
    if source.chunks is not None:
        options.update(chunks=source.chunks, maxshape=source.maxshape, shuffle=source.shuffle,
                       fletcher32=source.fletcher32)
        if source.compression in _COPIED_COMPRESSION:
            options.update(compression=source.compression, compression_opts=source.compression_opts)
    # (an array type's fill value is one h5py neither reads nor writes as such)
    if source.dtype.kind != "O" and source.dtype.fields is None and source.dtype.subdtype is None and source.shape != ():
        options["fillvalue"] = source.fillvalue
    return options


def _identity(obj: Any) -> Any:
    """What makes two links lead to one object: its address in an HDF5 file, its path (hard
    links resolved) in a reference file."""
    if isinstance(obj, FacadeObject):
        return id(obj.handle), obj.id.zpath
    return h5py.h5o.get_info(obj.id).addr


def _tracks_order(group: Any) -> bool:
    if isinstance(group, FacadeObject):
        return group.handle.hierarchy.tracks_link_order(group.id.zpath)
    return bool(group.id.get_create_plist().get_link_creation_order() & h5py.h5p.CRT_ORDER_TRACKED)


def _copy_attributes(source: Any, made: Any) -> None:
    for key in source.attrs:
        dtype = source.attrs.get_id(key).dtype
        value = source.attrs[key]
        if h5py.check_ref_dtype(dtype) is not None:  # references do not cross files: null
            shape = np.shape(value)
            value = np.empty(shape, dtype=dtype) if shape else h5py.Reference()
            if shape:
                value[...] = h5py.Reference()
        made.attrs.create(key, value, dtype=dtype)
