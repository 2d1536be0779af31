"""Values as Zarr decodes them -> values as h5py returns them: bytes for strings, references,
structured records from JSON rows, casts as libhdf5 converts."""

from __future__ import annotations

from typing import Any

import numpy as np

from lindi_core.facade import dtypes
from lindi_core.facade.references import reference_from_json
from lindi_core.format import encoded_families


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
    """JSON rows (lists of field values) -> a structured array of h5py's compound dtype, its
    references the facade's (the rows' form: :mod:`lindi_core.format.encoded_families`)."""
    return encoded_families.rows_to_structured(raw, dtype, reference_from_json)


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
