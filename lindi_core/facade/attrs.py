"""Attributes with h5py's types (spec section 7).

Values are decoded from ``.zattrs`` JSON with the exact types recorded in ``_ATTR_DTYPES``;
without a record, h5py's defaults: ``numpy.int64``, ``numpy.float64``, ``numpy.bool_``, ``str``
and arrays of those. Reserved annotation keys are hidden. New values get the type h5py would
give them: h5py itself decides it, storing the value in a scratch in-memory HDF5 file
(:mod:`scratch`); the JSON is set through the file's low-level handle.
"""

from __future__ import annotations

import base64
import math
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from lindi_core.errors import LindiError, ReferenceFormatError, UnreadableObjectError, UnsupportedTypeError
from lindi_core.facade import scratch
from lindi_core.facade.references import (
    _JsonReferences,
    reference_from_json,
    references_array,
)
from lindi_core.format import annotations as ann
from lindi_core.format import dtype_descriptions
from lindi_core.format.dtype_descriptions import dtype_from_description
from lindi_core.format.references_json import holds_references
from lindi_core.translate.attributes import encode_value

if TYPE_CHECKING:
    from lindi_core.facade.lowlevel import FileHandle


def _name(name: Any) -> str:
    """An attribute name as h5py takes it: str, or bytes as UTF-8."""
    if isinstance(name, bytes):
        return name.decode("utf-8")
    if not isinstance(name, str):
        raise TypeError(f"an attribute name is str or bytes, not {type(name).__name__}")
    return name


def attribute_key(zattrs: dict, name: Any) -> str | None:
    """The ``.zattrs`` key of the attribute h5py names ``name`` (str, or bytes as h5py lists a
    name that is not UTF-8), or None when ``name`` cannot name one: a key escaping a name that is
    not UTF-8 (§7) names that attribute only through its bytes."""
    try:
        raw_names = ann.raw_attribute_names(zattrs)
    except ValueError as exc:
        raise ReferenceFormatError(str(exc)) from exc
    if isinstance(name, bytes):
        try:
            text = name.decode("utf-8")
        except UnicodeDecodeError:
            return next((key for key, raw in raw_names.items() if raw == name), None)
    else:
        text = _name(name)
    return None if text in raw_names else text


class LindiH5pyAttributes(h5py.AttributeManager):
    """The ``.attrs`` of a facade object."""

    def __init__(self, owner: Any, handle: FileHandle, zpath: str):
        """The attributes of ``owner``, the object stored at ``zpath`` in the file of ``handle``."""
        self._owner = owner
        self._handle = handle
        self._zpath = zpath

    def _zattrs(self) -> dict:
        if not self._handle.is_open:  # as h5py's, once the file is closed
            raise ValueError("Invalid location identifier (the file is closed)")
        return self._handle.zattrs(self._zpath)

    def __getitem__(self, name: str | bytes) -> Any:
        if not self._handle.is_open:
            raise KeyError(f"Unable to synchronously open attribute '{name}' (the file is closed)")
        zattrs = self._zattrs()
        asked, name = name, attribute_key(zattrs, name)
        if name is None or name in ann.SPECIAL_ATTRIBUTE_KEYS or name not in zattrs:
            raise KeyError(f"Unable to synchronously open attribute (can't locate attribute: {asked!r})")
        reason = ann.unreadable_attribute_reason(zattrs[name])
        if reason is not None:  # listed, as h5py lists it, but its value did not translate
            raise UnreadableObjectError(f"attribute {name!r} cannot be read: {reason}", object_path=self._owner.name)
        try:
            described = (zattrs.get(ann.ATTR_DTYPES) or {}).get(name)
            return decode_attribute(zattrs[name], described)
        except UnsupportedTypeError as exc:
            raise UnsupportedTypeError(f"attribute {name!r} cannot be read: {exc.detail}",
                                       object_path=self._owner.name) from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            if isinstance(exc, LindiError):
                raise
            # The stored value and its type record are input, not code: one that does not decode
            # (a string where numbers belong, a type record of the wrong shape) is a bad file.
            raise ReferenceFormatError(f"attribute {name!r} of {self._owner.name!r} does not decode as its "
                                       f"recorded type: {type(exc).__name__}: {exc}") from exc

    def __contains__(self, name: object) -> bool:
        if name in ("", b""):
            raise RuntimeError("Unable to determine if attribute exists (no attribute name)")
        zattrs = self._zattrs()
        key = attribute_key(zattrs, name)
        return key is not None and key not in ann.SPECIAL_ATTRIBUTE_KEYS and key in zattrs

    # h5py's own views hold its global lock while they iterate; a read inside the loop body that
    # waits on zarr's I/O thread would then deadlock with any h5py object finalised there.
    def keys(self) -> KeysView:
        return KeysView(self)

    def values(self) -> ValuesView:
        return ValuesView(self)

    def items(self) -> ItemsView:
        return ItemsView(self)

    def __iter__(self) -> Iterator[str | bytes]:
        zattrs = self._zattrs()
        try:
            raw_names = ann.raw_attribute_names(zattrs)
        except ValueError as exc:
            raise ReferenceFormatError(str(exc)) from exc
        # A name that is not UTF-8 by its bytes, as h5py lists it.
        names = [raw_names.get(key, key) for key in zattrs if key not in ann.SPECIAL_ATTRIBUTE_KEYS]
        if ann.tracks_creation_order(zattrs, "attributes"):
            yield from names
        else:  # by name, as HDF5 lists them: in the order of their bytes
            yield from sorted(names, key=lambda n: n if isinstance(n, bytes) else n.encode("utf-8", "surrogatepass"))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def get_id(self, name: str | bytes) -> AttributeId:
        """The attribute's type and shape, as h5py's ``AttrID`` tells them (a translated file
        has no HDF5 handle to give)."""
        value = self[name]
        key = attribute_key(self._zattrs(), name)
        described = (self._zattrs().get(ann.ATTR_DTYPES) or {}).get(key)
        return AttributeId(name, value, dtype_from_description(described) if described is not None else None)

    def __setitem__(self, name: str, value: Any) -> None:
        self.create(name, value)

    def __delitem__(self, name: str) -> None:
        self._handle.require_writable("delete attribute", error=KeyError)
        key = attribute_key(self._zattrs(), name)
        if key is None:
            raise KeyError(f"Unable to delete attribute (can't locate attribute: {name!r})")
        self._handle.delete_attribute(self._zpath, key)

    def create(self, name: str, data: Any, shape: Any = None, dtype: Any = None) -> None:
        """Create (or replace) an attribute, with the type h5py would give it."""
        self._handle.require_writable("create attribute")
        from lindi_core.facade.datatype import plain_dtype

        key = attribute_key(self._zattrs(), name)
        if key is None:  # a name not UTF-8 that is new, or text that a name not UTF-8 is kept under
            raise ValueError(f"cannot create attribute {name!r}: lindi-core creates attributes only under "
                             "UTF-8 names that no other attribute's escaped name takes")
        if key in ann.SPECIAL_ATTRIBUTE_KEYS:
            raise ValueError(f"attribute name {key!r} is reserved by the reference file format")
        encoded, description = encode_attribute(data, plain_dtype(dtype), shape)
        self._handle.set_attribute(self._zpath, key, encoded, description)

    def modify(self, name: str, value: Any) -> None:
        """Change an attribute's value, keeping its type when it exists (as h5py does)."""
        if name in self:
            # The attribute's type, not its value's: a fixed-length string's value is only as
            # long as its text, and a variable-length one's (str) does not tell its encoding.
            self.create(name, value, dtype=self.get_id(name).dtype)
        else:
            self.create(name, value)

    def __repr__(self) -> str:
        return f"<Attributes of HDF5 object at {id(self._owner)}>"


def encode_attribute(value: Any, dtype: Any = None, shape: Any = None) -> tuple[Any, Any]:
    """(JSON value, type description or None) of an attribute as h5py would store it."""
    if holds_references(value):
        region = isinstance(np.asarray(value, dtype=object).reshape(-1)[0], h5py.RegionReference)
        encoded = _JsonReferences().encode_array(np.asarray(value, dtype=object))
        return encoded, {"reference": "region" if region else "object"}
    with scratch.LOCK:  # h5py decides the type and shape, exactly as it would for a real file
        attrs = scratch.scratch_file().attrs
        name = scratch.fresh_name("a")
        try:
            attrs.create(name, value, shape=shape, dtype=dtype)
            stored_dtype = attrs.get_id(name).dtype
            stored = attrs[name]
        finally:
            if name in attrs:
                del attrs[name]
    encoded, needs_type = encode_value(stored, stored_dtype, _JsonReferences())
    return encoded, dtype_descriptions.describe(stored_dtype) if needs_type else None


class AttributeId:
    """What code reads from h5py's ``attrs.get_id(name)``: ``name``, ``dtype`` (the HDF5 type,
    with h5py's metadata: a fixed-length string's declared length, a variable-length string's
    encoding) and ``shape`` (None for an empty attribute)."""

    def __init__(self, name: str | bytes, value: Any, dtype: np.dtype | None):
        self.name = name if isinstance(name, bytes) else name.encode("utf-8")
        self.dtype = dtype if dtype is not None else value_dtype(value)
        self.shape = value_shape(value, self.dtype)


def value_dtype(value: Any) -> np.dtype:
    """The HDF5 type h5py gives an attribute read back as ``value`` with no type recorded."""
    if isinstance(value, str):
        return h5py.string_dtype("utf-8")
    if isinstance(value, h5py.RegionReference):
        return h5py.regionref_dtype
    if isinstance(value, h5py.Reference):
        return h5py.ref_dtype
    return value.dtype  # NumPy values and h5py.Empty


def value_shape(value: Any, dtype: np.dtype) -> tuple[int, ...] | None:
    """The dataspace shape of an attribute whose value is ``value`` and type ``dtype``."""
    if isinstance(value, h5py.Empty):
        return None
    shape = np.shape(value) if isinstance(value, np.ndarray) else ()
    if dtype.subdtype is not None:  # an array type's own axes are not the dataspace's
        shape = shape[: len(shape) - len(dtype.subdtype[1])]
    return tuple(shape)


def _nan_aware(value: Any) -> Any:
    """JSON values with LINDI's NaN / Infinity strings turned back into floats."""
    if isinstance(value, list):
        return [_nan_aware(v) for v in value]
    if isinstance(value, str) and value in ann.NAN_STRINGS:
        return ann.NAN_STRINGS[value]
    return value


def decode_attribute(value: Any, description: Any = None) -> Any:
    """An attribute value as h5py returns it."""
    if isinstance(value, dict) and value.get(ann.EMPTY) is True:
        return h5py.Empty(dtype_from_description(description) if description is not None else np.float64)
    if isinstance(value, dict) and ann.BASE64 in value:
        return _from_base64(value, description)
    if isinstance(description, dict) and "reference" in description:
        region = description["reference"] == "region"
        if isinstance(value, list):
            shape = _nested_shape(value)
            return references_array(list(_flatten_to(value, len(shape))), shape, region=region)
        return reference_from_json(value, region=region)
    if ann.is_reference_value(value):
        return reference_from_json(value)
    if isinstance(value, list) and value and all(ann.is_reference_value(v) or v is None for v in value) \
            and any(v is not None for v in value):
        return references_array(value, (len(value),))
    if description is None:
        return _default_decode(value)
    dtype = dtype_from_description(description)
    # h5py reads an attribute of an HDF5 array type as values of its base type, the array's axes last
    return _typed(value, dtype.base if dtype.subdtype is not None else dtype)


def _from_base64(value: dict, description: Any) -> Any:
    """An attribute stored as its bytes (spec section 7): values JSON cannot hold exactly."""
    if description is None:
        raise ValueError(f"an attribute stored as {ann.BASE64} needs its type in {ann.ATTR_DTYPES}")
    dtype = dtype_from_description(description)
    shape = tuple(value["shape"])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"shape {value['shape']!r} is not a list of sizes")
    encoded = value[ann.BASE64]
    if isinstance(encoded, list):  # variable-length strings, one element each: str as h5py gives them
        if h5py.check_string_dtype(dtype) is None or dtype.kind != "O" or len(encoded) != math.prod(shape):
            raise ValueError(f"{len(encoded)} strings for shape {list(shape)} of type {dtype}")
        texts = [base64.b64decode(v, validate=True).decode("utf-8", "surrogateescape") for v in encoded]
        if not shape:
            return texts[0]
        out = np.empty(len(texts), dtype=dtype)
        out[:] = texts
        return out.reshape(shape)
    raw = base64.b64decode(encoded, validate=True)
    if dtype.hasobject or len(raw) != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"{len(raw)} bytes are not the values of shape {list(shape)} of type {dtype}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return array[()] if not shape else array


def _default_decode(value: Any) -> Any:
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, str):
        return np.float64(ann.NAN_STRINGS[value]) if value in ann.NAN_STRINGS else value
    if isinstance(value, list):
        flat = list(_flatten(value))
        if flat and all(isinstance(v, str) and v not in ann.NAN_STRINGS for v in flat):
            return np.array(value, dtype=h5py.string_dtype("utf-8"))
        if not flat:
            return np.array(value, dtype=object) if value == [] else np.array(value)
        if all(isinstance(v, bool) for v in flat):
            return np.array(value, dtype=np.bool_)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
            return np.array(value, dtype=np.int64)
        return np.array(_nan_aware(value), dtype=np.float64)
    return value


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def _typed(value: Any, dtype: np.dtype, record: bool = False) -> Any:
    """A JSON value converted to ``dtype`` the way h5py would hand it back."""
    reference = h5py.check_ref_dtype(dtype)
    if reference is not None:  # inside a compound or a variable-length sequence
        region = reference is h5py.RegionReference
        if isinstance(value, list):
            return references_array(value, (len(value),), region=region)
        return reference_from_json(value, region=region)
    string = h5py.check_string_dtype(dtype)
    if string is not None and dtype.kind == "O":  # variable-length: str, or arrays of str
        if isinstance(value, list):
            return np.array(value, dtype=dtype)
        return value
    if string is not None:  # fixed length: bytes
        if isinstance(value, list):
            return np.array(_encode(value), dtype=dtype)
        return np.bytes_(value.encode("utf-8"))
    if dtype.subdtype is not None:  # an array type (a compound member): nested lists of its shape
        base, shape = dtype.subdtype
        out = np.empty(shape, dtype=base)
        for index in np.ndindex(*shape):
            item = value
            for i in index:
                item = item[i]
            out[index] = _typed(item, base)
        return out
    if dtype.fields is not None:
        # A record or a list of records: told apart by how deep the lists go (a record whose
        # first member is an array starts with a list too). A member is always one record.
        rows = not record and isinstance(value, list) and len(_nested_shape(value)) > _json_depth(dtype)
        array = np.empty((len(value),) if rows else (), dtype=dtype)
        _fill_compound(array, value)
        return array if array.ndim else array[()]
    if dtype.kind == "c":
        array = np.asarray(_nan_aware(value), dtype=np.float64)
        array = (array[..., 0] + 1j * array[..., 1]).astype(dtype)
        return array if array.ndim else array[()]
    vlen = h5py.check_vlen_dtype(dtype)
    if vlen is not None:
        out = np.empty(len(value), dtype=dtype)
        for i, v in enumerate(value):
            out[i] = _typed(v, vlen) if h5py.check_ref_dtype(vlen) is not None else np.asarray(_nan_aware(v), dtype=vlen)
        return out
    array = np.asarray(_nan_aware(value), dtype=dtype)
    return array if array.ndim else array[()]


def _encode(value: Any) -> Any:
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value.encode("utf-8") if isinstance(value, str) else value


def _nested_shape(value: Any) -> tuple[int, ...]:
    """The lengths of nested lists along their first elements (an empty list ends them): the
    shape of nested lists of references, whose elements are dicts or null, never lists."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _flatten_to(value: Any, depth: int) -> Iterator[Any]:
    if depth == 0:
        yield value
        return
    for item in value:
        yield from _flatten_to(item, depth - 1)


def _json_depth(dtype: np.dtype) -> int:
    """How many lists deep the JSON value of one element of ``dtype`` goes at its start."""
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return len(shape) + _json_depth(base)
    if dtype.fields is not None:
        return 1 + _json_depth(dtype.fields[dtype.names[0]][0])
    if dtype.kind == "c":
        return 1
    vlen = h5py.check_vlen_dtype(dtype)
    if vlen is not None and h5py.check_string_dtype(dtype) is None:
        return 1 + _json_depth(np.dtype(vlen))
    return 0


def _fill_compound(array: np.ndarray, value: Any) -> None:
    if array.ndim == 0:
        for (name, (field_dtype, *_)), item in zip(array.dtype.fields.items(), value):
            if h5py.check_string_dtype(field_dtype) is not None and field_dtype.kind == "O":
                item = item.encode("utf-8") if isinstance(item, str) else item  # bytes inside compounds
            array[name] = _typed(item, field_dtype, record=field_dtype.fields is not None)
        return
    for index in range(array.shape[0]):
        _fill_compound(array[index : index + 1].reshape(array.shape[1:]), value[index])
