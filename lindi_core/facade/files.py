"""``LindiH5pyFile``: an h5py ``File`` whose contents come from a reference file system.

Open one from an HDF5 file (translated in memory), from a ``.lindi.json`` or a ``.lindi.tar``
(local or URL) or from a reference dict, and hand it to anything that reads h5py files, pynwb
included::

    f = LindiH5pyFile.from_lindi_file("https://host/x.nwb.lindi.json")
    with pynwb.NWBHDF5IO(file=f, mode="r") as io:
        nwb = io.read()

Metadata is served from memory; dataset values are read by the read engine
(:mod:`lindi_core.store.read_engine`), fetching only the chunks a selection touches.
"""

from __future__ import annotations

import atexit
import os
import warnings
import weakref
from typing import Any

import h5py
import zarr

from lindi_core.errors import ExistingFileError, LindiError, NotPicklableError
from lindi_core.facade.dataset import LindiH5pyDataset
from lindi_core.facade.datatype import LindiH5pyDatatype
from lindi_core.facade.dims import note_dimension_names_current, refresh_dimension_names
from lindi_core.facade.group import LindiH5pyGroup
from lindi_core.facade.hierarchy import DATASET, DATATYPE
from lindi_core.facade.lowlevel import FileHandle
from lindi_core.format import chunk_table_forms, jsonio, temporaries
from lindi_core.format.lindi_tar import REFERENCE_NAME
from lindi_core.format.refs import ReferenceFileSystem
from lindi_core.io import folder_container, sync_bridge, tar_container
from lindi_core.io.address_guard import AddressGuard, AddressSpace
from lindi_core.io.cache import LocalCache
from lindi_core.io.http_source import HttpSource
from lindi_core.io.locations import Location, LocationPolicy, is_url
from lindi_core.io.sources import ByteSources
from lindi_core.store import ReferenceStore
from lindi_core.write.consolidate import UploadReport
from lindi_core.write.lindi_folder import LindiFolderWriter, write_new_folder
from lindi_core.write.lindi_tar import LindiTarWriter, write_self_contained
from lindi_core.write.staging import StagingArea
from lindi_core.write.table_forms import TableForms
from lindi_core.write.uploaders import Uploader
from lindi_core.write.writer_lock import WriterLock

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
    sync_bridge.wait_for_closing(timeout=10.0)  # the connections of files collected before exit


# zarr's exit hook, registered when sync_bridge imported zarr.core.sync, stops its event loop;
# exit hooks run last registered first, so this one closes the files while the loop still runs.
atexit.register(_close_open_files_at_exit)


def _unpickled_file(store: ReferenceStore, filename: str) -> LindiH5pyFile:
    return LindiH5pyFile(store, mode="r", filename=filename)


def _sources(local_cache: LocalCache | None, timeout: float | None, guard: AddressGuard | None = None) -> ByteSources:
    """The byte sources of a file: remote reads within ``timeout`` seconds each (None: the
    default), connecting only where ``guard`` admits (None: anywhere)."""
    http = HttpSource(guard=guard) if timeout is None else HttpSource(timeout=timeout, guard=guard)
    return ByteSources(http, cache=local_cache, guard=guard)


def _write_back(rfs: ReferenceFileSystem, tar: LindiTarWriter | None, save_to: str | None,
                forms: TableForms) -> None:
    """Write a local reference file opened for writing back to disk (with the dimension names
    its edits imply: :func:`refresh_dimension_names`, and each array's chunk refs in the form
    :class:`TableForms` settles)."""
    if tar is not None or save_to is not None:
        refresh_dimension_names(rfs)
        forms.settle(rfs)
    if tar is not None:
        tar.commit_rfs(rfs)
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
               external_files: dict[str, LindiH5pyFile], lock: WriterLock | None, forms: TableForms) -> None:
    """The finalizer of a file collected while open: written back, then released, without
    waiting on any other thread (a collection can run anywhere, locks held)."""
    try:
        _write_back(rfs, tar, save_to, forms)
    finally:
        _release(store, tar, external_files, lock, wait=False)


class LindiH5pyFile(LindiH5pyGroup, h5py.File):
    """An h5py-compatible file over a reference file system."""

    def __init__(self, store: ReferenceStore, *, mode: str = "r", filename: str = "<reference file system>",
                 staging_area: StagingArea | None = None, save_to: str | None = None,
                 tar: LindiTarWriter | None = None, lock: WriterLock | None = None,
                 table_forms: TableForms | None = None):
        if mode not in MODES:
            raise ValueError(f"Invalid mode; must be one of {', '.join(MODES)}")
        if store.read_only != (mode == "r"):  # the file's mode decides the store's
            store = store.with_read_only(mode == "r")
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
        # What the file is underneath (paths, links, objects, attributes): see lowlevel.py.
        self.handle = FileHandle(self, store, mode, filename,
                                 {DATASET: LindiH5pyDataset, DATATYPE: LindiH5pyDatatype}, LindiH5pyGroup)
        self._saved_changes = self._rfs.changes  # edits up to here are on disk (or were never made)
        # How saves write each array's chunk refs (JSON or a binary table, spec §13).
        self._table_forms = table_forms if table_forms is not None else TableForms.opened(self._rfs)
        note_dimension_names_current(self._rfs)
        super().__init__(self, "", "/")
        # Holds what closing needs, never the file itself (that would keep it alive).
        self._finalizer = weakref.finalize(self, _collected, self._rfs, store, tar, save_to, self.handle.external_files,
                                           lock, self._table_forms)
        self._finalizer.atexit = False  # exit closes through _close_open_files_at_exit
        _OPEN_FILES.add(self)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def from_lindi_file(cls, path_or_url: str | os.PathLike, mode: str = "r", local_cache: LocalCache | None = None,
                        allow_local: bool | None = None, staging_area: StagingArea | None = None,
                        reuse_freed_chunks: bool = False, allow_private_network: bool = False,
                        timeout: float | None = None, chunk_table: str | None = None,
                        chunk_table_threshold: int | None = None) -> LindiH5pyFile:
        """Open a ``.lindi.json`` or a ``.lindi.tar`` from a local path or an http(s) URL, or a
        local ``.lindi.d`` folder, with h5py's modes.

        ``r`` reads; ``r+`` and ``a`` also write (``a`` creates a missing local file); ``w``
        creates or truncates and ``w-``/``x`` create, failing if it exists. A new file is a
        container when its name ends in ``.tar``, a folder when it ends in ``.d`` (as in LINDI);
        an existing one is recognised by its content. A local file opened for writing is written
        back on ``flush()`` and ``close()``: a ``.lindi.json`` atomically, a ``.lindi.tar`` grown
        in place (crash-safe), a ``.lindi.d``'s ``lindi.json`` atomically (its chunk files are
        never rewritten: ``w`` leaves them, a rewritten chunk gets a new file). New chunks go to
        ``staging_area`` when given (then ``upload()``), else into the container as members or
        files, or inline into a ``.lindi.json``.

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
        reader that opened it before the commit, would read the new bytes in place of the old.

        ``chunk_table`` (``"auto"``, ``"json"`` or ``"binary"``) is how saves write every array's
        chunk refs, as translation's option (spec §13). By default an array keeps the form it has,
        and arrays created while editing, or whose chunk count crosses ``chunk_table_threshold``
        (default 100,000; growing to it or shrinking below it), are written as ``auto`` decides."""
        table_choice = TableForms(chunk_table, chunk_table_forms.AUTO_THRESHOLD if chunk_table_threshold is None
                                  else chunk_table_threshold)  # a bad choice fails before anything opens
        source = os.fspath(path_or_url)
        remote = is_url(source)
        exists = remote or os.path.exists(source)
        if mode in ("w-", "x") and exists:
            raise ExistingFileError(f"Unable to create file (file exists): {source!r}")
        if mode in ("r", "r+") and not exists:
            raise FileNotFoundError(f"Unable to open file (no such file): {source!r}")
        if mode not in MODES:
            raise ValueError(f"Invalid mode; must be one of {', '.join(MODES)}")
        if remote and mode in ("w", "w-", "x"):
            raise ValueError("a reference file at a URL cannot be created in place; write it locally and upload it")
        # A new reference file is a folder when its name ends in .d; an existing one when it is one.
        folder = not remote and (folder_container.holds_folder(source)
                                 or (folder_container.names_folder(source) and not exists))
        if not remote and exists and not folder and mode == "w" and folder_container.names_folder(source):
            raise FileExistsError(f"{source!r} is a file, not a .lindi.d folder: remove it to make one there")
        if folder and exists:
            if mode != "r":
                folder_container.check_writable(source)  # before a lock file is put there
                exists = os.path.exists(os.path.join(source, REFERENCE_NAME))  # an empty folder is new
                if mode == "r+" and not exists:
                    raise FileNotFoundError(f"Unable to open file (no such file): {source!r} holds no "
                                            f"{REFERENCE_NAME}")
        if folder and mode != "r" and not os.path.exists(source):
            os.mkdir(source)  # a new .lindi.d: its lock and reference file go inside
        # A .lindi.d is locked and written back through its reference file, so that opening the
        # folder and opening its lindi.json exclude each other.
        reference_path = os.path.join(source, REFERENCE_NAME) if folder else source
        # One writer at a time, locked before the file is read, so that no other writer's
        # write-back can slip in between this one's read and its own write-back.
        lock = WriterLock(reference_path) if mode != "r" and not remote else None
        if not remote:  # what writers killed before their rename left (a pending in-place copy finished)
            temporaries.remove_stale(os.path.realpath(reference_path))
        try:
            return cls._open_lindi_file(source, mode, remote, exists, local_cache, allow_local, staging_area,
                                        reuse_freed_chunks, lock, allow_private_network, timeout, folder,
                                        table_choice)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def _open_lindi_file(cls, source: str, mode: str, remote: bool, exists: bool, local_cache: LocalCache | None,
                         allow_local: bool | None, staging_area: StagingArea | None, reuse_freed_chunks: bool,
                         lock: WriterLock | None, allow_private_network: bool = False,
                         timeout: float | None = None, folder: bool = False,
                         table_choice: TableForms | None = None) -> LindiH5pyFile:
        tar = None  # a container open for writing: a LindiTarWriter or a LindiFolderWriter
        if mode in ("w", "w-", "x") or (mode == "a" and not exists):
            rfs = ReferenceFileSystem(generation_metadata={"generatedBy": "lindi-core"})
            rfs.set_metadata(".zgroup", {"zarr_format": 2})
            if folder:
                tar = LindiFolderWriter.create(source, rfs)
            elif tar_container.names_tar(source):
                tar = LindiTarWriter.create(source, jsonio.dumps(rfs), reuse_freed_chunks=reuse_freed_chunks)
            else:
                jsonio.write_atomic(rfs, source)  # the file exists from now on, as h5py's does
            store = ReferenceStore(rfs, policy=LocationPolicy.for_source(source, allow_local=allow_local),
                                   sources=_sources(local_cache, timeout), read_only=mode == "r",
                                   container=tar.container if tar is not None else None)
        elif mode != "r" and (folder or (not remote and tar_container.holds_tar(source))):
            if folder:
                tar = LindiFolderWriter.open(source)
            else:
                tar = LindiTarWriter.open(source, reuse_freed_chunks=reuse_freed_chunks)
            store = ReferenceStore(jsonio.loads(tar.reference_text),
                                   policy=LocationPolicy.for_source(source, allow_local=allow_local),
                                   sources=_sources(local_cache, timeout), container=tar.container,
                                   read_only=mode == "r")
        else:
            store = ReferenceStore.from_file(source, allow_local=allow_local, local_cache=local_cache,
                                             allow_private_network=allow_private_network, timeout=timeout,
                                             read_only=mode == "r")
        save_to = None if remote or mode == "r" or tar is not None else source
        choice = table_choice or TableForms()
        return cls(store, mode=mode, filename=source, staging_area=staging_area, save_to=save_to, tar=tar, lock=lock,
                   table_forms=TableForms.opened(store.rfs, choice.choice, choice.threshold))

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
        # An HDF5 file the user names is trusted with network addresses (it is not fetched as a
        # reference file is): only a file opened on another's behalf has a narrower reach.
        policy = LocationPolicy.for_source(
            source, allow_local=allow_local, reach=AddressSpace.LOOPBACK if address_guard is None else address_guard.reach)
        store = ReferenceStore(rfs, policy=policy, sources=_sources(local_cache, timeout, policy.address_guard()),
                               read_only=mode == "r")
        # Saves of the edits decide new arrays' forms as this translation decided (spec §13).
        options = translate_options.get("options")
        forms = TableForms.opened(rfs, translate_options.get("chunk_table") or getattr(options, "chunk_table", None),
                                  getattr(options, "chunk_table_threshold", None))
        return cls(store, mode=mode, filename=source, staging_area=staging_area, table_forms=forms)

    @classmethod
    def from_reference_file_system(cls, rfs: Any, mode: str = "r", local_cache: LocalCache | None = None,
                                   allow_local: bool | None = None, allow_private_network: bool = False
                                   ) -> LindiH5pyFile:
        """Open a reference file system given as a dict, a ``ReferenceFileSystem``, a local path
        or a URL (trusted as :meth:`from_lindi_file` trusts it; a dict or a ``ReferenceFileSystem``
        comes from the caller and is trusted)."""
        if isinstance(rfs, ReferenceFileSystem):
            return cls(ReferenceStore(rfs, policy=LocationPolicy.for_source(None, allow_local=allow_local),
                                      sources=ByteSources(cache=local_cache), read_only=mode == "r"), mode=mode)
        if isinstance(rfs, dict):
            store = ReferenceStore.from_dict(rfs, allow_local=allow_local, local_cache=local_cache, read_only=mode == "r")
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

    @classmethod
    def from_h5py_file(cls, h5py_file: h5py.File) -> LindiH5pyFile:
        """The HDF5 file an open ``h5py.File`` reads, translated now and opened ``r`` (LINDI
        0.3's constructor). A snapshot: writes made through ``h5py_file`` afterwards are not
        seen (those made before are: a file open for writing is flushed first). Only a file on
        disk can be translated; an in-memory or file-object ``h5py.File`` raises TypeError."""
        if not isinstance(h5py_file, h5py.File) or not h5py_file:
            raise TypeError(f"from_h5py_file takes an open h5py.File, not {h5py_file!r}")
        if h5py_file.driver == "fileobj" or not os.path.isfile(h5py_file.filename):
            raise TypeError(f"from_h5py_file needs an h5py.File of a file on disk, not {h5py_file!r}")
        if h5py_file.mode != "r":
            h5py_file.flush()
        return cls.from_hdf5_file(h5py_file.filename)

    # -- saving -----------------------------------------------------------------------------
    def to_reference_file_system(self) -> dict:
        """The reference file system as a JSON-ready dict."""
        self._table_forms.settle(self._rfs)
        return jsonio.to_json_dict(self._rfs)

    def write_lindi_file(self, path: str | os.PathLike, *, generation_metadata: dict | None = None) -> None:
        """Write the reference file system to ``path``, whose name says the form, as in LINDI:
        ``.lindi.json``, ``.lindi.tar`` (atomically) or ``.lindi.d`` (a folder: the reference
        file written last, atomically); any other name is a ``ValueError``.

        A container written here (``.lindi.tar``, ``.lindi.d``) is self-contained: it holds the
        bytes of every chunk kept in this file's own container or staging area, and inline chunks
        too large to stay inline (refs into other files stay refs). A ``.lindi.json`` written from
        a container refers to the container's members as byte ranges of the archive, or by
        absolute path to the files of a folder. ``generation_metadata`` (LINDI 0.4's keyword)
        replaces the written file's ``generationMetadata``; this file keeps its own."""
        path = os.fspath(path)
        if not path.endswith((".lindi.json", ".lindi.tar", ".lindi.d")):
            raise ValueError(f"Filename must end with '.lindi.json', '.lindi.tar', or '.lindi.d': {path!r}")
        if self._mode != "r":
            refresh_dimension_names(self._rfs)
        self._table_forms.settle(self._rfs)
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
            if path.endswith(".lindi.d"):
                if not os.path.lexists(path):
                    os.makedirs(path)
                elif os.path.isdir(path):
                    folder_container.check_writable(path)  # before a lock file is put there
                # Not while another writer has that folder open (its write-back would undo this one).
                lock = WriterLock(os.path.join(path, REFERENCE_NAME)) if os.path.isdir(path) else None
                try:
                    write_new_folder(self._rfs, path, read=self._read_bytes, container=container,
                                     staging=self._staging, policy=self._store.policy,
                                     inline_limit=self._store.inline_limit, staged_only=self._staged_only())
                finally:
                    if lock is not None:
                        lock.release()
            elif tar_container.names_tar(path):
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
        return sync_bridge.run_sync(self._store.sources.read(location, offset, length))

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
        if self.handle.is_open:
            _write_back(self._rfs, self._tar, self._save_to, self._table_forms)

    def close(self) -> None:
        if self.handle.is_open:
            self.flush()  # a failure leaves the file open, its edits kept, to be closed again
            if self._mode != "r" and self._save_to is None and self._tar is None \
                    and self._rfs.changes != self._saved_changes:
                warnings.warn(f"{self._filename}: edits made since it was opened are not kept anywhere (it has no "
                              "local file to write back to): write_lindi_file(path) keeps them", UserWarning,
                              stacklevel=2)
            self.handle.close()
            _OPEN_FILES.discard(self)
            if self._finalizer.detach() is not None:
                _release(self._store, self._tar, self.handle.external_files, self._lock)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """A file open for reading pickles (for dask, multiprocessing) as its store, which
        carries the reference file system, the trust decisions, the timeout and the local
        cache's folder; the copy opens its connections, and the files its external links name,
        when it first reads. A file open for writing refuses: its edits could not be kept."""
        self.handle.check_open()
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
        if not self.handle.is_open:
            return "<Closed HDF5 file>"
        return f'<HDF5 file "{os.path.basename(self._filename)}" (mode {self.mode})>'

    @property
    def zarr_group(self) -> zarr.Group:
        """The zarr-python 3 root group of this file."""
        return zarr.open_group(self._store, mode="r" if self._mode == "r" else "r+", zarr_format=2)

