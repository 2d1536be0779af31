"""``LindiH5pyFile``: an h5py ``File`` whose contents come from a reference file system.

Open one from an HDF5 file (translated in memory), from a ``.lindi.json`` or a ``.lindi.tar``
(local or URL) or from a reference dict, and hand it to anything that reads h5py files, pynwb
included::

    f = LindiH5pyFile.from_lindi_file("https://host/x.nwb.lindi.json")
    with pynwb.NWBHDF5IO(file=f, mode="r") as io:
        nwb = io.read()

Metadata is served from memory; dataset values are read through zarr-python 3, fetching only
the chunks a selection touches.
"""

from __future__ import annotations

import atexit
import os
import urllib.parse
import warnings
import weakref
from typing import Any

import h5py
import numpy as np
import zarr
import zarr.core.sync  # its exit hook stops the event loop; ours (registered after it) runs first

from lindi_core.errors import LindiError, NotPicklableError
from lindi_core.facade.dataset import LindiH5pyDataset
from lindi_core.facade.datatype import LindiH5pyDatatype
from lindi_core.facade.dtypes import storage_dtype
from lindi_core.facade.group import (
    LindiH5pyExternalLink,
    LindiH5pyGroup,
    LindiH5pyHardLink,
    LindiH5pySoftLink,
)
from lindi_core.facade.hierarchy import (
    DATASET,
    DATATYPE,
    LEAF_KINDS,
    ExternalTarget,
    Hierarchy,
    Link,
    path_parts,
)
from lindi_core.facade.references import LindiH5pyReference
from lindi_core.format import jsonio, temporaries
from lindi_core.format.refs import ReferenceFileSystem, join_key
from lindi_core.io import tar_container
from lindi_core.io.address_guard import AddressGuard, AddressSpace
from lindi_core.io.cache import LocalCache
from lindi_core.io.http_source import HttpSource
from lindi_core.io.locations import Location, LocationPolicy
from lindi_core.io.sources import ByteSources
from lindi_core.store import ReferenceStore, direct_read
from lindi_core.store.reference_store import wait_for_closing
from lindi_core.write.consolidate import UploadReport
from lindi_core.write.lindi_tar import LindiTarWriter, is_tar_path, write_self_contained
from lindi_core.write.staging import StagingArea
from lindi_core.write.uploaders import Uploader
from lindi_core.write.writer_lock import WriterLock

_MAX_LINK_DEPTH = 64
MODES = ("r", "r+", "a", "w", "w-", "x")

# Files their user never closed are closed as h5py closes them: when collected, and at exit,
# written back first. Exit has its own hook because the network connections must be closed on
# zarr's event loop, which zarr's own exit hook stops.
_OPEN_FILES: weakref.WeakSet = weakref.WeakSet()


def _close_open_files_at_exit() -> None:
    for f in list(_OPEN_FILES):
        try:
            f.close()
        except Exception as exc:  # one file's failure must not keep the others open
            warnings.warn(f"closing {f.filename!r} at exit failed: {exc}", RuntimeWarning, stacklevel=1)
    wait_for_closing(timeout=10.0)  # the connections of files collected before exit


atexit.register(_close_open_files_at_exit)


def _unpickled_file(store: ReferenceStore, filename: str) -> LindiH5pyFile:
    return LindiH5pyFile(store, mode="r", filename=filename)


def _sources(local_cache: LocalCache | None, timeout: float | None, guard: AddressGuard | None = None) -> ByteSources:
    """The byte sources of a file: remote reads within ``timeout`` seconds each (None: the
    default), connecting only where ``guard`` admits (None: anywhere)."""
    http = HttpSource(guard=guard) if timeout is None else HttpSource(timeout=timeout, guard=guard)
    return ByteSources(http, cache=local_cache, guard=guard)


def _write_back(rfs: ReferenceFileSystem, tar: LindiTarWriter | None, save_to: str | None) -> None:
    """Write a local reference file opened for writing back to disk."""
    if tar is not None:
        tar.commit(jsonio.dumps(rfs), used_urls=rfs.used_urls())
    elif save_to is not None:
        jsonio.write_atomic(rfs, save_to)


def _release(store: ReferenceStore, tar: LindiTarWriter | None, external_files: dict[str, LindiH5pyFile],
             lock: WriterLock | None, *, wait: bool = True) -> None:
    """Close what an open file holds: the files its external links opened, its store's
    connections, its container and its writer's lock. ``wait=False`` (a finalizer's) only
    starts closing the connections: see :meth:`ReferenceStore.close`."""
    try:
        for other in list(external_files.values()):
            if wait:
                other.close()
            elif (collected := other._finalizer.detach()) is not None:
                _collected(*collected[2])
        external_files.clear()
        store.close(wait=wait)
    finally:
        try:
            if tar is not None:
                tar.close()
        finally:
            if lock is not None:
                lock.release()


def _collected(rfs: ReferenceFileSystem, store: ReferenceStore, tar: LindiTarWriter | None, save_to: str | None,
               external_files: dict[str, LindiH5pyFile], lock: WriterLock | None) -> None:
    """The finalizer of a file collected while open: written back, then released, without
    waiting on any other thread (a collection can run anywhere, locks held)."""
    try:
        _write_back(rfs, tar, save_to)
    finally:
        _release(store, tar, external_files, lock, wait=False)


class LindiH5pyFile(LindiH5pyGroup, h5py.File):
    """An h5py-compatible file over a reference file system."""

    def __init__(self, store: ReferenceStore, *, mode: str = "r", filename: str = "<reference file system>",
                 staging_area: StagingArea | None = None, save_to: str | None = None,
                 tar: LindiTarWriter | None = None, lock: WriterLock | None = None):
        if mode not in MODES:
            raise ValueError(f"Invalid mode; must be one of {', '.join(MODES)}")
        store._read_only = mode == "r"  # zarr's Store keeps the flag here; the file's mode decides it
        if mode != "r":
            store.pickling_refused = f"it belongs to {filename!r}, open for writing (mode {mode!r}): a copy " \
                                     "in another process could not keep its edits"
        if staging_area is not None:
            store.chunk_sink = staging_area
        elif tar is not None:
            store.chunk_sink = tar  # new chunks become members of the container
        self._staging = staging_area
        self._save_to = save_to  # a local reference file written back on flush and close
        self._tar = tar  # a local .lindi.tar open for writing, committed on flush and close
        self._lock = lock  # held while a local reference file is open for writing
        self._store = store
        self._rfs: ReferenceFileSystem = store.rfs
        self._mode = mode
        self._filename = filename
        self._is_open = True
        self._hierarchy = Hierarchy(self._rfs)
        self._objects: dict[tuple[str, str], Any] = {}
        self._external_files: dict[str, LindiH5pyFile] = {}
        self._saved_changes = self._rfs.changes  # edits up to here are on disk (or were never made)
        super().__init__(self, "", "/")
        # Holds what closing needs, never the file itself (that would keep it alive).
        self._finalizer = weakref.finalize(self, _collected, self._rfs, store, tar, save_to, self._external_files,
                                           lock)
        self._finalizer.atexit = False  # exit closes through _close_open_files_at_exit
        _OPEN_FILES.add(self)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def from_lindi_file(cls, path_or_url: str | os.PathLike, mode: str = "r", local_cache: LocalCache | None = None,
                        allow_local: bool | None = None, staging_area: StagingArea | None = None,
                        reuse_freed_chunks: bool = False, allow_private_network: bool = False,
                        timeout: float | None = None) -> LindiH5pyFile:
        """Open a ``.lindi.json`` or a ``.lindi.tar`` from a local path or an http(s) URL, with
        h5py's modes.

        ``r`` reads; ``r+`` and ``a`` also write (``a`` creates a missing local file); ``w``
        creates or truncates and ``w-``/``x`` create, failing if it exists. A new file is a
        container when its name ends in ``.tar``; an existing one is recognised by its content.
        A local file opened for writing is written back on ``flush()`` and ``close()``: a
        ``.lindi.json`` atomically, a ``.lindi.tar`` grown in place (crash-safe). New chunks go to
        ``staging_area`` when given (then ``upload()``), else into the container as members, or
        inline into a ``.lindi.json``.

        A reference file fetched from a URL may not point at local files unless
        ``allow_local=True``, nor make the library connect to network addresses more private than
        the one it came from (public < private < link-local < loopback: a file from the internet
        cannot reach 127.0.0.1, 192.168.x.x or the cloud metadata service 169.254.169.254, even
        through a redirect) unless ``allow_private_network=True`` (or ``allow_local=True``, which
        trusts it as a local file). ``local_cache`` keeps remote chunks on disk for later reads.
        ``timeout``: the seconds one remote read may take in all, retries included (default 60;
        past it the read fails with a ``ByteSourceError`` saying it timed out).

        ``reuse_freed_chunks=True`` lets new chunks of a ``.lindi.tar`` fill the space of chunks
        rewritten or deleted in earlier commits instead of growing the archive. Only for archives
        nothing else points into: a reference file that copied datasets out of this one, or a
        reader that opened it before the commit, would read the new bytes in place of the old."""
        source = os.fspath(path_or_url)
        remote = source.startswith(("http://", "https://"))
        exists = remote or os.path.exists(source)
        if mode in ("w-", "x") and exists:
            raise FileExistsError(f"Unable to create file (file exists): {source!r}")
        if mode in ("r", "r+") and not exists:
            raise FileNotFoundError(f"Unable to open file (no such file): {source!r}")
        if mode not in MODES:
            raise ValueError(f"Invalid mode; must be one of {', '.join(MODES)}")
        if remote and mode in ("w", "w-", "x"):
            raise ValueError("a reference file at a URL cannot be created in place; write it locally and upload it")
        # One writer at a time, locked before the file is read, so that no other writer's
        # write-back can slip in between this one's read and its own write-back.
        lock = WriterLock(source) if mode != "r" and not remote else None
        if not remote:  # what writers killed before their rename left (a pending in-place copy finished)
            temporaries.remove_stale(os.path.realpath(source))
        try:
            return cls._open_lindi_file(source, mode, remote, exists, local_cache, allow_local, staging_area,
                                        reuse_freed_chunks, lock, allow_private_network, timeout)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def _open_lindi_file(cls, source: str, mode: str, remote: bool, exists: bool, local_cache: LocalCache | None,
                         allow_local: bool | None, staging_area: StagingArea | None, reuse_freed_chunks: bool,
                         lock: WriterLock | None, allow_private_network: bool = False,
                         timeout: float | None = None) -> LindiH5pyFile:
        tar = None
        if mode in ("w", "w-", "x") or (mode == "a" and not exists):
            rfs = ReferenceFileSystem(generation_metadata={"generatedBy": "lindi-core"})
            rfs.set_metadata(".zgroup", {"zarr_format": 2})
            if is_tar_path(source):
                tar = LindiTarWriter.create(source, jsonio.dumps(rfs), reuse_freed_chunks=reuse_freed_chunks)
            else:
                jsonio.write_atomic(rfs, source)  # the file exists from now on, as h5py's does
            store = ReferenceStore(rfs, policy=LocationPolicy(base_dir=os.path.dirname(os.path.abspath(source))),
                                   sources=_sources(local_cache, timeout),
                                   container=tar.container if tar is not None else None)
        elif mode != "r" and not remote and tar_container.is_local_tar(source):
            tar = LindiTarWriter.open(source, reuse_freed_chunks=reuse_freed_chunks)
            policy = LocationPolicy(base_dir=os.path.dirname(os.path.abspath(source)),
                                    allow_local=True if allow_local is None else allow_local)
            store = ReferenceStore(jsonio.loads(tar.reference_text), policy=policy,
                                   sources=_sources(local_cache, timeout), container=tar.container)
        else:
            store = ReferenceStore.from_file(source, allow_local=allow_local, local_cache=local_cache,
                                             allow_private_network=allow_private_network, timeout=timeout)
        save_to = None if remote or mode == "r" or tar is not None else source
        return cls(store, mode=mode, filename=source, staging_area=staging_area, save_to=save_to, tar=tar, lock=lock)

    @classmethod
    def from_hdf5_file(cls, path_or_url: str | os.PathLike, mode: str = "r", local_cache: LocalCache | None = None,
                       staging_area: StagingArea | None = None, allow_local: bool | None = None,
                       address_guard: AddressGuard | None = None, timeout: float | None = None,
                       url: str | None = None, zarr_store_opts: Any = None,
                       **translate_options: Any) -> LindiH5pyFile:
        """Translate an HDF5 file (local path or URL) in memory and open the result (``r``, or
        ``r+`` to edit the reference file system; the HDF5 file itself is never changed).

        A file at a URL is untrusted as a reference file fetched from one is: its external links
        may not lead to local files unless ``allow_local=True``. ``address_guard`` limits the
        addresses its reads may connect to (set for a file an untrusted reference file links to).
        ``timeout``: the seconds one remote read may take in all, retries included (default 60),
        translating and reading. LINDI 0.4's keywords: ``url`` is the URL chunk references
        name (our ``ref_url``), ``zarr_store_opts`` a ``LindiH5ZarrStoreOpts``."""
        from lindi_core.translate import translate
        from lindi_core.translate.lindi_opts import translate_with_opts

        if mode not in ("r", "r+"):
            raise ValueError("an HDF5 file opens as 'r' or 'r+' (edits go to the reference file system)")
        translate_options.setdefault("progress", False)
        if url is not None:
            translate_options["ref_url"] = url
        if zarr_store_opts is not None:
            rfs = translate_with_opts(path_or_url, zarr_store_opts, address_guard=address_guard, timeout=timeout,
                                      **translate_options)
        else:
            rfs = translate(path_or_url, address_guard=address_guard, timeout=timeout, **translate_options)
        source = os.fspath(path_or_url)
        remote = source.startswith(("http://", "https://"))
        base_dir = None if remote else os.path.dirname(os.path.abspath(source))
        trusted = not remote if allow_local is None else allow_local
        policy = LocationPolicy(base_dir=base_dir, allow_local=trusted,
                                reach=AddressSpace.LOOPBACK if address_guard is None else address_guard.reach)
        store = ReferenceStore(rfs, policy=policy, sources=_sources(local_cache, timeout, policy.address_guard()))
        return cls(store, mode=mode, filename=source, staging_area=staging_area)

    @classmethod
    def from_reference_file_system(cls, rfs: Any, mode: str = "r", local_cache: LocalCache | None = None,
                                   allow_local: bool | None = None, allow_private_network: bool = False
                                   ) -> LindiH5pyFile:
        """Open a reference file system given as a dict, a ``ReferenceFileSystem``, a local path
        or a URL (trusted as :meth:`from_lindi_file` trusts it; a dict or a ``ReferenceFileSystem``
        comes from the caller and is trusted)."""
        if isinstance(rfs, ReferenceFileSystem):
            return cls(ReferenceStore(rfs, sources=ByteSources(cache=local_cache)), mode=mode)
        if isinstance(rfs, dict):
            store = ReferenceStore.from_dict(rfs, allow_local=True if allow_local is None else allow_local,
                                             local_cache=local_cache)
            return cls(store, mode=mode)
        return cls.from_lindi_file(rfs, mode=mode, allow_local=allow_local, local_cache=local_cache,
                                   allow_private_network=allow_private_network)

    @classmethod
    def from_zarr_store(cls, zarr_store: ReferenceStore, mode: str = "r",
                        local_cache: LocalCache | None = None) -> LindiH5pyFile:
        """Open a reference store (e.g. ``LindiH5ZarrStore.from_file(...)``) as a file (LINDI 0.4's
        constructor). Its local cache is the store's: ``local_cache`` must be that one or None."""
        if not isinstance(zarr_store, ReferenceStore):
            raise TypeError(f"from_zarr_store takes a lindi-core ReferenceStore (e.g. a LindiH5ZarrStore), "
                            f"not {type(zarr_store).__name__}")
        if local_cache is not None and local_cache is not zarr_store.sources.cache:
            raise ValueError("the store reads through its own local cache: give local_cache to the store")
        return cls(zarr_store, mode=mode)

    # -- saving -----------------------------------------------------------------------------
    def to_reference_file_system(self) -> dict:
        """The reference file system as a JSON-ready dict."""
        return jsonio.to_json_dict(self._rfs)

    def write_lindi_file(self, path: str | os.PathLike, *, generation_metadata: dict | None = None) -> None:
        """Write the reference file system to ``path`` (atomically), as a ``.lindi.tar`` when the
        name ends in ``.tar``, else as a ``.lindi.json``.

        A container written here is self-contained: it holds the bytes of every chunk kept in
        this file's own container or staging area, and inline chunks too large to stay inline
        (refs into other files stay refs). A ``.lindi.json`` written from a container refers to
        the container's members as byte ranges of the archive. ``generation_metadata`` (LINDI
        0.4's keyword) replaces the written file's ``generationMetadata``; this file keeps its own."""
        path = os.fspath(path)
        self._saved_changes = self._rfs.changes
        if self._tar is not None:
            self.flush()  # the copy may name members of this container: they must be committed
            if os.path.exists(path) and os.path.samefile(path, self._tar.path):
                if generation_metadata is not None:  # the copy asked for is this very file
                    self._rfs.generation_metadata = dict(generation_metadata)
                    self.flush()
                return
        kept = self._rfs.generation_metadata
        if generation_metadata is not None:  # for the copy only (set after this file's own commit)
            self._rfs.generation_metadata = dict(generation_metadata)
        try:
            container = self._store.container
            if is_tar_path(path):
                write_self_contained(self._rfs, path, read=self._read_bytes, container=container,
                                     staging=self._staging, policy=self._store.policy,
                                     inline_limit=self._store.inline_limit, staged_only=self._staged_only())
            elif container is not None:
                jsonio.write_atomic(self._rfs.relocated(container.moves_outside(self._rfs.used_urls())), path)
            else:
                jsonio.write_atomic(self._rfs, path)
        finally:
            self._rfs.generation_metadata = kept

    def _read_bytes(self, location: Location, offset: int, length: int) -> bytes:
        from zarr.core.sync import sync

        return sync(self._store.sources.read(location, offset, length))

    def upload(self, uploader: Uploader, blob_size: int | None = None) -> UploadReport:
        """Consolidate the staged chunks into blobs, upload them and point the references at
        the uploaded copies (only once every blob is complete at its destination)."""
        from lindi_core.write.consolidate import DEFAULT_BLOB_SIZE, upload_staged

        if self._staging is None:
            raise LindiError("this file has no staging area: new chunks are already inside the reference file")
        return upload_staged(self._rfs, self._staging, uploader, blob_size or DEFAULT_BLOB_SIZE,
                             only=self._staged_only())

    def _staged_only(self) -> frozenset[str] | None:
        """For a reference file that may not read local files (one from a URL): the staged
        chunks this process wrote, the only staged files its upload or copy may take; None
        (every staged chunk it names) for a trusted one, which may name an earlier session's."""
        return None if self._store.policy.allow_local else self._store.own_chunk_urls

    # -- h5py.File surface ------------------------------------------------------------------
    @property
    def filename(self) -> str:
        return self._filename

    @property
    def mode(self) -> str:
        return "r" if self._mode == "r" else "r+"

    @property
    def staging_area(self) -> StagingArea | None:
        return self._staging

    @property
    def driver(self) -> str:
        return "lindi"

    @property
    def libver(self) -> tuple[str, str]:
        return ("earliest", "latest")

    @property
    def userblock_size(self) -> int:
        return 0

    @property
    def meta_block_size(self) -> int:
        return 0

    @property
    def swmr_mode(self) -> bool:
        return False

    def flush(self) -> None:
        """Write a local reference file opened for writing back to disk: a ``.lindi.json``
        atomically, a ``.lindi.tar`` by a crash-safe commit of its new members and reference file."""
        if self._is_open:
            _write_back(self._rfs, self._tar, self._save_to)

    def close(self) -> None:
        if self._is_open:
            self.flush()  # a failure leaves the file open, its edits kept, to be closed again
            if self._mode != "r" and self._save_to is None and self._tar is None \
                    and self._rfs.changes != self._saved_changes:
                warnings.warn(f"{self._filename}: edits made since it was opened are not kept anywhere (it has no "
                              "local file to write back to): write_lindi_file(path) keeps them", UserWarning,
                              stacklevel=2)
            self._is_open = False
            self._objects.clear()
            _OPEN_FILES.discard(self)
            if self._finalizer.detach() is not None:
                _release(self._store, self._tar, self._external_files, self._lock)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """A file open for reading pickles (for dask, multiprocessing) as its store, which
        carries the reference file system, the trust decisions, the timeout and the local
        cache's folder; the copy opens its connections, and the files its external links name,
        when it first reads. A file open for writing refuses: its edits could not be kept."""
        self._check_open()
        if self._mode != "r":
            raise NotPicklableError(f"{self._filename!r} is open for writing (mode {self._mode!r}) and cannot be "
                                    "pickled: a copy in another process could not keep its edits; reopen it "
                                    "with mode 'r' to hand it to other processes")
        return _unpickled_file, (self._store, self._filename)

    def __enter__(self) -> LindiH5pyFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if not self._is_open:
            return "<Closed HDF5 file>"
        return f'<HDF5 file "{os.path.basename(self._filename)}" (mode {self.mode})>'

    @property
    def zarr_group(self) -> zarr.Group:
        """The zarr-python 3 root group of this file."""
        return zarr.open_group(self._store, mode="r" if self._mode == "r" else "r+", zarr_format=2)

    # -- internals used by groups and datasets ------------------------------------------------
    def _check_open(self) -> None:
        if not self._is_open:
            raise ValueError("Invalid file: the file is closed")

    def _require_writable(self, what: str, error: type[Exception] = OSError) -> None:
        self._check_open()
        if self._mode == "r":
            raise error(f"Unable to {what} (no write intent on file)")

    def _root_object_id(self) -> str | None:
        return (self._rfs.metadata.get(".zattrs") or {}).get("object_id")

    def _kind(self, zpath: str) -> str | None:
        return self._hierarchy.kinds.get(zpath)

    def _forget_objects(self, zpath: str) -> None:
        """Drop the facade objects kept for ``zpath`` and below it: the names now lead elsewhere
        (deleted, moved, or another object made there)."""
        prefix = zpath + "/"
        for key in [k for k in self._objects if k[0] == zpath or k[0].startswith(prefix) or not zpath]:
            del self._objects[key]

    def _object_at(self, zpath: str, name: str) -> Any:
        key = (zpath, name)
        obj = self._objects.get(key)
        if obj is None:
            cls = {DATASET: LindiH5pyDataset, DATATYPE: LindiH5pyDatatype}.get(self._kind(zpath), LindiH5pyGroup)
            obj = cls(self, zpath, name)
            self._objects[key] = obj
        return obj

    def _resolve(self, base: LindiH5pyGroup, name: str) -> tuple[str, str]:
        """(stored Zarr path, HDF5 name used) of ``name`` relative to ``base``.

        KeyError if there is no such object; :class:`ExternalTarget` if the path continues
        through an external link."""
        if name == "":
            raise KeyError("Unable to synchronously open object (name parameter cannot be an empty string)")
        parts = path_parts(name)
        if name.startswith("/"):
            start, used = "", "/" + "/".join(parts)
        else:
            start, used = base._zpath, "/".join([base._name.rstrip("/")] + parts) if parts else base._name
        return self._follow(start, parts, name, used), used

    def _follow(self, zpath: str, parts: list[str], original: str, used: str, depth: int = 0) -> str:
        if depth > _MAX_LINK_DEPTH:
            raise KeyError(f"Unable to synchronously open object (too many links resolving '{original}')")
        for index, part in enumerate(parts):
            if self._kind(zpath) in LEAF_KINDS:
                raise KeyError(f"Unable to synchronously open object (component not found: '{original}')")
            child = join_key(zpath, part)
            if child not in self._hierarchy.kinds:
                raise KeyError(f"Unable to synchronously open object (object '{part}' doesn't exist)")
            link = self._hierarchy.links.get(child)
            if link is not None:
                if link.kind == "external":
                    raise ExternalTarget(link, parts[index + 1 :], used)
                # A soft link's path is relative to the group holding the link, unless absolute.
                start = "" if link.path.startswith("/") else zpath
                child = self._follow(start, path_parts(link.path), original, used, depth + 1)
            zpath = child
        return zpath

    def _last_link(self, base: LindiH5pyGroup, name: str) -> str | None:
        """The Zarr path of the last link ``name`` names ("" for a name of the group itself or
        the root), None where the groups before it do not lead anywhere."""
        parts = path_parts(name)
        if not parts:
            return "" if name.startswith("/") else base._zpath
        try:
            parent = self._resolve(base, ("/" if name.startswith("/") else "") + "/".join(parts[:-1]) or ".")
        except (KeyError, ExternalTarget):
            return None
        if self._kind(parent[0]) in LEAF_KINDS:
            return None
        return join_key(parent[0], parts[-1])

    def _link_exists(self, base: LindiH5pyGroup, name: str) -> bool:
        """Whether the last link of ``name`` exists (its target need not), as h5py's ``in``."""
        if name == "":
            return False
        zpath = self._last_link(base, name)
        return zpath is not None and zpath in self._hierarchy.kinds

    def _link_of(self, base: LindiH5pyGroup, name: str) -> h5py.SoftLink | h5py.HardLink | h5py.ExternalLink | None:
        if not self._link_exists(base, name):
            return None
        return self._link_object(self._hierarchy.links.get(self._last_link(base, name)))

    @staticmethod
    def _link_object(link: Link | None) -> h5py.SoftLink | h5py.HardLink | h5py.ExternalLink:
        if link is None or link.kind == "hard":
            return LindiH5pyHardLink()
        if link.kind == "soft":
            return LindiH5pySoftLink(link.path)
        return LindiH5pyExternalLink(link.file or "", link.path)

    def _open_external(self, external: ExternalTarget) -> Any:
        """The object an external link leads to, in the file it names: an HDF5 file (translated
        on the fly) or a reference file (what pynwb links to when it writes data read from one),
        resolved next to the file this one was translated from, as h5py does."""
        link = external.link
        location = self._external_location(link.file or "")
        other = self._external_files.get(location)
        if other is None:
            reference_file = location.endswith((".json", ".tar")) or is_tar_path(location)
            policy = self._store.policy
            try:
                if not reference_file:
                    other = LindiH5pyFile.from_hdf5_file(location, address_guard=policy.address_guard())
                elif location.startswith(("http://", "https://")):
                    # Fetched on this file's behalf: no more private than this file may reach.
                    other = LindiH5pyFile(ReferenceStore.from_file(location, allow_local=policy.allow_local,
                                                                   reach=policy.reach), filename=location)
                else:
                    other = LindiH5pyFile.from_lindi_file(location, allow_local=policy.allow_local)
            except LindiError as exc:
                raise KeyError(f"Unable to synchronously open object (can't open external file "
                               f"{link.file!r}: {exc})") from exc
            self._external_files[location] = other
        return other["/".join([link.path.rstrip("/")] + external.rest) or "/"]

    def _external_location(self, target: str) -> str:
        source = str(self._rfs.generation_metadata.get("source") or self._filename)
        if target.startswith(("http://", "https://")) or os.path.isabs(target):
            location = target
        elif source.startswith(("http://", "https://")):
            location = urllib.parse.urljoin(source, target)
        else:
            location = os.path.join(os.path.dirname(os.path.abspath(source)), target)
        resolved = self._store.policy.resolve(location)  # an untrusted file may not open local ones
        return resolved.where

    def _dereference(self, ref: h5py.Reference) -> Any:
        if not isinstance(ref, LindiH5pyReference):
            raise ValueError("Invalid HDF5 object reference" if not ref else
                             "reference does not belong to a translated file")
        source_id = ref.source_object_id
        if source_id is not None and self._root_object_id() not in (None, source_id):
            raise ValueError(f"reference to {ref.path!r} points into another file ({source_id})")
        return self[ref.path]

    def _read_box(self, zpath: str, zarray: dict, decoder: Any, axes: tuple[slice, ...]) -> np.ndarray:
        from zarr.core.sync import sync

        dtype = storage_dtype(zarray)
        return sync(direct_read.read_box(
            self._store.chunk_bytes, decoder, dtype, tuple(zarray["shape"]), tuple(zarray["chunks"]), axes,
            direct_read.parse_fill_value(zarray.get("fill_value"), dtype), zpath,
            zarray.get("dimension_separator") or "."))

    def _prefetch(self, keys: list[str]) -> None:
        from zarr.core.sync import sync

        sync(self._store.prefetch(keys))

    def _open_zarr_array(self, zpath: str) -> zarr.Array:
        return zarr.open_array(self._store, path=zpath, mode="r" if self._mode == "r" else "r+", zarr_format=2)

