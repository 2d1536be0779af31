"""Values as Zarr decodes them -> values as h5py returns them: bytes for strings, references,
structured records from JSON rows, casts as libhdf5 converts."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from lindi_core.facade import dtypes
from lindi_core.facade.references import reference_from_json
from lindi_core.format import annotations as ann


def zero_with_none_objects(dtype: np.dtype) -> Any:
    """h5py's fill value for types holding objects: zeros, with None in object members."""
    if dtype.kind == "O":
        return None
    value = np.zeros((), dtype)
    for name in dtype.names or ():
        if dtype.fields[name][0].kind == "O":
            value[name] = None
    return value[()]


def to_bytes(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.str_):
        return str(value).encode("utf-8")
    return value


def map_objects(raw: np.ndarray, convert) -> np.ndarray:
    out = np.empty(raw.shape, dtype=object)
    flat_in = raw.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_in.shape[0]):
        flat_out[i] = convert(flat_in[i])
    return out


def rows_to_structured(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """JSON rows (lists of field values) -> a structured array of h5py's compound dtype."""
    out = np.zeros(raw.shape, dtype=dtype)  # zeros: padding bytes between members are defined
    flat_in = raw.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_in.shape[0]):
        flat_out[i] = _row_value(flat_in[i], dtype)
    return out


def _row_value(row: Any, dtype: np.dtype) -> tuple:
    if row is None:  # never written: what libhdf5 reads there (zeros, null references, empty strings)
        row = [None] * len(dtype.names)
    values = []
    for (field_dtype, *_), item in zip(dtype.fields.values(), row):
        values.append(_field_value(item, field_dtype))
    return tuple(values)


def _field_value(item: Any, dtype: np.dtype) -> Any:
    if h5py.check_ref_dtype(dtype) is not None:
        return reference_from_json(item)
    if dtype.fields is not None:
        return _row_value(item, dtype)
    if item is None:
        if h5py.check_string_dtype(dtype) is not None and dtype.kind == "O":
            return b""
        vlen = h5py.check_vlen_dtype(dtype)
        return np.zeros(0, vlen) if vlen is not None else np.zeros((), dtype)[()]
    string = h5py.check_string_dtype(dtype)
    if string is not None:
        return item.encode("utf-8") if isinstance(item, str) else item
    if dtype.kind == "c" and isinstance(item, list):
        return complex(item[0], item[1])
    if dtype.kind in "Mm" and isinstance(item, int):  # a datetime's count of units
        return np.asarray(item, dtype=np.dtype(np.int64).newbyteorder(dtype.byteorder)).view(dtype)[()]
    vlen = h5py.check_vlen_dtype(dtype)
    if vlen is not None and isinstance(item, list):  # a ragged member: an array, as h5py gives it
        return np.array([_field_value(v, np.dtype(vlen)) for v in item], dtype=vlen)
    if isinstance(item, str) and item in ann.NAN_STRINGS:
        return ann.NAN_STRINGS[item]
    return item


def stored_as_bytes(stored: np.dtype, dtype: np.dtype) -> bool:
    """Whether Zarr's type ``stored`` holds values of ``dtype`` as raw bytes (``|V<n>``, for types
    Zarr has no name for: long doubles, alone or as compound members), to be viewed, not cast."""
    if stored.itemsize != dtype.itemsize or stored.hasobject or dtype.hasobject:
        return False
    if stored.names is None:  # a long double, or records Zarr has no structured type for
        return stored.kind == "V" and (dtype.kind != "V" or dtype.names is not None)
    if dtype.names is None:
        return False
    if len(stored.names) != len(dtype.names):
        return False
    members = [(stored.fields[a], dtype.fields[b]) for a, b in zip(stored.names, dtype.names)]
    return all(s[1] == d[1] for s, d in members) and any(stored_as_bytes(s[0], d[0]) for s, d in members)


def extract_fields(data: np.ndarray, names: list[str]) -> np.ndarray:
    if len(names) == 1:
        return data[names[0]]
    out = np.empty(data.shape, dtype=[(n, data.dtype.fields[n][0]) for n in names])
    for n in names:
        out[n] = data[n]
    return out


def cast(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.fields is not None and data.dtype.fields is not None:
        out = np.empty(data.shape, dtype=dtype)
        for n in dtype.names:
            out[n] = data[n]
        return out
    if dtype.kind == "T":
        return np.asarray([v.decode("utf-8") if isinstance(v, bytes) else v for v in data.reshape(-1)],
                          dtype=dtype).reshape(data.shape)
    if dtype.kind in "iu" and data.dtype.kind in "iuf":
        return dtypes.saturating_cast(data, dtype)
    return data.astype(dtype)
