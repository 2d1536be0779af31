"""Creating datasets in a translated file (h5py's ``create_dataset``), and re-encoding the
datasets whose values live in the reference file itself.

Types, shapes, chunks and filters follow h5py's rules: where a dataset's HDF5 filter pipeline
is not obvious, h5py itself decides it on a scratch dataset (:mod:`scratch`). Values Zarr can
hold are written through zarr-python 3 into the writable store, which keeps small chunks inline
and hands large ones to the staging area. References, ragged arrays and compounds holding them
are encoded in the reference file as a few JSON or vlen chunks, rewritten whole on each write
(:func:`rewrite_encoded`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import h5py
import imagecodecs.numcodecs
import numcodecs
import numpy as np
import zarr

from lindi_core.facade import scratch
from lindi_core.facade.dtypes import converted_for_write
from lindi_core.facade.hierarchy import DATASET
from lindi_core.facade.references import _JsonReferences, reference_from_json
from lindi_core.facade.values import stored_as_bytes
from lindi_core.format import annotations as ann
from lindi_core.format import dtype_descriptions, families
from lindi_core.format.array_metadata import zarr_dtype, zarray_metadata
from lindi_core.format.attribute_json import to_json
from lindi_core.format.encoded_families import JSON_CODEC_CONFIG, compound_annotation, ragged_codec
from lindi_core.format.keys import join_key
from lindi_core.format.references_json import holds_references
from lindi_core.translate.chunks import virtual_chunk_shape
from lindi_core.translate.datasets import inline_array
from lindi_core.translate.filters import pipeline_of

if TYPE_CHECKING:
    from lindi_core.facade.lowlevel import FileHandle


_COMPRESSORS = {
    "gzip": lambda opts: numcodecs.Zlib(level=4 if opts is None else int(opts)),
    "zlib": lambda opts: numcodecs.Zlib(level=4 if opts is None else int(opts)),
    "zstd": lambda opts: numcodecs.Zstd(level=3 if opts is None else int(opts)),
    "blosc": lambda opts: numcodecs.Blosc(**(opts or {})),
    "lz4": lambda opts: numcodecs.LZ4(),
    "bz2": lambda opts: numcodecs.BZ2(level=9 if opts is None else int(opts)),
    "lzf": lambda opts: _lzf(opts),
}


def _lzf(opts: Any) -> numcodecs.abc.Codec:
    if opts is not None:
        raise ValueError("LZF compression filter accepts no options")  # h5py's message
    return imagecodecs.numcodecs.Lzf()


def _codecs(dtype: np.dtype, compression: Any, compression_opts: Any, shuffle: Any, fletcher32: Any) -> list:
    filters = []
    if shuffle:
        filters.append(numcodecs.Shuffle(elementsize=dtype.itemsize))
    if compression is not None:
        if isinstance(compression, numcodecs.abc.Codec):
            filters.append(compression)
        elif isinstance(compression, int) and compression in range(10):
            filters.append(numcodecs.Zlib(level=compression))
        elif str(compression) in _COMPRESSORS:
            if str(compression) == "gzip" and compression_opts is not None and compression_opts not in range(10):
                raise ValueError(f"GZIP setting must be an integer from 0-9, not {compression_opts!r}")
            filters.append(_COMPRESSORS[str(compression)](compression_opts))
        else:
            raise ValueError(f'Compression filter "{compression}" is unavailable')
    if fletcher32:
        filters.append(numcodecs.Fletcher32())
    return filters


def _hdf5_pipeline(dtype: np.dtype, chunks: tuple[int, ...], compression: Any, compression_opts: Any,
                   shuffle: Any, fletcher32: Any) -> list[list]:
    """The HDF5 filter pipeline h5py would give a dataset created with these options.

    Values that are stored re-encoded (strings, references) keep no Zarr codec that could say
    so; h5py itself, on a scratch dataset, decides the filters and their parameters."""
    if isinstance(compression, numcodecs.abc.Codec) or not (compression is not None or shuffle or fletcher32):
        return []
    with scratch.LOCK:
        name = scratch.fresh_name("pipeline-")
        h5 = scratch.scratch_file()
        try:
            dataset = h5.create_dataset(name, shape=chunks, dtype=dtype, chunks=chunks, compression=compression,
                                             compression_opts=compression_opts, shuffle=shuffle,
                                             fletcher32=fletcher32)
            return [f.as_list() for f in pipeline_of(dataset.id.get_create_plist())]
        finally:
            if name in h5:
                del h5[name]


def guess_dtype(data: Any) -> np.dtype:
    """The dtype h5py would store ``data`` with."""
    if isinstance(data, bytes):
        return h5py.string_dtype("ascii")  # h5py stores bytes as variable-length ASCII
    if isinstance(data, str) or (isinstance(data, np.ndarray) and data.dtype.kind == "U"):
        return h5py.string_dtype("utf-8")
    if not isinstance(data, np.ndarray) and isinstance(data, (list, tuple)):
        flat = np.asarray(data, dtype=object).reshape(-1)
        if flat.size and all(isinstance(v, bytes) for v in flat):
            return h5py.string_dtype("ascii")  # a list of bytes too (an array of them stays |S<n>)
    array = np.asarray(data)
    if array.dtype.kind == "O":
        first = array.reshape(-1)[0] if array.size else None
        if isinstance(first, bytes):
            return h5py.string_dtype("ascii") if all(isinstance(v, bytes) for v in array.reshape(-1)) \
                else h5py.string_dtype("utf-8")
        if isinstance(first, str):
            return h5py.string_dtype("utf-8")
        if isinstance(first, h5py.Reference):
            return h5py.regionref_dtype if isinstance(first, h5py.RegionReference) else h5py.ref_dtype
    if array.dtype.kind == "U":
        return h5py.string_dtype("utf-8")
    return array.dtype


def create_dataset(handle: FileHandle, zpath: str, shape: Any = None, dtype: Any = None, data: Any = None,
                   chunks: Any = None, maxshape: Any = None, fillvalue: Any = None, compression: Any = None,
                   compression_opts: Any = None, shuffle: Any = None, fletcher32: Any = None,
                   extra_attrs: dict | None = None) -> None:
    leaf = handle.leaf_above(zpath)
    if leaf is not None:  # h5py's error
        raise TypeError(f"Incompatible object ({'Dataset' if leaf == DATASET else 'Datatype'}) already exists")
    if handle.kind(zpath) is not None:
        raise ValueError("Unable to synchronously create dataset (name already exists)")
    if isinstance(data, h5py.Dataset):
        data = data[()]
    if data is not None and not isinstance(data, np.ndarray):
        data = np.asarray(data, dtype=object) if holds_references(data) else data
    dtype = np.dtype(dtype) if dtype is not None else (guess_dtype(data) if data is not None else np.dtype("f4"))
    element, sub = families.split_array_type(dtype)
    if sub:
        _check_array_type_creation(element, shape, data, fillvalue)
    if data is not None:
        data = _as_storable(data, dtype)
        if shape is not None and tuple(np.atleast_1d(shape)) != data.shape and math.prod(np.atleast_1d(shape)) == data.size:
            data = data.reshape(shape)
        shape = data.shape
    if shape is None:
        raise TypeError("One of data, shape or dtype must be specified")
    shape = (shape,) if isinstance(shape, int) else tuple(int(n) for n in shape)
    if maxshape is not None:
        maxshape = tuple(None if m is None else int(m) for m in (maxshape if isinstance(maxshape, tuple) else (maxshape,)))
        if len(maxshape) != len(shape) or any(m is not None and m < n for m, n in zip(maxshape, shape)):
            raise ValueError("Maximum shape must be at least the current shape in every dimension")
    filters = _codecs(dtype, compression, compression_opts, shuffle, fletcher32)
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        chunks = (int(chunks),)
    if isinstance(chunks, (tuple, list)):
        chunks = tuple(int(c) for c in chunks)
        if len(chunks) != len(shape):
            raise ValueError("Chunk shape must not be greater than data shape in any dimension. "
                             f"{chunks} is not compatible with {shape}")
        if any(c < 1 for c in chunks):
            raise ValueError("All chunk dimensions must be positive")
    chunked = chunks not in (None, False) or bool(filters) or maxshape is not None  # as h5py lays them out
    if chunks is True or (chunked and chunks in (None, False)):
        chunks = h5py.filters.guess_chunk(shape, maxshape, dtype.itemsize) if shape and all(shape) else \
            tuple(max(1, n) for n in shape)
    zattrs: dict[str, Any] = dict(extra_attrs or {})
    scalar = shape == ()
    if scalar:
        zattrs[ann.SCALAR] = True
        zshape, zchunks = [1], [1]
    elif chunked:
        zshape, zchunks = list(shape), [int(c) for c in chunks]
    else:
        zattrs[ann.HDF5_CHUNKS] = None
        zshape = list(shape)
        zchunks = list(virtual_chunk_shape(shape, dtype.itemsize, 16 << 20)) if all(shape) else [max(1, n) for n in shape]
    zshape, zchunks = zshape + list(sub), zchunks + list(sub)  # an array type's axes last (spec section 4)
    if maxshape is not None and maxshape != shape:
        zattrs[ann.HDF5_MAXSHAPE] = list(maxshape)
    family = families.classify(element)
    description = dtype_descriptions.describe(dtype)
    if not isinstance(description, str) or family not in families.IN_PLACE:
        zattrs[ann.HDF5_DTYPE] = description
    if family not in families.IN_PLACE and chunked and not scalar:
        pipeline = _hdf5_pipeline(dtype, tuple(zchunks), compression, compression_opts, shuffle, fletcher32)
        if pipeline:
            zattrs[ann.HDF5_FILTERS] = pipeline
    try:
        _create_array(handle, zpath, family, element, zshape, zchunks, zattrs, filters, fillvalue, data)
    except BaseException:
        handle.remove_keys(zpath)  # nothing of a dataset that could not be made is left behind
        raise
    handle.hierarchy.add(zpath, "dataset")


def _check_array_type_creation(element: np.dtype, shape: Any, data: Any, fillvalue: Any) -> None:
    """What h5py refuses when creating a dataset of an HDF5 array type (it writes no data nor
    fill value of such a type at creation), and element types kept only in place."""
    if data is not None:
        if shape is not None:
            raise ValueError("Shape tuple is incompatible with data")
        raise OSError("Can't synchronously write data (no appropriate function for conversion path)")
    if fillvalue is not None:
        raise ValueError("Unable to synchronously create dataset (no appropriate function for conversion path)")
    if families.classify(element) not in families.IN_PLACE:
        raise TypeError(f"datasets of an array type of {element} are not supported (only numbers, fixed-length "
                        "strings, packed compounds and opaque types)")


def _create_array(handle: FileHandle, key: str, family: Any, dtype: np.dtype, zshape: list, zchunks: list,
                  zattrs: dict, filters: list, fillvalue: Any, data: np.ndarray | None) -> None:
    store = handle.store
    if family in families.IN_PLACE:
        storage = np.dtype(dtype.str) if dtype.fields is None else dtype
        stored = zarr_dtype(families.zarr_dtype_json(dtype))
        if stored_as_bytes(stored, dtype):  # Zarr has no type for it (long doubles): its bytes
            storage = stored
            fillvalue = None if fillvalue is None else np.asarray(fillvalue, dtype=dtype).reshape(()).view(storage)
            data = None if data is None else np.ascontiguousarray(data, dtype=dtype).view(storage)
        fill = np.zeros((), storage)[()] if fillvalue is None else \
            np.asarray(converted_for_write(np.asarray(fillvalue), storage), dtype=storage)[()]
        array = zarr.create_array(store, name=key, shape=zshape, chunks=zchunks, dtype=storage, fill_value=fill,
                                  filters=filters or None, compressors=None, zarr_format=2, overwrite=False,
                                  attributes=zattrs or None)
        if data is not None and data.size:
            array[...] = data.reshape(zshape)
    elif family is families.Family.VLEN_STRING:
        fill = None if fillvalue is None else (fillvalue.decode("utf-8") if isinstance(fillvalue, bytes)
                                               else str(fillvalue))
        array = zarr.create_array(store, name=key, shape=zshape, chunks=zchunks, dtype=str, zarr_format=2,
                                  compressors=None, overwrite=False, attributes=zattrs, fill_value=fill)
        if data is not None and data.size:
            array[...] = _as_text(data).reshape(zshape)
    else:  # references, ragged arrays, compounds holding them: encoded in the reference file
        values = np.empty(zshape, dtype=object) if data is None else data.reshape(zshape)
        _write_encoded(handle, key, values, dtype, family, zchunks, zattrs)


def rewrite_encoded(handle: FileHandle, zpath: str, values: np.ndarray, dtype: np.dtype) -> None:
    """Store ``values`` (h5py's form, the dataset's whole new shape) as the dataset at ``zpath``
    of a family encoded in the reference file (references, ragged arrays, compounds holding
    them). Such datasets live inline in the reference file as a few JSON or vlen chunks, so a
    write re-encodes the dataset, keeping its chunk shape, attributes and annotations."""
    rfs = handle.rfs
    zarray = rfs.metadata[join_key(zpath, ".zarray")]
    zattrs = dict(rfs.metadata.get(join_key(zpath, ".zattrs")) or {})
    scalar = zattrs.get(ann.SCALAR) is True
    zshape = [1] if scalar else list(values.shape)
    for key in handle.subtree_keys(zpath):
        if not key.rsplit("/", 1)[-1].startswith("."):
            rfs.delete(key)
    _write_encoded(handle, zpath, values.reshape(zshape), dtype, _stored_family(dtype), list(zarray["chunks"]), zattrs)


def _stored_family(dtype: np.dtype) -> Any:
    """The family of a dataset encoded in the reference file: a flat compound stored there (the
    translator keeps small ones as LINDI 0.4's JSON rows) is a compound of rows."""
    family = families.classify(dtype)
    return families.Family.COMPOUND_JSON if family is families.Family.COMPOUND else family


def empty_encoded(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Values of a new encoded-family dataset before anything is written: null references,
    empty ragged rows, compound rows of zeros and null references (what libhdf5 reads back)."""
    family = _stored_family(dtype)
    if family is families.Family.COMPOUND_JSON:
        values = np.zeros(shape, dtype=dtype)
        for name in dtype.names:
            field = dtype.fields[name][0]
            if field.kind == "O":
                column = values[name]
                for index in np.ndindex(*shape):
                    column[index] = empty_encoded((), field)[()] if families.classify(field) is not \
                        families.Family.VLEN_STRING else b""
        return values
    if family is families.Family.REFERENCE:
        values = np.empty(shape, dtype=object)
        values[...] = reference_from_json(None, region=h5py.check_ref_dtype(dtype) is h5py.RegionReference)
        return values
    values = np.empty(shape, dtype=object)
    if family is families.Family.RAGGED:
        base = np.dtype(h5py.check_vlen_dtype(dtype))
        for index in np.ndindex(*shape):
            values[index] = np.zeros(0, dtype=base)
    return values


def _as_storable(data: Any, dtype: np.dtype) -> np.ndarray:
    if h5py.check_ref_dtype(dtype) is not None or (h5py.check_string_dtype(dtype) is not None and dtype.kind == "O"):
        return np.asarray(data, dtype=object)
    if h5py.check_vlen_dtype(dtype) is not None:
        array = np.empty(len(data), dtype=object)
        for i, v in enumerate(data):
            array[i] = np.asarray(v, dtype=h5py.check_vlen_dtype(dtype))
        return array
    if isinstance(data, np.ndarray):  # converted as libhdf5 converts it (a list is cast by NumPy, as h5py does)
        data = converted_for_write(data, dtype)
    return np.asarray(data, dtype=dtype)


def _as_text(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape, dtype=object)
    for i, v in enumerate(values.reshape(-1)):
        out.reshape(-1)[i] = v.decode("utf-8") if isinstance(v, bytes) else str(v)
    return out


def _write_encoded(handle: FileHandle, key: str, values: np.ndarray, dtype: np.dtype, family: Any,
                   chunks: list[int], zattrs: dict) -> None:
    rfs = handle.rfs
    if family is families.Family.RAGGED:
        base = np.dtype(h5py.check_vlen_dtype(dtype))
        codec = ragged_codec(base)
        filled = np.empty(values.shape, dtype=object)
        for index in np.ndindex(*values.shape):
            v = values[index]
            filled[index] = np.asarray([] if v is None else v, dtype=base)
        inline_array(rfs, key, filled, tuple(chunks), codec.encode, encoded=True, pad=None)
        config = codec.get_config()
    else:
        refs = _JsonReferences()
        encoded = np.empty(values.shape, dtype=object)
        for index in np.ndindex(*values.shape):
            v = values[index]
            encoded[index] = None if v is None else (refs.encode(v) if family is families.Family.REFERENCE else
                                                     to_json(np.asarray(v, dtype=dtype), refs))
        inline_array(rfs, key, encoded, tuple(chunks), numcodecs.JSON().encode, encoded=True, pad=None)
        config = JSON_CODEC_CONFIG
        if family is families.Family.COMPOUND_JSON:
            zattrs[ann.COMPOUND_DTYPE] = compound_annotation(dtype)
    rfs.set_metadata(join_key(key, ".zarray"), zarray_metadata(list(values.shape), chunks, "|O", None, [config]))
    rfs.set_metadata(join_key(key, ".zattrs"), zattrs)
