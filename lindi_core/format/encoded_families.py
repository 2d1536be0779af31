"""The families encoded in the reference file (spec section 4), both directions.

References, ragged arrays and compounds holding references or variable-length members are not
referenced in place (see :mod:`lindi_core.format.families`): their values are encoded into the
reference file as Zarr object arrays. Ragged arrays use numcodecs' ``vlen-array``; the others
``json2`` JSON values, a compound as a row (a list of its members' values, see
:func:`lindi_core.format.attribute_json.to_json`) with LINDI 0.4's ``_COMPOUND_DTYPE``
annotation naming its members' types. This module writes and reads those forms; references
cross through the caller (``decode_reference(json, region)``), as in attribute JSON.

Pure data: NumPy, numcodecs' codec configurations and h5py's dtype helpers only.
"""

from __future__ import annotations

from typing import Any

import h5py
import numcodecs
import numpy as np

from lindi_core.format import annotations as ann
from lindi_core.format.attribute_json import ReferenceDecoder
from lindi_core.format.dtype_descriptions import string_dtype, with_string_marks
from lindi_core.format.families import is_reference_dtype

JSON_CODEC_CONFIG = numcodecs.JSON().get_config()  # the json2 codec of every JSON-encoded array


def ragged_codec(base: np.dtype) -> numcodecs.VLenArray:
    """The ``vlen-array`` codec of ragged arrays of ``base`` numbers."""
    return numcodecs.VLenArray(base.str)


def compound_annotation(dtype: np.dtype) -> list[list[str]]:
    """``_COMPOUND_DTYPE``: ``[[member, type], ...]`` as LINDI 0.4 writes it (references as
    ``<REFERENCE>``, other members by NumPy's type string)."""
    return [[name, ann.REFERENCE_FIELD if is_reference_dtype(dtype.fields[name][0]) else str(dtype.fields[name][0])]
            for name in dtype.names]


def dtype_from_compound_annotation(compound: list) -> np.dtype:
    """The h5py dtype of a ``_COMPOUND_DTYPE`` annotation (LINDI 0.4's JSON compounds, ``object``
    members as variable-length UTF-8 strings)."""
    return np.dtype([(name, h5py.ref_dtype if t == ann.REFERENCE_FIELD else _lindi_field(t)) for name, t in compound])


def _lindi_field(type_string: str) -> np.dtype:
    if type_string == "object":
        return string_dtype("utf-8")
    return with_string_marks(np.dtype(type_string))


def rows_to_structured(raw: np.ndarray, dtype: np.dtype, decode_reference: ReferenceDecoder) -> np.ndarray:
    """JSON rows (lists of field values) -> a structured array of h5py's compound dtype, its
    reference members made by ``decode_reference``."""
    out = np.zeros(raw.shape, dtype=dtype)  # zeros: padding bytes between members are defined
    flat_in = raw.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_in.shape[0]):
        flat_out[i] = _row_value(flat_in[i], dtype, decode_reference)
    return out


def _row_value(row: Any, dtype: np.dtype, decode_reference: ReferenceDecoder) -> tuple:
    if row is None:  # never written: what libhdf5 reads there (zeros, null references, empty strings)
        row = [None] * len(dtype.names)
    values = []
    for (field_dtype, *_), item in zip(dtype.fields.values(), row):
        values.append(_field_value(item, field_dtype, decode_reference))
    return tuple(values)


def _field_value(item: Any, dtype: np.dtype, decode_reference: ReferenceDecoder) -> Any:
    if h5py.check_ref_dtype(dtype) is not None:
        return decode_reference(item, False)
    if dtype.fields is not None:
        return _row_value(item, dtype, decode_reference)
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
        return np.array([_field_value(v, np.dtype(vlen), decode_reference) for v in item], dtype=vlen)
    if isinstance(item, str) and item in ann.NAN_STRINGS:
        return ann.NAN_STRINGS[item]
    return item
