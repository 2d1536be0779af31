"""Where the extension annotations live in a reference file: ``.zhdf5`` beside ``.zattrs``.

In memory an object's ``.zattrs`` holds its attributes and every annotation (spec §8). On disk
the extension annotations go to a sibling key ``<path>/.zhdf5``, with the attributes LINDI 0.4
cannot read, because LINDI 0.4 shows every ``.zattrs`` key but its own five as an attribute and
raises on values it does not know (objects, null, lists of mixed types): a ``.zattrs`` with
``"_HDF5_CHUNKS": null`` or ``"_ATTR_DTYPES": {...}`` makes pynwb over LINDI fail on the file.
Zarr readers ignore ``.zhdf5`` (it is neither an array nor a group); lindi-core merges it back
when it loads a file, and still reads files that kept annotations in ``.zattrs``.

Pure data: :func:`split_for_disk` when writing, :func:`merge_from_disk` when reading.
"""

from __future__ import annotations

from typing import Any

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import annotations as ann

HDF5_FACTS_NAME = ".zhdf5"
EXTENSION_KEYS = ann.SPECIAL_ATTRIBUTE_KEYS - ann.LINDI_SPECIAL_KEYS
# In .zhdf5: attributes whose values LINDI 0.4 cannot read, and (when there are any) the order
# of all attributes, so that those put back keep their place among the others.
ATTRIBUTES = "_ATTRIBUTES"
ATTRIBUTE_ORDER = "_ATTRIBUTE_ORDER"


def split_for_disk(zattrs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the ``.zattrs`` to write, the ``.zhdf5`` to write beside it or None)."""
    facts = {k: v for k, v in zattrs.items() if k in EXTENSION_KEYS}
    # (attributes whose names are not UTF-8 too: LINDI 0.4 would show them under their escaped keys)
    escaped = zattrs.get(ann.ATTRIBUTE_NAMES) or {}
    unreadable = {k: v for k, v in zattrs.items()
                  if k not in ann.SPECIAL_ATTRIBUTE_KEYS and (k in escaped or not lindi04_reads(v))}
    if not facts and not unreadable:
        return zattrs, None
    if unreadable:
        facts[ATTRIBUTES] = unreadable
        facts[ATTRIBUTE_ORDER] = [k for k in zattrs if k not in ann.SPECIAL_ATTRIBUTE_KEYS]
    # (user attributes may be named like the keys of .zhdf5 itself: only the annotations leave)
    visible = {k: v for k, v in zattrs.items() if k not in EXTENSION_KEYS and k not in unreadable}
    return visible, facts


def merge_from_disk(zattrs: dict[str, Any] | None, facts: dict[str, Any]) -> dict[str, Any]:
    """The in-memory ``.zattrs`` of an object from its ``.zattrs`` and ``.zhdf5`` on disk;
    :class:`ReferenceFormatError` for a ``.zhdf5`` this format does not define."""
    unknown = set(facts) - EXTENSION_KEYS - {ATTRIBUTES, ATTRIBUTE_ORDER}
    if unknown:
        raise ReferenceFormatError(f"unknown keys in {HDF5_FACTS_NAME}: {sorted(unknown)}")
    visible = dict(zattrs or {})
    moved = facts.get(ATTRIBUTES) or {}
    order = facts.get(ATTRIBUTE_ORDER)
    if not isinstance(moved, dict):
        raise ReferenceFormatError(f"{ATTRIBUTES} in {HDF5_FACTS_NAME} must be an object of attributes")
    if order is not None and not (isinstance(order, list) and all(isinstance(n, str) for n in order)):
        raise ReferenceFormatError(f"{ATTRIBUTE_ORDER} in {HDF5_FACTS_NAME} must be a list of attribute names")
    merged: dict[str, Any] = {}
    if moved:
        names = order if isinstance(order, list) else [*visible, *moved]
        for name in names:
            if name in moved:
                merged[name] = moved[name]
            elif name in visible:
                merged[name] = visible[name]
    for name, value in visible.items():  # what the order does not list (or all, without moves)
        merged.setdefault(name, value)
    for name, value in moved.items():
        merged.setdefault(name, value)
    for key, value in facts.items():
        if key not in (ATTRIBUTES, ATTRIBUTE_ORDER):
            merged[key] = value
    return merged


def lindi04_reads(value: Any) -> bool:
    """Whether LINDI 0.4 can turn this attribute value into an h5py value: a string, number or
    boolean, a reference, or a nested list of strings, of integers, of numbers or of booleans
    (after it reads the strings "NaN", "Infinity" and "-Infinity" as floats, as it does)."""
    if isinstance(value, dict):
        return ann.REFERENCE in value
    if value is None:
        return False
    if not isinstance(value, list):
        return True
    leaves: set[type] = set()
    if not _leaf_kinds(value, leaves):
        return False
    return len(leaves) <= 1 or leaves <= {int, float}


def _leaf_kinds(value: list, kinds: set[type]) -> bool:
    for item in value:
        if isinstance(item, list):
            if not _leaf_kinds(item, kinds):
                return False
        elif isinstance(item, bool):
            kinds.add(bool)
        elif isinstance(item, (int, float)):
            kinds.add(type(item))
        elif isinstance(item, str):
            kinds.add(float if item in ann.NAN_STRINGS else str)
        else:
            return False
    return True
