"""References as h5py presents them: objects that ``file[ref]`` resolves.

A translated reference names its target by path (spec section 9). These classes subclass
h5py's, so ``isinstance(x, h5py.Reference)`` checks in hdmf and pynwb hold; nothing reaches
h5py's own reference machinery, which needs a real HDF5 file.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from lindi_core.format import annotations as ann


class LindiH5pyReference(h5py.Reference):
    """An object reference: the target's path plus the ids that guard against stale files."""

    def __init__(self, body: dict[str, Any]):
        self._body = dict(body)

    @property
    def path(self) -> str:
        return str(self._body.get("path", ""))

    @property
    def object_id(self) -> str | None:
        return self._body.get("object_id")

    @property
    def source_object_id(self) -> str | None:
        return self._body.get("source_object_id")

    @property
    def region(self) -> dict | None:
        return self._body.get(ann.REGION)

    def to_json(self) -> dict:
        return {ann.REFERENCE: dict(self._body)}

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LindiH5pyReference) and other.to_json() == self.to_json()

    def __hash__(self) -> int:
        return hash((self.path, repr(self.region)))

    def __repr__(self) -> str:
        return f"<HDF5 object reference to {self.path!r}>"


class LindiH5pyRegionReference(LindiH5pyReference, h5py.RegionReference):
    """A region reference: a dataset path plus a selection in it."""

    def __repr__(self) -> str:
        return f"<HDF5 region reference to {self.path!r}>"


def reference_from_json(value: Any, region: bool = False) -> h5py.Reference:
    """The reference a JSON value encodes; an h5py null reference for ``null`` (a null region
    reference where ``region``)."""
    if value is None:
        return h5py.RegionReference() if region else h5py.Reference()
    body = value[ann.REFERENCE]
    if ann.REGION in body:
        return LindiH5pyRegionReference(body)
    return LindiH5pyReference(body)


def references_array(values: Any, shape: tuple[int, ...], region: bool = False) -> np.ndarray:
    """An object array of references shaped ``shape`` from a (flat) list of JSON values."""
    out = np.empty(shape, dtype=object)
    flat = list(values) if shape else [values]
    for i, v in enumerate(flat):
        out.flat[i] = reference_from_json(v, region=region)
    return out


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


class _JsonReferences:
    """Encodes facade references the way the translator encodes HDF5 ones."""

    def encode(self, ref: Any) -> dict | None:
        if isinstance(ref, LindiH5pyReference):
            return ref.to_json()
        if isinstance(ref, h5py.Reference) and not ref:
            return None
        raise TypeError("only references to objects of a translated file can be stored in it")

    def encode_array(self, values: np.ndarray) -> Any:
        if values.ndim == 0:
            return self.encode(values[()])
        return [self.encode_array(v) if isinstance(v, np.ndarray) else self.encode(v) for v in values]


def _is_reference_value(value: Any) -> bool:
    if isinstance(value, h5py.Reference):
        return True
    if isinstance(value, (list, tuple, np.ndarray)) and np.size(value):
        first = np.asarray(value, dtype=object).reshape(-1)[0]
        return isinstance(first, h5py.Reference)
    return False
