"""Attribute values <-> ``.zattrs`` JSON (spec section 7), both directions.

JSON alone cannot say whether ``2`` was an int16 or an int64, or whether a list of booleans was
booleans. Values are written as plain JSON (as LINDI 0.4 does, NaN and infinities as the
strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``), and the exact type of every attribute whose
type a reader could not infer is recorded in the reserved ``_ATTR_DTYPES`` entry (a type
description, :mod:`lindi_core.format.dtype_descriptions`). A reader infers int64 for integers,
float64 for floats, bool for booleans and a UTF-8 string for text. Values JSON cannot hold
exactly are stored as their bytes (``{"_BASE64": ..., "shape": [...]}``), an empty attribute as
``{"_EMPTY": true}``. :func:`to_json` is also how ``json2`` rows encode their values.

Writing: :func:`encode_value`; reading: :func:`decode_attribute` (values as h5py returns them).
References cross through the caller: an encoder turning reference objects into their JSON form
(:mod:`lindi_core.format.references_json`), and a ``decode_reference(json, region)`` building
the reference objects the caller hands out.

Pure data: no files, no facade objects.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import h5py
import numpy as np

from lindi_core.format import annotations as ann
from lindi_core.format import families
from lindi_core.format.dtype_descriptions import dtype_from_description

_INFERRED = {"<i8", "<f8"}


class ReferenceJsonEncoder(Protocol):
    """Turns reference objects into their JSON form (None for a null reference)."""

    def encode(self, ref: Any) -> dict | None: ...

    def encode_array(self, values: np.ndarray) -> Any: ...


ReferenceDecoder = Callable[[Any, bool], Any]  # (JSON form or None, whether a region reference) -> a reference


def unreadable_value(reason: str) -> dict[str, Any]:
    """The value of an attribute that is listed but cannot be read (spec §7), with the reason."""
    return {ann.UNREADABLE: {"reason": reason}}


def raw_value(values: np.ndarray) -> dict[str, Any]:
    """``{"_BASE64": ..., "shape": [...]}``: the bytes of fixed-size values (C order), or for
    variable-length strings a list with the bytes of each (h5py gives them as str, any bytes
    that are not UTF-8 escaped as surrogates)."""
    values = np.asarray(values)
    if values.dtype.kind == "O":
        encoded = [base64.b64encode(v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v))
                   .decode("ascii") for v in values.reshape(-1)]
        return {ann.BASE64: encoded, "shape": list(values.shape)}
    raw = families.defined_bytes(np.ascontiguousarray(values))
    return {ann.BASE64: base64.b64encode(raw).decode("ascii"), "shape": list(values.shape)}


def encode_value(value: Any, dtype: np.dtype, refs: ReferenceJsonEncoder) -> tuple[Any, bool]:
    """(JSON value, whether the dtype must be recorded) for one attribute value."""
    if isinstance(value, h5py.Empty):
        return {ann.EMPTY: True}, True
    if not dtype.hasobject and not families.json_exact(dtype):
        return raw_value(value), True
    family = families.classify(dtype)
    if family is families.Family.REFERENCE:
        # Recorded always: a null reference is JSON null, which says nothing of its type.
        return refs.encode_array(np.asarray(value, dtype=object)), True
    if family is families.Family.VLEN_STRING:
        encoded = _strings(value)
        if _has_undecodable(encoded):  # read with surrogateescape: bytes that are not UTF-8 text
            return raw_value(np.asarray(value, dtype=object)), True
        special = _contains_nan_string(encoded) or encoded == []
        return encoded, special or h5py.check_string_dtype(dtype).encoding != "utf-8"
    array = np.asarray(value)
    try:
        json_value = to_json(array, refs)
    except UnicodeDecodeError:
        if dtype.hasobject:
            raise
        return raw_value(array), True  # fixed-length strings that are not UTF-8 text: their bytes
    inferred = (dtype.str in _INFERRED and family is families.Family.NUMERIC and h5py.check_enum_dtype(dtype) is None
                and array.size > 0)  # an empty list says nothing of its type
    return json_value, not inferred


def _strings(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_strings(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _has_undecodable(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_undecodable(v) for v in value)
    return isinstance(value, str) and any("\udc80" <= c <= "\udcff" for c in value)


def _contains_nan_string(value: Any) -> bool:
    if isinstance(value, list):
        return any(_contains_nan_string(v) for v in value)
    return value in ann.NAN_STRINGS


def to_json(array: np.ndarray, refs: ReferenceJsonEncoder | None) -> Any:
    """A NumPy array (or 0-d array) of any translatable dtype as nested JSON values."""
    dtype = array.dtype
    if array.ndim > 0:
        if dtype.kind in "iub" or (dtype.kind == "f" and bool(np.isfinite(array).all())):
            return array.tolist()
        element_dtype = None if dtype.kind == "O" else dtype  # object elements keep their own type
        return [to_json(np.asarray(array[i], dtype=element_dtype), refs) for i in range(array.shape[0])]
    scalar = array[()]
    if dtype.fields is not None:
        return [to_json(np.asarray(scalar[name]), refs) for name in dtype.names]
    if h5py.check_ref_dtype(dtype) is not None or isinstance(scalar, h5py.Reference):
        if refs is None:
            raise TypeError("references cannot be encoded here")
        return refs.encode(scalar)
    if dtype.kind == "O":
        if isinstance(scalar, (bytes, str)):
            return _strings(scalar)
        if isinstance(scalar, np.ndarray):  # a ragged (vlen) element
            return to_json(scalar, refs)
        raise TypeError(f"unsupported object value {type(scalar).__name__}")
    if dtype.kind in "Mm":  # h5py's opaque datetimes in JSON rows: their count of units (NaT: -2**63)
        return int(array.view(np.dtype(np.int64).newbyteorder(dtype.byteorder))[()])
    if dtype.kind == "S":
        return bytes(scalar).decode("utf-8")
    if dtype.kind == "U":
        return str(scalar)
    if dtype.kind == "f":
        return float_to_json(float(scalar))
    if dtype.kind == "c":
        return [float_to_json(float(scalar.real)), float_to_json(float(scalar.imag))]
    if dtype.kind == "b":
        return bool(scalar)
    if dtype.kind in "iu":
        return int(scalar)
    raise TypeError(f"unsupported attribute type {dtype!r}")


def float_to_json(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


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


def decode_attribute(value: Any, description: Any, decode_reference: ReferenceDecoder) -> Any:
    """An attribute value as h5py returns it, from its JSON value and type description (None
    when none is recorded); references made by ``decode_reference``."""
    if isinstance(value, dict) and value.get(ann.EMPTY) is True:
        return h5py.Empty(dtype_from_description(description) if description is not None else np.float64)
    if isinstance(value, dict) and ann.BASE64 in value:
        return _from_base64(value, description)
    if isinstance(description, dict) and "reference" in description:
        region = description["reference"] == "region"
        if isinstance(value, list):
            shape = _nested_shape(value)
            return _references_array(list(_flatten_to(value, len(shape))), shape, region, decode_reference)
        return decode_reference(value, region)
    if ann.is_reference_value(value):
        return decode_reference(value, False)
    if isinstance(value, list) and value and all(ann.is_reference_value(v) or v is None for v in value) \
            and any(v is not None for v in value):
        return _references_array(value, (len(value),), False, decode_reference)
    if description is None:
        return _default_decode(value)
    dtype = dtype_from_description(description)
    # h5py reads an attribute of an HDF5 array type as values of its base type, the array's axes last
    return _typed(value, dtype.base if dtype.subdtype is not None else dtype, decode_reference)


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


def _typed(value: Any, dtype: np.dtype, decode_reference: ReferenceDecoder, record: bool = False) -> Any:
    """A JSON value converted to ``dtype`` the way h5py would hand it back."""
    reference = h5py.check_ref_dtype(dtype)
    if reference is not None:  # inside a compound or a variable-length sequence
        region = reference is h5py.RegionReference
        if isinstance(value, list):
            return _references_array(value, (len(value),), region, decode_reference)
        return decode_reference(value, region)
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
            out[index] = _typed(item, base, decode_reference)
        return out
    if dtype.fields is not None:
        # A record or a list of records: told apart by how deep the lists go (a record whose
        # first member is an array starts with a list too). A member is always one record.
        rows = not record and isinstance(value, list) and len(_nested_shape(value)) > _json_depth(dtype)
        array = np.empty((len(value),) if rows else (), dtype=dtype)
        _fill_compound(array, value, decode_reference)
        return array if array.ndim else array[()]
    if dtype.kind == "c":
        array = np.asarray(_nan_aware(value), dtype=np.float64)
        array = (array[..., 0] + 1j * array[..., 1]).astype(dtype)
        return array if array.ndim else array[()]
    vlen = h5py.check_vlen_dtype(dtype)
    if vlen is not None:
        out = np.empty(len(value), dtype=dtype)
        for i, v in enumerate(value):
            out[i] = _typed(v, vlen, decode_reference) if h5py.check_ref_dtype(vlen) is not None else np.asarray(_nan_aware(v), dtype=vlen)
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


def _fill_compound(array: np.ndarray, value: Any, decode_reference: ReferenceDecoder) -> None:
    if array.ndim == 0:
        for (name, (field_dtype, *_)), item in zip(array.dtype.fields.items(), value):
            if h5py.check_string_dtype(field_dtype) is not None and field_dtype.kind == "O":
                item = item.encode("utf-8") if isinstance(item, str) else item  # bytes inside compounds
            array[name] = _typed(item, field_dtype, decode_reference, record=field_dtype.fields is not None)
        return
    for index in range(array.shape[0]):
        _fill_compound(array[index : index + 1].reshape(array.shape[1:]), value[index], decode_reference)


def _references_array(values: Any, shape: tuple[int, ...], region: bool,
                      decode_reference: ReferenceDecoder) -> np.ndarray:
    """An object array of references shaped ``shape`` from a (flat) list of JSON values."""
    out = np.empty(shape, dtype=object)
    flat = list(values) if shape else [values]
    for i, v in enumerate(flat):
        out.flat[i] = decode_reference(v, region)
    return out
