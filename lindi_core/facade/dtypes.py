"""Rebuilding the exact h5py dtype of a dataset or attribute from a reference file.

The reference file stores a Zarr dtype plus, where that is not enough, a type description
(spec section 10). h5py marks its special types with NumPy dtype metadata (``vlen=str``,
``ref=h5py.Reference``, ``enum={...}``), and code such as hdmf checks that metadata, so the
facade must hand back dtypes carrying exactly the same marks.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from lindi_core.format import annotations as ann
from lindi_core.format.array_metadata import zarr_dtype
from lindi_core.format.dtype_descriptions import dtype_from_description, string_dtype, with_string_marks
from lindi_core.format.encoded_families import dtype_from_compound_annotation


def dataset_dtype(zarray: dict, zattrs: dict) -> np.dtype:
    """The dtype h5py reports for a translated dataset (our files and LINDI 0.4's)."""
    description = zattrs.get(ann.HDF5_DTYPE)
    if description is not None:
        return dtype_from_description(description)
    compound = zattrs.get(ann.COMPOUND_DTYPE)
    if compound is not None:  # LINDI 0.4's JSON compound
        return dtype_from_compound_annotation(compound)
    zdtype = zarray.get("dtype")
    if isinstance(zdtype, list):
        return with_string_marks(zarr_dtype(zdtype))
    if zdtype == "|O":
        return _object_dtype(zarray)
    if isinstance(zdtype, str) and zdtype[1:2] == "U":  # LINDI 0.4's scalar strings
        return string_dtype("utf-8")
    return with_string_marks(np.dtype(zdtype))


def storage_dtype(zarray: dict) -> np.dtype:
    """The NumPy dtype of the bytes Zarr stores for an array (its ``.zarray`` ``dtype``)."""
    return zarr_dtype(zarray["dtype"])


def _object_dtype(zarray: dict) -> np.dtype:
    """Object arrays written without a type description: LINDI 0.4's and kerchunk's."""
    codec = (zarray.get("filters") or [{}])[0].get("id")
    if codec == "vlen-bytes":
        return string_dtype("ascii")
    if codec == "vlen-array":
        return h5py.vlen_dtype(np.dtype(zarray["filters"][0]["dtype"]))
    # vlen-utf8 and LINDI 0.4's json2 strings (json2 reference arrays carry no marker in
    # LINDI 0.4; the dataset reader recognises their values).
    return h5py.string_dtype("utf-8")


def converted_for_write(value: Any, dtype: np.dtype) -> Any:
    """``value`` as HDF5 converts data written to a dataset of ``dtype``, where that differs from
    NumPy's cast: integers saturate at the type's limits instead of wrapping around (NaN
    as libhdf5 makes it), and compound members are matched by name,
    not by position. Other values are returned as they are, for the caller's usual cast."""
    if dtype.kind in "iu" and dtype.metadata is None:  # not enums: their values are checked by name
        array = np.asarray(value)
        if array.dtype.kind not in "iuf" or array.dtype == dtype:
            return value
        return saturating_cast(array, dtype)
    if dtype.names is not None:
        array = np.asarray(value)
        if array.dtype.names is None or array.dtype == dtype:
            return value
        missing = [name for name in dtype.names if name not in array.dtype.names]
        if missing or len(array.dtype.names) != len(dtype.names):
            raise TypeError(f"Can't convert compound {array.dtype} to {dtype}: members are matched by name")
        out = np.zeros(array.shape, dtype=dtype)
        for name in dtype.names:
            out[name] = converted_for_write(array[name], dtype.fields[name][0])
        return out
    return value


# What libhdf5's conversion makes of NaN (measured with h5py on x86-64, writes and astype alike):
# the cast of the platform's C compiler, which differs by width and signedness.
_NAN_AS = {"i1": 0, "i2": 0, "i4": -(2**31), "i8": -(2**63), "u1": 0, "u2": 0, "u4": 0, "u8": 2**63}


def saturating_cast(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Numbers to an integer type as libhdf5 converts them: out-of-range values clip to the
    type's limits (NumPy would wrap around), NaN as libhdf5 makes it."""
    limits = np.iinfo(dtype)
    if array.dtype.kind == "f":
        low, high = float(limits.min), float(limits.max)
        if high >= 2.0**53:  # not exact as a float: the largest float that fits
            high = float(np.nextafter(high, 0.0))
        nan = np.isnan(array)
        converted = np.clip(np.where(nan, 0.0, array), low, high).astype(dtype)
        converted[array >= float(limits.max)] = limits.max  # exactly, where the float could not say it
        converted[nan] = _NAN_AS.get(f"{dtype.kind}{dtype.itemsize}", 0)
        return converted
    source = np.iinfo(array.dtype)
    if source.min >= limits.min and source.max <= limits.max:
        return array.astype(dtype)
    low, high = max(limits.min, source.min), min(limits.max, source.max)  # both fit the source type
    return np.clip(array, np.array(low, array.dtype), np.array(high, array.dtype)).astype(dtype)
