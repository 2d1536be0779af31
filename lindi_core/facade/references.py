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
from lindi_core.format.references_json import encode_nested, is_region_body, reference_body


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
    body = reference_body(value)
    if body is None:
        return h5py.RegionReference() if region else h5py.Reference()
    if is_region_body(body):
        return LindiH5pyRegionReference(body)
    return LindiH5pyReference(body)


class _JsonReferences:
    """Encodes facade references the way the translator encodes HDF5 ones."""

    def encode(self, ref: Any) -> dict | None:
        if isinstance(ref, LindiH5pyReference):
            return ref.to_json()
        if isinstance(ref, h5py.Reference) and not ref:
            return None
        raise TypeError("only references to objects of a translated file can be stored in it")

    def encode_array(self, values: np.ndarray) -> Any:
        return encode_nested(values, self.encode)
