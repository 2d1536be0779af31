"""Special annotations: the reserved ``.zattrs`` keys that carry what Zarr cannot say.

HDF5 has concepts Zarr v2 lacks (scalars, links, references, compound and enum types, null
dataspaces, exact attribute types). Reference files carry them as reserved keys in ``.zattrs``
or as reserved JSON shapes in attribute values. The first five are LINDI 0.4's and keep its
exact JSON shape and meaning; the rest are ours. ``spec/lindi-json.md`` is the normative text.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

# LINDI 0.4 annotations.
SCALAR = "_SCALAR"  # array .zattrs: true -> HDF5 scalar dataset stored as shape [1]
SOFT_LINK = "_SOFT_LINK"  # group .zattrs: {"path": "/abs/target"}
EXTERNAL_ARRAY_LINK = "_EXTERNAL_ARRAY_LINK"  # array .zattrs: {"link_type", "url", "name"}
REFERENCE = "_REFERENCE"  # value: {"object_id", "path", "source", "source_object_id"}
COMPOUND_DTYPE = "_COMPOUND_DTYPE"  # array .zattrs: [[field, dtype-string], ...]

# lindi-core extensions.
HARD_LINK = "_HARD_LINK"  # group .zattrs: {"path": "/abs/first/path"} - a second name of an object
EXTERNAL_LINK = "_EXTERNAL_LINK"  # group .zattrs: {"file": "other.h5", "path": "/abs/path"}
NAMED_DATATYPE = "_NAMED_DATATYPE"  # group .zattrs: {"dtype": description} - a committed datatype
HDF5_DTYPE = "_HDF5_DTYPE"  # array .zattrs: exact h5py dtype where the Zarr dtype is not enough
NULL_DATASPACE = "_NULL_DATASPACE"  # array .zattrs: true -> HDF5 null dataspace (h5py.Empty)
ATTR_DTYPES = "_ATTR_DTYPES"  # .zattrs: {attr name: dtype} where JSON alone loses the type
# .zattrs: {key: base64 of the name's bytes} - attributes whose HDF5 names are not UTF-8 (JSON keys
# are text): each is kept under a key escaping its bytes, and h5py names it by its bytes
ATTRIBUTE_NAMES = "_ATTRIBUTE_NAMES"
# group .zattrs: [{"name": base64, "position": n, "reason": text}, ...] - its links whose names are
# not UTF-8: listed (by their bytes, at their place in the listing), refusing to be followed
UNTRANSLATED_LINKS = "_UNTRANSLATED_LINKS"
EMPTY = "_EMPTY"  # attribute value {"_EMPTY": true} -> h5py.Empty (dtype in _ATTR_DTYPES)
# attribute value {"_BASE64": "...", "shape": [...]}: the values' bytes (type in _ATTR_DTYPES), for
# values JSON cannot hold exactly; ["...", ...] (one per element) for variable-length strings
BASE64 = "_BASE64"
HDF5_CHUNKS = "_HDF5_CHUNKS"  # array .zattrs: null -> not chunked in HDF5 (Zarr chunks are virtual)
HDF5_MAXSHAPE = "_HDF5_MAXSHAPE"  # array .zattrs: maxshape when it differs from shape (null = unlimited)
# array .zattrs: [[filter id, flags, [values]], ...] - the HDF5 filter pipeline of a dataset whose
# values are stored re-encoded (strings, references, ...), so no Zarr codec describes it
HDF5_FILTERS = "_HDF5_FILTERS"
# array .zattrs: [values...] - the fill value the file defines for a ragged (vlen) dataset; absent:
# none defined (h5py's fillvalue is then None)
HDF5_FILLVALUE = "_HDF5_FILLVALUE"
# group or array .zattrs: {"links": bool, "attributes": bool} - the object lists its links or its
# attributes in creation order (HDF5's order otherwise: by name)
CREATION_ORDER = "_CREATION_ORDER"
# array .zattrs: {"reason": text} - a dataset translated without readable values (a filter missing
# where it was translated, a type with no Zarr form): reading it raises, naming the reason. As an
# attribute value {"_UNREADABLE": {"reason": text}}: an attribute listed but not readable.
UNREADABLE = "_UNREADABLE"
# array .zattrs: [name, ...] - the names of the array's dimensions, one per Zarr axis: the Zarr
# convention xarray's Zarr backend reads (and kerchunk writes). It stays in .zattrs, where those
# readers look, and is no HDF5 attribute: readers presenting HDF5 hide it.
ARRAY_DIMENSIONS = "_ARRAY_DIMENSIONS"
REFERENCE_FIELD = "<REFERENCE>"  # _COMPOUND_DTYPE field type of an object reference (LINDI)
REGION = "region"  # extra key in a _REFERENCE value: the selected region of a region reference

LINDI_SPECIAL_KEYS = frozenset({SCALAR, SOFT_LINK, EXTERNAL_ARRAY_LINK, REFERENCE, COMPOUND_DTYPE})
# Zarr conventions of other readers: kept in .zattrs (not moved to .zhdf5), hidden from attributes.
ZARR_CONVENTION_KEYS = frozenset({ARRAY_DIMENSIONS})
SPECIAL_ATTRIBUTE_KEYS = LINDI_SPECIAL_KEYS | ZARR_CONVENTION_KEYS | frozenset(
    {HARD_LINK, EXTERNAL_LINK, NAMED_DATATYPE, HDF5_DTYPE, NULL_DATASPACE, ATTR_DTYPES, ATTRIBUTE_NAMES, UNTRANSLATED_LINKS,
     HDF5_CHUNKS, HDF5_MAXSHAPE,
     HDF5_FILTERS, HDF5_FILLVALUE, CREATION_ORDER, UNREADABLE}
)

# JSON has no NaN or infinities; LINDI 0.4 writes them as these strings.
NAN_STRINGS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}

LINK_ANNOTATIONS = (SOFT_LINK, HARD_LINK, EXTERNAL_LINK)


def tracks_creation_order(zattrs: dict[str, Any] | None, what: str) -> bool:
    """Whether an object lists its ``"links"`` or ``"attributes"`` in creation order."""
    order = zattrs.get(CREATION_ORDER) if isinstance(zattrs, dict) else None
    return isinstance(order, dict) and bool(order.get(what))


def raw_attribute_names(zattrs: dict[str, Any] | None) -> dict[str, bytes]:
    """{key: the attribute's name as bytes} for the attributes whose names are not UTF-8 (§7);
    :class:`ValueError` for a record that is not an object of base64 texts."""
    record = zattrs.get(ATTRIBUTE_NAMES) if isinstance(zattrs, dict) else None
    if not record:
        return {}
    if not isinstance(record, dict) or not all(isinstance(v, str) for v in record.values()):
        raise ValueError(f"{ATTRIBUTE_NAMES} must map attribute keys to the base64 of their names")
    try:
        return {key: base64.b64decode(raw, validate=True) for key, raw in record.items()}
    except binascii.Error as exc:
        raise ValueError(f"{ATTRIBUTE_NAMES} holds a name that is not base64: {exc}") from exc


def untranslated_links(zattrs: dict[str, Any] | None) -> list[tuple[int, bytes, str]]:
    """(position in the group's listing, name's bytes, reason) of each link a group lists whose
    name is not UTF-8 (spec §8), by position; :class:`ValueError` for a malformed record."""
    record = zattrs.get(UNTRANSLATED_LINKS) if isinstance(zattrs, dict) else None
    if not record:
        return []
    try:
        links = [(int(e["position"]), base64.b64decode(e["name"], validate=True), str(e["reason"])) for e in record]
    except (TypeError, KeyError, ValueError, binascii.Error) as exc:
        raise ValueError(f"{UNTRANSLATED_LINKS} must be a list of {{name, position, reason}}: {exc}") from exc
    return sorted(links)


def user_attributes(zattrs: dict[str, Any]) -> dict[str, Any]:
    """The attributes of an object without the reserved annotation keys."""
    return {k: v for k, v in zattrs.items() if k not in SPECIAL_ATTRIBUTE_KEYS}


def unreadable_reason(annotation: Any) -> str | None:
    """Why a dataset is unreadable, from its ``_UNREADABLE`` annotation (``{"reason": text}``);
    None when it has none."""
    if annotation is None:
        return None
    reason = annotation.get("reason") if isinstance(annotation, dict) else None
    return reason if isinstance(reason, str) else "the reference file gives no reason"


def unreadable_attribute_reason(value: Any) -> str | None:
    """Why an attribute is unreadable, when its value is ``{"_UNREADABLE": {"reason": text}}``."""
    if isinstance(value, dict) and len(value) == 1 and UNREADABLE in value:
        return unreadable_reason(value[UNREADABLE]) or "the reference file gives no reason"
    return None


def unreadable_objects(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """``(path, reason)`` for every dataset and attribute a reference file records as unreadable
    (spec section 8), from its in-memory metadata (``.zattrs`` holding the annotations); an
    attribute's path is ``object/path@name``."""
    found = []
    for key in sorted(metadata):
        if not (key == ".zattrs" or key.endswith("/.zattrs")):
            continue
        zattrs = metadata[key]
        if not isinstance(zattrs, dict):
            continue
        path = "/" + key[: -len(".zattrs")].rstrip("/")
        reason = unreadable_reason(zattrs.get(UNREADABLE))
        if reason is not None:
            found.append((path, reason))
        for name, value in zattrs.items():
            reason = unreadable_attribute_reason(value)
            if reason is not None and name not in SPECIAL_ATTRIBUTE_KEYS:
                found.append((f"{path}@{name}", reason))
    return found


def is_reference_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(REFERENCE), dict)


def link_annotation(zattrs: dict[str, Any]) -> tuple[str, dict] | None:
    """(kind, body) when a group's attributes mark it as a link, else None."""
    for key in LINK_ANNOTATIONS:
        body = zattrs.get(key)
        if isinstance(body, dict):
            return key, body
    return None
