"""Dimension names for every array (``_ARRAY_DIMENSIONS``), so Zarr readers of the labelled-array
kind (xarray's ``open_zarr``, kerchunk's users) can open a translated file.

xarray's Zarr backend needs, for each array, the list of its dimension names in the array's
``.zattrs``. HDF5 has no such names; netCDF-4 files (written by libnetcdf, h5netcdf, xarray) keep
them as dimension scales. The names chosen here are the ones h5netcdf gives (and so xarray's
``engine="h5netcdf"``, with ``phony_dims="sort"`` for the axes no scale labels), so that both
roads to a file show the same dimensions:

* an axis with dimension scales attached (``DIMENSION_LIST``) is named after the last scale
  attached to it (as libnetcdf and h5netcdf do), by the scale's link name;
* a dimension scale is its own dimension, named by its link name; a multi-dimensional netCDF
  coordinate variable lists its dimensions by id (``_Netcdf4Coordinates``, ``_Netcdf4Dimid``);
* the other axes get *phony* dimensions, as netCDF readers make them: per group, for each
  length, as many ``phony_dim_N`` as the group's unlabelled datasets need at most (a dimension
  scale of that length in the group counts as one), numbered across the file in the order
  libnetcdf/h5netcdf meet them (groups depth-first in link order, labelled dimensions first);
* axes HDF5 does not have: a scalar dataset's single Zarr axis is ``_scalar`` and a null
  dataspace's ``_null``; the element axes of an HDF5 array type are ``<name>_element_<i>``.

Computed from the translated metadata alone (the attributes as written to ``.zattrs``), so no
HDF5 object is read twice.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lindi_core.format import annotations as ann
from lindi_core.format.keys import join_key, split_key
from lindi_core.format.refs import ReferenceFileSystem

SCALE_CLASS = "DIMENSION_SCALE"
SCALAR_DIMENSION = "_scalar"
NULL_DIMENSION = "_null"


@dataclass
class _Dimension:
    size: int
    limited: bool  # counts against phony dimensions of its size (h5netcdf's `_maxsize` is not None)
    dimid: Any = None  # netCDF's _Netcdf4Dimid


@dataclass
class _Group:
    dims: dict[str, _Dimension] = field(default_factory=dict)
    parent: _Group | None = None
    by_size: dict[int, list[str]] = field(default_factory=dict)  # this group's dimension names by length
    visible: dict[str, _Dimension] = field(default_factory=dict)  # with its ancestors', once collected

    def add(self, name: str, dimension: _Dimension) -> None:
        self.dims[name] = dimension
        self.by_size.setdefault(dimension.size, []).append(name)

    def close_collection(self) -> None:
        """Fix the dimensions the group sees: its own and its ancestors', the nearest winning
        (h5netcdf's ChainMap)."""
        self.visible = {**(self.parent.visible if self.parent is not None else {}), **self.dims}


def add_array_dimensions(rfs: ReferenceFileSystem) -> int:
    """Give every array of ``rfs`` the ``_ARRAY_DIMENSIONS`` annotation in its ``.zattrs`` that a
    translation of the HDF5 file it describes gives; only arrays whose names differ are
    rewritten (a file edited through the facade: scales attached, detached, made, datasets
    added). Returns how many were rewritten."""
    changed = 0
    for key, names in array_dimensions(rfs).items():
        zattrs_key = join_key(key, ".zattrs")
        zattrs = rfs.metadata.get(zattrs_key) or {}
        if zattrs.get(ann.ARRAY_DIMENSIONS) != names:
            rfs.set_metadata(zattrs_key, {**zattrs, ann.ARRAY_DIMENSIONS: names})
            changed += 1
    return changed


def array_dimensions(rfs: ReferenceFileSystem) -> dict[str, list[str]]:
    """{array path: its dimension names, one per Zarr axis}."""
    groups, arrays = _groups_in_link_order(rfs)
    # Groups in that order, each seeing its ancestors' dimensions, as netCDF readers meet them.
    seen: dict[str, _Group] = {}
    found: dict[str, list[str]] = {}
    counter = [0]  # dimensions numbered so far (labelled and phony alike)
    for path in groups:
        group = seen[path] = _Group(parent=seen[split_key(path)[0]] if path else None)
        members = arrays.get(path, [])
        _collect_dimensions(rfs, group, members, counter)
        for array in members:
            found[array] = _zarr_axes_names(rfs, array, _names(rfs, group, array, counter))
    return found


def _groups_in_link_order(rfs: ReferenceFileSystem) -> tuple[list[str], dict[str, list[str]]]:
    """(the real groups below the root through groups, depth first, each group's links in
    HDF5's order; {group: its arrays in that order}). HDF5 lists a group's links by name unless
    it tracks creation order (then the order of the keys is that order, as the facade lists
    them): the order of the keys alone is not it once a file has been edited."""
    children: dict[str, list[str]] = {}
    arrays: set[str] = set()
    for key in rfs.metadata:
        parent, name = split_key(key)
        if name == ".zarray":
            arrays.add(parent)
        elif not (name == ".zgroup" and _is_real_group(rfs, parent)):
            continue
        if parent:
            children.setdefault(split_key(parent)[0], []).append(parent)
    if ".zgroup" not in rfs.metadata:
        return [], {}
    groups: list[str] = []
    members: dict[str, list[str]] = {}
    stack = [""]  # a loop, not recursion: files may nest deeply
    while stack:
        path = stack.pop()
        groups.append(path)
        links = children.get(path, [])
        if not ann.tracks_creation_order(_zattrs(rfs, path), "links"):
            links = sorted(links)  # code point order is the UTF-8 byte order HDF5 sorts by
        members[path] = [link for link in links if link in arrays]
        stack.extend(reversed([link for link in links if link not in arrays]))
    return groups, members


def _is_real_group(rfs: ReferenceFileSystem, path: str) -> bool:
    zattrs = rfs.metadata.get(join_key(path, ".zattrs")) or {}
    return ann.link_annotation(zattrs) is None and ann.NAMED_DATATYPE not in zattrs


def _zattrs(rfs: ReferenceFileSystem, path: str) -> dict:
    return rfs.metadata.get(join_key(path, ".zattrs")) or {}


def _element_rank(description: Any) -> int:
    if isinstance(description, dict) and "array" in description and isinstance(description.get("shape"), list):
        return len(description["shape"]) + _element_rank(description["array"])
    return 0


def _h5_shape(rfs: ReferenceFileSystem, path: str) -> tuple[int, ...] | None:
    """The dataset's shape as h5py gives it (None for a null dataspace)."""
    zattrs = _zattrs(rfs, path)
    if zattrs.get(ann.NULL_DATASPACE) is True:
        return None
    if zattrs.get(ann.SCALAR) is True:
        return ()
    shape = tuple(rfs.metadata[join_key(path, ".zarray")].get("shape") or ())
    element = 0 if ann.UNREADABLE in zattrs else _element_rank(zattrs.get(ann.HDF5_DTYPE))
    return shape[: len(shape) - element]


def _is_scale(zattrs: dict) -> bool:
    return zattrs.get("CLASS") == SCALE_CLASS


def _reference_path(value: Any) -> str | None:
    if ann.is_reference_value(value):
        path = value[ann.REFERENCE].get("path")
        return path if isinstance(path, str) else None
    return None


def _scales_per_axis(zattrs: dict, rank: int) -> list[list[str]] | None:
    """The paths of the scales attached to each axis (``DIMENSION_LIST``), or None."""
    lists = zattrs.get("DIMENSION_LIST")
    if not isinstance(lists, list) or len(lists) != rank:
        return None
    axes = []
    for refs in lists:
        refs = refs if isinstance(refs, list) else [refs]
        axes.append([p for p in (_reference_path(r) for r in refs) if p is not None])
    return axes


def _ints(value: Any) -> list[int] | None:
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], list):
        value = value[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [value]
    return None


def _int_list(value: Any) -> list[int] | None:
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return _ints(value)


def _scale_size(rfs: ReferenceFileSystem, path: str, shape: tuple[int, ...], zattrs: dict) -> _Dimension:
    size = shape[0] if shape else 1
    unlimited = zattrs.get(ann.HDF5_MAXSHAPE) == [None]
    if unlimited:
        # netCDF's unlimited dimension is as long as the longest variable along it (h5netcdf)
        for row in zattrs.get("REFERENCE_LIST") or []:
            if isinstance(row, list) and len(row) == 2 and isinstance(row[1], int):
                target = _reference_path(row[0])
                if target is not None and join_key(target.strip("/"), ".zarray") in rfs.metadata:
                    var_shape = _h5_shape(rfs, target.strip("/")) or ()
                    if row[1] < len(var_shape):
                        size = max(size, var_shape[row[1]])
    dimid = _ints(zattrs.get("_Netcdf4Dimid"))
    return _Dimension(size=size, limited=not unlimited, dimid=dimid[0] if dimid else None)


def _collect_dimensions(rfs: ReferenceFileSystem, group: _Group, arrays: list[str], counter: list[int]) -> None:
    """The group's dimensions: its scales, then the phony ones its unlabelled datasets need."""
    phony_need: Counter = Counter()
    for path in arrays:
        zattrs = _zattrs(rfs, path)
        shape = _h5_shape(rfs, path)
        if _is_scale(zattrs):
            dimension = _scale_size(rfs, path, shape or (), zattrs)
            if dimension.dimid is None:
                dimension.dimid = counter[0]
            group.add(posixpath.basename(path), dimension)
            counter[0] += 1
        elif shape and _scales_per_axis(zattrs, len(shape)) is None:
            phony_need |= Counter(shape)
    labelled = Counter(d.size for d in group.dims.values() if d.limited)
    for size, count in phony_need.items():
        for _ in range(labelled[size], count):
            group.add(f"phony_dim_{counter[0]}", _Dimension(size=size, limited=True))
            counter[0] += 1
    group.close_collection()


def _names(rfs: ReferenceFileSystem, group: _Group, path: str, counter: list[int]) -> list[str]:
    """The names of the dataset's own (h5py) axes."""
    zattrs = _zattrs(rfs, path)
    shape = _h5_shape(rfs, path)
    if not shape:
        return []
    name = posixpath.basename(path)
    all_dims = group.visible
    coordinates = _int_list(zattrs.get("_Netcdf4Coordinates"))
    if coordinates is not None and _is_scale(zattrs) and len(coordinates) == len(shape):
        by_id = {d.dimid: n for n, d in all_dims.items()}
        if all(i in by_id for i in coordinates):
            return [by_id[i] for i in coordinates]
    scales = _scales_per_axis(zattrs, len(shape))
    if scales is not None and all(scales):
        return [posixpath.basename(axis[-1]) for axis in scales]
    if len(shape) == 1 and name in all_dims:
        return [name]
    names = []
    used: Counter = Counter()
    for axis, size in enumerate(shape):
        if scales is not None and scales[axis]:
            names.append(posixpath.basename(scales[axis][0]))
            continue
        candidates = group.by_size.get(size, [])
        if used[size] < len(candidates):
            names.append(candidates[used[size]])
        else:  # no dimension of that length (a dataset mixing labelled and unlabelled axes)
            names.append(f"phony_dim_{counter[0]}")
            group.add(names[-1], _Dimension(size=size, limited=True))
            counter[0] += 1
        used[size] += 1
    return names


def _zarr_axes_names(rfs: ReferenceFileSystem, path: str, names: list[str]) -> list[str]:
    """The dataset's axis names extended to its Zarr axes (scalars, null dataspaces, array types)."""
    zattrs = _zattrs(rfs, path)
    rank = len(rfs.metadata[join_key(path, ".zarray")].get("shape") or ())
    if zattrs.get(ann.NULL_DATASPACE) is True:
        names = [NULL_DIMENSION]
    elif zattrs.get(ann.SCALAR) is True:
        names = [SCALAR_DIMENSION]
    name = posixpath.basename(path) or "root"
    return names + [f"{name}_element_{i}" for i in range(rank - len(names))]
