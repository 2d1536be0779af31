"""One HDF5 dataset -> its ``.zarray``, ``.zattrs`` and chunk references or inline chunks.

Dispatch is by type family (see :mod:`lindi_core.format.families`):

* in-place families (numbers, fixed strings, packed compounds, opaque) keep their bytes where
  they are: chunks are referenced by layout (:mod:`lindi_core.translate.chunks`);
* encoded families (variable-length strings, ragged arrays, references, compounds holding
  those) are read through h5py and encoded inline with a numcodecs object codec, one Zarr
  chunk per HDF5 chunk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h5py
import numcodecs
import numpy as np
from zarr.core.dtype import get_data_type_from_native_dtype

from lindi_core.errors import AccessDeniedError, TranslationError
from lindi_core.format import annotations as ann
from lindi_core.format import dtype_descriptions, families
from lindi_core.format.array_metadata import zarr_dtype, zarray_metadata
from lindi_core.format.attribute_json import to_json
from lindi_core.format.encoded_families import JSON_CODEC_CONFIG, compound_annotation, ragged_codec
from lindi_core.format.keys import chunk_name, join_key
from lindi_core.format.refs import ReferenceFileSystem
from lindi_core.io.locations import is_url
from lindi_core.translate import chunks as chunking
from lindi_core.translate import hdf5_types, object_header
from lindi_core.translate.attributes import encode_attributes
from lindi_core.translate.filters import codecs_for_pipeline, missing_filters, pipeline_of
from lindi_core.translate.references import ReferenceEncoder
from lindi_core.translate.unreadable import (
    Unrepresentable,
    missing_filter_reason,
    record_unreadable,
    virtual_source_reason,
)
from lindi_core.translate.vlen_bounds import check_vlen_sizes

Family = families.Family


@dataclass
class DatasetContext:
    """What translating a dataset needs to know about the whole translation."""

    rfs: ReferenceFileSystem
    refs: ReferenceEncoder
    source: str
    ref_url: str
    options: chunking.ChunkOptions
    on_chunks: Callable[[int, int], None] | None = None  # (chunks, bytes) found by a chunk index walk
    # told the rank of a dataset whose chunk index libhdf5 walks next, then None (remote files
    # fetch the index's nodes ahead: RemoteFile.expect_chunk_index)
    on_chunk_index: Callable[[int | None], None] | None = None
    # read_raw(offset, length): bytes of the HDF5 file, read without libhdf5
    read_raw: Callable[[int, int], bytes] | None = None


def translate_dataset(ctx: DatasetContext, dset: h5py.Dataset, key: str) -> None:
    """Add the Zarr array for ``dset`` at ``key`` to the reference file system.

    A dataset a reference file cannot give the values of (its type has no Zarr form, or its
    values must be read through a filter missing here) is recorded without them, raising when
    read (:mod:`lindi_core.translate.unreadable`); a corrupt one fails the translation."""
    zattrs = encode_attributes(dset, ctx.refs, ctx.source, ctx.read_raw)
    try:
        try:
            dtype = dset.dtype
        except (TypeError, ValueError) as exc:  # h5py has no NumPy type for it: its exact type kept
            zattrs[ann.HDF5_DTYPE] = dtype_descriptions.exact_description(dset.id.get_type())
            raise Unrepresentable(f"h5py has no NumPy type for its HDF5 type ({exc})") from None
        converted = not hdf5_types.stored_as(dset.id.get_type(), dtype)
        if converted and math.prod(dset.shape or ()) * dtype.itemsize > ctx.options.max_inline_read:
            raise Unrepresentable(f"its values are stored as an HDF5 type that is not the bytes of {dtype} "
                                  f"({dtype_descriptions.exact_description(dset.id.get_type())}): libhdf5 converts them, "
                                  f"and they are larger than max_inline_read={ctx.options.max_inline_read}")
        element, _ = families.split_array_type(dtype)
        try:
            family = families.classify(element)
        except TypeError as exc:
            raise Unrepresentable(str(exc)) from None
        if element is not dset.dtype and family is Family.COMPOUND_JSON:
            raise Unrepresentable(f"datasets of HDF5 array type {dset.dtype} are not translated for elements of "
                                  "compounds with variable-length or reference members")
        if family is Family.COMPOUND_JSON and families.opaque_member_view(element) is not None:
            family = Family.COMPOUND  # array members: referenced in place as opaque bytes, unless small
        if family is Family.COMPOUND and element is dset.dtype and _as_rows(ctx, dset):
            family = Family.COMPOUND_JSON  # small: in LINDI 0.4's form, which it reads (see ChunkOptions)
        if family in families.IN_PLACE:
            zarray = _in_place(ctx, dset, key, zattrs, converted)
        else:
            try:
                zarray = _encoded(ctx, dset, key, family, zattrs)
            except UnicodeDecodeError:
                if family is not Family.COMPOUND_JSON or families.classify(element) is not Family.COMPOUND:
                    raise
                # rows hold text: a fixed-length string member that is not UTF-8 stays bytes in place
                zarray = _in_place(ctx, dset, key, zattrs, converted)
    except Unrepresentable as exc:
        zarray = record_unreadable(ctx.rfs, key, ctx.ref_url, dset, zattrs, str(exc),
                                   ctx.options.contiguous_chunk_target)
    except TranslationError as exc:
        raise exc.located(source=ctx.source, object_path=dset.name) from exc.__cause__
    except AccessDeniedError:
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, UnicodeDecodeError) as exc:
        raise TranslationError(f"dataset cannot be translated: {exc}", source=ctx.source,
                               object_path=dset.name) from exc
    ctx.rfs.set_metadata(join_key(key, ".zarray"), zarray)
    # The chunk table was filled before .zarray existed; set_metadata keeps it in place.
    if zattrs:
        ctx.rfs.set_metadata(join_key(key, ".zattrs"), zattrs)


def _as_rows(ctx: DatasetContext, dset: h5py.Dataset) -> bool:
    """Whether a flat compound dataset goes into the reference file as JSON rows: when it is
    small, and its fill value is zeros (rows have no fill value of their own)."""
    if math.prod(dset.shape or ()) * dset.dtype.itemsize > ctx.options.compound_rows_limit:
        return False
    if not families.json_exact(dset.dtype):  # long doubles, datetimes: JSON numbers would not hold them
        return False
    fill = _h5_fill_value(dset)
    return fill is None or not np.asarray(fill, dtype=dset.dtype).tobytes().strip(b"\0")


def _shape_annotations(dset: h5py.Dataset, zattrs: dict) -> tuple[list[int], bool]:
    """Zarr shape of a dataset plus the scalar / null-dataspace / maxshape annotations."""
    if dset.shape is None:
        zattrs[ann.NULL_DATASPACE] = True
        return [0], False
    if dset.shape == ():
        zattrs[ann.SCALAR] = True
        return [1], True
    if dset.maxshape is not None and tuple(dset.maxshape) != tuple(dset.shape):
        zattrs[ann.HDF5_MAXSHAPE] = list(dset.maxshape)
    return list(dset.shape), False


@functools.lru_cache(maxsize=256)
def _zarr_dtype(dtype: np.dtype) -> Any:
    # zarr's lookup tries every registered type in turn: a fifth of the time of translating a
    # metadata-heavy NWB file went there, for the few distinct types such a file holds.
    return get_data_type_from_native_dtype(dtype)


def _fill_value_json(dtype: np.dtype, fill: Any) -> Any:
    value = np.zeros((), dtype=dtype) if fill is None else np.asarray(fill, dtype=dtype)
    return _fill_value_json_of(dtype, families.defined_bytes(value))


@functools.lru_cache(maxsize=1024)
def _fill_value_json_of(dtype: np.dtype, raw: bytes) -> Any:
    # Per distinct (type, value): zarr checks the value against the type's protocols each time,
    # 4% of translating a metadata-heavy NWB file for the few fill values it holds.
    return _zarr_dtype(dtype).to_json_scalar(np.frombuffer(raw, dtype=dtype)[0], zarr_format=2)


def _in_place(ctx: DatasetContext, dset: h5py.Dataset, key: str, zattrs: dict, converted: bool = False) -> dict:
    """Numbers, fixed strings, packed compounds and opaque data, referenced where they are.

    A dataset of an HDF5 array type (h5py's subarray dtype ``(element, sub)``) becomes a Zarr
    array of its element type whose shape and chunks end with ``sub`` (one chunk along those
    axes): the bytes are the same, so they are referenced in place, and ``_HDF5_DTYPE`` tells
    readers which trailing axes belong to the type.

    ``converted``: the file's bytes are not those of h5py's dtype (libhdf5 converts them, see
    :mod:`lindi_core.translate.hdf5_types`), so the values are read and stored inline."""
    dtype = dset.dtype
    element, sub = families.split_array_type(dtype)
    description = dtype_descriptions.describe(dtype)
    if not isinstance(description, str):  # enums, UTF-8 fixed strings and array types
        zattrs[ann.HDF5_DTYPE] = description
    shape, scalar = _shape_annotations(dset, zattrs)
    zshape = shape + list(sub)
    # the type Zarr stores: opaque |V<n> for what it has no type for (array members, long doubles)
    storage_dtype = zarr_dtype(families.zarr_dtype_json(element))
    fill = _element_fill(ctx, dset, sub)
    if fill is not None and storage_dtype != element:  # the same bytes, in the type Zarr stores
        fill = np.frombuffer(families.defined_bytes(np.asarray(fill, dtype=element)), dtype=storage_dtype)[0]
    fill = _fill_value_json(storage_dtype, fill)
    dcpl = dset.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout != h5py.h5d.CHUNKED:
        zattrs[ann.HDF5_CHUNKS] = None
    zdtype = families.zarr_dtype_json(element)
    if dset.shape is None or math.prod(zshape) == 0:
        chunks = list(dset.chunks) if dset.chunks else [1] * len(shape)
        return zarray_metadata(zshape, chunks + [max(1, n) for n in sub], zdtype, fill, None)
    if scalar:
        inline_array(ctx.rfs, key, np.asarray(dset[()], dtype=element).reshape(zshape), tuple(zshape), lambda b: b)
        return zarray_metadata(zshape, zshape, zdtype, fill, None)

    if layout == h5py.h5d.CHUNKED and not converted:
        chunk_shape = tuple(dset.chunks) + sub
        # Filters see the elements of an array type whole (shuffle's element size, libhdf5's
        # pipeline decoding them as opaque items of that size in the dataset's own chunks).
        filters = codecs_for_pipeline(pipeline_of(dcpl), dtype if sub else storage_dtype, tuple(dset.chunks))
        if ctx.on_chunk_index is not None:
            ctx.on_chunk_index(len(dset.chunks))
        try:
            table = chunking.chunked_refs(ctx.rfs, key, ctx.ref_url, dset.id, tuple(zshape), chunk_shape, ctx.on_chunks)
        finally:
            if ctx.on_chunk_index is not None:
                ctx.on_chunk_index(None)
        stored = table.stored_length()
        if stored <= ctx.options.inline_threshold:
            chunking.inline_table_chunks(ctx.rfs, key, dset.id, table)
        return zarray_metadata(zshape, list(chunk_shape), zdtype, fill, filters)

    nbytes = math.prod(shape) * dtype.itemsize
    external = dcpl.get_external_count() > 0
    offset = dset.id.get_offset() if layout == h5py.h5d.CONTIGUOUS and not external else None
    # Virtual chunks cut the dataset's own axes only: an element of an array type stays whole.
    chunk_shape = chunking.virtual_chunk_shape(tuple(shape), dtype.itemsize, ctx.options.contiguous_chunk_target) + sub
    if layout == h5py.h5d.CONTIGUOUS and not external and offset is None and not converted:
        # Never written: every element reads as the fill value.
        return zarray_metadata(zshape, list(chunk_shape), zdtype, fill, None)
    if offset is not None and nbytes > ctx.options.inline_threshold and not converted:
        chunking.contiguous_refs(ctx.rfs, key, ctx.ref_url, offset, dset.id.get_storage_size(), tuple(zshape),
                                 chunk_shape, element.itemsize)
        return zarray_metadata(zshape, list(chunk_shape), zdtype, fill, None)
    # Compact, small, external-storage and virtual datasets: read the values.
    if (external or layout == h5py.h5d.VIRTUAL) and is_url(ctx.source):
        # libhdf5 would read the files they name on this machine, as a remote file chose them.
        raise AccessDeniedError(
            f"dataset {dset.name!r} of {ctx.source!r}, a file at a URL, is stored in "
            f"{'external files' if external else 'other files (a virtual dataset)'}, which libhdf5 would read "
            "from this machine; translate a local copy of the file instead")
    _check_inline_size(ctx, dset, nbytes)
    try:
        data = np.asarray(dset[()], dtype=element).reshape(zshape)
    except OSError as exc:
        if external:
            # Its values live in files beside this one, which h5py too opens only when it is read.
            names = ", ".join(repr(dcpl.get_external(i)[0].decode("utf-8", "replace"))
                              for i in range(dcpl.get_external_count()))
            raise Unrepresentable(f"its values are stored in external files ({names}) that libhdf5 could not read "
                                  f"where the file was translated: {exc}") from exc
        if layout != h5py.h5d.VIRTUAL:
            raise
        # Its values come from source datasets, which h5py reads only when this one is read.
        raise Unrepresentable(virtual_source_reason(dset, exc)) from exc
    inline_array(ctx.rfs, key, data, chunk_shape, lambda b: b)
    return zarray_metadata(zshape, list(chunk_shape), zdtype, fill, None)


def _element_fill(ctx: DatasetContext, dset: h5py.Dataset, sub: tuple[int, ...]) -> Any:
    """The fill value of one Zarr element: the dataset's own, or for an array type the one value
    all of its entries share (Zarr has one fill value per element of the base type)."""
    if not sub:
        return _h5_fill_value(dset)
    try:
        fill = _h5_fill_value(dset)
    except (RuntimeError, OSError):  # h5py cannot convert a fill value it did not write (PyTables' dflt)
        fill = _array_fill_from_header(ctx, dset)
    if fill is None:
        return None
    entries = np.asarray(fill).reshape(-1)
    if families.defined_bytes(entries) != families.defined_bytes(np.repeat(entries[:1], len(entries))):
        raise Unrepresentable(f"its fill value {entries.reshape(sub).tolist()} differs between the entries of its "
                              f"array type {dset.dtype}, which a Zarr fill value cannot say")
    return entries[0]


def _array_fill_from_header(ctx: DatasetContext, dset: h5py.Dataset) -> np.ndarray:
    raw = None
    if ctx.read_raw is not None:
        address_size, size_size = dset.file.id.get_create_plist().get_sizes()
        raw = object_header.fill_value(ctx.read_raw, h5py.h5o.get_info(dset.id).addr, address_size, size_size)
    if raw is None or len(raw) != dset.dtype.itemsize:
        raise Unrepresentable("its fill value cannot be read (libhdf5 cannot convert it to h5py's type, and its "
                              "object header does not hold one of the type's size)")
    return np.frombuffer(raw, dtype=dset.dtype.base)


def _h5_fill_value(dset: h5py.Dataset) -> Any:
    dcpl = dset.id.get_create_plist()
    if dcpl.fill_value_defined() == h5py.h5d.FILL_VALUE_UNDEFINED:
        return None
    return dset.fillvalue


def _check_inline_size(ctx: DatasetContext, dset: h5py.Dataset, nbytes: int) -> None:
    if nbytes > ctx.options.max_inline_read:
        raise TranslationError(
            f"dataset of {nbytes} bytes is stored outside the file's own chunks (external storage or a "
            f"virtual dataset) and is larger than max_inline_read={ctx.options.max_inline_read}",
            source=ctx.source, object_path=dset.name)


def inline_array(rfs: ReferenceFileSystem, key: str, data: np.ndarray, chunk_shape: tuple[int, ...],
                  encode: Callable[[np.ndarray], bytes] | Callable[[bytes], bytes], *, encoded: bool = False,
                  pad: Any = None) -> None:
    """Cut ``data`` into Zarr chunks (edge chunks padded to full size) and store them inline.

    ``encode`` turns one full chunk into stored bytes: raw bytes for in-place families, an
    object codec's output for encoded ones (``encoded=True`` passes the array itself). Edge
    chunks are padded with ``pad`` (zero bytes when None).
    """
    grid = tuple(-(-s // c) for s, c in zip(data.shape, chunk_shape))
    for index in np.ndindex(*grid):
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunk_shape, data.shape))
        block = data[region]
        if block.shape != tuple(chunk_shape):
            full = np.zeros(chunk_shape, dtype=data.dtype)
            if isinstance(pad, _Pad):
                for element in np.ndindex(*chunk_shape):
                    full[element] = pad.value
            elif pad is not None:
                full[...] = pad
            full[tuple(slice(0, n) for n in block.shape)] = block
            block = full
        block = np.ascontiguousarray(block)
        payload = encode(block) if encoded else encode(families.defined_bytes(block))
        rfs.set_inline(join_key(key, chunk_name(index)), payload)


def _encoded(ctx: DatasetContext, dset: h5py.Dataset, key: str, family: Family, zattrs: dict) -> dict:
    """The values read through libhdf5 and encoded inline (spec §4). An HDF5 array type's
    element axes come last in the Zarr array (h5py reads them so), each element's entries
    encoded as values of the element type."""
    zattrs[ann.HDF5_DTYPE] = dtype_descriptions.describe(dset.dtype)
    dtype, sub = families.split_array_type(dset.dtype)
    shape, scalar = _shape_annotations(dset, zattrs)
    if dset.chunks is None:
        zattrs[ann.HDF5_CHUNKS] = None
    pipeline = pipeline_of(dset.id.get_create_plist())
    if pipeline:
        zattrs[ann.HDF5_FILTERS] = [f.as_list() for f in pipeline]
    chunk_shape = (tuple(dset.chunks) if dset.chunks else tuple(max(1, s) for s in shape)) + sub
    shape = shape + list(sub)
    if family is Family.COMPOUND_JSON:
        zattrs[ann.COMPOUND_DTYPE] = compound_annotation(dtype)
    if dset.shape is None or math.prod(shape) == 0:
        values = np.empty(shape, dtype=object)
    else:
        try:
            # libhdf5 allocates what each element's record declares: check them against the file first
            check_vlen_sizes(dset, ctx.read_raw)
            values = np.asarray(dset[()]).reshape(shape)
        except OSError as exc:
            missing = missing_filters(pipeline)
            if not missing:
                raise
            # The values are read through libhdf5 to be encoded, and it cannot run this filter
            # (for some chunk: a chunk that skipped an optional filter reads without it).
            raise Unrepresentable(missing_filter_reason(missing)) from exc

    if family is Family.VLEN_STRING:
        strings, codec = _vlen_strings(values)
        inline_array(ctx.rfs, key, strings, chunk_shape, codec.encode, encoded=True, pad="" if codec.codec_id == "vlen-utf8" else b"")
        return zarray_metadata(shape, list(chunk_shape), "|O", "" if codec.codec_id == "vlen-utf8" else None, [codec.get_config()])
    if family is Family.RAGGED:
        # A ragged array of an HDF5 array type (PyTables' VLArray of a shaped atom) is stored as
        # the flat sequence of the elements' entries; _HDF5_DTYPE gives readers the element shape.
        base = np.dtype(h5py.check_vlen_dtype(dtype)).base
        fill = _h5_fill_value(dset) if not sub else None  # (h5py reports none for array types)
        if fill is not None:  # netCDF4 defines one (empty) for its vlen types
            zattrs[ann.HDF5_FILLVALUE] = to_json(np.asarray(fill, dtype=base).reshape(-1), None)
        codec = ragged_codec(base)
        ragged = np.empty(values.shape, dtype=object)
        for index in np.ndindex(*values.shape):
            ragged[index] = np.asarray(values[index], dtype=base).reshape(-1)
        empty = np.empty(0, dtype=base)
        inline_array(ctx.rfs, key, ragged, chunk_shape, codec.encode, encoded=True, pad=_Pad(empty))
        return zarray_metadata(shape, list(chunk_shape), "|O", None, [codec.get_config()])
    # References and compounds holding references or variable-length members: JSON values.
    json_values = np.empty(values.shape, dtype=object)
    for index in np.ndindex(*values.shape):
        json_values[index] = to_json(np.asarray(values[index], dtype=dtype), ctx.refs)
    codec = numcodecs.JSON()
    inline_array(ctx.rfs, key, json_values, chunk_shape, codec.encode, encoded=True, pad=None)
    return zarray_metadata(shape, list(chunk_shape), "|O", None, [JSON_CODEC_CONFIG])


class _Pad:
    """Fill for object arrays whose elements are themselves arrays (NumPy would broadcast)."""

    def __init__(self, value: Any):
        self.value = value


def _vlen_strings(values: np.ndarray) -> tuple[np.ndarray, numcodecs.abc.Codec]:
    """UTF-8 text when every value decodes as such, else raw bytes."""
    raw = np.empty(values.shape, dtype=object)
    for index in np.ndindex(*values.shape):
        v = values[index]
        raw[index] = v.encode("utf-8") if isinstance(v, str) else bytes(v)
    try:
        text = np.empty(values.shape, dtype=object)
        for index in np.ndindex(*values.shape):
            text[index] = raw[index].decode("utf-8")
        return text, numcodecs.VLenUTF8()
    except UnicodeDecodeError:
        return raw, numcodecs.VLenBytes()
