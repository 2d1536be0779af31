"""Attributes with h5py's types (spec section 7).

Values are decoded from ``.zattrs`` JSON with the exact types recorded in ``_ATTR_DTYPES``;
without a record, h5py's defaults: ``numpy.int64``, ``numpy.float64``, ``numpy.bool_``, ``str``
and arrays of those. Reserved annotation keys are hidden. New values get the type h5py would
give them: h5py itself decides it, storing the value in a scratch in-memory HDF5 file
(:mod:`scratch`); the JSON is set through the file's low-level handle.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from lindi_core.errors import (
    LindiError,
    ReadOnlyFileError,
    ReferenceFormatError,
    UnreadableObjectError,
    UnsupportedTypeError,
)
from lindi_core.facade import scratch
from lindi_core.facade.references import (
    _JsonReferences,
    reference_from_json,
)
from lindi_core.format import annotations as ann
from lindi_core.format import dtype_descriptions
from lindi_core.format.attribute_json import decode_attribute as decode_attribute_json
from lindi_core.format.attribute_json import encode_value, value_dtype, value_shape
from lindi_core.format.dtype_descriptions import dtype_from_description
from lindi_core.format.references_json import holds_references

if TYPE_CHECKING:
    from lindi_core.facade.lowlevel import FileHandle


def _name(name: Any) -> str:
    """An attribute name as h5py takes it: str, or bytes as UTF-8."""
    if isinstance(name, bytes):
        return name.decode("utf-8")
    if not isinstance(name, str):
        raise TypeError(f"an attribute name is str or bytes, not {type(name).__name__}")
    return name


def attribute_key(zattrs: dict, name: Any) -> str | None:
    """The ``.zattrs`` key of the attribute h5py names ``name`` (str, or bytes as h5py lists a
    name that is not UTF-8), or None when ``name`` cannot name one: a key escaping a name that is
    not UTF-8 (§7) names that attribute only through its bytes."""
    try:
        raw_names = ann.raw_attribute_names(zattrs)
    except ValueError as exc:
        raise ReferenceFormatError(str(exc)) from exc
    if isinstance(name, bytes):
        try:
            text = name.decode("utf-8")
        except UnicodeDecodeError:
            return next((key for key, raw in raw_names.items() if raw == name), None)
    else:
        text = _name(name)
    return None if text in raw_names else text


class LindiH5pyAttributes(h5py.AttributeManager):
    """The ``.attrs`` of a facade object."""

    def __init__(self, owner: Any, handle: FileHandle, zpath: str):
        """The attributes of ``owner``, the object stored at ``zpath`` in the file of ``handle``."""
        self._owner = owner
        self._handle = handle
        self._zpath = zpath

    def _zattrs(self) -> dict:
        if not self._handle.is_open:  # as h5py's, once the file is closed
            raise ValueError("Invalid location identifier (the file is closed)")
        return self._handle.zattrs(self._zpath)

    def __getitem__(self, name: str | bytes) -> Any:
        if not self._handle.is_open:
            raise KeyError(f"Unable to synchronously open attribute '{name}' (the file is closed)")
        zattrs = self._zattrs()
        asked, name = name, attribute_key(zattrs, name)
        if name is None or name in ann.SPECIAL_ATTRIBUTE_KEYS or name not in zattrs:
            raise KeyError(f"Unable to synchronously open attribute (can't locate attribute: {asked!r})")
        reason = ann.unreadable_attribute_reason(zattrs[name])
        if reason is not None:  # listed, as h5py lists it, but its value did not translate
            raise UnreadableObjectError(f"attribute {name!r} cannot be read: {reason}", object_path=self._owner.name)
        try:
            described = (zattrs.get(ann.ATTR_DTYPES) or {}).get(name)
            return decode_attribute(zattrs[name], described)
        except UnsupportedTypeError as exc:
            raise UnsupportedTypeError(f"attribute {name!r} cannot be read: {exc.detail}",
                                       object_path=self._owner.name) from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            if isinstance(exc, LindiError):
                raise
            # The stored value and its type record are input, not code: one that does not decode
            # (a string where numbers belong, a type record of the wrong shape) is a bad file.
            raise ReferenceFormatError(f"attribute {name!r} of {self._owner.name!r} does not decode as its "
                                       f"recorded type: {type(exc).__name__}: {exc}") from exc

    def __contains__(self, name: object) -> bool:
        if name in ("", b""):
            raise RuntimeError("Unable to determine if attribute exists (no attribute name)")
        zattrs = self._zattrs()
        key = attribute_key(zattrs, name)
        return key is not None and key not in ann.SPECIAL_ATTRIBUTE_KEYS and key in zattrs

    # h5py's own views hold its global lock while they iterate; a read inside the loop body that
    # waits on zarr's I/O thread would then deadlock with any h5py object finalised there.
    def keys(self) -> KeysView:
        return KeysView(self)

    def values(self) -> ValuesView:
        return ValuesView(self)

    def items(self) -> ItemsView:
        return ItemsView(self)

    def __iter__(self) -> Iterator[str | bytes]:
        zattrs = self._zattrs()
        try:
            raw_names = ann.raw_attribute_names(zattrs)
        except ValueError as exc:
            raise ReferenceFormatError(str(exc)) from exc
        # A name that is not UTF-8 by its bytes, as h5py lists it.
        names = [raw_names.get(key, key) for key in zattrs if key not in ann.SPECIAL_ATTRIBUTE_KEYS]
        if ann.tracks_creation_order(zattrs, "attributes"):
            yield from names
        else:  # by name, as HDF5 lists them: in the order of their bytes
            yield from sorted(names, key=lambda n: n if isinstance(n, bytes) else n.encode("utf-8", "surrogatepass"))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def get_id(self, name: str | bytes) -> AttributeId:
        """The attribute's type and shape, as h5py's ``AttrID`` tells them (a translated file
        has no HDF5 handle to give)."""
        value = self[name]
        key = attribute_key(self._zattrs(), name)
        described = (self._zattrs().get(ann.ATTR_DTYPES) or {}).get(key)
        return AttributeId(name, value, dtype_from_description(described) if described is not None else None)

    def __setitem__(self, name: str, value: Any) -> None:
        self.create(name, value)

    def __delitem__(self, name: str) -> None:
        self._handle.require_writable("delete attribute", error=KeyError)
        key = attribute_key(self._zattrs(), name)
        if key is None:
            raise KeyError(f"Unable to delete attribute (can't locate attribute: {name!r})")
        self._handle.delete_attribute(self._zpath, key)

    def create(self, name: str, data: Any, shape: Any = None, dtype: Any = None) -> None:
        """Create (or replace) an attribute, with the type h5py would give it."""
        self._handle.check_open()
        if not self._handle.writable and name in self:  # h5py replaces one by deleting it first
            self._handle.require_writable("delete attribute", error=KeyError)
        self._handle.require_writable("synchronously create attribute")
        from lindi_core.facade.datatype import plain_dtype

        key = attribute_key(self._zattrs(), name)
        if key is None:  # a name not UTF-8 that is new, or text that a name not UTF-8 is kept under
            raise ValueError(f"cannot create attribute {name!r}: lindi-core creates attributes only under "
                             "UTF-8 names that no other attribute's escaped name takes")
        if key in ann.SPECIAL_ATTRIBUTE_KEYS:
            raise ValueError(f"attribute name {key!r} is reserved by the reference file format")
        encoded, description = encode_attribute(data, plain_dtype(dtype), shape)
        self._handle.set_attribute(self._zpath, key, encoded, description)

    def modify(self, name: str, value: Any) -> None:
        """Change an attribute's value, keeping its type when it exists (as h5py does)."""
        self._handle.check_open()
        if name in self:
            if not self._handle.writable:  # h5py writes the existing attribute's value in place
                raise ReadOnlyFileError("Can't synchronously write data (no write intent on file)")
            # The attribute's type, not its value's: a fixed-length string's value is only as
            # long as its text, and a variable-length one's (str) does not tell its encoding.
            self.create(name, value, dtype=self.get_id(name).dtype)
        else:
            self.create(name, value)

    def __repr__(self) -> str:
        return f"<Attributes of HDF5 object at {id(self._owner)}>"


def encode_attribute(value: Any, dtype: Any = None, shape: Any = None) -> tuple[Any, Any]:
    """(JSON value, type description or None) of an attribute as h5py would store it."""
    if holds_references(value):
        region = isinstance(np.asarray(value, dtype=object).reshape(-1)[0], h5py.RegionReference)
        encoded = _JsonReferences().encode_array(np.asarray(value, dtype=object))
        return encoded, {"reference": "region" if region else "object"}
    with scratch.LOCK:  # h5py decides the type and shape, exactly as it would for a real file
        attrs = scratch.scratch_file().attrs
        name = scratch.fresh_name("a")
        try:
            attrs.create(name, value, shape=shape, dtype=dtype)
            stored_dtype = attrs.get_id(name).dtype
            stored = attrs[name]
        finally:
            if name in attrs:
                del attrs[name]
    encoded, needs_type = encode_value(stored, stored_dtype, _JsonReferences())
    return encoded, dtype_descriptions.describe(stored_dtype) if needs_type else None


class AttributeId:
    """What code reads from h5py's ``attrs.get_id(name)``: ``name``, ``dtype`` (the HDF5 type,
    with h5py's metadata: a fixed-length string's declared length, a variable-length string's
    encoding) and ``shape`` (None for an empty attribute)."""

    def __init__(self, name: str | bytes, value: Any, dtype: np.dtype | None):
        self.name = name if isinstance(name, bytes) else name.encode("utf-8")
        self.dtype = dtype if dtype is not None else value_dtype(value)
        self.shape = value_shape(value, self.dtype)


def decode_attribute(value: Any, description: Any = None) -> Any:
    """An attribute value as h5py returns it, references as the facade's reference objects."""
    return decode_attribute_json(value, description, reference_from_json)
