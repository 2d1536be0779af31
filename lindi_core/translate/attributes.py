"""HDF5 attributes -> ``.zattrs`` JSON: reading them from libhdf5 (names that are not UTF-8,
types h5py cannot read, creation order); their values' JSON form is
:mod:`lindi_core.format.attribute_json`.
"""

from __future__ import annotations

import base64
from typing import Any

import h5py
import numpy as np

from lindi_core.errors import TranslationError
from lindi_core.format import annotations as ann
from lindi_core.format import dtype_descriptions
from lindi_core.format.attribute_json import encode_value, raw_value, unreadable_value
from lindi_core.translate.references import ReferenceEncoder
from lindi_core.translate.vlen_bounds import AttributeChecker, RawReader


def encode_attributes(obj: h5py.HLObject, refs: ReferenceEncoder, source: str,
                      read_raw: RawReader | None = None) -> dict[str, Any]:
    """The attributes of ``obj`` as a ``.zattrs`` dict, with ``_ATTR_DTYPES`` when needed.
    ``read_raw(offset, length)`` reads the file's bytes, to check variable-length values
    before libhdf5 reads them (see :mod:`lindi_core.translate.vlen_bounds`)."""
    out: dict[str, Any] = {}
    vlen_check = AttributeChecker(obj, read_raw)
    described: dict[str, Any] = {}
    raw_names: dict[str, str] = {}  # escaped key -> base64 of a name that is not UTF-8
    tracked = creation_order(obj)
    # Opened by position in h5py's listing order (creation order where tracked, else names):
    # what iterating obj.attrs then opening each by name does, with one lookup and one
    # property list per object instead of one per attribute.
    order = h5py.h5.INDEX_CRT_ORDER if tracked and tracked["attributes"] else h5py.h5.INDEX_NAME
    for index in range(h5py.h5a.get_num_attrs(obj.id)):
        name = None
        try:
            attr_id = h5py.h5a.open(obj.id, index=index, index_type=order)
            name = _attribute_key(attr_id.name, out, raw_names)
            if name in out:  # HDF5 names are unique: a name not UTF-8 was escaped to this text before
                out, described = _move_escaped(name, out, described, raw_names)
            try:
                dtype = attr_id.dtype
            except (TypeError, ValueError):  # h5py has no NumPy type for it: kept as bytes, described
                out[name], described[name] = _undecodable_attribute(attr_id)
                continue
            vlen_check.check(name, dtype)
            value = read_attribute(attr_id, dtype)
            out[name], needs_type = encode_value(value, dtype, refs)
        except TranslationError as exc:
            raise exc.located(source=source, object_path=obj.name) from None
        except (TypeError, ValueError) as exc:
            if name is None:
                raise TranslationError(f"attribute number {index} cannot be translated: {exc}", source=source,
                                       object_path=obj.name) from exc
            # Its value has no form in a reference file: listed, and raising when read (h5py too
            # opens the object and raises only when such an attribute is read).
            out[name], needs_type = unreadable_value(f"its value cannot be translated: {exc}"), False
        except OSError as exc:  # libhdf5 failing to read it: a corrupt file
            what = f"attribute {name!r}" if name is not None else f"attribute number {index}"
            raise TranslationError(f"{what} cannot be translated: {exc}", source=source, object_path=obj.name) from exc
        if needs_type:
            described[name] = dtype_descriptions.describe(dtype)
    if described:
        out[ann.ATTR_DTYPES] = described
    if raw_names:
        out[ann.ATTRIBUTE_NAMES] = raw_names
    if tracked:
        out[ann.CREATION_ORDER] = tracked
    return out


def _attribute_key(name: bytes, taken: dict[str, Any], raw_names: dict[str, str]) -> str:
    """The ``.zattrs`` key of an attribute named ``name``: the name itself when it is UTF-8;
    else (JSON keys are text) its bytes escaped as ``\\xff``, made unique among the object's
    names, with the name's bytes recorded under that key in ``raw_names`` (spec §7)."""
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        pass
    key = _free_key(name.decode("utf-8", "backslashreplace"), taken, raw_names)
    raw_names[key] = base64.b64encode(name).decode("ascii")
    return key


def _free_key(key: str, taken: dict[str, Any], raw_names: dict[str, str]) -> str:
    while key in taken or key in raw_names:
        key += "~"
    return key


def _move_escaped(key: str, out: dict[str, Any], described: dict[str, Any],
                  raw_names: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(out, described) with the attribute escaped under ``key`` moved to a free key, in place,
    for a UTF-8 name (met after it) that is that very text."""
    moved = _free_key(key + "~", out, raw_names)
    raw_names[moved] = raw_names.pop(key)
    if key in described:
        described[moved] = described.pop(key)
    return {moved if k == key else k: v for k, v in out.items()}, described


def read_attribute(attr_id: h5py.h5a.AttrID, dtype: np.dtype) -> Any:
    """The value of an open attribute, as ``obj.attrs[name]`` gives it (h5py's own steps).

    Not ``obj.attrs[name]`` itself: that opens the attribute a second time, after the open that
    tells its type, and on a metadata-heavy NWB file the two opens were a tenth of translating it.
    """
    shape = attr_id.shape
    if shape is None:  # a null dataspace
        return h5py.Empty(dtype)
    memory_type = h5py.h5t.py_create(dtype)
    if dtype.subdtype is not None:  # NumPy has no top-level array types: the array's axes go last
        base, inner = dtype.subdtype
        shape, dtype = shape + inner, base
    values = np.zeros(shape, dtype=dtype, order="C")
    attr_id.read(values, mtype=memory_type)
    string = h5py.check_string_dtype(dtype)
    if string is not None and string.length is None:  # variable-length strings come back as str
        values = np.array([b.decode("utf-8", "surrogateescape") for b in values.flat], dtype=dtype).reshape(values.shape)
    return values[()] if values.ndim == 0 else values


def _undecodable_attribute(attr_id: h5py.h5a.AttrID) -> tuple[dict, Any]:
    """(the raw form of an attribute of a type h5py cannot read, its exact type description):
    its bytes read with its own type as the memory type, so libhdf5 converts nothing."""
    type_id = attr_id.get_type()
    description = dtype_descriptions.exact_description(type_id)
    if attr_id.shape is None:
        return {ann.EMPTY: True}, description
    values = np.empty(attr_id.shape, dtype=f"V{type_id.get_size()}")
    attr_id.read(values, mtype=type_id)
    return raw_value(values), description


def creation_order(obj: h5py.HLObject) -> dict[str, bool] | None:
    """``{"links": ..., "attributes": ...}`` for an object that lists its links (groups) or its
    attributes in creation order, as HDF5 does when that order is tracked; None otherwise."""
    try:
        plist = obj.id.get_create_plist()
        links = isinstance(obj, h5py.Group) and bool(plist.get_link_creation_order() & h5py.h5p.CRT_ORDER_TRACKED)
        attributes = bool(plist.get_attr_creation_order() & h5py.h5p.CRT_ORDER_TRACKED)
    except (AttributeError, RuntimeError, ValueError):  # e.g. committed datatypes
        return None
    return {"links": links, "attributes": attributes} if links or attributes else None
