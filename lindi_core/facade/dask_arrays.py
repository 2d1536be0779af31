"""Datasets as dask arrays whose blocks are whole chunks of the dataset.

A dask task reading part of a chunk would fetch and decode the whole chunk anyway, and two
tasks sharing a chunk would each fetch it: so every block of the array built here is a run of
whole chunks (the Zarr array's chunks, which for contiguous HDF5 data are the virtual chunks
the translation cut it into). Blocks hold what h5py's read of the same selection returns: an
HDF5 array type's element axes become trailing axes (one block each), strings, references and
variable-length values are object arrays, a scalar dataset is a 0-d array.

The file appears once in the graph, as its own key (``lindi-file-<token>``, the same for every
dataset of one open file at one edit count); each dataset is a small key depending on it, and
each block depends on its dataset's key. distributed sends a task's arguments with the task, but
a key's value travels as data: so the reference file system is pickled once per worker that
needs it (and sent to the scheduler once per graph), however many blocks and datasets a graph
reads, where a dataset held in each task (or in each dataset's key) would carry a whole copy.
"""

from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np

from lindi_core.io import sync_bridge

if TYPE_CHECKING:
    import dask.array

    from lindi_core.facade.dataset import LindiH5pyDataset
    from lindi_core.facade.files import LindiH5pyFile


class DatasetBlocks:
    """What dask slices: the dataset with the shape and type of its values as h5py reads them
    (an array type's element axes appended), each slice read through the facade."""

    def __init__(self, dataset: LindiH5pyDataset, element_shape: tuple[int, ...]):
        self.dataset = dataset
        self.dataset_ndim = len(dataset.shape)
        self.shape = tuple(dataset.shape) + tuple(element_shape)
        self.dtype = dataset.dtype.base if element_shape else dataset.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, slices: tuple[slice, ...]) -> np.ndarray:
        # The element axes are always whole (one block each): only the dataset's are selected.
        values = np.asarray(self.dataset[tuple(slices[: self.dataset_ndim])])
        sources = self.dataset.handle.store.sources
        if sources.cache is not None:
            # A task ends with what it read in the local cache, which the workers share through
            # its folder: later tasks on any worker find it there, and a worker stopped between
            # tasks loses nothing it fetched.
            sync_bridge.run_sync(sources.flush())
        return values


def aligned_chunks(native: tuple[int, ...], shape: tuple[int, ...], requested: Any,
                   dtype: np.dtype) -> tuple[tuple[int, ...], ...]:
    """Dask's chunks for an array of ``shape`` stored in chunks of ``native``: ``native``
    itself when nothing is requested, else what dask makes of ``requested`` (ints, -1/None for
    a whole axis, ``"auto"``, a size like ``"64 MiB"``, explicit block sizes) with every block
    boundary moved to the nearest chunk boundary, blocks of at least one chunk."""
    from dask.array.core import normalize_chunks

    if requested is None:
        requested = native
    wanted = normalize_chunks(requested, shape, dtype=dtype, previous_chunks=native)
    out = []
    for extent, chunk, blocks in zip(shape, native, wanted):
        if extent == 0:
            out.append((0,))
            continue
        edges = np.cumsum(blocks)[:-1]
        rounded = sorted({int(round(edge / chunk)) * chunk for edge in edges} - {0} | {extent})
        rounded = [edge for edge in rounded if edge <= extent]
        if rounded[-1] != extent:
            rounded.append(extent)
        out.append(tuple(np.diff([0, *rounded]).tolist()))
    return tuple(out)


def to_dask(dataset: LindiH5pyDataset, chunks: Any, element_shape: tuple[int, ...],
            native: tuple[int, ...]) -> dask.array.Array:
    """See :meth:`LindiH5pyDataset.to_dask`: ``element_shape`` is the shape of one element (an
    array type's, else ``()``), ``native`` the dataset's stored chunk shape (``()`` if scalar)."""
    import dask.array
    from dask.base import tokenize

    blocks = DatasetBlocks(dataset, element_shape)
    native = tuple(native)
    if isinstance(chunks, dict):
        chunks = {axis: size for axis, size in chunks.items() if axis < blocks.dataset_ndim}
    if isinstance(chunks, (tuple, list)) and len(chunks) == blocks.dataset_ndim:
        chunks = tuple(chunks) + tuple(element_shape)
    elif isinstance(chunks, int) or chunks is None or isinstance(chunks, str):
        chunks = None if chunks is None else (chunks,) * blocks.dataset_ndim + tuple(element_shape)
    dask_chunks = aligned_chunks(native + tuple(element_shape), blocks.shape, chunks, blocks.dtype)
    name = f"lindi-{dataset.name.rsplit('/', 1)[-1]}-" + tokenize(_file_token(dataset), dataset.id.zpath, dask_chunks)
    meta = np.empty((0,) * blocks.ndim, dtype=blocks.dtype)
    return dask.array.Array(_graph(dataset, name, dask_chunks, tuple(element_shape)), name, dask_chunks, meta=meta)


def _graph(dataset: LindiH5pyDataset, name: str, chunks: tuple[tuple[int, ...], ...],
           element_shape: tuple[int, ...]) -> Any:
    """The blocks of array ``name``, each ``(name, i, j...)`` reading its slice from the dataset's
    key, which builds the dataset from the file's key (module docstring)."""
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    zpath = dataset.id.zpath
    file_key = "lindi-file-" + tokenize(_file_token(dataset))
    dataset_key = "lindi-dataset-" + tokenize(_file_token(dataset), zpath, dataset.name)
    graph: dict[Any, Any] = {file_key: dataset.handle.file,
                             dataset_key: (_dataset_blocks, file_key, zpath, dataset.name, element_shape)}
    axes = [[(i, slice(start, start + size)) for i, (start, size) in enumerate(zip(np.cumsum((0, *c)).tolist(), c))]
            for c in chunks]
    for block in product(*axes):
        graph[(name, *(i for i, _ in block))] = (_read_block, dataset_key, tuple(sl for _, sl in block))
    return HighLevelGraph.from_collections(name, graph, dependencies=())


def _dataset_blocks(file: LindiH5pyFile, zpath: str, name: str, element_shape: tuple[int, ...]) -> DatasetBlocks:
    return DatasetBlocks(file.handle.object_at(zpath, name), element_shape)


def _read_block(blocks: DatasetBlocks, slices: tuple[slice, ...]) -> np.ndarray:
    return blocks[slices]


def _file_token(dataset: LindiH5pyDataset) -> tuple[str, int]:
    """What identifies the values of the file's datasets: an identity drawn once per open file
    (its pickled copies read the same references), and the count of its edits (a file open
    for writing may change them)."""
    return dataset.handle.identity, dataset.handle.rfs.changes
