"""A view of a reference store whose ``.zattrs`` hold only what Zarr readers call attributes.

In memory (and so in a :class:`ReferenceStore`'s ``.zattrs``) an object's attributes sit beside
lindi-core's annotations (``_ATTR_DTYPES``, ``_HDF5_CHUNKS``, ``_SCALAR``...; spec §8), which the
facade, the tree listing and our own writing read through the store. A Zarr reader that is not
lindi-core, such as xarray's Zarr backend, would show them as attributes of every variable. The
view serves each ``.zattrs`` with the annotations left out, by the rule the facade uses for
HDF5 attributes (:func:`lindi_core.format.annotations.user_attributes`), except the Zarr
conventions of other readers (``_ARRAY_DIMENSIONS``), which those readers look for there.

The view shares the store's reference file system, trust and chunk sink; only ``.zattrs`` is
served differently. Writing a ``.zattrs`` through it (a Zarr writer rewriting an array's
metadata, as ``resize`` does) keeps the annotations the object has: the writer never saw them,
so leaving them out is no request to remove them. The reference file on disk is unchanged by
any of this (LINDI 0.4 and fsspec readers of the JSON see what they always did).
"""

from __future__ import annotations

from typing import Any

import orjson
from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import annotations as ann
from lindi_core.format.keys import split_key
from lindi_core.store.reference_store import ReferenceStore

ZATTRS = ".zattrs"
HIDDEN_KEYS = ann.SPECIAL_ATTRIBUTE_KEYS - ann.ZARR_CONVENTION_KEYS


def plain_attributes(zattrs: dict[str, Any]) -> dict[str, Any]:
    """An object's ``.zattrs`` as Zarr readers should see it: its attributes and the Zarr
    conventions of other readers, without lindi-core's annotations."""
    return {k: v for k, v in zattrs.items() if k not in HIDDEN_KEYS}


class PlainAttributesStore(ReferenceStore):
    """A :class:`ReferenceStore` over the same references whose ``.zattrs`` hold no annotation
    (module docstring). Make one with :meth:`of` (or ``ReferenceStore.plain_view()``)."""

    @classmethod
    def of(cls, store: ReferenceStore) -> PlainAttributesStore:
        """The plain view of ``store``: the same reference file system (edits through one are
        seen by the other), trust, connections, chunk sink and mode."""
        if isinstance(store, PlainAttributesStore):
            return store
        view = cls(store.rfs, policy=store.policy, sources=store.sources, read_only=store.read_only,
                   chunk_sink=store.chunk_sink, inline_limit=store.inline_limit,
                   memory_cache_bytes=store.memory_cache_bytes, container=store.container)
        view._own_chunk_urls = store._own_chunk_urls  # writes of this process, through either store
        view.pickling_refused = store.pickling_refused
        return view

    def with_read_only(self, read_only: bool = False) -> ReferenceStore:
        return PlainAttributesStore.of(super().with_read_only(read_only))

    def __eq__(self, other: object) -> bool:
        # (a plain view serves other bytes than its store: never equal to it)
        return isinstance(other, PlainAttributesStore) and super().__eq__(other)

    def __hash__(self) -> int:
        return hash(("plain", super().__hash__()))

    def __repr__(self) -> str:
        return "Plain" + super().__repr__()

    def _plain_zattrs(self, key: str) -> bytes | None:
        """The bytes of ``.zattrs`` key ``key`` without annotations; None when it is no ``.zattrs``
        the reference file system holds as metadata."""
        if split_key(key)[1] != ZATTRS:
            return None
        value = self.rfs.metadata.get(key)
        return orjson.dumps(plain_attributes(value)) if isinstance(value, dict) else None

    async def get(self, key: str, prototype: BufferPrototype | None = None,
                  byte_range: ByteRequest | None = None) -> Buffer | None:
        data = self._plain_zattrs(key)
        if data is None:
            return await super().get(key, prototype, byte_range)
        if byte_range is not None:
            # (a range of metadata is not something Zarr asks for: answer it from the same bytes)
            from lindi_core.store.reference_store import _apply_range

            data = _apply_range(data, byte_range)
        return (prototype or default_buffer_prototype()).buffer.from_bytes(data)

    async def getsize(self, key: str) -> int:
        data = self._plain_zattrs(key)
        return len(data) if data is not None else await super().getsize(key)

    async def set(self, key: str, value: Buffer) -> None:
        if split_key(key)[1] != ZATTRS:
            await super().set(key, value)
            return
        self._check_writable()
        written = orjson.loads(value.to_bytes())
        if not isinstance(written, dict):
            raise ReferenceFormatError(f"{key!r}: attributes must be a JSON object")
        reserved = sorted(set(written) & HIDDEN_KEYS)
        if reserved:
            raise ReferenceFormatError(f"{key!r}: {reserved} are lindi-core annotations (spec section 8), not "
                                       "attributes a Zarr writer may set")
        kept = {k: v for k, v in (self.rfs.metadata.get(key) or {}).items() if k in HIDDEN_KEYS}
        await super().set(key, value.from_bytes(orjson.dumps({**written, **kept})))
