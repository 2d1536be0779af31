"""A zarr-python 3 store over a reference file system.

``zarr.open_group(ReferenceStore.from_file("x.nwb.lindi.json"), mode="r")`` opens a
translated HDF5 file as Zarr v2 groups and arrays. Metadata and inline chunks come from
memory; referenced chunks are read from their file or URL on demand. A store that is not
read-only also writes: into the reference file system in memory (its overlay), new chunks
inline when small, else to its chunk sink (a staging area, a container). Read chunks are fixed
up where HDF5 and Zarr disagree:

* a short final chunk of an uncompressed array (contiguous data cut into virtual chunks) is
  padded with zeros to the full chunk size Zarr expects;
* refs inside a ``.lindi.tar`` container to its own members (``./blobs/x/0``) read byte ranges
  of the archive (:mod:`lindi_core.io.tar_container`);
* chunks of arrays LINDI 0.4 linked to their HDF5 dataset (``_EXTERNAL_ARRAY_LINK``) are found
  in that file's chunk index (:mod:`lindi_core.store.external_arrays`);
* a chunk that HDF5 stored with some optional filters skipped is rewritten into the form the
  full codec pipeline decodes, and chunks of libhdf5-decoded arrays get their filter mask
  prefixed (:mod:`lindi_core.store.filter_mask`).

A store pickles (for dask, multiprocessing) as its reference file system and its settings: the
copy opens its own connections when it first reads, and shares the local cache through its
folder. A store whose writes go to a chunk sink, or that a file opened for writing owns, refuses
to pickle: a copy elsewhere could not keep its edits.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import numcodecs
import numpy as np
import orjson
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

import lindi_core.codecs  # noqa: F401  (registers our codecs and data types)
from lindi_core.codecs.bounded import check_encoded_chunk, chunk_geometry
from lindi_core.errors import (
    ByteSourceError,
    ChunkDecodeError,
    NotPicklableError,
    ReferenceFormatError,
    TarFormatError,
    UnreadableObjectError,
)
from lindi_core.format import annotations as ann
from lindi_core.format import jsonio, temporaries
from lindi_core.format.keys import chunk_coords, chunk_owner, join_key, split_key
from lindi_core.format.lindi_tar import looks_like_ustar
from lindi_core.format.refs import ZARR_METADATA_NAMES, ChunkColumns, ChunkRef, ReferenceFileSystem
from lindi_core.io import folder_container, sync_bridge, tar_container
from lindi_core.io.address_guard import AddressSpace
from lindi_core.io.cache import LocalCache
from lindi_core.io.coalesce import RangeSink
from lindi_core.io.http_source import HttpSource
from lindi_core.io.locations import Location, LocationPolicy, is_url
from lindi_core.io.sources import ByteSources, fetch_url_sync
from lindi_core.io.sync_http import SyncHttp
from lindi_core.io.tar_container import TarContainer
from lindi_core.store import lazy_tables
from lindi_core.store.external_arrays import ExternalArrayIndex
from lindi_core.store.filter_mask import restore_skipped_filters, uses_libhdf5_pipeline, with_mask_header
from lindi_core.store.metadata_checks import check_array_metadata, check_group_metadata

# Chunks up to this decoded size are checked on the event loop (microseconds of work, less than
# a hop to a worker thread costs); larger ones in a thread, so the loop keeps serving transfers.
CHECK_HERE_BYTES = 64 * 1024


class ChunkSink(Protocol):
    """Where a writable store puts new chunk bytes (e.g. a staging area)."""

    def store_chunk(self, key: str, data: bytes) -> ChunkRef:
        """Keep ``data`` (the chunk at ``key``) and say where it is."""


class ReferenceStore(Store):
    """A Zarr store whose keys are those of a :class:`ReferenceFileSystem`; it writes (unless
    read-only) into that reference file system, larger chunks through its chunk sink."""

    supports_writes = True
    supports_deletes = True
    supports_listing = True
    # Every metadata key is in memory already, and a ``.zmetadata`` kept in the reference file
    # would go stale on the facade's edits: zarr reads the metadata keys themselves.
    supports_consolidated_metadata = False

    def __init__(self, rfs: ReferenceFileSystem, *, policy: LocationPolicy | None = None,
                 sources: ByteSources | None = None, read_only: bool = True, chunk_sink: ChunkSink | None = None,
                 inline_limit: int = 4096, memory_cache_bytes: int = 256 * 1024 * 1024,
                 container: TarContainer | None = None):
        super().__init__(read_only=read_only)
        # Recently read chunk bytes, so reads that touch a chunk again (random access, overlapping
        # slices) make no new request; bounded, least recently used dropped first.
        self._recent: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._recent_bytes = 0
        # The remembered spans (ranges read for many chunks at once, see read_span) by URL: a
        # chunk inside one is served from it.
        self._recent_spans: dict[str, list[tuple[int, int]]] = {}  # (start, stop), sorted
        self.memory_cache_bytes = memory_cache_bytes
        self.chunk_sink = chunk_sink
        # Targets of the chunks this store itself handed to the chunk sink. They are readable
        # whatever the policy: this process wrote them. Only these exact paths, never their
        # folder: an untrusted reference file naming another staged file stays refused.
        self._own_chunk_urls: set[str] = set()
        self.inline_limit = inline_limit
        self.rfs = rfs
        self.policy = policy or LocationPolicy()
        self.container = container  # the .lindi.tar this reference file lives in, if any
        self.sources = sources or ByteSources(guard=self.policy.address_guard())
        self.external_arrays = ExternalArrayIndex(self.policy)
        # Why this store may not be pickled although it has no chunk sink (a file opened for
        # writing owns it and writes its edits back): None when it may.
        self.pickling_refused: str | None = None
        # Where the reference file came from (its table files are beside it, spec §13).
        self._reference_source: str | None = None
        lazy_tables.bind_table_files(self, None)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_file(cls, path_or_url: str | os.PathLike, *, allow_local: bool | None = None,
                  local_cache: LocalCache | None = None, allow_private_network: bool = False,
                  reach: AddressSpace = AddressSpace.LOOPBACK, timeout: float | None = None,
                  read_only: bool = True) -> ReferenceStore:
        """Open a ``.lindi.json`` or a ``.lindi.tar`` from a local path or an http(s) URL, or a
        local ``.lindi.d`` folder.

        A file fetched from a URL may not point at local files unless ``allow_local=True`` (refs
        to the members of a container are always allowed: they read the container itself), nor
        at network addresses more private than the one it came from (public < private <
        link-local < loopback) unless ``allow_private_network=True`` or ``allow_local=True``.
        ``reach`` caps the addresses for a file opened on behalf of another reference file.
        ``local_cache`` keeps the remote chunks read, on disk, for later reads. ``timeout``: the
        seconds one remote read may take in all, its retries included (default 60).
        """
        target = os.fspath(path_or_url)
        http_options = {} if timeout is None else {"timeout": timeout}
        opened = None
        fetched_with = None
        if is_url(target):
            guard = fetched_with = LocationPolicy.fetch_guard(
                allow_local=allow_local, allow_private_network=allow_private_network, reach=reach)
            if folder_container.folder_url(target) is not None:  # a .lindi.d: its lindi.json, files relative to it
                opened = folder_container.open_url(target, lambda url: fetch_url_sync(url, guard=guard, **http_options))
            elif tar_container.names_tar(target):
                http = SyncHttp(guard=guard, **http_options)
                try:
                    opened = tar_container.open_url(target, http=http)
                finally:
                    http.close()
            else:
                data = fetch_url_sync(target, guard=guard, **http_options)
                if looks_like_ustar(data):  # a container at a URL that does not say so
                    opened = tar_container.open_bytes(Location("http", target), data)
                else:
                    rfs = jsonio.loads(data)
        else:
            # As every open of a local reference file: a writer's in-place copy, left unfinished by
            # a crash, is finished first (see lindi_core.format.temporaries).
            if folder_container.holds_folder(target):  # a .lindi.d: lindi.json and chunk files
                temporaries.remove_stale(os.path.realpath(os.path.join(target, "lindi.json")))
                opened = folder_container.open_local(target)
            elif tar_container.holds_tar(target):
                temporaries.remove_stale(os.path.realpath(target))
                opened = tar_container.open_local(target)
            else:
                temporaries.remove_stale(os.path.realpath(target))
                rfs = jsonio.load_path(target)
        policy = LocationPolicy.for_source(target, allow_local=allow_local,
                                           allow_private_network=allow_private_network, reach=reach,
                                           fetched_with=fetched_with)
        guard = policy.address_guard()
        sources = ByteSources(HttpSource(guard=guard, **http_options), cache=local_cache, guard=guard)
        if opened is not None:
            store = cls(jsonio.loads(opened.reference_text), policy=policy, sources=sources,
                        container=opened.container, read_only=read_only)
        else:
            store = cls(rfs, policy=policy, sources=sources, read_only=read_only)
        store._reference_source = target
        lazy_tables.bind_table_files(store, target, rebind=True)
        return store

    @classmethod
    def from_dict(cls, obj: dict, *, base_dir: str | None = None, allow_local: bool | None = None,
                  local_cache: LocalCache | None = None, read_only: bool = True) -> ReferenceStore:
        """A store over the parsed JSON of a reference file (the caller's: trusted, see
        :meth:`LocationPolicy.for_source`)."""
        policy = LocationPolicy.for_source(None, allow_local=allow_local, base_dir=base_dir)
        return cls(jsonio.from_json_dict(obj), policy=policy, sources=ByteSources(cache=local_cache), read_only=read_only)

    def with_read_only(self, read_only: bool = False) -> ReferenceStore:
        """A store over the same reference file system (edits through one are seen by the
        other), with the same trust and chunk sink, ``read_only`` or not, with its own
        connections."""
        other = type(self)(self.rfs, policy=self.policy, sources=self.sources.fresh(), read_only=read_only,
                           chunk_sink=self.chunk_sink, inline_limit=self.inline_limit,
                           memory_cache_bytes=self.memory_cache_bytes, container=self.container)
        other._own_chunk_urls = self._own_chunk_urls  # writes of this process, through either store
        other.pickling_refused = self.pickling_refused
        return other

    def plain_view(self) -> ReferenceStore:
        """This store as Zarr readers other than lindi-core should see it (xarray's ``open_zarr``):
        ``.zattrs`` without lindi-core's annotations (:mod:`lindi_core.store.plain_attributes`)."""
        from lindi_core.store.plain_attributes import PlainAttributesStore

        return PlainAttributesStore.of(self)

    def __eq__(self, other: object) -> bool:
        """Equal when over the same references (the same object, or equal contents: a pickled
        copy), with the same trust in where they lead, and the same mode."""
        if not isinstance(other, ReferenceStore):
            return False
        if other is self:
            return True
        return (self.read_only == other.read_only and self.policy == other.policy
                and _container_location(self) == _container_location(other)
                and self.rfs.same_references(other.rfs))

    def __hash__(self) -> int:
        # Equal stores may hold distinct reference file systems, which change as the store
        # writes: only what never changes may go into the hash.
        return hash((type(self).__name__, self.read_only, self.policy))

    def __getstate__(self) -> dict[str, Any]:
        """The reference file system and the settings (trust, timeout, local cache folder);
        no connection, lock or remembered chunk: the copy opens its own when it reads."""
        if self.chunk_sink is not None:
            raise NotPicklableError(f"{self!r} cannot be pickled: its new chunks go to {self.chunk_sink!r}, which "
                                    "a copy in another process could not share")
        if self.pickling_refused is not None:
            raise NotPicklableError(f"{self!r} cannot be pickled: {self.pickling_refused}")
        state = dict(self.__dict__)
        state.update(_recent=OrderedDict(), _recent_bytes=0, _recent_spans={})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        lazy_tables.bind_table_files(self, self._reference_source)  # their readers are not pickled

    def __repr__(self) -> str:
        return f"ReferenceStore({len(self.rfs.metadata)} metadata keys, {len(self.rfs.tables)} chunk tables)"

    # -- reading --------------------------------------------------------------------------
    async def get(self, key: str, prototype: BufferPrototype | None = None,
                  byte_range: ByteRequest | None = None) -> Buffer | None:
        if prototype is None:
            prototype = default_buffer_prototype()
        data = await self._value_bytes(key)
        if data is None:
            return None
        if byte_range is None:
            await self._check_decodable(key, data)
        if key.endswith((".zarray", ".zgroup")):
            self._check_metadata(key)
        return prototype.buffer.from_bytes(_apply_range(data, byte_range))

    async def chunk_bytes(self, key: str) -> bytes | None:
        """The bytes Zarr's codecs decode for ``key`` (``None``: not stored, the fill value),
        unchecked: for the read engine's decoders, which bound themselves."""
        return await self._value_bytes(key)

    async def chunk_ref_columns(self, array_path: str, linear: np.ndarray | range) -> ChunkColumns | None:
        """The table refs of the chunks at grid positions ``linear`` (or a ``range`` of them) of the array at
        ``array_path`` (see :meth:`ChunkTable.lookup_many`), ``None`` when the array has no chunk
        table. Chunks without a table ref may still be inline, or in a linked HDF5 file: their
        values are :meth:`chunk_bytes`'s business. (The one place the read engine looks refs up
        in bulk.)"""
        table = self.rfs.tables.get(array_path)
        if table is None:
            return None
        await lazy_tables.load_cells(self.rfs, array_path, linear)
        return table.lookup_many(linear)

    def span_location(self, url: str) -> Location | None:
        """Where the refs into ``url`` lead when a range of it may be read as named, spanning
        several refs: ``None`` for a member of this store's container (a ref into a member is
        checked against the member's end, one at a time, by :meth:`locate`). Raises as
        :meth:`locate` does for a target the policy refuses."""
        if self.container is not None and self.container.member_for(url) is not None:
            return None
        if url in self._own_chunk_urls:
            return Location("local", url)
        return self.policy.resolve(url)

    async def read_span(self, url: str, location: Location, start: int, length: int,
                        into: RangeSink | None = None) -> bytes | None:
        """The bytes ``[start, start + length)`` of ``url`` (at ``location``, from
        :meth:`span_location`): a range covering the refs of several chunks, read as one. A
        read-only store remembers it among its recent reads (a store that writes does not: the
        span may cover bytes its edits make stale). With ``into``, the bytes go there as they
        arrive (:meth:`ByteSources.read_into`) and ``None`` is returned; the span is remembered
        then only if the sink kept its bytes (a ``keep`` attribute true, and ``span_bytes()``)."""
        token = (url, start, length)
        held: bytes | memoryview | None = self._recent.get(token)
        if held is not None:
            self._recent.move_to_end(token)
        else:  # inside a larger span remembered (a read of the same chunks, cut in other stages)
            held = self._in_recent_span(url, start, length)
        if held is not None:
            if into is None:
                return bytes(held) if isinstance(held, memoryview) else held
            into.restart()
            into.write(0, memoryview(held))
            return None
        if into is not None:
            await self.sources.read_into(location, start, length, into)
            if getattr(into, "keep", False):
                kept = into.span_bytes()
                if len(kept) == length:
                    self._remember_span(token, kept)
            return None
        data = await self.sources.read(location, start, length)
        if len(data) != length:  # every source checks this; a span is never taken short
            raise ByteSourceError(f"{url}: read {len(data)} bytes at offset {start}, not the {length} asked for")
        self._remember_span(token, data)
        return data

    def _remember_span(self, token: tuple[str, int, int], data: bytes) -> None:
        """Keep a span read among the recent reads, findable by the ranges inside it (a
        read-only store only)."""
        url, start, length = token
        if self.read_only and self._remember(token, data):
            bisect.insort(self._recent_spans.setdefault(url, []), (start, start + length))

    def _from_recent_span(self, ref: ChunkRef) -> bytes | None:
        """The bytes of ``ref`` out of a remembered span that holds them, if any."""
        found = self._in_recent_span(ref.url, ref.offset, ref.length)
        return None if found is None else bytes(found)

    def _in_recent_span(self, url: str, offset: int, length: int) -> memoryview | None:
        """The bytes ``[offset, offset + length)`` of ``url`` in a remembered span that holds
        them all, if any (a view of the span's bytes)."""
        spans = self._recent_spans.get(url)
        if not spans or length < 0:
            return None
        found = bisect.bisect_right(spans, (offset, math.inf)) - 1  # the last span starting at or before it
        if found < 0 or spans[found][1] < offset + length:
            return None
        start, stop = spans[found]
        token = (url, start, stop - start)
        self._recent.move_to_end(token)
        at = offset - start
        return memoryview(self._recent[token])[at : at + length]

    def _refuse_unreadable(self, array_path: str) -> None:
        """A chunk of an array translated without readable values (``_UNREADABLE``, spec §8) is
        not stored, so Zarr would give its fill value: raise instead, as its stored chunks'
        codec does, rather than give a value of a dataset nobody could read."""
        zattrs = self.rfs.metadata.get(join_key(array_path, ".zattrs"))
        reason = ann.unreadable_reason(zattrs.get(ann.UNREADABLE)) if isinstance(zattrs, dict) else None
        if reason is not None:
            raise UnreadableObjectError(f"its values cannot be read: {reason}", object_path="/" + array_path)

    async def _value_bytes(self, key: str) -> bytes | None:
        await lazy_tables.load_rows(self.rfs, key)
        value = self.rfs.get(key)
        owner = chunk_owner(key, self.rfs.metadata)
        zarray = owner[2] if owner is not None else None
        if value is None and owner is not None:
            value = await self._linked_chunk(*owner)
            if value is None:
                self._refuse_unreadable(owner[0])
        if value is None:
            return None
        if isinstance(value, dict):
            return orjson.dumps(value)
        if isinstance(value, bytes):
            data, filter_mask = value, 0
        else:
            try:
                data = await self._read_ref(value)
            except TarFormatError as exc:  # a ref into the container that it cannot follow
                raise TarFormatError(f"chunk {key!r}: {exc}") from None
            filter_mask = value.filter_mask
        if zarray is None:
            return data
        filters = zarray.get("filters")
        if uses_libhdf5_pipeline(filters):
            return with_mask_header(data, filter_mask)
        if filter_mask:
            try:
                chunk_nbytes = chunk_geometry(zarray)[0]
            except (TypeError, ValueError, IndexError, AttributeError):
                chunk_nbytes = None
            try:
                return restore_skipped_filters(data, filters or [], filter_mask, chunk_nbytes)
            except Exception as exc:  # the codecs re-encoding it raise what they like on a hostile config
                raise ChunkDecodeError(f"chunk {key!r} (filter mask {filter_mask}) cannot be decoded: "
                                       f"{type(exc).__name__}: {exc}") from exc
        return _pad_short_chunk(data, zarray, key)

    def _check_metadata(self, key: str) -> None:
        """Malformed array or group metadata (an unknown codec, an absurd item size, another
        zarr_format) is reported as a :class:`ReferenceFormatError` naming the key, before Zarr
        builds an array or group from it."""
        value = self.rfs.metadata.get(key)
        name = split_key(key)[1]
        if value is not None and name == ".zarray":
            check_array_metadata(value, key)
        elif value is not None and name == ".zgroup":
            check_group_metadata(value, key)

    async def _check_decodable(self, key: str, data: bytes) -> None:
        """Refuse a chunk that would decode past its array's chunk size (a compression bomb) or
        whose object codec declares more items than it holds: Zarr's codecs, which decode what
        this store hands over, know no bounds (the read engine's fast decoders, which read
        through ``chunk_bytes``, bound themselves)."""
        owner = chunk_owner(key, self.rfs.metadata)
        zarray = owner[2] if owner is not None else None
        if not isinstance(zarray, dict) or not (zarray.get("compressor") or zarray.get("filters")):
            return
        try:
            chunk_nbytes, nitems = chunk_geometry(zarray)
        except (TypeError, ValueError, IndexError, AttributeError):
            return  # malformed metadata: reported as such where the array is opened
        try:
            if uses_libhdf5_pipeline(zarray.get("filters")):
                check, args = numcodecs.get_codec(dict(zarray["filters"][0])).check, (data,)
            else:
                check, args = check_encoded_chunk, (zarray, chunk_nbytes, nitems, data)
            if chunk_nbytes is not None and max(chunk_nbytes, len(data)) <= CHECK_HERE_BYTES:
                check(*args)  # a small chunk: quicker checked here than handed to a thread
            else:
                await asyncio.to_thread(check, *args)
        except ChunkDecodeError as exc:
            raise ChunkDecodeError(f"chunk {key!r}: {exc}") from exc

    async def _linked_chunk(self, array_path: str, chunk_name: str, zarray: dict) -> ChunkRef | None:
        """The chunk of an ``_EXTERNAL_ARRAY_LINK`` array, looked up in the linked HDF5 file."""
        zattrs = self.rfs.metadata.get(join_key(array_path, ".zattrs")) or {}
        link = zattrs.get(ann.EXTERNAL_ARRAY_LINK)
        if link is None:
            return None
        # (LINDI 0.4 links arrays of "."-separated keys; a "/"-separated name means the same chunk)
        return await self.external_arrays.chunk_ref(link, chunk_name.replace("/", "."), zarray.get("chunks") or [])

    def locate(self, ref: ChunkRef) -> tuple[Location, int, int]:
        """(where, offset, length) of the bytes a ref names."""
        if self.container is not None:
            inside = self.container.locate(ref)
            if inside is not None:
                return inside
        if ref.url in self._own_chunk_urls:
            return Location("local", ref.url), ref.offset, ref.length
        return self.policy.resolve(ref.url), ref.offset, ref.length

    @property
    def own_chunk_urls(self) -> frozenset[str]:
        """The staged files this store's own writes created (readable whatever the policy)."""
        return frozenset(self._own_chunk_urls)

    def portable_ref(self, ref: ChunkRef) -> ChunkRef:
        """The same bytes named so that the ref also means them outside this reference file:
        members of a container as ranges of the archive, relative paths made absolute."""
        if self.container is not None and self.container.member_for(ref.url) is not None:
            location, offset, length = self.container.locate(ref)
            return ChunkRef(location.where, offset, length, ref.filter_mask)
        if self.policy.base_dir and "://" not in ref.url and not os.path.isabs(ref.url):
            return ChunkRef(os.path.join(self.policy.base_dir, ref.url), ref.offset, ref.length, ref.filter_mask)
        return ref

    async def _read_ref(self, ref: ChunkRef) -> bytes:
        token = (ref.url, ref.offset, ref.length)
        data = self._recent.get(token)
        if data is not None:
            self._recent.move_to_end(token)
            return data
        data = self._from_recent_span(ref)
        if data is not None:
            return data
        data = await self.sources.read(*self.locate(ref))
        self._remember(token, data)
        return data

    def _remember(self, token: tuple[str, int, int], data: bytes) -> bool:
        """Keep ``data`` among the recent reads (the least recently used dropped first);
        whether it is kept."""
        # (a chunk read twice at once is remembered, and counted, once)
        if len(data) > self.memory_cache_bytes or token in self._recent:
            return False
        self._recent[token] = data
        self._recent_bytes += len(data)
        while self._recent_bytes > self.memory_cache_bytes:
            (url, start, length), dropped = self._recent.popitem(last=False)
            self._recent_bytes -= len(dropped)
            spans = self._recent_spans.get(url)
            if spans is not None:
                at = bisect.bisect_left(spans, (start, start + length))
                if at < len(spans) and spans[at] == (start, start + length):
                    del spans[at]
                if not spans:
                    del self._recent_spans[url]
        return token in self._recent

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        # All at once: reads started in one loop turn reach the byte sources together, which
        # merge neighbouring ranges into few requests (and the local cache looks them up in one go).
        return list(await asyncio.gather(*(self.get(key, prototype, byte_range) for key, byte_range in key_ranges)))

    async def exists(self, key: str) -> bool:
        """Whether ``get`` finds a value: a key of the references, or a chunk of an array linked
        to its HDF5 dataset (``_EXTERNAL_ARRAY_LINK``) that the dataset's chunk index holds."""
        await lazy_tables.load_rows(self.rfs, key)
        if key in self.rfs:
            return True
        owner = chunk_owner(key, self.rfs.metadata)
        return owner is not None and await self._linked_chunk(*owner) is not None

    async def getsize(self, key: str) -> int:
        """The size of the value ``get`` returns for ``key``, without reading it where the
        references say it (metadata, inline values, refs handed over as they are stored)."""
        value = self.rfs.get(key)
        owner = chunk_owner(key, self.rfs.metadata)
        zarray = owner[2] if owner is not None else None
        if isinstance(value, dict):
            return len(orjson.dumps(value))
        if zarray is None or _passes_unchanged(zarray, value):
            if isinstance(value, bytes):
                return len(value)
            if isinstance(value, ChunkRef) and value.length >= 0:
                return value.length
        return await super().getsize(key)  # reads it: padded, re-encoded or linked chunks

    # -- writing --------------------------------------------------------------------------
    async def set(self, key: str, value: Buffer) -> None:
        """Metadata goes into the reference file system; chunk bytes inline when small, else to
        the chunk sink (a staging area), which answers with a reference to where it put them."""
        self._check_writable()
        data = value.to_bytes()
        await lazy_tables.load_all(self.rfs, key)
        if split_key(key)[1] in ZARR_METADATA_NAMES:
            self.rfs.set_metadata(key, orjson.loads(data))
            return
        self._forget_recent(key)
        if self.chunk_sink is None or len(data) <= self.inline_limit:
            self.rfs.set_inline(key, data)
        else:
            ref = self.chunk_sink.store_chunk(key, data)
            if os.path.isabs(ref.url):  # a staged file (a container member is located by the container)
                self._own_chunk_urls.add(ref.url)
            self.rfs.set_ref(key, ref)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        self._check_writable()
        await lazy_tables.load_rows(self.rfs, key)
        if key not in self.rfs:
            await self.set(key, value)

    async def delete(self, key: str) -> None:
        self._check_writable()
        await lazy_tables.load_all(self.rfs, key)
        self._forget_recent(key)
        self.rfs.delete(key)

    def _forget_recent(self, key: str) -> None:
        """Drop the remembered bytes of the chunk ``key`` referred to until now: its place (a
        container member name, a region) may hold other bytes later."""
        old = self.rfs.get(key)
        if isinstance(old, ChunkRef):
            dropped = self._recent.pop((old.url, old.offset, old.length), None)
            if dropped is not None:
                self._recent_bytes -= len(dropped)

    # -- listing --------------------------------------------------------------------------
    async def list(self) -> AsyncIterator[str]:
        for key in self.rfs.keys():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # Listed before the first is yielded: zarr deletes the keys of a prefix as it lists them.
        for key in [key for key in self.rfs.keys() if key.startswith(prefix)]:
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        for name in self.rfs.list_dir(prefix):
            yield name

    def close(self, *, wait: bool = True) -> None:
        """Close the store and its network connections. ``wait=False`` only starts closing
        them (on zarr's event loop) and returns at once: a finalizer run by a garbage collection
        must not wait on another thread, since the collection may have interrupted this thread
        while it holds a lock that thread needs (a future's, inside zarr's own ``sync``).
        :func:`lindi_core.io.sync_bridge.wait_for_closing` waits for such closes."""
        sync_bridge.close_now_or_soon(self.sources.close(), wait=wait)
        self.external_arrays.close()
        super().close()


def _container_location(store: ReferenceStore) -> Location | None:
    return store.container.location if store.container is not None else None


def _passes_unchanged(zarray: dict[str, Any], value: Any) -> bool:
    """Whether a chunk of the array is handed to zarr as stored (see ``_value_bytes``): a
    compressed or filtered chunk, all its filters applied, outside libhdf5's pipeline."""
    if not (zarray.get("compressor") or zarray.get("filters")) or uses_libhdf5_pipeline(zarray.get("filters")):
        return False
    return not (isinstance(value, ChunkRef) and value.filter_mask)


def _apply_range(data: bytes, byte_range: ByteRequest | None) -> bytes:
    if byte_range is None:
        return data
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[-byte_range.suffix :] if byte_range.suffix else b""
    raise TypeError(f"Unexpected byte_range, got {byte_range!r}")  # zarr's own stores' words


def _pad_short_chunk(data: bytes, zarray: dict[str, Any], key: str) -> bytes:
    """Zero-pad the short last virtual chunk of an uncompressed array to its full size."""
    if zarray.get("filters") or zarray.get("compressor"):
        return data
    dtype = zarray.get("dtype")
    try:
        itemsize = np.dtype(_dtype_of(dtype)).itemsize
    except TypeError:
        return data
    chunks = list(zarray.get("chunks") or [])
    expected = itemsize * math.prod(chunks)
    if len(data) < expected:
        # Only the part of an edge chunk inside the array is stored; any other shortfall is a
        # reference that does not hold its chunk, never to be read as zeros.
        try:
            index = chunk_coords(key, len(chunks), zarray.get("dimension_separator") or ".")
            inside = [min(c, n - i * c) for i, c, n in zip(index, chunks, zarray.get("shape") or [])]
        except (ValueError, TypeError):
            inside = chunks
        if len(data) != itemsize * math.prod(inside):
            raise ReferenceFormatError(f"chunk {key!r} holds {len(data)} bytes, fewer than the {expected} of a chunk")
        return data + bytes(expected - len(data))
    if len(data) > expected:
        raise ReferenceFormatError(f"chunk {key!r} holds {len(data)} bytes, more than the {expected} of a chunk")
    return data


def _dtype_of(dtype: Any) -> Any:
    if isinstance(dtype, list):
        return [tuple(field[:1]) + (_dtype_of(field[1]),) + tuple(field[2:]) for field in dtype]
    return dtype
