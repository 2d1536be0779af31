"""``LindiH5pyDataset``: h5py's ``Dataset`` over a translated Zarr array.

Reads go through the read engine (:mod:`lindi_core.store.read_engine`), which fetches, decodes
and places the chunks a selection touches (boxes of numeric arrays itself, other selections
and types with zarr-python 3 as the indexer), and are then shaped into what h5py returns for the
same selection: big-endian data stays
big-endian, variable-length strings are ``bytes``, references are reference objects, compound
rows stored as JSON become structured arrays, scalars come back as NumPy scalars.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import zarr

from lindi_core.errors import (
    ChunkDecodeError,
    LindiError,
    ReferenceFormatError,
    UnreadableObjectError,
    UnsupportedTypeError,
)
from lindi_core.facade import dataset_creation, dims, dtypes, selections
from lindi_core.facade import values as h5values
from lindi_core.facade.base import FacadeObject
from lindi_core.facade.dataset_id import LindiDatasetID
from lindi_core.facade.dtypes import dataset_dtype
from lindi_core.facade.references import LindiH5pyReference, reference_from_json
from lindi_core.facade.selections import with_element_axes
from lindi_core.format import annotations as ann
from lindi_core.format import families
from lindi_core.format.array_metadata import ArrayMetadata
from lindi_core.format.keys import join_key
from lindi_core.format.references_json import region_selection, region_shape
from lindi_core.store.metadata_checks import check_array_metadata

if TYPE_CHECKING:
    from lindi_core.facade.files import LindiH5pyFile
    from lindi_core.store.read_engine import ArrayReader



# The HDF5 filter each Zarr codec of a translated (or written) pipeline stands for.
_CODEC_FILTER_IDS = {"zlib": 1, "gzip": 1, "shuffle": 2, "fletcher32": 3, "imagecodecs_lzf": 32000, "bz2": 307,
                     "blosc": 32001, "imagecodecs_lz4h5": 32004, "zstd": 32015}
# The filters h5py names (``h5py._hl.filters._COMP_FILTERS``); any other makes ``compression``
# "unknown".
_H5PY_NAMED_FILTERS = {1, 2, 3, 4, 6, 32000}
# Codecs that re-encode values (strings, ragged arrays, JSON rows) and stand for no HDF5 filter.
_OBJECT_CODEC_IDS = frozenset({"vlen-utf8", "vlen-bytes", "vlen-array", "json2"})


def _array_of_objects_fill(dtype: np.dtype) -> np.ndarray:
    """h5py's fill value for an HDF5 array type of variable-length strings (empty bytes in each
    entry) or of references and sequences: h5py reads it into a zeroed array of the type and
    libhdf5 converts only the first entry (None, a null), leaving the others 0."""
    if h5py.check_string_dtype(dtype.base) is not None:
        return np.full(dtype.shape, b"", dtype=dtype.base)
    fill = np.zeros(dtype.shape, dtype=dtype.base)
    fill.flat[0] = None
    return fill


class LindiH5pyDataset(FacadeObject, h5py.Dataset):
    """A dataset of a translated file, with h5py's read semantics."""

    _dxpl = None  # h5py's read_direct passes it to id.read, which needs no transfer properties

    def __init__(self, file: LindiH5pyFile, zpath: str, name: str):
        self._init_object(file, zpath, name)
        self._meta = self._parsed_metadata()
        zattrs = self._zattrs()
        self._is_scalar = zattrs.get(ann.SCALAR) is True
        self._is_null = zattrs.get(ann.NULL_DATASPACE) is True
        self._dtype: np.dtype | None = None
        self._array: zarr.Array | None = None
        self._whole: np.ndarray | None = None
        self._reader: ArrayReader | None = None  # the read engine of the array's current metadata
        self._cache_props: dict = {}  # h5py's own code (selections of read_direct) caches here

    # -- description ------------------------------------------------------------------------
    @property
    def id(self) -> LindiDatasetID:
        return LindiDatasetID(self.handle, self._zpath, self)

    @property
    def _readonly(self) -> bool:  # h5py's code caches a dataset's selector only when read-only
        return not self.handle.writable

    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            self._dtype = self._resolve_dtype()
        return self._dtype

    def _resolve_dtype(self) -> np.dtype:
        zattrs = self._zattrs()
        try:
            dtype = dataset_dtype(self._zarray, zattrs)
        except UnsupportedTypeError as exc:
            raise UnsupportedTypeError(f"its type cannot be read: {exc.detail}", object_path=self.name) from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            if isinstance(exc, LindiError):
                raise
            # The type description is input: one NumPy cannot read is a bad reference file.
            raise ReferenceFormatError(f"dataset {self.name!r}: its type description does not describe a "
                                       f"type: {type(exc).__name__}: {exc}") from exc
        if (ann.HDF5_DTYPE not in zattrs and ann.COMPOUND_DTYPE not in zattrs and self._is_json_codec()
                and self._first_value_is_reference()):
            return h5py.ref_dtype  # LINDI 0.4 marks reference datasets only in their values
        return dtype

    def _is_json_codec(self) -> bool:
        filters = self._meta.filters
        return bool(filters) and filters[0].get("id") == "json2"

    def _first_value_is_reference(self) -> bool:
        if self._is_null or math.prod(self._meta.shape or (0,)) == 0:
            return False
        # The first values tell (LINDI 0.4 writes whole datasets of references): reading them all
        # would allocate the whole declared shape, whatever the file holds.
        first = tuple(slice(0, 16 if axis == 0 else 1) for axis in range(len(self._meta.shape)))
        with self._decoding():
            values = self._zarr()[first]
        return any(ann.is_reference_value(v) for v in np.ravel(values))

    @property
    def shape(self) -> tuple[int, ...] | None:
        if self._is_null:
            return None
        if self._is_scalar:
            return ()
        return self._dataset_axes(self._meta.shape)

    @property
    def _element_shape(self) -> tuple[int, ...]:
        """The shape of one element: that of an HDF5 array type (its Zarr array ends with these
        axes, spec section 4), else ``()``."""
        zattrs = self._zattrs()
        description = zattrs.get(ann.HDF5_DTYPE)
        if not (isinstance(description, dict) and "array" in description):
            return ()  # decided without resolving the type (which may read values: LINDI 0.4's references)
        if ann.UNREADABLE in zattrs:
            return ()  # its stand-in Zarr array holds whole elements as opaque items (spec section 8)
        sub = self.dtype.shape
        zshape = list(self._meta.shape)
        if sub and (len(zshape) < len(sub) + 1 or tuple(zshape[len(zshape) - len(sub):]) != sub
                    or self._meta.chunks[len(zshape) - len(sub):] != sub):
            raise ReferenceFormatError(f"dataset {self.name!r}: its array type {self.dtype} needs Zarr shape and "
                                       f"chunks ending with {list(sub)}, not {zshape} / {list(self._meta.chunks)}")
        return sub

    def _parsed_metadata(self) -> ArrayMetadata:
        """The array's ``.zarray``, checked and parsed (again after a resize or a rewrite
        replaced it)."""
        return check_array_metadata(self.handle.array_metadata(self._zpath), join_key(self._zpath, ".zarray"))

    @property
    def _zarray(self) -> dict:
        return self._meta.raw

    def _dataset_axes(self, zarr_axes: tuple[int, ...]) -> tuple[int, ...]:
        """Zarr shape or chunks -> the dataset's (without an array type's own axes)."""
        return tuple(zarr_axes[: len(zarr_axes) - len(self._element_shape)])

    @property
    def size(self) -> int | None:
        return None if self._is_null else math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return 0 if self._is_null else len(self.shape)

    @property
    def nbytes(self) -> int:
        return 0 if self._is_null else self.size * self.dtype.itemsize

    @property
    def chunks(self) -> tuple[int, ...] | None:
        zattrs = self._zattrs()
        if self._is_null or self._is_scalar or (ann.HDF5_CHUNKS in zattrs and zattrs[ann.HDF5_CHUNKS] is None):
            return None
        return self._dataset_axes(self._meta.chunks)

    @property
    def maxshape(self) -> tuple | None:
        if self._is_null:
            return None
        declared = self._zattrs().get(ann.HDF5_MAXSHAPE)
        return tuple(declared) if declared is not None else self.shape

    @property
    def fillvalue(self) -> Any:
        dtype = self.dtype
        if dtype.subdtype is not None and dtype.base.kind == "O":
            return _array_of_objects_fill(dtype)
        if h5py.check_string_dtype(dtype) is not None and dtype.kind == "O":
            fill = self._meta.fill_value
            return fill.encode("utf-8") if isinstance(fill, str) else b""
        declared = self._zattrs().get(ann.HDF5_FILLVALUE)
        if declared is not None and h5py.check_vlen_dtype(dtype) is not None:
            return self._declared_vlen_fill(declared, np.dtype(h5py.check_vlen_dtype(dtype)))
        if dtype.kind == "O" or dtype.fields is not None and self._zarray.get("dtype") == "|O":
            return h5values.zero_with_none_objects(dtype)
        fill = self._meta.fill_value
        if fill is None:
            return np.zeros((), dtype)[()]
        try:
            if self._opaque_member_view() is not None:
                return _with_array_members(np.asarray(self._zarr().fill_value).reshape(()), dtype)[()]
            if dtype.subdtype is not None:  # an array type: the fill value of its entries in each
                return np.full(dtype.shape, np.asarray(self._zarr().fill_value).astype(dtype.base), dtype.base)
            return self._as_h5py(np.asarray(self._zarr().fill_value).reshape(()))[()]
        except (TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, LindiError):
                raise
            raise ReferenceFormatError(f"dataset {self.name!r}: its fill value {fill!r} is not a value of its type "
                                       f"{dtype}: {exc}") from exc

    def _declared_vlen_fill(self, declared: Any, base: np.dtype) -> np.ndarray:
        try:
            return np.array([ann.NAN_STRINGS.get(v, v) if isinstance(v, str) else v for v in declared], dtype=base)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ReferenceFormatError(f"dataset {self.name!r}: its fill value {declared!r} is not a sequence of "
                                       f"{base}: {exc}") from exc

    def _pipeline(self) -> list[dict]:
        return self._meta.codecs

    def _hdf5_filters(self) -> list[list]:
        out = list(self._zattrs().get(ann.HDF5_FILTERS) or [])
        for codec in self._pipeline():
            if codec.get("id") == "lindi_core.hdf5_filters":
                out.extend(codec["filters"])
        return out

    @property
    def compression(self) -> str | None:
        # h5py's rule: gzip, lzf or szip by name; "unknown" where any other filter than those
        # and shuffle, fletcher32 and scale-offset is in the pipeline (blosc, bzip2, zstd...).
        ids = self._filter_ids()
        for filter_id, name in ((1, "gzip"), (32000, "lzf"), (4, "szip")):
            if filter_id in ids:
                return name
        # A codec with no HDF5 id known here (another imagecodecs or numcodecs compressor) is such
        # a filter too.
        other_codecs = ({c.get("id") for c in self._pipeline()} - set(_CODEC_FILTER_IDS) - _OBJECT_CODEC_IDS
                        - {"lindi_core.hdf5_filters", "lindi_core.unreadable"})
        if other_codecs or any(filter_id not in _H5PY_NAMED_FILTERS for filter_id in ids):
            return "unknown"
        return None

    def _filter_ids(self) -> list[int]:
        """The HDF5 filter ids of the pipeline. Codecs no HDF5 filter stands for (those of
        re-encoded values: strings, JSON rows...) are not filters."""
        ids = [f[0] for f in self._hdf5_filters()]
        return ids + [_CODEC_FILTER_IDS[c["id"]] for c in self._pipeline() if c.get("id") in _CODEC_FILTER_IDS]

    @property
    def compression_opts(self) -> Any:
        for codec in self._pipeline():
            if codec.get("id") in ("zlib", "gzip"):
                return codec.get("level")
        for filter_id, _flags, values in self._hdf5_filters():
            if filter_id == 1:
                return values[0] if values else None
            if filter_id == 4:
                return ({4: "ec", 32: "nn"}.get(values[0] & 36, "nn"), values[1]) if len(values) > 1 else None
        return None

    @property
    def shuffle(self) -> bool:
        return any(c.get("id") == "shuffle" for c in self._pipeline()) or any(f[0] == 2 for f in self._hdf5_filters())

    @property
    def fletcher32(self) -> bool:
        return any(c.get("id") == "fletcher32" for c in self._pipeline()) or any(f[0] == 3 for f in self._hdf5_filters())

    @property
    def scaleoffset(self) -> int | None:
        for filter_id, _flags, values in self._hdf5_filters():
            if filter_id == 6:
                return values[1] if len(values) > 1 else None
        return None

    @property
    def external(self) -> None:
        return None

    @property
    def is_virtual(self) -> bool:
        return False

    @property
    def is_scale(self) -> bool:
        return dims.is_scale(self)

    @property
    def dims(self) -> dims.LindiH5pyDimensions:
        return dims.LindiH5pyDimensions(self)

    def make_scale(self, name: str = "") -> None:
        self.handle.require_writable("make scale", error=RuntimeError)
        dims.make_scale(self, name)

    def __len__(self) -> int:
        return self.len()

    def len(self) -> int:
        shape = self.shape
        if shape is None:
            raise TypeError("object of type 'NoneType' has no len()")
        if shape == ():
            raise TypeError("Attempt to take len() of scalar dataset")
        return shape[0]

    def __iter__(self):
        shape = self.shape
        if not shape:
            raise TypeError("Can't iterate over a scalar dataset")
        for i in range(shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        if not self.handle.is_open:
            return "<Closed HDF5 dataset>"
        return f'<HDF5 dataset "{self._name.rsplit("/", 1)[-1]}": shape {self.shape}, type "{self.dtype.str}">'

    @property
    def zarr_array(self) -> zarr.Array:
        """The zarr-python 3 array underneath (Zarr's view: scalars have shape (1,))."""
        return self._zarr()

    def to_dask(self, chunks: Any = None) -> Any:
        """The dataset as a ``dask.array.Array`` whose blocks are runs of whole chunks: its own
        chunks by default, else ``chunks`` (as ``dask.array.from_array`` takes them) with block
        boundaries moved to the nearest chunk boundary. Values, shape and type are those of
        ``self[()]``; the array pickles the file once per worker (see
        :mod:`lindi_core.facade.dask_arrays`). Needs dask."""
        from lindi_core.facade.dask_arrays import to_dask

        self.handle.check_open()
        if self._is_null:
            raise TypeError(f"dataset {self.name!r} has a null dataspace: it holds no array for dask")
        native = self._dataset_axes(self._meta.chunks) if self.shape != () else ()
        return to_dask(self, chunks, self._element_shape, native)

    # -- reading ----------------------------------------------------------------------------
    def _zarr(self) -> zarr.Array:
        if self._array is None:
            self._array = self.handle.zarr_array(self._zpath)
        return self._array

    def __getitem__(self, args: Any, new_dtype: np.dtype | None = None) -> Any:
        self.handle.check_open()
        if isinstance(args, h5py.RegionReference):
            return self._read_region(args)
        if self._is_null:
            if args in ((), Ellipsis) or args == (Ellipsis,):
                return h5py.Empty(self.dtype)
            raise ValueError("Empty datasets cannot be sliced")
        dtype = self.dtype
        selection = selections.parse(args, self.shape, dtype)
        raw = self._read(selection)
        data = self._as_h5py(raw)
        if selection.fields:
            data = h5values.extract_fields(data, selection.fields)
        if new_dtype is not None:
            data = h5values.cast(data, np.dtype(new_dtype))
        elif not selection.fields and dtype.base.metadata and isinstance(data, np.ndarray) and data.dtype == dtype.base:
            data = data.view(dtype.base)  # h5py's marks (vlen=str, enum=..., ref=...) on the array's type too
        scalar_result = (self.shape == () and _only_field_names(args)) or (
            selection.mask is None and self.shape != () and len(selection.shape_drops) == len(self.shape))
        if scalar_result:
            return data[()]
        return data

    def _read_region(self, ref: h5py.RegionReference) -> np.ndarray:
        if not isinstance(ref, LindiH5pyReference) or ref.region is None:
            raise ValueError("Invalid region reference")
        if self._file[ref.path].id != self.id:
            raise ValueError("Region reference must point to this dataset")
        index = region_selection(ref.region, self.shape)
        values = self[index]
        if isinstance(index, np.ndarray) and ref.region.get("kind") == "blocks":
            values = values.reshape(region_shape(index))  # several blocks: h5py's shape for them
        return values

    @contextlib.contextmanager
    def _decoding(self) -> Iterator[None]:
        """Errors that codecs raise on corrupt or hostile chunks (numcodecs', zlib's, zarr's own)
        become a :class:`ChunkDecodeError` naming the dataset; the selection was checked before."""
        try:
            yield
        except UnreadableObjectError as exc:  # a filter missing here, a type without a Zarr form
            raise exc.located(self._name) from exc.__cause__
        except LindiError:
            raise
        except (ValueError, TypeError, RuntimeError, OSError, LookupError, ArithmeticError, EOFError, zlib.error) as exc:
            raise ChunkDecodeError(f"dataset {self._name!r} (array {self._zpath!r}): its chunks cannot be decoded: "
                                   f"{type(exc).__name__}: {exc}") from exc

    def _read(self, selection: selections.Selection) -> np.ndarray:
        reason = ann.unreadable_reason(self._zattrs().get(ann.UNREADABLE))
        if reason is not None:  # translated without readable values: refuse, as h5py would
            raise UnreadableObjectError(f"dataset cannot be read: {reason}", object_path=self._name)
        with self._decoding():
            return self._read_decoded(selection)

    def _read_decoded(self, selection: selections.Selection) -> np.ndarray:
        sub = self._element_shape
        if sub:  # an array type: its own axes are read whole, after the dataset's
            if self._is_scalar:
                whole = self._inline_single_chunk()
                return (whole if whole is not None else np.asarray(self._zarr()[...])).reshape(sub)
            data = self._read_zarr_selection(with_element_axes(selection, sub))
            return data.reshape((-1,) + sub) if selection.mask is not None else data
        return self._read_zarr_selection(selection)

    def _read_zarr_selection(self, selection: selections.Selection) -> np.ndarray:
        """A selection of the Zarr array's axes (for an array type, its element axes included)."""
        whole = self._inline_single_chunk()
        if whole is not None:
            return _index_numpy(whole, selection, self._is_scalar)
        if self._is_scalar:
            return np.asarray(self._zarr()[0:1]).reshape(())
        direct = self._read_box(selection)
        if direct is not None:
            return direct
        return self._read_through_zarr(self._zarr(), selection)

    def _array_reader(self) -> ArrayReader:
        if self._reader is None or self._reader.meta is not self._meta:  # metadata replaced (resize, rewrite)
            self._reader = self.handle.array_reader(self._zpath, self._meta)
        return self._reader

    def _read_box(self, selection: selections.Selection) -> np.ndarray | None:
        """The selection placed by the read engine itself (a box of slices and integers of a
        numeric array), or ``None`` where zarr indexes it (masks, index lists, object or
        compound items, exotic codecs)."""
        if selection.mask is not None or any(isinstance(a, np.ndarray) for a in selection.axes):
            return None
        reader = self._array_reader()
        if not reader.places_boxes:
            return None
        axes = tuple(slice(a, a + 1) if not isinstance(a, slice) else a for a in selection.axes)
        data = reader.read_box(axes)
        drops = selection.shape_drops
        if drops:
            data = data.reshape([n for i, n in enumerate(data.shape) if i not in drops])
        return data

    def _inline_single_chunk(self) -> np.ndarray | None:
        """The whole array when it is one chunk stored inline, decoded once by the read engine
        and kept (until a write)."""
        if self._whole is None:
            self._whole = self._array_reader().whole_inline()
        return self._whole

    def _read_through_zarr(self, array: zarr.Array, selection: selections.Selection) -> np.ndarray:
        if selection.mask is not None:
            return np.asarray(array.vindex[selection.mask])
        # Integers become one-element slices, dropped after the read: zarr wraps single object
        # elements (dicts, lists) in nested 0-d arrays otherwise.
        axes = tuple(slice(a, a + 1) if isinstance(a, int) else a for a in selection.axes)
        if any(isinstance(axis, np.ndarray) for axis in axes):
            data = np.asarray(array.get_orthogonal_selection(axes))
        else:
            data = np.asarray(array[axes])
        drops = selection.shape_drops
        if drops:
            data = data.reshape([n for i, n in enumerate(data.shape) if i not in drops])
        return data

    def _as_h5py(self, raw: np.ndarray) -> np.ndarray:
        """Values as Zarr decoded them -> values as h5py returns them."""
        dtype = self.dtype.base  # h5py returns an array type's elements as axes of their base type
        ref_kind = h5py.check_ref_dtype(dtype)
        if ref_kind is not None:
            region = ref_kind is h5py.RegionReference
            return h5values.map_objects(raw, lambda v: reference_from_json(v, region=region))
        if h5values.stored_as_bytes(raw.dtype, dtype):
            return raw.view(dtype)  # a type Zarr has no name for (long double), stored as its bytes
        if dtype.fields is not None and raw.dtype.fields is None:  # JSON rows
            return h5values.rows_to_structured(raw, dtype)
        if dtype.fields is not None and raw.dtype != dtype and self._opaque_member_view() is not None:
            return _with_array_members(raw, dtype)
        string = h5py.check_string_dtype(dtype)
        if string is not None and dtype.kind == "O":
            return h5values.map_objects(raw, h5values.to_bytes)
        vlen = h5py.check_vlen_dtype(dtype)
        if vlen is not None and np.dtype(vlen).shape:  # rows of an array type, stored flat (spec section 4)
            entry_shape = (-1, *np.dtype(vlen).shape)
            return h5values.map_objects(raw, lambda row: np.asarray(row).reshape(entry_shape))
        if raw.dtype != dtype and dtype.kind != "O":
            return raw.astype(dtype)
        if dtype.names and raw.dtype is not dtype and not dtype.hasobject:
            # NumPy's dtype equality ignores metadata: h5py's marks on compound members (an enum
            # member's mapping) are only on ``dtype``, and a view adds them without a copy.
            return raw.view(dtype)
        return raw

    def read_direct(self, dest: np.ndarray, source_sel: Any = None, dest_sel: Any = None) -> None:
        if not isinstance(dest, np.ndarray) or not dest.flags.c_contiguous or not dest.flags.writeable:
            raise TypeError("dest must be a C-contiguous writable numpy array")
        data = np.asarray(self[source_sel if source_sel is not None else ()])
        target = dest[dest_sel if dest_sel is not None else ()]
        try:
            np.broadcast_to(data, np.shape(target))
        except ValueError:
            raise TypeError(f"Can't broadcast {data.shape} -> {np.shape(target)}") from None
        dest[dest_sel if dest_sel is not None else ()] = data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._is_null:
            raise TypeError("Use () not None as shape arguments")
        data = np.asarray(self[()] if self.shape != () else self[...])
        return data.astype(dtype) if dtype is not None else data

    @property
    def regionref(self):
        return _RegionReferenceMaker(self)

    # -- writing ----------------------------------------------------------------------------
    def __setitem__(self, args: Any, value: Any) -> None:
        self.handle.require_writable("write data")
        dtype = self.dtype
        selection = selections.parse(args, self.shape, dtype)
        names = getattr(getattr(value, "dtype", None), "names", None)
        if dtype.names is not None and not selection.fields and names and set(names) < set(dtype.names):
            selection.fields = list(names)  # records holding some of the members: those members written
        if selection.fields:
            value, selection = self._with_fields_set(selection, value)
        if self._is_family_encoded():
            values = np.array(self[...], copy=True)
            _assign(values, selection, value, dtype, scalar=self.shape == ())
            dataset_creation.rewrite_encoded(self.handle, self._zpath, values, dtype)
            self._after_rewrite()
            return
        array = self._zarr()
        if dtype.subdtype is not None:
            self._write_array_type(array, selection, value)
            return
        if h5py.check_string_dtype(dtype) is not None and dtype.kind == "O":
            value = np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v), otypes=[object])(
                np.asarray(value, dtype=object))
        elif isinstance(value, np.ndarray):  # converted as libhdf5 converts it
            value = np.asarray(dtypes.converted_for_write(value, dtype))
        else:  # a list or a scalar is made an array of the dataset's type, as h5py makes it
            value = np.asarray(value, dtype=dtype.base)
        view = self._opaque_member_view()
        if view is not None:  # array members stored as opaque bytes: the same bytes, in Zarr's type
            value = np.ascontiguousarray(np.asarray(value, dtype=dtype)).view(view)
        # Checked whole before anything is written: a value of the wrong size is refused.
        value = selections.broadcast_for_write(value, selection, self.shape)
        stored = self._meta.dtype
        if h5values.stored_as_bytes(stored, dtype):
            value = np.ascontiguousarray(value, dtype=dtype).view(stored)  # long doubles: as their bytes
        if self._is_scalar:
            array[0:1] = np.reshape(value, (1,))
        elif selection.mask is not None:
            array.vindex[selection.mask] = value
        else:
            array.set_orthogonal_selection(selection.axes, value)
        self._whole = None

    def _opaque_member_view(self) -> np.dtype | None:
        """The type Zarr stores a compound with array members in (spec section 4: those members
        opaque), when the dataset is stored so; else None."""
        view = families.opaque_member_view(self.dtype)
        return view if view is not None and isinstance(self._zarray.get("dtype"), list) else None

    def _write_array_type(self, array: zarr.Array, selection: selections.Selection, value: Any) -> None:
        """A write to a dataset of an HDF5 array type: each element given whole (h5py's rule:
        the value's last axes are the element's), placed by h5py's broadcasting of the rest."""
        sub = self._element_shape
        base = self.dtype.base
        value = np.asarray(dtypes.converted_for_write(value, base) if isinstance(value, np.ndarray) else value)
        value = value.astype(base, copy=False)
        if value.ndim < len(sub) or value.shape[value.ndim - len(sub):] != sub:
            raise TypeError(f"When writing to array types, last N dimensions have to match (got "
                            f"{value.shape[max(0, value.ndim - len(sub)):]}, but should be {sub})")
        leading = value.shape[: value.ndim - len(sub)]
        if not leading and self.shape != () and (selection.mask is not None or len(selection.shape_drops) < len(self.shape)):
            raise TypeError("Scalar broadcasting is not supported for array dtypes")
        # Which given element goes where: h5py's broadcasting applied to the elements' positions.
        positions = selections.broadcast_for_write(np.arange(math.prod(leading)).reshape(leading), selection, self.shape)
        elements = value.reshape((-1,) + sub)[positions]
        if self._is_scalar:
            array[...] = elements.reshape((1,) + sub)
        elif selection.mask is not None:
            array.vindex[with_element_axes(selection, sub).mask] = elements.reshape(-1)
        else:
            array.set_orthogonal_selection(with_element_axes(selection, sub).axes, elements)
        self._whole = None

    def _with_fields_set(self, selection: selections.Selection, value: Any) -> tuple[np.ndarray, selections.Selection]:
        """Writing some fields of compound records: the selected records as they are, with
        those fields replaced, to write back whole (Zarr stores records, not fields)."""
        whole_records = selections.Selection(axes=selection.axes, mask=selection.mask)
        records = np.array(self._as_h5py(self._read(whole_records)), copy=True)
        if getattr(getattr(value, "dtype", None), "names", None):  # records: members matched by name
            for name in selection.fields:
                records[name] = dtypes.converted_for_write(value[name], records.dtype.fields[name][0])
        elif len(selection.fields) == 1:
            name = selection.fields[0]
            records[name] = dtypes.converted_for_write(value, records.dtype.fields[name][0])
        else:
            records[selection.fields] = value
        return records, whole_records

    def resize(self, size: Any, axis: int | None = None) -> None:
        self.handle.require_writable("resize dataset", error=TypeError)
        if self.chunks is None:
            raise TypeError("Only chunked datasets can be resized")
        shape = list(self.shape)
        if axis is not None:
            if not 0 <= axis < len(shape):
                raise ValueError("Invalid axis (0 to %s allowed)" % (len(shape) - 1))
            shape[axis] = int(size)
        else:
            shape = [int(n) for n in (size if isinstance(size, (tuple, list)) else (size,))]
        if len(shape) != len(self.shape):
            raise TypeError("New shape length must match dataset rank")
        maxshape = self.maxshape
        if any(m is not None and n > m for n, m in zip(shape, maxshape)):
            raise RuntimeError("Unable to synchronously change a dataset's dimensions (dimension cannot exceed the "
                               f"existing maximal size (new: {tuple(shape)} max: {tuple(maxshape)}))")
        zattrs_key = join_key(self._zpath, ".zattrs")
        zattrs = dict(self.handle.rfs.metadata.get(zattrs_key) or {})
        if ann.HDF5_MAXSHAPE not in zattrs:  # the maximum was the shape at creation: it stays when the shape changes
            zattrs[ann.HDF5_MAXSHAPE] = list(maxshape)
            self.handle.rfs.set_metadata(zattrs_key, zattrs)
        if self._is_family_encoded():
            values = dataset_creation.empty_encoded(tuple(shape), self.dtype)
            overlap = tuple(slice(0, min(a, b)) for a, b in zip(shape, self.shape))
            values[overlap] = self[...][overlap]
            dataset_creation.rewrite_encoded(self.handle, self._zpath, values, self.dtype)
            self._after_rewrite()
            return
        array = self._zarr()
        # Values cut off by a shrink are gone, as in HDF5: growing again shows the fill value.
        # Zarr drops the chunks wholly outside the new shape; in the chunks across its edge
        # the cut-off part is set to the fill value first.
        chunks = self._meta.chunks
        kept = [min(old, -(-new // c) * c) for new, old, c in zip(shape, self.shape, chunks)]  # chunks kept
        for axis, new in enumerate(shape):
            if new < kept[axis]:
                region = tuple(slice(new, kept[i]) if i == axis else slice(0, kept[i]) for i in range(len(shape)))
                array[region] = array.fill_value
        array.resize(tuple(shape) + self._element_shape)
        self._meta = self._parsed_metadata()
        self._whole = None

    def _is_family_encoded(self) -> bool:
        """Whether values are encoded in the reference file (references, ragged arrays and
        compounds holding them), rather than stored as Zarr data."""
        dtype = self.dtype
        return self._zarray.get("dtype") == "|O" and (h5py.check_string_dtype(dtype) is None or dtype.kind != "O")

    def _after_rewrite(self) -> None:
        self._meta = self._parsed_metadata()
        self._array = None
        self._whole = None

    def write_direct(self, source: Any, source_sel: Any = None, dest_sel: Any = None) -> None:
        self.handle.require_writable("write data")
        data = np.asarray(source)[source_sel if source_sel is not None else ()]
        self[dest_sel if dest_sel is not None else ()] = data

    def flush(self) -> None:
        return None

    def refresh(self) -> None:
        return None


def _with_array_members(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Compound records read with array members as opaque bytes -> records of ``dtype``."""
    out = np.empty(raw.shape, dtype=dtype)
    for name in dtype.names:
        member = dtype.fields[name][0]
        stored = raw[name]
        if member.subdtype is not None and stored.dtype.kind == "V":
            out[name] = np.ascontiguousarray(stored).view(member.base).reshape(raw.shape + member.shape)
        else:
            out[name] = stored
    return out


def _index_numpy(whole: np.ndarray, selection: selections.Selection, scalar: bool) -> np.ndarray:
    """Apply a parsed selection to an in-memory array with h5py's (orthogonal) meaning."""
    if scalar:
        return whole.reshape(())
    if selection.mask is not None:
        return whole[selection.mask]
    result = whole
    # Single indices as one-wide slices, dropped by a reshape at the end: indexing them away would
    # hand back an element, and an element that is a list (a JSON row) is no 0-d array.
    axes = [slice(a, a + 1) if isinstance(a, (int, np.integer)) else a for a in selection.axes]
    for axis in range(len(axes) - 1, -1, -1):  # last first, so earlier axes keep their place
        result = result[(slice(None),) * axis + (axes[axis],)]
    drops = selection.shape_drops
    return np.array(result).reshape([n for i, n in enumerate(result.shape) if i not in drops])


def _assign(values: np.ndarray, selection: selections.Selection, value: Any, dtype: np.dtype, scalar: bool) -> None:
    """``values[selection] = value`` with h5py's meaning, on the whole dataset in memory."""
    if scalar:
        index: Any = ()
    elif selection.mask is not None:
        index = selection.mask
    else:
        index = tuple(selection.axes)
    base = h5py.check_vlen_dtype(dtype)
    if base is None or h5py.check_string_dtype(dtype) is not None:
        values[index] = value
        return
    # Ragged rows: NumPy would try to stack equal-length rows into one 2-D array, so each
    # selected element gets its row one by one.
    positions = np.arange(values.size).reshape(values.shape)[index]
    targets = np.atleast_1d(positions).reshape(-1)
    if np.ndim(positions) == 0:
        rows = [value]
    else:
        rows = list(value) if len(value) == len(targets) else None
        if rows is None:
            raise TypeError(f"Can't broadcast {len(value)} values to a selection of {len(targets)} elements")
    flat = values.reshape(-1)
    for position, row in zip(targets, rows):
        flat[position] = np.asarray(row, dtype=base).reshape(-1)


class _RegionReferenceMaker:
    """``dataset.regionref[selection]`` -> a region reference to that selection."""

    def __init__(self, dataset: LindiH5pyDataset):
        self._dataset = dataset

    def __getitem__(self, args: Any) -> h5py.RegionReference:
        from lindi_core.facade.references import LindiH5pyRegionReference

        dataset = self._dataset
        # As h5py: encoding a region reference needs a file open for writing.
        dataset.handle.require_writable("encode region reference", error=RuntimeError)
        shape = dataset.shape
        selection = selections.parse(args, shape, dataset.dtype)
        if selection.mask is not None:
            points = np.argwhere(selection.mask).tolist()
            region = {"kind": "points", "points": points}
        elif all(isinstance(a, slice) and a.step == 1 for a in selection.axes) and _covers_all(selection, shape):
            region = {"kind": "all"}
        elif all(isinstance(a, (slice, int, np.integer)) and (not isinstance(a, slice) or a.step == 1)
                 for a in selection.axes):
            start = [a.start if isinstance(a, slice) else int(a) for a in selection.axes]
            end = [(a.stop - 1) if isinstance(a, slice) else int(a) for a in selection.axes]
            region = {"kind": "blocks", "blocks": [[start, end]]}
        else:
            mask = np.zeros(shape, dtype=bool)
            mask[np.ix_(*[_axis_indices(a, n) for a, n in zip(selection.axes, shape)])] = True
            region = {"kind": "points", "points": np.argwhere(mask).tolist()}
        body = dict(dataset.ref.to_json()[ann.REFERENCE])
        body[ann.REGION] = region
        return LindiH5pyRegionReference(body)


def _covers_all(selection: selections.Selection, shape: tuple[int, ...]) -> bool:
    return all(a.start == 0 and a.stop == n for a, n in zip(selection.axes, shape))


def _axis_indices(axis: Any, extent: int) -> np.ndarray:
    if isinstance(axis, slice):
        return np.arange(*axis.indices(extent))
    return np.atleast_1d(np.asarray(axis))


def _only_field_names(args: Any) -> bool:
    """True for ``()`` or field names alone: the index h5py answers with a scalar on 0-d data."""
    args = args if isinstance(args, tuple) else (args,)
    return all(isinstance(a, str) for a in args)
