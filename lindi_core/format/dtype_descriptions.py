"""HDF5 type descriptions (spec section 10), both directions: NumPy/h5py dtype -> JSON and back.

A reference file stores a Zarr dtype plus, where that is not enough, a description of the HDF5
type (``_HDF5_DTYPE``, attribute types, committed datatypes). h5py marks its special types with
NumPy dtype metadata (``vlen=str``, ``ref=h5py.Reference``, ``enum={...}``), and code such as
hdmf checks that metadata, so reading a description must hand back dtypes carrying exactly the
marks h5py puts on the types it reads. :func:`describe` writes a description of an h5py dtype,
:func:`exact_description` one of a libhdf5 type id (for types h5py has no exact dtype for), and
:func:`dtype_from_description` reads either back.

Pure data: h5py's dtype helpers and in-memory libhdf5 type ids only, no files.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from lindi_core.errors import ReferenceFormatError, UnsupportedTypeError


def is_numpy_opaque(dtype: np.dtype) -> bool:
    """h5py's ``opaque_dtype``: a NumPy type (datetime64, timedelta64) HDF5 stores as opaque bytes
    tagged ``NUMPY:<type string>``, which h5py reads back as that type (marked ``h5py_opaque``)."""
    return bool(dtype.metadata) and bool(dtype.metadata.get("h5py_opaque"))


def members_back_to_back(dtype: np.dtype) -> bool:
    """True when members follow each other in order with no padding (nested compounds allowed)."""
    offset = 0
    for name in dtype.names:
        field_dtype, field_offset = dtype.fields[name][:2]
        if field_offset != offset:
            return False
        offset += field_dtype.itemsize
    return offset == dtype.itemsize



def describe(dtype: np.dtype) -> Any:
    """A JSON description from which the exact h5py dtype can be rebuilt.

    A NumPy type string for plain types (``"<i2"``, ``">f4"``, ``"|S5"``, ``"|b1"``), else an
    object: ``{"string": encoding}`` for variable-length strings, ``{"enum": {...}, "base": t}``,
    ``{"vlen": t}``, ``{"reference": "object" | "region"}``, ``{"compound": [[name, t], ...]}``,
    ``{"array": t, "shape": [n, ...]}``, ``{"opaque": t}`` for h5py's NumPy-tagged opaque types,
    ``{"float": {...}}`` for floats wider than 8 bytes (the platform's long double, see
    :func:`exact_description`).
    """
    if is_numpy_opaque(dtype):
        return {"opaque": dtype.str}
    if dtype.kind == "f" and dtype.itemsize > 8:
        return numpy_description(dtype)
    ref = h5py.check_ref_dtype(dtype)
    if ref is not None:
        return {"reference": "region" if ref is h5py.RegionReference else "object"}
    string = h5py.check_string_dtype(dtype)
    if string is not None:
        if dtype.kind == "S":
            return {"string": string.encoding, "length": dtype.itemsize} if string.encoding != "ascii" else dtype.str
        return {"string": string.encoding}
    vlen = h5py.check_vlen_dtype(dtype)
    if vlen is not None:
        return {"vlen": describe(np.dtype(vlen))}
    mapping = h5py.check_enum_dtype(dtype)
    if mapping is not None and dtype.kind != "b":
        return {"enum": {k: int(v) for k, v in mapping.items()}, "base": dtype.str}
    if dtype.subdtype is not None:  # an HDF5 array type (a compound member of fixed shape)
        base, shape = dtype.subdtype
        return {"array": describe(base), "shape": [int(n) for n in shape]}
    if dtype.fields is not None:
        described: dict[str, Any] = {"compound": [[name, describe(dtype.fields[name][0])] for name in dtype.names]}
        if not members_back_to_back(dtype):  # padding or reordered members: keep HDF5's layout, as h5py reports it
            described["offsets"] = [int(dtype.fields[name][1]) for name in dtype.names]
            described["itemsize"] = int(dtype.itemsize)
        return described
    return dtype.str


def dtype_from_description(description: Any) -> np.dtype:
    """The h5py dtype a type description (spec section 10) stands for."""
    if isinstance(description, str):
        return with_string_marks(np.dtype(description))
    if isinstance(description, dict):
        if "string" in description:
            return string_dtype(description["string"], description.get("length"))
        if "enum" in description:
            return h5py.enum_dtype({k: int(v) for k, v in description["enum"].items()},
                                   basetype=np.dtype(description["base"]))
        if "vlen" in description:
            return h5py.vlen_dtype(dtype_from_description(description["vlen"]))
        if "array" in description:
            return np.dtype((dtype_from_description(description["array"]), tuple(int(n) for n in description["shape"])))
        if "opaque" in description:  # h5py's opaque_dtype: a NumPy type HDF5 keeps as tagged bytes
            return np.dtype(description["opaque"], metadata={"h5py_opaque": True})
        if "float" in description:
            return _float_dtype(description)
        if any(form in description for form in _UNREADABLE):
            raise UnsupportedTypeError(f"HDF5 type {description} has no NumPy type (h5py cannot read it either)")
        if "reference" in description:
            return h5py.regionref_dtype if description["reference"] == "region" else h5py.ref_dtype
        if "compound" in description:
            names = [name for name, _ in description["compound"]]
            formats = [dtype_from_description(sub) for _, sub in description["compound"]]
            if "offsets" in description:  # HDF5's layout with padding
                return np.dtype({"names": names, "formats": formats, "offsets": list(description["offsets"]),
                                 "itemsize": int(description["itemsize"])})
            return np.dtype(list(zip(names, formats)))
    raise ReferenceFormatError(f"unknown type description {description!r}")


_UNREADABLE = ("integer", "bitfield", "time", "unsupported")  # the exact forms of types h5py reads as no dtype


def _float_dtype(description: dict) -> np.dtype:
    """The NumPy float whose bytes the described HDF5 float type is, bit for bit, on this platform
    (the platform's long double, usually): h5py reads the type as that float without converting."""
    layout = description["float"]
    order = layout.get("order")
    if order not in ("<", ">"):
        raise ReferenceFormatError(f"float type description {description!r}: 'order' must be \"<\" or \">\"")
    for candidate in (np.float16, np.float32, np.float64, np.longdouble):
        native = numpy_description(np.dtype(candidate))["float"]
        if {**native, "order": order} == layout:
            return np.dtype(candidate).newbyteorder(order)
    raise UnsupportedTypeError(f"HDF5 float type {layout} is no NumPy float of this platform (its long double "
                               f"is {numpy_description(np.dtype(np.longdouble))['float']}): its values cannot be "
                               f"read here without converting them")


def string_dtype(encoding: str, length: Any = None) -> np.dtype:
    """h5py's dtype for an HDF5 string type, with the metadata h5py reads back: for fixed-length
    strings ``h5py_encoding`` whatever the encoding (``h5py.string_dtype("ascii", n)`` itself
    leaves it out for ASCII, but h5py marks the types it reads from a file)."""
    if length is None:
        return h5py.string_dtype(encoding)
    return np.dtype(f"S{int(length)}", metadata={"h5py_encoding": encoding})


def with_string_marks(dtype: np.dtype) -> np.dtype:
    """``dtype`` with h5py's ``h5py_encoding`` mark on its fixed-length byte strings (HDF5
    strings: a type string ``|S<n>`` stands for an ASCII one), compound members and array
    types included, as h5py reports every string type it reads."""
    if dtype.fields is not None:
        formats = [with_string_marks(dtype.fields[name][0]) for name in dtype.names]
        if all(new is dtype.fields[name][0] for new, name in zip(formats, dtype.names)):
            return dtype
        return np.dtype({"names": list(dtype.names), "formats": formats,
                         "offsets": [dtype.fields[name][1] for name in dtype.names], "itemsize": dtype.itemsize})
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        marked = with_string_marks(base)
        return dtype if marked is base else np.dtype((marked, shape))
    if dtype.kind == "S" and dtype.metadata is None:
        return string_dtype("ascii", dtype.itemsize)
    return dtype


_NORMS = {h5py.h5t.NORM_IMPLIED: "implied", h5py.h5t.NORM_MSBSET: "msbset", h5py.h5t.NORM_NONE: "none"}
_CLASS_NAMES = {
    h5py.h5t.INTEGER: "integer", h5py.h5t.FLOAT: "float", h5py.h5t.TIME: "time", h5py.h5t.STRING: "string",
    h5py.h5t.BITFIELD: "bitfield", h5py.h5t.OPAQUE: "opaque", h5py.h5t.COMPOUND: "compound",
    h5py.h5t.REFERENCE: "reference", h5py.h5t.ENUM: "enum", h5py.h5t.VLEN: "vlen", h5py.h5t.ARRAY: "array",
}


def _order(type_id: h5py.h5t.TypeAtomicID) -> str:
    return ">" if type_id.get_order() == h5py.h5t.ORDER_BE else "<"


def exact_description(type_id: h5py.h5t.TypeID) -> dict[str, Any]:
    """The type description (spec section 10) of an HDF5 type as libhdf5 defines it.

    Integers, bitfields and floats are described field by field (size, byte order, precision
    and bit offset; sign, exponent and mantissa bits, exponent bias and normalization of
    floats); time types by their size; any other type h5py cannot read by its class and size.
    """
    kind = type_id.get_class()
    size = int(type_id.get_size())
    if kind == h5py.h5t.INTEGER:
        return {"integer": {"size": size, "order": _order(type_id), "precision": int(type_id.get_precision()),
                            "offset": int(type_id.get_offset()), "signed": type_id.get_sign() == h5py.h5t.SGN_2}}
    if kind == h5py.h5t.BITFIELD:  # h5py tells a bitfield's size and order only
        return {"bitfield": {"size": size, "order": _order(type_id), "standard": is_standard_bitfield(type_id)}}
    if kind == h5py.h5t.FLOAT:
        return {"float": {"size": size, "order": _order(type_id), "precision": int(type_id.get_precision()),
                          "offset": int(type_id.get_offset()), "fields": [int(n) for n in type_id.get_fields()],
                          "bias": int(type_id.get_ebias()), "norm": _NORMS.get(type_id.get_norm(), "none")}}
    if kind == h5py.h5t.TIME:
        return {"time": {"size": size}}
    return {"unsupported": _CLASS_NAMES.get(kind, f"class {int(kind)}"), "size": size}


def is_standard_bitfield(type_id: h5py.h5t.TypeID) -> bool:
    """Whether a bitfield uses all its bits (HDF5's ``STD_B<n>``: precision = size, offset 0),
    which h5py cannot ask of it but libhdf5 can compare."""
    size = type_id.get_size()
    name = f"STD_B{8 * size}{'BE' if _order(type_id) == '>' else 'LE'}"
    standard = getattr(h5py.h5t, name, None)
    return standard is not None and type_id.equal(standard)


def numpy_description(dtype: np.dtype) -> dict[str, Any]:
    """The exact description of the HDF5 type h5py writes for a NumPy number type."""
    return exact_description(h5py.h5t.py_create(dtype))


