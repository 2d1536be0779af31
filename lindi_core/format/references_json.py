"""The JSON form of HDF5 object and region references (spec section 9), both directions.

A reference is ``{"_REFERENCE": {"object_id", "path", "source", "source_object_id"}}``, naming
its target by path; a region reference adds ``"region"``: the selection, one of
``{"kind": "all"}``, ``{"kind": "none"}``, ``{"kind": "points", "points": [[i, ...], ...]}`` or
``{"kind": "blocks", "blocks": [[start, end], ...]}`` (inclusive ends, as HDF5 reports blocks).
A null reference is ``null``. Arrays of references are nested lists shaped like the array.

Pure data: the translator turns libhdf5 references into these values and the facade turns them
into its h5py-compatible reference objects; neither lives here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from lindi_core.format import annotations as ann


def reference_json(path: str, object_id: str | None, source_object_id: str | None, region: Any = None) -> dict:
    """The JSON form of an HDF5 object (or, with ``region``, region) reference."""
    body: dict[str, Any] = {
        "object_id": object_id,
        "path": path,
        "source": ".",
        "source_object_id": source_object_id,
    }
    if region is not None:
        body[ann.REGION] = region
    return {ann.REFERENCE: body}


def reference_body(value: Any) -> dict | None:
    """The body of a reference's JSON form; None for a null reference (``null``)."""
    if value is None:
        return None
    return value[ann.REFERENCE]


def is_region_body(body: dict) -> bool:
    """Whether a reference body is a region reference's."""
    return ann.REGION in body


def encode_nested(values: np.ndarray, encode: Callable[[Any], Any]) -> Any:
    """Nested lists of ``encode(reference)``, shaped like ``values`` (a scalar for 0-d)."""
    if values.ndim == 0:
        return encode(values[()])
    return [encode_nested(v, encode) if isinstance(v, np.ndarray) else encode(v) for v in values]


def holds_references(value: Any) -> bool:
    """Whether a value to be written is a reference or an array or list of them (its first
    element tells)."""
    if isinstance(value, h5py.Reference):
        return True
    if isinstance(value, (list, tuple, np.ndarray)) and np.size(value):
        first = np.asarray(value, dtype=object).reshape(-1)[0]
        return isinstance(first, h5py.Reference)
    return False


def region_json(space: h5py.h5s.SpaceID) -> dict[str, Any]:
    """The selection of a region reference from its (in-memory) libhdf5 dataspace: all, none,
    points or hyperslab blocks."""
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


def region_selection(region: dict, shape: tuple[int, ...]) -> tuple | np.ndarray:
    """An index for ``dataset[...]`` that selects what a region reference selects.

    A single hyperslab block keeps its shape; other selections give their elements in C order,
    as h5py does."""
    kind = region.get("kind")
    if kind == "all":
        return (Ellipsis,)
    mask = np.zeros(shape, dtype=bool)
    if kind == "blocks":
        blocks = region.get("blocks") or []
        if len(blocks) == 1:
            start, end = blocks[0]
            return tuple(slice(s, e + 1) for s, e in zip(start, end))
        for start, end in blocks:
            mask[tuple(slice(s, e + 1) for s, e in zip(start, end))] = True
    elif kind == "points":
        for point in region.get("points") or []:
            mask[tuple(point)] = True
    return mask


def region_shape(mask: np.ndarray) -> tuple[int, ...]:
    """The shape h5py gives the values of a hyperslab region of several blocks, selected by
    ``mask`` (see :func:`region_selection`): per axis, the number of elements selected along it
    when the blocks form a grid (a strided hyperslab, ``regionref[::2, 1:6:3]``: ``(2, 2)``),
    else one axis of all of them, as h5py's ``guess_shape`` counts them."""
    count = int(np.count_nonzero(mask))
    if count == 0:
        return (0,) * mask.ndim
    coords = np.nonzero(mask)
    shape = []
    for axis_coords in coords:
        low, high = int(axis_coords.min()), int(axis_coords.max())
        # h5py counts the points left in the slab at the lowest index of the axis; the axis
        # holds as many elements as the whole selection has such slabs' worth of points.
        shape.append(1 if low == high else count // int(np.count_nonzero(axis_coords == low)))
    return tuple(shape) if math.prod(shape) == count else (count,)
