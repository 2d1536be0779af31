"""The low-level layer under the facade: one :class:`FileHandle` per open file.

h5py splits its API in two. The high-level classes (``File``, ``Group``, ``Dataset``,
``AttributeManager``) translate Python's idioms into calls on low-level ``id`` objects, which
know how to find, open, create and change objects; the high-level classes call the low-level
layer, not each other's internals. The facade has the same split. A ``FileHandle`` is what a
translated file is underneath:

* its reference file system (``rfs``) and the zarr store over it (``store``);
* its group tree (``hierarchy``: kinds, children, links) and the rules of HDF5 paths over it:
  names resolved as libhdf5 resolves them, soft links followed, external links opened as other
  files (``resolve``, ``link_of``, ``open_external``, ``dereference``);
* its state: open or closed, writable or not (``check_open``, ``require_writable``);
* object identity: one facade object per (stored path, name used), made on first use and
  forgotten when a write makes a name lead elsewhere (``object_at``, ``forget_objects``);
* the attributes of a stored path as JSON (``zattrs``, ``set_attribute``,
  ``delete_attribute``) and the keys below it (``subtree_keys``, ``remove_keys``,
  ``move_keys``, ``stored_bytes``).

Every facade object reaches its file's handle through its public ``handle`` attribute, and
names itself to it by its stored (Zarr) path, ``obj.id.zpath``. What h5py keeps in its
high-level modules stays in the facade's: h5py's types and error messages, attribute and dataset
encoding, the write rules of groups (:mod:`group_writes`) and datasets
(:mod:`dataset_creation`).
"""

from __future__ import annotations

import itertools
import os
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import h5py
import zarr

from lindi_core.errors import LindiError, ReadOnlyFileError
from lindi_core.facade.hierarchy import LEAF_KINDS, ExternalTarget, Hierarchy, Link, path_parts
from lindi_core.format import annotations as ann
from lindi_core.format.array_metadata import ArrayMetadata
from lindi_core.format.keys import join_key, split_key
from lindi_core.format.refs import ReferenceFileSystem
from lindi_core.io import tar_container
from lindi_core.io.locations import is_url, name_of
from lindi_core.store import ReferenceStore
from lindi_core.store.read_engine import ArrayReader

MAX_LINK_DEPTH = 64

# (file, zpath, name) -> the facade object of that kind (group, dataset, committed datatype).
ObjectFactory = Callable[[Any, str, str], Any]


class FileHandle:
    """What an open translated file is underneath its h5py surface (see the module docstring).

    ``file`` is the ``LindiH5pyFile`` this handle belongs to; ``classes`` maps an object kind
    (``hierarchy.DATASET``, ``DATATYPE``) to the facade class made for it, ``group_class``
    everything else."""

    def __init__(self, file: Any, store: ReferenceStore, mode: str, filename: str,
                 classes: dict[str, ObjectFactory], group_class: ObjectFactory):
        self.file = file
        self.store = store
        self.rfs: ReferenceFileSystem = store.rfs
        self.mode = mode
        self.filename = filename
        self.is_open = True
        self.hierarchy = Hierarchy(self.rfs)
        # The files external links opened, by location: closed with this one.
        self.external_files: dict[str, Any] = {}
        # An identity drawn once per open file: dask names its arrays' tasks by it.
        self.identity = uuid.uuid4().hex
        self._classes = classes
        self._group_class = group_class
        self._objects: dict[tuple[str, str], Any] = {}

    # -- state --------------------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        return self.mode != "r"

    def check_open(self) -> None:
        if not self.is_open:
            raise ValueError("Invalid file: the file is closed")

    def require_writable(self, what: str, error: type[Exception] = OSError) -> None:
        """Refuse ``what`` (as libhdf5 words it) with h5py's ``error`` type on a file open for
        reading only."""
        self.check_open()
        if not self.writable:
            if error is OSError:  # h5py's OSError, and the ValueError LINDI raises
                error = ReadOnlyFileError
            raise error(f"Unable to {what} (no write intent on file)")

    def close(self) -> None:
        """Mark the file closed and drop the objects made for it (the file releases the rest)."""
        self.is_open = False
        self._objects.clear()

    def root_object_id(self) -> str | None:
        return self.zattrs("").get("object_id")

    # -- objects --------------------------------------------------------------------------------
    def kind(self, zpath: str) -> str | None:
        """``"group"``, ``"dataset"`` or ``"datatype"`` of the object stored at ``zpath``, None if none."""
        return self.hierarchy.kinds.get(zpath)

    def child_names(self, zpath: str) -> list[str]:
        return self.hierarchy.child_names(zpath)

    def link_at(self, zpath: str) -> Link | None:
        """The soft, hard or external link stored at ``zpath`` (None for an object itself)."""
        return self.hierarchy.links.get(zpath)

    def array_metadata(self, zpath: str) -> dict:
        """The ``.zarray`` of the dataset stored at ``zpath``."""
        return self.rfs.metadata[join_key(zpath, ".zarray")]

    def array_reader(self, zpath: str, meta: ArrayMetadata) -> ArrayReader:
        """The read engine of the array at ``zpath`` (metadata ``meta``) in this file's store:
        every read of its chunks goes through it (see :mod:`lindi_core.store.read_engine`)."""
        return ArrayReader(self.store, zpath, meta)

    def zarr_array(self, zpath: str) -> zarr.Array:
        """zarr-python's array at ``zpath``, writable when the file is (its chunks are read
        through the same engine, by the store's codec pipeline)."""
        return zarr.open_array(self.store, path=zpath, mode="r+" if self.writable else "r", zarr_format=2)

    def object_at(self, zpath: str, name: str) -> Any:
        """The facade object stored at ``zpath``, reached by the HDF5 name ``name``: the same
        object each time (hdmf compares what it reached twice)."""
        key = (zpath, name)
        obj = self._objects.get(key)
        if obj is None:
            obj = self._classes.get(self.kind(zpath), self._group_class)(self.file, zpath, name)
            self._objects[key] = obj
        return obj

    def forget_objects(self, zpath: str) -> None:
        """Drop the facade objects kept for ``zpath`` and below it: the names now lead elsewhere
        (deleted, moved, or another object made there)."""
        prefix = zpath + "/"
        for key in [k for k in self._objects if k[0] == zpath or k[0].startswith(prefix) or not zpath]:
            del self._objects[key]

    # -- paths and links ------------------------------------------------------------------------
    def resolve(self, base_zpath: str, base_name: str, name: str) -> tuple[str, str]:
        """(stored Zarr path, HDF5 name used) of ``name`` relative to the group stored at
        ``base_zpath`` and reached as ``base_name``.

        KeyError if there is no such object; :class:`ExternalTarget` if the path continues
        through an external link."""
        if name == "":
            raise KeyError("Unable to synchronously open object (name parameter cannot be an empty string)")
        parts = path_parts(name)
        if name.startswith("/"):
            start, used = "", "/" + "/".join(parts)
        else:
            start, used = base_zpath, "/".join([base_name.rstrip("/")] + parts) if parts else base_name
        return self._follow(start, parts, name, used), used

    def _follow(self, zpath: str, parts: list[str], original: str, used: str, depth: int = 0) -> str:
        if depth > MAX_LINK_DEPTH:
            raise KeyError(f"Unable to synchronously open object (too many links resolving '{original}')")
        kinds, links = self.hierarchy.kinds, self.hierarchy.links  # the lookup every name of a path takes
        for index, part in enumerate(parts):
            if kinds.get(zpath) in LEAF_KINDS:
                raise KeyError(f"Unable to synchronously open object (component not found: '{original}')")
            child = join_key(zpath, part)
            if child not in kinds:
                raise KeyError(f"Unable to synchronously open object (object '{part}' doesn't exist)")
            link = links.get(child)
            if link is not None:
                if link.kind == "external":
                    raise ExternalTarget(link, parts[index + 1 :], used)
                # A soft link's path is relative to the group holding the link, unless absolute.
                start = "" if link.path.startswith("/") else zpath
                child = self._follow(start, path_parts(link.path), original, used, depth + 1)
            zpath = child
        return zpath

    def last_link(self, base_zpath: str, base_name: str, name: str) -> str | None:
        """The Zarr path of the last link ``name`` names ("" for a name of the group itself or
        the root), None where the groups before it do not lead anywhere."""
        parts = path_parts(name)
        if not parts:
            return "" if name.startswith("/") else base_zpath
        try:
            parent, _ = self.resolve(base_zpath, base_name,
                                     ("/" if name.startswith("/") else "") + "/".join(parts[:-1]) or ".")
        except (KeyError, ExternalTarget):
            return None
        if self.kind(parent) in LEAF_KINDS:
            return None
        return join_key(parent, parts[-1])

    def link_exists(self, base_zpath: str, base_name: str, name: str) -> bool:
        """Whether the last link of ``name`` exists (its target need not), as h5py's ``in``."""
        if name == "":
            return False
        zpath = self.last_link(base_zpath, base_name, name)
        return zpath is not None and zpath in self.hierarchy.kinds

    def link_of(self, base_zpath: str, base_name: str, name: str) -> Link | None:
        """The last link of ``name`` (a hard link for a member stored there), None if none."""
        if not self.link_exists(base_zpath, base_name, name):
            return None
        zpath = self.last_link(base_zpath, base_name, name)
        return self.link_at(zpath) or Link("hard", "/" + zpath)

    def open_external(self, external: ExternalTarget) -> Any:
        """The object an external link leads to, in the file it names: an HDF5 file (translated
        on the fly) or a reference file (what pynwb links to when it writes data read from one),
        resolved next to the file this one was translated from, as h5py does."""
        from lindi_core.facade.files import LindiH5pyFile  # the facade's file opens other files

        link = external.link
        location = self.external_location(link.file or "")
        other = self.external_files.get(location)
        if other is None:
            reference_file = tar_container.names_tar(location) or name_of(location).endswith(".json")
            policy = self.store.policy  # opened on this file's behalf: with its limits
            try:
                if not reference_file:
                    other = LindiH5pyFile.from_hdf5_file(location, allow_local=policy.allow_local,
                                                         address_guard=policy.address_guard())
                else:
                    other = LindiH5pyFile(ReferenceStore.from_file(location, allow_local=policy.allow_local,
                                                                   reach=policy.reach), filename=location)
            except LindiError as exc:
                raise KeyError(f"Unable to synchronously open object (can't open external file "
                               f"{link.file!r}: {exc})") from exc
            self.external_files[location] = other
        return other["/".join([link.path.rstrip("/")] + external.rest) or "/"]

    def external_location(self, target: str) -> str:
        """Where an external link's file name leads: next to the file this one was translated
        from (or to ``target`` itself, absolute or a URL), as this file's trust allows."""
        source = str(self.rfs.generation_metadata.get("source") or self.filename)
        if is_url(target) or os.path.isabs(target):
            location = target
        elif is_url(source):
            location = urllib.parse.urljoin(source, target)
        else:
            location = os.path.join(os.path.dirname(os.path.abspath(source)), target)
        resolved = self.store.policy.resolve(location)  # an untrusted file may not open local ones
        return resolved.where

    def dereference(self, ref: h5py.Reference) -> Any:
        """The object an object reference of this file names."""
        from lindi_core.facade.references import LindiH5pyReference

        if not isinstance(ref, LindiH5pyReference):
            raise ValueError("Invalid HDF5 object reference" if not ref else
                             "reference does not belong to a translated file")
        source_id = ref.source_object_id
        if source_id is not None and self.root_object_id() not in (None, source_id):
            raise ValueError(f"reference to {ref.path!r} points into another file ({source_id})")
        return self.file[ref.path]

    def leaf_above(self, zpath: str) -> str | None:
        """The kind of the dataset or committed datatype ``zpath`` would lie below, if any: such
        objects hold no links, and a key below them would not be an object (libhdf5 refuses)."""
        parts = zpath.split("/")
        for depth in range(1, len(parts)):
            kind = self.kind("/".join(parts[:depth]))
            if kind in LEAF_KINDS:
                return kind
        return None

    # -- attributes -----------------------------------------------------------------------------
    def zattrs(self, zpath: str) -> dict:
        """The ``.zattrs`` of ``zpath`` (attributes and annotations), ``{}`` when it has none."""
        return self.rfs.metadata.get(join_key(zpath, ".zattrs")) or {}

    def set_attribute(self, zpath: str, name: str, value: Any, description: Any = None) -> None:
        """Set attribute ``name`` of ``zpath`` to its JSON ``value`` and type ``description``
        (None: JSON's own type; spec sections 7 and 10)."""
        self._update_attrs(zpath, name, (value, description))

    def delete_attribute(self, zpath: str, name: str) -> None:
        self._update_attrs(zpath, name, None)

    def _update_attrs(self, zpath: str, name: str, new: tuple[Any, Any] | None) -> None:
        """Set attribute ``name`` to ``new`` = (JSON value, type description or None), or delete it
        (``new`` None), keeping ``_ATTR_DTYPES`` in step."""
        key = join_key(zpath, ".zattrs")
        zattrs = dict(self.rfs.metadata.get(key) or {})
        described = dict(zattrs.get(ann.ATTR_DTYPES) or {})
        escaped = dict(zattrs.get(ann.ATTRIBUTE_NAMES) or {})
        described.pop(name, None)
        if new is None:
            if name in ann.SPECIAL_ATTRIBUTE_KEYS or name not in zattrs:
                raise KeyError(f"Unable to delete attribute (can't locate attribute: '{name}')")
            del zattrs[name]
            escaped.pop(name, None)
            if escaped:
                zattrs[ann.ATTRIBUTE_NAMES] = escaped
            else:
                zattrs.pop(ann.ATTRIBUTE_NAMES, None)
        else:
            zattrs[name], description = new
            if description is not None:
                described[name] = description
        if described:
            zattrs[ann.ATTR_DTYPES] = described
        else:
            zattrs.pop(ann.ATTR_DTYPES, None)
        self.rfs.set_metadata(key, zattrs)

    # -- keys -----------------------------------------------------------------------------------
    def subtree_keys(self, zpath: str, *, table_cells: bool = True) -> list[str]:
        """Every key stored below ``zpath`` (metadata, inline and referenced chunks); without
        ``table_cells``, not the chunks held in tables (``subtree_tables``), which callers then
        move a whole table at a time."""
        prefix = zpath + "/" if zpath else ""
        rfs = self.rfs
        keys = [k for k in itertools.chain(rfs.metadata, rfs.inline, rfs.loose_refs) if k.startswith(prefix)]
        if table_cells:
            for array_path in self.subtree_tables(zpath):
                table = rfs.tables[array_path]
                keys.extend(join_key(array_path, table.chunk_name(i)) for i in table.present().tolist())
        return keys

    def subtree_tables(self, zpath: str) -> list[str]:
        """The array paths at or below ``zpath`` whose chunk refs are held in a table."""
        prefix = zpath + "/" if zpath else ""
        return [p for p in self.rfs.tables if p == zpath or p.startswith(prefix)]

    def stored_bytes(self, zpath: str) -> int:
        """Bytes of the chunks of the dataset at ``zpath`` as stored (referenced ranges, inline
        chunks): what HDF5 reports as its storage size."""
        rfs = self.rfs
        table = rfs.tables.get(zpath)
        total = table.stored_length() if table is not None else 0
        for key in itertools.chain(rfs.inline, rfs.loose_refs):
            parent, name = split_key(key)
            if parent == zpath and not name.startswith("."):
                value = rfs.get(key)
                total += len(value) if isinstance(value, bytes) else int(value.length)
        return total

    def remove_keys(self, zpath: str) -> None:
        """Delete every key below ``zpath`` (the group tree is rebuilt by the caller)."""
        tables = self.subtree_tables(zpath)
        for key in self.subtree_keys(zpath, table_cells=False):
            self.rfs.delete(key)
        if tables:
            self.rfs.changes += 1
        for array_path in tables:  # with every chunk ref it holds
            del self.rfs.tables[array_path]
            # An array made later at this path is a new one: its chunk-ref form is decided afresh.
            self.rfs.binary_tables.discard(array_path)
            self.rfs.settled_grids.pop(array_path, None)

    def move_keys(self, source: str, dest: str) -> None:
        """Move every key below ``source`` to the same place below ``dest``."""
        rfs = self.rfs
        values = [(key, rfs.get(key)) for key in self.subtree_keys(source, table_cells=False)]
        # Tables move whole, with their chunk refs; moved arrays keep their chunk-ref form
        # (spec §13) and the grid it was decided for.
        tables = {dest + path[len(source):]: rfs.tables[path] for path in self.subtree_tables(source)}
        forms = [(dest + path[len(source):], path in rfs.binary_tables, rfs.settled_grids.get(path))
                 for path in self.subtree_tables(source)]
        self.remove_keys(source)
        rfs.tables.update(tables)  # before their .zarray: a table built for the array's grid is kept
        metadata_first = sorted(values, key=lambda kv: not isinstance(kv[1], dict))
        for key, value in metadata_first:
            new_key = dest + key[len(source):]
            if isinstance(value, dict):
                rfs.set_metadata(new_key, value)
            elif isinstance(value, bytes):
                rfs.set_inline(new_key, value)
            elif value is not None:
                rfs.set_ref(new_key, value)
        for path, binary, grid in forms:
            if binary:
                rfs.binary_tables.add(path)
            if grid is not None:
                rfs.settled_grids[path] = grid
