"""``group.copy(<object of an HDF5 file opened with h5py>, ...)``: a copy by value.

Objects of translated files are copied by reference (no bytes move). An object of a plain HDF5
file opened with h5py has no references to copy: its values are read and written, as
``H5Ocopy`` copies them between two HDF5 files, with its layout (chunks, filters, maximum
shape, fill value), attributes and links. What libhdf5 does across files, this does too:
object references in attributes become null (no ``expand_refs``), hard links inside the copied
tree stay hard links among the copies.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

_COPIED_COMPRESSION = ("gzip", "lzf")  # filters a new dataset here can have; others are left off


def copy_from_hdf5(source: h5py.Group | h5py.Dataset | h5py.Datatype, target_group: Any, name: str, *, shallow: bool = False,
                   without_attrs: bool = False, expand_soft: bool = False, expand_external: bool = False) -> None:
    copied: dict[int, str] = {}  # object address in the source file -> path of its copy
    _copy(source, target_group, name, copied, levels=1 if shallow else None, without_attrs=without_attrs,
          expand_soft=expand_soft, expand_external=expand_external)


def _copy(source: Any, target_group: Any, name: str, copied: dict[int, str], levels: int | None,
          **options: Any) -> None:
    address = h5py.h5o.get_info(source.id).addr
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


def _tracks_order(group: h5py.Group) -> bool:
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
