"""Datasets translated without readable values: one object never stops a whole file.

h5py opens a file holding a dataset it cannot read (a filter missing on this machine, a type
NumPy lacks) and raises only when that dataset is read. A translation does the same: such a
dataset keeps its shape, chunk shape, type description, attributes and chunk references, and an
``_UNREADABLE`` annotation with the reason (spec §8); its ``.zarray`` has an opaque type of the
stored element size and the ``lindi_core.unreadable`` codec, so every reader refuses its chunks
rather than return bytes as values.

Code translating one dataset raises :class:`Unrepresentable` (before storing any of its chunks)
when the dataset has no form in a reference file; :func:`translate_dataset` then records it
here. A genuinely corrupt file still fails the translation, naming the object.
"""

from __future__ import annotations

import math

import h5py

from lindi_core.codecs.hdf5_filters import filter_label
from lindi_core.codecs.unreadable import UnreadableChunks
from lindi_core.format import annotations as ann
from lindi_core.format import dtype_descriptions
from lindi_core.format.array_metadata import zarray_metadata
from lindi_core.format.refs import ReferenceFileSystem
from lindi_core.translate import chunks as chunking
from lindi_core.translate.filters import HDF5Filter, missing_filters, pipeline_of


class Unrepresentable(Exception):  # noqa: N818  (a signal inside translation, never seen outside)
    """Raised while translating one dataset that a reference file cannot give the values of; the
    message is the reason a reader sees when it reads the dataset."""


def missing_filter_reason(missing: list[HDF5Filter], used_by: str = "") -> str:
    labels = ", ".join(filter_label(f.filter_id, f.name) for f in missing)
    return (f"HDF5 filter {labels}{used_by} is not available where the file was translated (neither a codec, "
            f"hdf5plugin nor libhdf5's plugin path provided it), and the values had to be read to be translated")


def virtual_source_reason(dset: h5py.Dataset, error: OSError) -> str:
    """Why libhdf5 could not read a virtual dataset's values: the missing filters of its source
    datasets in the same file when that is the cause, else libhdf5's own words."""
    dcpl = dset.id.get_create_plist()
    missing: list[HDF5Filter] = []
    for index in range(dcpl.get_virtual_count()):
        if dcpl.get_virtual_filename(index) != ".":
            continue
        try:
            source = dset.file[dcpl.get_virtual_dsetname(index)]
        except (KeyError, OSError, ValueError):
            continue
        if isinstance(source, h5py.Dataset):
            missing += [f for f in missing_filters(pipeline_of(source.id.get_create_plist())) if f not in missing]
    if missing:
        return missing_filter_reason(missing, " (of a source dataset of this virtual dataset)")
    return f"libhdf5 could not read the source datasets of this virtual dataset: {error}"


def record_unreadable(rfs: ReferenceFileSystem, key: str, url: str, dset: h5py.Dataset, zattrs: dict,
                      reason: str, contiguous_chunk_target: int) -> dict:
    """Record ``dset`` as unreadable at ``key``: annotations into ``zattrs``, its chunk
    references into ``rfs`` (contiguous data cut into virtual chunks of about
    ``contiguous_chunk_target`` bytes); returns its ``.zarray``."""
    _forget_chunks(rfs, key)
    try:
        zattrs[ann.HDF5_DTYPE] = dtype_descriptions.describe(dset.dtype)
    except (TypeError, ValueError):
        pass  # a type h5py or a description lacks: the reason says which
    pipeline = dset.id.get_create_plist()
    filters = [list(pipeline.get_filter(i)[:3]) for i in range(pipeline.get_nfilters())]
    if filters:
        zattrs[ann.HDF5_FILTERS] = [[int(i), int(flags), [int(v) for v in values]] for i, flags, values in filters]
    zattrs[ann.UNREADABLE] = {"reason": reason}
    itemsize, exact = _stored_itemsize(dset)
    if dset.shape is None:
        zattrs[ann.NULL_DATASPACE] = True
        shape: list[int] = [0]
    elif dset.shape == ():
        zattrs[ann.SCALAR] = True
        shape = [1]
    else:
        shape = list(dset.shape)
        if dset.maxshape is not None and tuple(dset.maxshape) != tuple(dset.shape):
            zattrs[ann.HDF5_MAXSHAPE] = list(dset.maxshape)
    layout = pipeline.get_layout()
    if layout == h5py.h5d.CHUNKED:
        chunk_shape = tuple(dset.chunks)
        if math.prod(shape):
            chunking.chunked_refs(rfs, key, url, dset.id, tuple(shape), chunk_shape)
    else:
        zattrs[ann.HDF5_CHUNKS] = None
        chunk_shape = chunking.virtual_chunk_shape(tuple(shape), itemsize, contiguous_chunk_target) or (1,)
        offset = dset.id.get_offset() if layout == h5py.h5d.CONTIGUOUS else None
        if offset is not None and exact and math.prod(shape) and pipeline.get_external_count() == 0:
            chunking.contiguous_refs(rfs, key, url, offset, dset.id.get_storage_size(), tuple(shape),
                                     chunk_shape, itemsize)
    return zarray_metadata(shape, list(chunk_shape), f"|V{itemsize}", None, [UnreadableChunks(reason).get_config()])


def _stored_itemsize(dset: h5py.Dataset) -> tuple[int, bool]:
    """(bytes an element takes in the file, whether that is exact). libhdf5 gives a
    variable-length type's size in memory; in the file each element is a record of a length, a
    heap address and an index. For a type holding such records among other members the size is
    libhdf5's, and not exact."""
    tid = dset.id.get_type()
    variable = tid.get_class() == h5py.h5t.VLEN or (tid.get_class() == h5py.h5t.STRING and tid.is_variable_str())
    if variable:
        address_size, _ = dset.file.id.get_create_plist().get_sizes()
        return 4 + address_size + 4, True
    try:
        holds_objects = dset.dtype.hasobject
    except (TypeError, ValueError):
        holds_objects = True
    return tid.get_size(), not holds_objects


def _forget_chunks(rfs: ReferenceFileSystem, key: str) -> None:
    """Drop what a failed attempt at the dataset may have stored of its chunks."""
    rfs.tables.pop(key, None)
    prefix = key + "/" if key else ""
    for name in [k for k in rfs.inline if k.startswith(prefix) and "/" not in k[len(prefix):]]:
        del rfs.inline[name]
