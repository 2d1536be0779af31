"""The low-level surface of a dataset's ``id`` that h5py's own high-level code uses.

Wrappers subclass ``h5py.Dataset`` and hand attribute lookups to the dataset they wrap (hdmf's
``StrDataset``, which pynwb puts around UTF-8 string datasets). Their inherited ``__array__``
and ``read_direct`` then run h5py's code, which asks the ``id`` for the dataspace and reads with
``id.read(mspace, fspace, arr)``. This id answers those calls from the facade: the file-space
selection is turned back into an index, read through the dataset, and placed at the memory-space
selection of ``arr``.
"""

from __future__ import annotations

import functools
import gc
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from lindi_core.facade.base import LindiObjectID

if TYPE_CHECKING:
    from lindi_core.facade.dataset import LindiH5pyDataset
    from lindi_core.facade.lowlevel import FileHandle


def _under_h5pys_lock(method):
    """For the calls h5py's own code makes while it holds its global lock: the garbage collector
    stays off meanwhile. These calls wait on zarr's event-loop thread; a collection there could
    run the finaliser of an h5py object (hdmf's IO objects close files in ``__del__``), which
    needs the lock this thread holds: a deadlock."""
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()
    return call


class LindiDatasetID(LindiObjectID):
    """A dataset's id: hashable like every object id, plus the calls h5py's code makes on it."""

    __slots__ = ("_dataset",)

    def __init__(self, handle: FileHandle, zpath: str, dataset: LindiH5pyDataset):
        super().__init__(handle, zpath)
        self._dataset = dataset

    @property
    def shape(self) -> tuple[int, ...] | None:
        return self._dataset.shape

    @property
    def dtype(self) -> np.dtype:
        return self._dataset.dtype

    @property
    def rank(self) -> int:
        return self._dataset.ndim

    def get_type(self) -> h5py.h5t.TypeID:
        """The dataset's HDF5 datatype, as libhdf5 builds it from the dtype (a real ``TypeID``:
        its class, size and equality with other types are libhdf5's answers)."""
        return h5py.h5t.py_create(self._dataset.dtype, logical=True)

    def get_space(self) -> h5py.h5s.SpaceID:
        """The dataset's dataspace, everything selected (a real libhdf5 dataspace)."""
        shape = self._dataset.shape
        if shape is None:
            return h5py.h5s.create(h5py.h5s.NULL)
        if shape == ():
            return h5py.h5s.create(h5py.h5s.SCALAR)
        return h5py.h5s.create_simple(shape)

    @_under_h5pys_lock
    def read(self, mspace: h5py.h5s.SpaceID, fspace: h5py.h5s.SpaceID, arr: np.ndarray, mtype: Any = None,
             dxpl: Any = None) -> None:
        """Read the elements ``fspace`` selects into the elements of ``arr`` that ``mspace``
        selects, in the order libhdf5 pairs them (row-major order of each selection)."""
        dataset = self._dataset
        index, by_slices = _index_of(fspace, dataset.shape or ())
        # Slices go through the dataset (only the chunks they touch); other selections pick
        # from the whole dataset (h5py reaches this way for them only through read_direct).
        values = np.asarray(dataset[index] if by_slices else np.asarray(dataset[()])[index])
        target, _ = _index_of(mspace, arr.shape)
        selected = arr[target]
        if values.size != selected.size:
            raise TypeError(f"the memory selection holds {selected.size} elements, the file selection {values.size}")
        arr[target] = values.reshape(selected.shape)


    @_under_h5pys_lock
    def write(self, mspace: h5py.h5s.SpaceID, fspace: h5py.h5s.SpaceID, arr: np.ndarray, mtype: Any = None,
              dxpl: Any = None) -> None:
        """Write the elements of ``arr`` that ``mspace`` selects to the elements ``fspace``
        selects (h5py's ``Dataset.__setitem__`` and ``write_direct`` on a wrapper)."""
        dataset = self._dataset
        shape = dataset.shape or ()
        source, _ = _index_of(mspace, np.shape(arr))
        values = np.asarray(arr)[source]
        index, by_slices = _index_of(fspace, shape)
        if by_slices:
            selected = shape if index is ... else tuple(len(range(*axis.indices(n))) for axis, n in zip(index, shape))
            dataset[index] = np.reshape(values, selected)
            return
        whole = np.array(dataset[()], copy=True)  # points or several blocks: through the whole dataset
        whole[index] = np.reshape(values, whole[index].shape)
        dataset[...] = whole

    @_under_h5pys_lock
    def set_extent(self, shape: tuple[int, ...]) -> None:
        """Change the dataset's shape (h5py's ``Dataset.resize`` on a wrapper)."""
        self._dataset.resize(tuple(int(n) for n in shape))

    @_under_h5pys_lock
    def extend(self, shape: tuple[int, ...]) -> None:
        """Grow the dataset to at least ``shape``, never shrinking it (libhdf5's H5Dextend;
        hdmf writes data-chunk iterators through it)."""
        current = self._dataset.shape or ()
        grown = tuple(max(int(n), c) for n, c in zip(shape, current))
        if grown != tuple(current):
            self._dataset.resize(grown)

    def get_storage_size(self) -> int:
        """Bytes stored for the dataset's chunks (what HDF5 reports as its storage size)."""
        return self.handle.stored_bytes(self.zpath)


def _index_of(space: h5py.h5s.SpaceID, shape: tuple[int, ...]) -> tuple[Any, bool]:
    """(A NumPy index that selects what ``space`` selects in an array of ``shape``, whether it
    is made of slices): slices for everything or a regular hyperslab, coordinate arrays for
    points (in the order listed, as libhdf5 reads them), a boolean mask otherwise."""
    kind = space.get_select_type()
    if kind == h5py.h5s.SEL_ALL or shape == ():
        return ..., True
    if kind == h5py.h5s.SEL_HYPERSLABS and space.is_regular_hyperslab():
        start, stride, count, block = space.get_regular_hyperslab()
        if all(b == 1 or s == b for s, b in zip(stride, block)):
            return tuple(slice(o, o + c * s, s) if b == 1 else slice(o, o + c * b)
                         for o, s, c, b in zip(start, stride, count, block)), True
    if kind == h5py.h5s.SEL_POINTS:
        points = np.asarray(space.get_select_elem_pointlist()).reshape(-1, len(shape))
        return tuple(points.T), False
    mask = np.zeros(shape, dtype=bool)
    if kind == h5py.h5s.SEL_HYPERSLABS:
        for low, high in space.get_select_hyper_blocklist():
            mask[tuple(slice(lo, hi + 1) for lo, hi in zip(low, high))] = True
    return mask, False
