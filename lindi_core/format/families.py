"""Type families: how the values of an HDF5 datatype (as h5py presents it) are stored.

Datasets and attributes are dispatched by *family*: what a family is decides whether its chunks
can be referenced in place (the bytes in the file are exactly what Zarr decodes, under the Zarr
type :func:`zarr_dtype_json` names) or whether its values are encoded into the reference file:
variable-length strings as ``vlen-utf8``/``vlen-bytes``, ragged arrays as ``vlen-array``,
references and compounds holding them or variable-length members as ``json2`` rows (variable-
length data lives in HDF5's global heap; references must be rewritten as paths). Both the
translator and the facade's writer follow these rules.

Pure data: NumPy dtypes and h5py's dtype helpers only.
"""

from __future__ import annotations

import enum
import functools
from typing import Any

import h5py
import numpy as np

from lindi_core.format.dtype_descriptions import is_numpy_opaque, members_back_to_back


class Family(enum.Enum):
    NUMERIC = "numeric"  # ints, floats, complex, bool, enum: referenced in place
    FIXED_STRING = "fixed_string"  # |S<n>: referenced in place
    COMPOUND = "compound"  # packed compound of in-place families: referenced in place
    OPAQUE = "opaque"  # |V<n> without fields: referenced in place
    VLEN_STRING = "vlen_string"  # inlined, vlen-utf8 / vlen-bytes
    RAGGED = "ragged"  # vlen of numbers: inlined, vlen-array
    REFERENCE = "reference"  # object or region references: inlined, json2
    COMPOUND_JSON = "compound_json"  # compound with references or vlen members: inlined, json2


IN_PLACE = frozenset({Family.NUMERIC, Family.FIXED_STRING, Family.COMPOUND, Family.OPAQUE})


def is_reference_dtype(dtype: np.dtype) -> bool:
    return dtype.kind == "O" and h5py.check_ref_dtype(dtype) is not None  # h5py's references are objects


def storage_str(dtype: np.dtype) -> str:
    """The Zarr v2 type string of a non-structured in-place type: its NumPy type string, or
    ``|V<n>`` (its bytes) for types Zarr has none for: the platform's long double and its
    complex, and opaque types tagged with NumPy types other than numbers and times."""
    if dtype.kind == "f" and dtype.itemsize > 8 or dtype.kind == "c" and dtype.itemsize > 16:
        return f"|V{dtype.itemsize}"
    if is_numpy_opaque(dtype) and dtype.kind not in "iufcbMm":
        return f"|V{dtype.itemsize}"
    return dtype.str


def classify(dtype: np.dtype) -> Family:
    """The family of a dataset or attribute type."""
    if is_numpy_opaque(dtype):
        return Family.OPAQUE
    if dtype.kind in "iufcb":  # the common case first: none of the checks below applies to it
        return Family.NUMERIC
    if is_reference_dtype(dtype):
        return Family.REFERENCE
    if h5py.check_string_dtype(dtype) is not None:
        return Family.FIXED_STRING if dtype.kind == "S" else Family.VLEN_STRING
    if h5py.check_vlen_dtype(dtype) is not None:
        return Family.RAGGED
    if dtype.fields is not None:
        members = [classify(dtype.fields[name][0]) for name in dtype.names]
        if all(m in IN_PLACE for m in members) and _is_packed(dtype) and dtype.subdtype is None:
            return Family.COMPOUND
        if not dtype.hasobject and not json_exact(dtype):
            # records JSON cannot hold exactly (long doubles, datetimes) in a layout Zarr has no
            # structured type for (array members, nested compounds): their bytes, as opaque
            return Family.OPAQUE
        return Family.COMPOUND_JSON
    if dtype.kind == "V":
        return Family.OPAQUE
    if dtype.kind in "iufcb":
        return Family.NUMERIC
    raise TypeError(f"unsupported HDF5 datatype {dtype!r}")


def json_exact(dtype: np.dtype) -> bool:
    """Whether JSON values hold values of a type exactly: not long doubles (whose 80 bits a JSON
    number cannot carry) nor h5py's NumPy-tagged opaque types, also as compound or array members."""
    if dtype.names is not None:
        return all(json_exact(dtype.fields[name][0]) for name in dtype.names)
    if dtype.subdtype is not None:
        return json_exact(dtype.subdtype[0])
    return not (dtype.kind == "f" and dtype.itemsize > 8 or dtype.kind == "c" and dtype.itemsize > 16) \
        and not is_numpy_opaque(dtype)


def split_array_type(dtype: np.dtype) -> tuple[np.dtype, tuple[int, ...]]:
    """``(element type, shape)`` of an HDF5 array type (h5py's subarray dtype); ``(dtype, ())``
    for any other type."""
    if dtype.subdtype is None:
        return dtype, ()
    return dtype.base, tuple(int(n) for n in dtype.shape)


def opaque_member_view(dtype: np.dtype) -> np.dtype | None:
    """For a packed compound with members of HDF5 array types (PyTables' shaped columns), the
    same bytes as a compound Zarr can store: each such member an opaque ``|V<n>`` of its size
    (zarr-python keeps no subarray members). None for any other type."""
    if dtype.fields is None or dtype.subdtype is not None or not members_back_to_back(dtype):
        return None
    formats = []
    for name in dtype.names:
        member = dtype.fields[name][0]
        element, sub = split_array_type(member)
        if element.fields is not None or element.subdtype is not None or classify(element) not in IN_PLACE:
            return None
        formats.append(np.dtype(f"|V{member.itemsize}") if sub else member)
    if formats == [dtype.fields[name][0] for name in dtype.names]:
        return None  # no array members: Zarr stores it as it is
    return np.dtype(list(zip(dtype.names, formats)))


def _is_packed(dtype: np.dtype) -> bool:
    """True for flat fields back to back with no padding, as Zarr's structured type assumes."""
    # zarr-python 3 reads flat structured types only: nested compounds go the JSON way.
    flat = all(dtype.fields[name][0].subdtype is None and dtype.fields[name][0].fields is None for name in dtype.names)
    return flat and members_back_to_back(dtype)


def zarr_dtype_json(dtype: np.dtype) -> Any:
    """The Zarr v2 ``dtype`` field of an in-place family (plain or structured type string)."""
    if dtype.fields is not None:
        if classify(dtype) is Family.OPAQUE:  # records stored as their bytes (see classify)
            return f"|V{dtype.itemsize}"
        return [[name, zarr_dtype_json(dtype.fields[name][0])] for name in dtype.names]
    return storage_str(dtype)


@functools.lru_cache(maxsize=256)
def undefined_bytes_mask(dtype: np.dtype) -> bytes | None:
    """Per element, 0x00 for the bytes no value defines (an x87 long double's 6 padding bytes,
    padding between compound members), 0xFF for the others; None when every byte is defined.

    libhdf5 converting a long double leaves its padding as whatever memory held: written as
    they are, those bytes would make the output differ between runs and could carry leftover
    memory into a reference file."""
    mask = bytearray(b"\xff" * dtype.itemsize)
    if dtype.subdtype is not None:
        inner = undefined_bytes_mask(dtype.subdtype[0])
        if inner is None:
            return None
        mask = bytearray(inner * (dtype.itemsize // max(1, len(inner))))
    elif dtype.fields is not None:
        mask = bytearray(dtype.itemsize)
        for name in dtype.names:
            field, offset = dtype.fields[name][:2]
            inner = undefined_bytes_mask(field) or b"\xff" * field.itemsize
            mask[offset:offset + field.itemsize] = inner
    elif dtype.char in "gG" and np.finfo(np.longdouble).nmant == 63 and dtype.itemsize in (16, 32):
        for start in range(0, dtype.itemsize, 16):  # x87 extended precision: 10 bytes in 16
            mask[start + 10:start + 16] = bytes(6)
    return None if all(b == 0xFF for b in mask) else bytes(mask)


def defined_bytes(values: np.ndarray) -> bytes:
    """``values.tobytes()`` with the bytes no value defines set to zero (see undefined_bytes_mask)."""
    raw = values.tobytes()
    mask = undefined_bytes_mask(values.dtype)
    if mask is None or not raw:
        return raw
    full = np.frombuffer(mask * (len(raw) // len(mask)), dtype=np.uint8)
    return (np.frombuffer(raw, dtype=np.uint8) & full).tobytes()
