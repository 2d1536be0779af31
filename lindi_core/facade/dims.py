"""Dimension scales (``dataset.dims``), read from and written to the attributes HDF5 keeps them in.

libhdf5's dimension-scale API (which h5py's ``dims`` calls) works on its own objects; here the
same convention is followed on the facade's attributes:

* a scale has ``CLASS = b"DIMENSION_SCALE"`` and, when named, ``NAME``;
* a dataset lists the scales of each dimension in ``DIMENSION_LIST`` (one variable-length array
  of object references per dimension) and their labels in ``DIMENSION_LABELS``;
* a scale lists what it is attached to in ``REFERENCE_LIST`` (rows of (reference, dimension)).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from h5py._hl.dims import DimensionManager, DimensionProxy

if TYPE_CHECKING:
    from lindi_core.facade.dataset import LindiH5pyDataset
    from lindi_core.format.refs import ReferenceFileSystem

SCALE_CLASS = b"DIMENSION_SCALE"
REFERENCE_DESCRIPTION = {"reference": "object"}
DIMENSION_LIST_DESCRIPTION = {"vlen": REFERENCE_DESCRIPTION}
REFERENCE_LIST_DESCRIPTION = {"compound": [["dataset", REFERENCE_DESCRIPTION], ["dimension", "<u4"]]}
LABELS_DESCRIPTION = {"string": "ascii"}


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).rstrip(b"\0").decode("utf-8", "replace")
    return "" if value is None else str(value)


def scale_name(dataset: LindiH5pyDataset) -> str:
    return _text(dataset.attrs.get("NAME", b""))


def is_scale(dataset: LindiH5pyDataset) -> bool:
    value = dataset.attrs.get("CLASS")
    return isinstance(value, (bytes, np.bytes_, str)) and _text(value) == SCALE_CLASS.decode()


def make_scale(dataset: LindiH5pyDataset, name: str = "") -> None:
    """Make ``dataset`` a dimension scale named ``name`` (as ``h5py.Dataset.make_scale``)."""
    if "DIMENSION_LIST" in dataset.attrs:
        raise RuntimeError("Unspecified error in H5DSset_scale (return value <0)")  # as libhdf5
    dataset.attrs.create("CLASS", np.bytes_(SCALE_CLASS), dtype=f"S{len(SCALE_CLASS) + 1}")
    encoded = name.encode("utf-8")
    dataset.attrs.create("NAME", np.bytes_(encoded), dtype=f"S{len(encoded) + 1}")


class LindiH5pyDimensionProxy(DimensionProxy):
    """One dimension of a dataset: its label and attached scales."""

    def __init__(self, dataset: LindiH5pyDataset, dimension: int):
        self._dataset = dataset
        self._dimension = dimension

    def __hash__(self) -> int:
        return hash((type(self), self._dataset.file.filename, self._dataset.name, self._dimension))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LindiH5pyDimensionProxy) and hash(self) == hash(other)

    @property
    def label(self) -> str:
        labels = self._dataset.attrs.get("DIMENSION_LABELS")
        return "" if labels is None else _text(labels[self._dimension])

    @label.setter
    def label(self, value: str) -> None:
        labels = self._dataset.attrs.get("DIMENSION_LABELS")
        texts = [""] * self._dataset.ndim if labels is None else [_text(v) for v in labels]
        texts[self._dimension] = _text(value)
        self._set("DIMENSION_LABELS", texts, LABELS_DESCRIPTION)

    def _scales(self) -> list[LindiH5pyDataset]:
        lists = self._dataset.attrs.get("DIMENSION_LIST")
        if lists is None:
            return []
        file = self._dataset.file
        return [file[ref] for ref in lists[self._dimension] if ref]

    def __len__(self) -> int:
        return len(self._scales())

    def __iter__(self):
        yield from self.keys()

    def __getitem__(self, item: int | str) -> LindiH5pyDataset:
        scales = self._scales()
        if isinstance(item, int):
            return scales[item]
        if not scales:
            raise RuntimeError("Unspecified error in H5DSiterate_scales (return value <0)")  # as libhdf5
        for scale in scales:
            if scale_name(scale) == item:
                return scale
        raise KeyError(item)

    def items(self) -> list[tuple[str, LindiH5pyDataset]]:
        return [(scale_name(scale), scale) for scale in self._scales()]

    def keys(self) -> list[str]:
        return [name for name, _ in self.items()]

    def values(self) -> list[LindiH5pyDataset]:
        return self._scales()

    def attach_scale(self, dset: LindiH5pyDataset) -> None:
        """Attach the dimension scale ``dset`` (made a scale if it is not one) to this dimension."""
        self._dataset.handle.require_writable("attach scale", error=RuntimeError)
        if is_scale(self._dataset) or dset.name == self._dataset.name or dset.file is not self._dataset.file:
            raise RuntimeError("Unspecified error in H5DSattach_scale (return value <0)")  # as libhdf5
        if not is_scale(dset):
            dset.attrs.create("CLASS", np.bytes_(SCALE_CLASS), dtype=f"S{len(SCALE_CLASS) + 1}")
        lists = self._reference_lists()
        if any(_same(ref, dset) for ref in lists[self._dimension]):
            return
        lists[self._dimension].append(dset.ref)
        self._set("DIMENSION_LIST", [[ref.to_json() for ref in refs] for refs in lists], DIMENSION_LIST_DESCRIPTION)
        rows = _reference_rows(dset)
        rows.append((self._dataset.ref, self._dimension))
        _set_reference_rows(dset, rows)

    def detach_scale(self, dset: LindiH5pyDataset) -> None:
        """Detach the dimension scale ``dset`` from this dimension."""
        self._dataset.handle.require_writable("detach scale", error=RuntimeError)
        lists = self._reference_lists()
        kept = [ref for ref in lists[self._dimension] if not _same(ref, dset)]
        if len(kept) == len(lists[self._dimension]):
            raise RuntimeError("Unspecified error in H5DSdetach_scale (return value <0)")  # as libhdf5
        lists[self._dimension] = kept
        if any(lists):
            self._set("DIMENSION_LIST", [[ref.to_json() for ref in refs] for refs in lists],
                      DIMENSION_LIST_DESCRIPTION)
        else:
            del self._dataset.attrs["DIMENSION_LIST"]
        rows = [(ref, dim) for ref, dim in _reference_rows(dset)
                if not (_same(ref, self._dataset) and dim == self._dimension)]
        if rows:
            _set_reference_rows(dset, rows)
        elif "REFERENCE_LIST" in dset.attrs:
            del dset.attrs["REFERENCE_LIST"]

    def _reference_lists(self) -> list[list]:
        lists = self._dataset.attrs.get("DIMENSION_LIST")
        if lists is None:
            return [[] for _ in range(self._dataset.ndim)]
        return [[ref for ref in refs if ref] for refs in lists]

    def _set(self, name: str, value: Any, description: Any) -> None:
        _set_raw(self._dataset, name, value, description)

    def __repr__(self) -> str:
        if not self._dataset.file:
            return "<Dimension of closed HDF5 dataset>"
        return f'<"{self.label}" dimension {self._dimension} of HDF5 dataset at {id(self._dataset)}>'


class LindiH5pyDimensions(DimensionManager):
    """``dataset.dims``: one :class:`LindiH5pyDimensionProxy` per dimension."""

    def __init__(self, dataset: LindiH5pyDataset):
        self._dataset = dataset

    def __getitem__(self, index: int) -> LindiH5pyDimensionProxy:
        if index > len(self) - 1:
            raise IndexError("Index out of range")
        return LindiH5pyDimensionProxy(self._dataset, index)

    def __len__(self) -> int:
        return self._dataset.ndim

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        if not self._dataset.file:
            return "<Dimensions of closed HDF5 dataset>"
        return f"<Dimensions of HDF5 object at {id(self._dataset)}>"

    def create_scale(self, dset: LindiH5pyDataset, name: str = "") -> None:
        import warnings

        from h5py.h5py_warnings import H5pyDeprecationWarning

        warnings.warn("other_ds.dims.create_scale(ds, name) is deprecated. Use ds.make_scale(name) instead.",
                      H5pyDeprecationWarning, stacklevel=2)
        dset.make_scale(name)


# The edit count (``rfs.changes``) at which each open file's dimension names were last current.
_NAMES_CURRENT_AT: weakref.WeakKeyDictionary[ReferenceFileSystem, int] = weakref.WeakKeyDictionary()


def note_dimension_names_current(rfs: ReferenceFileSystem) -> None:
    """Record that ``rfs``'s dimension names are as its file had them (a file just opened):
    a file written back without edits is left as it was, names or none."""
    _NAMES_CURRENT_AT[rfs] = rfs.changes


def refresh_dimension_names(rfs: ReferenceFileSystem) -> None:
    """Update every array's ``_ARRAY_DIMENSIONS`` to what a translation of the file as edited
    would write (scales made, attached, detached; datasets added, removed, resized), if ``rfs``
    was edited since they were last current. Dimension names depend on the whole file (netCDF's
    phony dimensions are numbered across it), so they are computed again before the file is
    written, rather than patched edit by edit."""
    from lindi_core.translate.dimension_names import add_array_dimensions

    if _NAMES_CURRENT_AT.get(rfs) == rfs.changes:
        return
    add_array_dimensions(rfs)
    _NAMES_CURRENT_AT[rfs] = rfs.changes


def _same(ref: h5py.Reference, dataset: LindiH5pyDataset) -> bool:
    return bool(ref) and dataset.file[ref].name == dataset.name


def _reference_rows(scale: LindiH5pyDataset) -> list[tuple]:
    rows = scale.attrs.get("REFERENCE_LIST")
    return [] if rows is None else [(row["dataset"], int(row["dimension"])) for row in rows]


def _set_reference_rows(scale: LindiH5pyDataset, rows: list[tuple]) -> None:
    _set_raw(scale, "REFERENCE_LIST", [[ref.to_json(), dim] for ref, dim in rows], REFERENCE_LIST_DESCRIPTION)


def _set_raw(dataset: LindiH5pyDataset, name: str, value: Any, description: Any) -> None:
    """Set an attribute from its JSON value and type description: the reference-holding types
    here have no scratch-file route through h5py (their references point into this file)."""
    dataset.handle.require_writable("write attribute")
    dataset.handle.set_attribute(dataset.id.zpath, name, value, description)
