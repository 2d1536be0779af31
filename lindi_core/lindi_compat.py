"""LINDI 0.4's names over lindi-core, so that ``import lindi_core as lindi`` runs LINDI code.

People who use LINDI 0.4 have scripts written against its API. This module gives the names of
that API which lindi-core's own do not already cover, each a thin layer over lindi-core:

* :class:`LindiH5ZarrStore` (``from_file``, ``to_reference_file_system``,
  ``write_reference_file_system``, ``listdir``, ``in``, ``[key]``): a :class:`ReferenceStore`
  over the translation of an HDF5 file, with LINDI's :class:`LindiH5ZarrStoreOpts`;
* :class:`LindiRemfile`: a file object over a remote file that ``h5py.File(obj, "r")`` opens,
  our read-ahead :class:`~lindi_core.hdf5.remote_file.RemoteFile` behind it, reading through a
  ``LocalCache`` when given one;
* :func:`add_additional_url_resolver`: a function ``url -> url`` applied to every URL read
  afterwards;
* :func:`File`: ``h5py.File``'s call that opens a ``.lindi.json`` as a :class:`LindiH5pyFile`
  and any other name with h5py (LINDI's ``lindi.File``).

Names of LINDI versions around 0.4 that scripts still call are kept too: the store's
``to_file(path)`` (``write_reference_file_system`` under its earlier name) and ``getitems(keys)``
(many keys read concurrently).

``LindiH5pyFile.from_hdf5_file(url=, zarr_store_opts=)``, ``from_zarr_store``,
``write_lindi_file(generation_metadata=)`` (LINDI's three names: ``.lindi.json``, ``.lindi.tar``,
``.lindi.d``), the ``.lindi.d`` folder form, ``copy`` into an ``h5py.File`` and
``LocalCache.put_remote_chunk`` / ``get_remote_chunk`` are keywords and methods of lindi-core's
own classes. LINDI 0.4 has no ``upload``: lindi-core's ``LindiH5pyFile.upload(uploader)`` is its own.

Where LINDI raises an exception h5py would not (a write to a file open as ``r``), lindi-core
keeps h5py's: pynwb and h5py code depend on it. LINDI's store also defaults to linking the
datasets of more than 1000 chunks instead of referencing them; lindi-core references every
chunk unless a threshold is given (see :mod:`lindi_core.translate.lindi_opts`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import h5py
from zarr.core.buffer import default_buffer_prototype

from lindi_core.facade import LindiH5pyFile
from lindi_core.format import jsonio
from lindi_core.format.keys import join_key, split_key
from lindi_core.hdf5.remote_file import RemoteFile
from lindi_core.io.address_guard import AddressSpace
from lindi_core.io.cache import LocalCache
from lindi_core.io.locations import LocationPolicy, is_url
from lindi_core.io.resolvers import DEFAULT_TTL, ResolvedUrl, register_resolver
from lindi_core.io.sources import ByteSources
from lindi_core.io.sync_bridge import run_sync
from lindi_core.io.sync_http import SyncHttp
from lindi_core.store import ReferenceStore
from lindi_core.translate.lindi_opts import LindiH5ZarrStoreOpts, translate_with_opts

__all__ = ["File", "LindiH5ZarrStore", "LindiH5ZarrStoreOpts", "LindiRemfile", "add_additional_url_resolver"]


class LindiH5ZarrStore(ReferenceStore):
    """A read-only Zarr store over an HDF5 file: the file is translated once, when opened, and
    its chunks are read where the references point (LINDI 0.4's ``LindiH5ZarrStore``).

    Open it with :meth:`from_file`; use it as a context manager, or ``close()`` it."""

    @classmethod
    def from_file(cls, hdf5_file_name_or_url: str | os.PathLike, *, opts: LindiH5ZarrStoreOpts | None = None,
                  url: str | None = None, local_cache: LocalCache | None = None) -> LindiH5ZarrStore:
        """Translate the HDF5 file at a local path or an http(s) URL.

        ``url``: the URL chunk references name (for a local copy of a remote file; default the
        URL, or the absolute path of a local file). ``opts``: LINDI's options. ``local_cache``
        keeps the remote chunks read (LINDI refuses one for a local file, which needs none; it is
        refused here too)."""
        source = os.fspath(hdf5_file_name_or_url)
        remote = is_url(source)
        if local_cache is not None and not remote:
            raise ValueError("local_cache cannot be used with a local file")
        rfs = translate_with_opts(source, opts, ref_url=url, progress=False)
        policy = LocationPolicy(base_dir=None if remote else os.path.dirname(os.path.abspath(source)),
                                allow_local=not remote, reach=AddressSpace.LOOPBACK)
        guard = policy.address_guard()
        return cls(rfs, policy=policy, sources=ByteSources(cache=local_cache, guard=guard))

    # -- LINDI's mapping-style access ---------------------------------------------------------
    def __getitem__(self, key: str) -> bytes:
        """The bytes at ``key`` (metadata JSON, or a chunk as stored); KeyError if none. An
        object without attributes has ``.zattrs`` ``{}``, as in LINDI."""
        found = run_sync(self.get(key, prototype=default_buffer_prototype()))
        if found is not None:
            return found.to_bytes()
        if self._is_empty_zattrs(key):
            return b"{}"
        raise KeyError(key)

    def __contains__(self, key: str) -> bool:
        return run_sync(self.exists(key)) or self._is_empty_zattrs(key)

    def getitems(self, keys: Iterable[str], *, contexts: Any = None) -> dict[str, bytes]:
        """The bytes of each of ``keys`` the store holds (keys it does not hold are left out), the
        chunks read concurrently. ``contexts`` (zarr 2's per-key read options) is accepted for
        LINDI's signature and unused."""
        keys = list(keys)
        prototype = default_buffer_prototype()

        async def read_all() -> list:
            return await asyncio.gather(*(self.get(key, prototype=prototype) for key in keys))

        found = run_sync(read_all()) if keys else []
        items = {}
        for key, value in zip(keys, found):
            if value is not None:
                items[key] = value.to_bytes()
            elif self._is_empty_zattrs(key):
                items[key] = b"{}"
        return items

    def _is_empty_zattrs(self, key: str) -> bool:
        parent, name = split_key(key)
        return name == ".zattrs" and (join_key(parent, ".zgroup") in self.rfs or join_key(parent, ".zarray") in self.rfs)

    def listdir(self, path: str = "") -> list[str]:
        """The names of the groups and arrays in the group at ``path`` (none for an array)."""
        path = path.strip("/")
        if join_key(path, ".zgroup") not in self.rfs:
            return []
        members = []
        for name in self.rfs.list_dir(path):
            child = join_key(path, name)
            if join_key(child, ".zgroup") in self.rfs or join_key(child, ".zarray") in self.rfs:
                members.append(name)
        return members

    # -- reference files --------------------------------------------------------------------
    def to_reference_file_system(self) -> dict:
        """The reference file system as a JSON-ready dict (for
        ``LindiH5pyFile.from_reference_file_system``)."""
        return jsonio.to_json_dict(self.rfs)

    def write_reference_file_system(self, output_file_name: str | os.PathLike) -> None:
        """Write the reference file system to ``output_file_name``, which must end with
        ``.lindi.json`` (atomically)."""
        if not os.fspath(output_file_name).endswith(".lindi.json"):
            raise ValueError("The output file name must end with .lindi.json")
        jsonio.write_atomic(self.rfs, output_file_name)

    def to_file(self, file_name: str | os.PathLike, *, file_type: str = "zarr.json") -> None:
        """Write the reference file system to ``file_name`` as JSON, whatever its extension (the
        earlier LINDI name of :meth:`write_reference_file_system`). ``file_type`` is the one
        LINDI knew, ``"zarr.json"``; any other raises ValueError."""
        if file_type != "zarr.json":
            raise ValueError(f"Unsupported file type: {file_type}")
        jsonio.write_atomic(self.rfs, file_name)


class _CachedHttp:
    """Range reads of one :class:`SyncHttp` through a :class:`LocalCache`. The size of the file
    comes from the network (the first read); later reads are served from the cache when it holds
    exactly their range, and kept there when fetched."""

    def __init__(self, http: SyncHttp, cache: LocalCache):
        self.http = http
        self.cache = cache
        self.total: int | None = None

    @property
    def connect_seconds(self) -> float:
        return self.http.connect_seconds

    def read(self, url: str, offset: int, length: int) -> tuple[bytes, int | None]:
        if self.total is not None:
            cached = self.cache.get(url, offset, length)
            if cached is not None and len(cached) == length:
                return cached, self.total
        data, total = self.http.read(url, offset, length)
        if total is not None:
            self.total = total
        if self.total is not None and len(data) == min(length, self.total - offset):
            self.cache.put(url, offset, data)
        return data, total

    def close(self) -> None:
        self.http.close()


class LindiRemfile(RemoteFile):
    """A read-only file object over an http(s) URL that ``h5py.File(obj, "r")`` opens (for
    pynwb's ``NWBHDF5IO(file=h5py.File(LindiRemfile(url), "r"))``), as LINDI 0.4's.

    Reads are served from blocks fetched ahead (:class:`~lindi_core.hdf5.remote_file.RemoteFile`),
    and kept in ``local_cache`` when given, for later sessions. ``verbose`` is accepted for
    LINDI's signature and does nothing."""

    def __init__(self, url: str, *, verbose: bool = False, local_cache: LocalCache | None = None):
        if not isinstance(url, str):
            raise TypeError(f"LindiRemfile takes a URL string, not {type(url).__name__}")
        if not is_url(url):
            raise ValueError(f"LindiRemfile reads http(s) URLs, not {url!r}")
        http = SyncHttp()
        self._http_owned = http
        super().__init__(url, http=_CachedHttp(http, local_cache) if local_cache is not None else http)
        self.verbose = verbose
        self.local_cache = local_cache

    @property
    def length(self) -> int:
        """The size of the file in bytes (LINDI's name)."""
        return self.size

    def close(self) -> None:
        super().close()
        self._http_owned.close()


class _FunctionResolver:
    """A URL resolver made of a function ``url -> url`` (LINDI 0.4's form of one)."""

    def __init__(self, function: Callable[[str], str]):
        self.function = function

    def resolve_sync(self, url: str, http: object = None, deadline: object = None) -> ResolvedUrl | None:
        """The function's answer (it makes no request: ``http`` and ``deadline``, the blocking
        engine's client and budget, are unused)."""
        target = self.function(url)
        if not isinstance(target, str):
            raise TypeError(f"URL resolver {self.function!r} returned {type(target).__name__} for {url!r}, not a str")
        if target == url:
            return None
        # Resolved again after a while, as LINDI does: the target may be a URL that expires.
        return ResolvedUrl(target, {}, time.time() + DEFAULT_TTL)

    async def resolve(self, url: str, session: object) -> ResolvedUrl | None:
        return self.resolve_sync(url)


def add_additional_url_resolver(resolver: Callable[[str], str]) -> _FunctionResolver:
    """Apply ``resolver`` (a function taking a URL and returning the URL to read instead) to the
    URLs that every reader created afterwards reads, before the DANDI resolver. Returns what was
    registered (``lindi_core.io.resolvers.unregister_resolver`` takes it back)."""
    if not callable(resolver):
        raise TypeError(f"a URL resolver is a function url -> url, not {type(resolver).__name__}")
    registered = _FunctionResolver(resolver)
    register_resolver(registered)
    return registered


def File(name: Any, mode: str = "r", **kwds: Any) -> h5py.File:
    """Open ``name`` as ``h5py.File(name, mode, **kwds)`` would, except that a name ending in
    ``.lindi.json`` opens as a :class:`LindiH5pyFile` (LINDI's ``lindi.File``, an ``h5py.File``
    for code that takes one).

    For a ``.lindi.json``, ``LINDI_LOCAL_CACHE_DIR`` in the environment names a
    :class:`LocalCache` directory for remote chunks, as in LINDI, and h5py's other keywords
    (driver, libver, ...) do not apply and are refused. New chunks written in ``w``/``r+``/``a``
    go into the reference file itself (LINDI kept them in a ``NAME.d`` staging directory next to
    it, which then had to stay beside it)."""
    if not (isinstance(name, (str, os.PathLike)) and os.fspath(name).endswith(".lindi.json")):
        return h5py.File(name, mode, **kwds)
    if kwds:
        raise TypeError(f"File() of a .lindi.json takes no h5py file keywords: {', '.join(sorted(kwds))}")
    cache_dir = os.environ.get("LINDI_LOCAL_CACHE_DIR")
    local_cache = LocalCache(cache_dir=cache_dir) if cache_dir else None
    return LindiH5pyFile.from_lindi_file(name, mode=mode, local_cache=local_cache)
