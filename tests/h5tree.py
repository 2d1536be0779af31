"""Describing a whole h5py-like file object by object, for comparing the facade with h5py.

``describe_tree(f)`` is built from h5py's public API only (``visititems``, ``get(getclass=True)``,
``keys``/``items``, ``attrs``, dereferencing), so the same call on an ``h5py.File`` and on a
``LindiH5pyFile`` of the same content must give equal results. Types are compared with their
h5py marks (enum mapping, vlen base, string encoding, reference kind, field layout), which
``numpy.dtype.__eq__`` ignores.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np


def h5_class(obj: Any) -> str:
    """h5py's class of an object: what ``isinstance`` checks in user code see."""
    for cls in (h5py.Dataset, h5py.Datatype, h5py.Group):
        if isinstance(obj, cls):
            return cls.__name__
    return type(obj).__name__


def dtype_marks(dtype: np.dtype) -> Any:
    """A dtype with everything h5py marks on it, comparable with ``==``."""
    enum = h5py.check_enum_dtype(dtype)
    vlen = h5py.check_vlen_dtype(dtype)
    string = h5py.check_string_dtype(dtype)
    ref = h5py.check_ref_dtype(dtype)
    fields = None
    if dtype.names is not None:
        fields = [(name, dtype.fields[name][1], dtype_marks(dtype.fields[name][0])) for name in dtype.names]
    sub = (dtype_marks(dtype.subdtype[0]), dtype.subdtype[1]) if dtype.subdtype is not None else None
    return {
        "str": dtype.str, "itemsize": dtype.itemsize, "enum": enum,
        "vlen": dtype_marks(np.dtype(vlen)) if vlen is not None and string is None else None,
        "string": None if string is None else (string.encoding, string.length),
        "ref": None if ref is None else ref.__name__, "fields": fields, "subdtype": sub,
    }


def value_of(value: Any, file: Any) -> Any:
    """A value read from a dataset or an attribute, comparable with ``==``: references become
    the names of their targets, arrays their type, shape and elements."""
    if isinstance(value, h5py.Reference):
        return ("ref", file[value].name if value else None)
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O" or value.dtype.names is not None:
            return ("array", dtype_marks(value.dtype), value.shape, [value_of(v, file) for v in value.ravel()])
        return ("array", dtype_marks(value.dtype), value.shape, value.tolist())
    if isinstance(value, np.void) and value.dtype.names is not None:
        return tuple(value_of(value[name], file) for name in value.dtype.names)
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.item())
    if isinstance(value, h5py.Empty):
        return ("empty", dtype_marks(value.dtype))
    return value


def describe_object(obj: Any, file: Any) -> dict:
    described: dict[str, Any] = {
        "class": h5_class(obj),
        "attrs": {name: value_of(obj.attrs[name], file) for name in obj.attrs},
    }
    if isinstance(obj, (h5py.Dataset, h5py.Datatype)):
        described["dtype"] = dtype_marks(obj.dtype)
    if isinstance(obj, h5py.Dataset):
        described["shape"] = obj.shape
        described["value"] = value_of(obj[()], file)
    if isinstance(obj, h5py.Group):
        described["members"] = [(name, h5_class(member)) for name, member in obj.items()]
        described["classes"] = {name: obj.get(name, getclass=True).__name__ for name in obj.keys()}
    return described


def describe_tree(f: Any) -> dict:
    """Every object of ``f`` (reached by ``visititems``, in its order), with its class, type,
    attributes and value, plus the root's."""
    tree = {"/": describe_object(f, f)}
    order: list[str] = []

    def visit(name: str, obj: Any) -> None:
        order.append(name)
        tree[name] = describe_object(obj, f)

    f.visititems(visit)
    tree["order"] = order
    return tree
