"""``LindiH5pyGroup``: h5py's ``Group`` over the hierarchy of a translated file."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from lindi_core.errors import ReferenceFormatError, UnreadableObjectError
from lindi_core.facade import group_writes
from lindi_core.facade.base import FacadeObject
from lindi_core.facade.datatype import plain_dtype
from lindi_core.facade.hierarchy import LEAF_KINDS, ExternalTarget, Link, path_parts
from lindi_core.format import annotations as ann

if TYPE_CHECKING:
    from lindi_core.facade.files import LindiH5pyFile


class LindiH5pySoftLink(h5py.SoftLink):
    """A soft link, as ``group.get(name, getlink=True)`` returns it."""


class LindiH5pyHardLink(h5py.HardLink):
    """A hard link, as ``group.get(name, getlink=True)`` returns it."""


class LindiH5pyExternalLink(h5py.ExternalLink):
    """An external link, as ``group.get(name, getlink=True)`` returns it."""


class LindiH5pyGroup(FacadeObject, h5py.Group):
    """A group of a translated file, with h5py's mapping and traversal semantics."""

    def __init__(self, file: LindiH5pyFile, zpath: str, name: str):
        self._init_object(file, zpath, name)

    # -- lookup -------------------------------------------------------------------------------
    def __getitem__(self, name: Any) -> Any:
        self.handle.check_open()
        if isinstance(name, h5py.Reference):
            return self.handle.dereference(name)
        if not isinstance(name, (str, bytes)):
            raise TypeError(f"Accessing a group is done with bytes or str, not {type(name)}")
        if isinstance(name, bytes):
            name = self._utf8_name(name)
        try:
            zpath, used_name = self.handle.resolve(self._zpath, self._name, name)
        except ExternalTarget as external:
            return self.handle.open_external(external)
        return self.handle.object_at(zpath, used_name)

    def get(self, name: Any, default: Any = None, getclass: bool = False, getlink: bool = False) -> Any:
        """h5py's ``get``: the object ``name`` leads to (a name or an object reference), or with
        ``getclass`` its class, with ``getlink`` the link itself (with both: h5py's link class);
        ``default`` where no link of that name exists."""
        self.handle.check_open()
        if not (getclass or getlink):
            try:
                return self[name]
            except KeyError:
                return default
        # As h5py: with getclass or getlink, only names (not object references) are accepted.
        if name is None:
            raise TypeError("Argument 'path' must not be None")
        if not isinstance(name, (str, bytes)):
            raise TypeError(f"A name should be string or bytes, not {type(name)}")
        if isinstance(name, bytes):
            try:
                name = self._utf8_name(name)
            except KeyError:
                return default
        if name not in self:
            return default
        if getlink:
            last = [part for part in name.split("/") if part]
            if not last or last[-1] == ".":  # the group itself, not a link (libhdf5's error)
                raise RuntimeError("Unable to get link info (name doesn't exist)")
            link = h5py_link(self.handle.link_of(self._zpath, self._name, name))
            if getclass:
                return next(cls for cls in (h5py.SoftLink, h5py.ExternalLink, h5py.HardLink) if isinstance(link, cls))
            return link
        try:
            obj = self[name]
        except KeyError as exc:  # the link exists, its target does not (h5py's errors)
            link = h5py_link(self.handle.link_of(self._zpath, self._name, name))
            if not isinstance(link, h5py.ExternalLink):
                reason = "component not found"
            elif "can't open external file" in str(exc):
                reason = "can't open file"
            else:
                reason = f"object {posixpath.basename(link.path.rstrip('/'))!r} doesn't exist"
            raise RuntimeError(f"Can't get deprecated info for object ({reason})") from None
        return next(cls for cls in (h5py.Dataset, h5py.Datatype, h5py.Group) if isinstance(obj, cls))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, (str, bytes)) or not self.handle.is_open:
            return False
        if isinstance(name, bytes):
            try:
                name = name.decode("utf-8")
            except UnicodeDecodeError:
                return any(raw == name for _, raw, _ in self._untranslated_links())
        return self.handle.link_exists(self._zpath, self._name, name)

    def __iter__(self) -> Iterator[str | bytes]:
        self.handle.check_open()
        names: list[str | bytes] = list(self.handle.child_names(self._zpath))
        for position, raw, _reason in self._untranslated_links():  # by their bytes, in place, as h5py
            names.insert(min(position, len(names)), raw)
        yield from names

    def __len__(self) -> int:
        return len(self.handle.child_names(self._zpath)) + len(self._untranslated_links())

    def _untranslated_links(self) -> list[tuple[int, bytes, str]]:
        """The links this group lists whose names are not UTF-8 (spec §8)."""
        try:
            return ann.untranslated_links(self._zattrs())
        except ValueError as exc:
            raise ReferenceFormatError(f"group {self.name!r}: {exc}") from exc

    def _utf8_name(self, name: bytes) -> str:
        """A name given as bytes, as text; for a link whose name is not UTF-8, the error it
        raises when followed (it was listed, not translated); KeyError for no such link."""
        try:
            return name.decode("utf-8")
        except UnicodeDecodeError:
            pass
        for _position, raw, reason in self._untranslated_links():
            if raw == name:
                raise UnreadableObjectError(f"link {name!r} cannot be followed: {reason}", object_path=self.name)
        raise KeyError(f"Unable to open object (object {name!r} doesn't exist)")

    def __repr__(self) -> str:
        if not self.handle.is_open:
            return "<Closed HDF5 group>"
        label = "/" if self._name == "/" else self._name.rsplit("/", 1)[-1]
        return f'<HDF5 group "{label if self._name == "/" else self._name}" ({len(self)} members)>'

    # -- traversal ------------------------------------------------------------------------------
    def visit(self, func: Callable[[str], Any]) -> Any:
        return self.visititems(lambda name, obj: func(name))

    def visititems(self, func: Callable[[str, Any], Any]) -> Any:
        """Call ``func(relative_name, object)`` for every object below this group once, in
        link order, not following soft or external links (as h5py does)."""
        seen = {self._zpath}
        hierarchy = self.handle.hierarchy
        # h5py visits in name order (HDF5's name index), whatever order the group tracks.
        stack: list[tuple[str, str, Iterator[str]]] = [(self._zpath, "", iter(sorted(hierarchy.child_names(self._zpath))))]
        while stack:
            zpath, relative, names = stack[-1]
            child = next(names, None)
            if child is None:
                stack.pop()
                continue
            child_zpath = f"{zpath}/{child}" if zpath else child
            child_relative = f"{relative}/{child}" if relative else child
            link = hierarchy.links.get(child_zpath)
            if link is not None:
                if link.kind != "hard":
                    continue
                child_zpath = link.path.strip("/")
            if child_zpath in seen:
                continue
            seen.add(child_zpath)
            used = posixpath.join(self._name, child_relative)
            result = func(child_relative, self.handle.object_at(child_zpath, used))
            if result is not None:
                return result
            if self.handle.kind(child_zpath) not in LEAF_KINDS:
                stack.append((child_zpath, child_relative, iter(sorted(hierarchy.child_names(child_zpath)))))
        return None

    def visit_links(self, func: Callable[[str], Any]) -> Any:
        return self.visititems_links(lambda name, link: func(name))

    def visititems_links(self, func: Callable[[str, Any], Any]) -> Any:
        """Call ``func(relative_name, link)`` for every link below this group, in name order,
        entering each group once (as h5py's ``visititems_links``)."""
        hierarchy = self.handle.hierarchy
        seen = {self._zpath}

        def walk(zpath: str, relative: str) -> Any:
            for child in sorted(hierarchy.child_names(zpath)):
                child_zpath = f"{zpath}/{child}" if zpath else child
                child_relative = f"{relative}/{child}" if relative else child
                link = hierarchy.links.get(child_zpath)
                result = func(child_relative, h5py_link(link))
                if result is not None:
                    return result
                if link is not None:
                    if link.kind != "hard":
                        continue
                    child_zpath = link.path.strip("/")
                if child_zpath in seen or self.handle.kind(child_zpath) in LEAF_KINDS:
                    continue
                seen.add(child_zpath)
                result = walk(child_zpath, child_relative)
                if result is not None:
                    return result
            return None

        return walk(self._zpath, "")

    # -- writing ----------------------------------------------------------------------------------
    def _child_zpath(self, name: str | bytes) -> str:
        return child_zpath(self._zpath, name)

    def create_group(self, name: str, track_order: Any = None) -> LindiH5pyGroup:
        self.handle.require_writable("create group", error=ValueError)
        zpath = self._child_zpath(name)
        group_writes.create_group(self.handle, zpath, extra_attrs=_creation_order_annotation(track_order, links=True))
        return self[name]

    def create_dataset(self, name: str | None, shape: Any = None, dtype: Any = None, data: Any = None,
                       **kwargs: Any) -> Any:
        self.handle.require_writable("create dataset", error=ValueError)
        from lindi_core.facade.dataset_creation import create_dataset

        if name is None:
            raise TypeError("anonymous datasets are not supported in a reference file system")
        known = {"chunks", "maxshape", "fillvalue", "compression", "compression_opts", "shuffle", "fletcher32"}
        ignored = {"track_times", "track_order", "dcpl", "dapl", "efile_prefix", "virtual_prefix", "allow_unknown_filter",
                   "rdcc_nbytes", "rdcc_w0", "rdcc_nslots", "scaleoffset", "external"}
        unknown = set(kwargs) - known - ignored
        if unknown:
            raise TypeError(f"create_dataset() got unexpected arguments {sorted(unknown)}")
        if kwargs.get("scaleoffset") is not None or kwargs.get("external"):
            raise ValueError("scaleoffset and external storage cannot be written to a reference file system")
        create_dataset(self.handle, self._child_zpath(name), shape=shape, dtype=plain_dtype(dtype), data=data,
                       extra_attrs=_creation_order_annotation(kwargs.get("track_order"), links=False),
                       **{k: v for k, v in kwargs.items() if k in known})
        return self[name]

    def require_group(self, name: str) -> LindiH5pyGroup:
        if name in self:
            obj = self[name]
            if not isinstance(obj, LindiH5pyGroup):
                raise TypeError(f"Incompatible object ({type(obj).__name__}) already exists")
            return obj
        return self.create_group(name)

    def require_dataset(self, name: str, shape: Any, dtype: Any, exact: bool = False, **kwargs: Any) -> Any:
        if name not in self:
            return self.create_dataset(name, shape=shape, dtype=dtype, **kwargs)
        obj = self[name]
        if not isinstance(obj, h5py.Dataset):
            raise TypeError(f"Incompatible object ({type(obj).__name__}) already exists")
        if tuple(obj.shape) != tuple(np.atleast_1d(shape) if shape != () else ()):
            raise TypeError(f"Shapes do not match (existing {obj.shape} vs new {shape})")
        if exact and obj.dtype != np.dtype(dtype):
            raise TypeError(f"Datatypes cannot be exactly matched (existing {obj.dtype} vs new {dtype})")
        if not np.can_cast(np.dtype(dtype), obj.dtype):
            raise TypeError(f"Datatypes cannot be safely cast (existing {obj.dtype} vs new {dtype})")
        return obj

    def __setitem__(self, name: str, obj: Any) -> None:
        self.handle.require_writable("create link", error=OSError)
        zpath = self._child_zpath(name)
        if isinstance(obj, np.dtype):  # h5py commits a NumPy type as a named datatype
            group_writes.commit_datatype(self.handle, zpath, obj)
        elif isinstance(obj, h5py.SoftLink):
            group_writes.create_link(self.handle, zpath, ann.SOFT_LINK, {"path": obj.path})
        elif isinstance(obj, h5py.ExternalLink):
            group_writes.create_link(self.handle, zpath, ann.EXTERNAL_LINK, {"file": obj.filename, "path": obj.path})
        elif isinstance(obj, FacadeObject):
            if obj.handle is not self.handle:
                raise OSError("Unable to create link (interfile hard links are not allowed)")
            group_writes.create_link(self.handle, zpath, ann.HARD_LINK, {"path": "/" + obj.id.zpath})
        elif isinstance(obj, (h5py.Group, h5py.Dataset, h5py.Datatype)):  # an object of another (HDF5) file
            raise OSError("Unable to create link (interfile hard links are not allowed)")
        else:
            self.create_dataset(name, data=obj)

    def __delitem__(self, name: str) -> None:
        self.handle.require_writable("delete link", error=KeyError)
        if name not in self:
            raise KeyError(f"Couldn't delete link (object '{name}' doesn't exist)")
        group_writes.delete_object(self.handle, self._child_zpath(name))

    def move(self, source: str, dest: str) -> None:
        self.handle.require_writable("move link", error=OSError)
        if source not in self:
            raise KeyError(f"Unable to move object (object '{source}' doesn't exist)")
        group_writes.move_object(self.handle, self._child_zpath(source), self._child_zpath(dest))

    def copy(self, source: Any, dest: Any, name: str | None = None, shallow: bool = False,
             expand_soft: bool = False, expand_external: bool = False, expand_refs: bool = False,
             without_attrs: bool = False) -> None:
        """Copy an object (by path or object, from this or another translated file, or from an
        HDF5 file opened with h5py) to ``dest`` (a path, or a group to copy into: of a translated
        file, or of an HDF5 file opened with h5py). Between translated files chunk data is
        copied by reference (no bytes move); from or into h5py, by value."""
        from lindi_core.facade.copying import copy_object

        source_obj = self[source] if isinstance(source, str) else source
        if not isinstance(source_obj, (FacadeObject, h5py.Group, h5py.Dataset, h5py.Datatype)):
            raise TypeError(f"cannot copy a {type(source_obj).__name__}: a group, a dataset or a datatype is needed")
        if isinstance(dest, h5py.Group) and not isinstance(dest, FacadeObject):  # into an h5py file: by value
            from lindi_core.facade.copy_from_hdf5 import copy_into_hdf5

            copy_into_hdf5(source_obj, dest, name or source_obj.name.rsplit("/", 1)[-1], shallow=shallow,
                           without_attrs=without_attrs, expand_soft=expand_soft, expand_external=expand_external,
                           expand_refs=expand_refs)
            return
        if isinstance(dest, LindiH5pyGroup):
            target_group, target_name = dest, name or source_obj.name.rsplit("/", 1)[-1]
        else:
            target_group, target_name = self, dest
        target = target_group.handle
        target.require_writable("copy object", error=OSError)
        zpath = child_zpath(target_group.id.zpath, target_name)
        if target.leaf_above(zpath) is not None:
            raise RuntimeError("Unable to synchronously copy object (message type not found)")  # libhdf5's error
        if not isinstance(source_obj, FacadeObject):  # an object of a plain HDF5 file
            from lindi_core.facade.copy_from_hdf5 import copy_from_hdf5

            if expand_refs:
                raise ValueError("expand_refs is not available (see copy of translated objects)")
            if target.kind(zpath) is not None:
                raise ValueError("Unable to synchronously copy object (destination object already exists)")
            parent, _, last = ("/" + zpath).rpartition("/")
            copy_from_hdf5(source_obj, target_group.file.require_group(parent or "/"), last, shallow=shallow,
                           without_attrs=without_attrs, expand_soft=expand_soft, expand_external=expand_external)
            return
        copy_object(source_obj.handle, source_obj.id.zpath, target, zpath, without_attrs=without_attrs, shallow=shallow,
                    expand_soft=expand_soft, expand_external=expand_external, expand_refs=expand_refs)


def child_zpath(base_zpath: str, name: str | bytes) -> str:
    """The Zarr path a new link ``name`` (relative to the group stored at ``base_zpath``, or
    absolute) gets; parents may not exist yet.

    As libhdf5 reads a path, empty components and "." are dropped ("a//b" and "a/./b" are
    "a/b"). ".." is an ordinary name to libhdf5, and one no Zarr key may hold: refused."""
    if isinstance(name, bytes):
        name = name.decode("utf-8")
    if not isinstance(name, str):
        raise TypeError(f"a link name is str or bytes, not {type(name).__name__}")
    parts = path_parts(name)
    if ".." in parts:
        raise ValueError(f"Unable to use the name {name!r}: '..' cannot be stored as a name in a reference file")
    if not parts:
        raise ValueError(f"Unable to use the name {name!r}: it names {'the root group' if name.startswith('/') else 'this group'}")
    base = [] if name.startswith("/") or not base_zpath else [base_zpath]
    return "/".join(base + parts)


def h5py_link(link: Link | None) -> h5py.SoftLink | h5py.HardLink | h5py.ExternalLink:
    """A stored link as h5py's ``get(name, getlink=True)`` gives it (None: a member stored in
    the group itself, a hard link)."""
    if link is None or link.kind == "hard":
        return LindiH5pyHardLink()
    if link.kind == "soft":
        return LindiH5pySoftLink(link.path)
    return LindiH5pyExternalLink(link.file or "", link.path)


def _creation_order_annotation(track_order: Any, links: bool) -> dict | None:
    """The ``.zattrs`` annotation of a new object that tracks creation order (h5py's
    ``track_order``, defaulting to ``h5py.get_config().track_order``)."""
    if track_order is None:
        track_order = h5py.get_config().track_order
    return {ann.CREATION_ORDER: {"links": links, "attributes": True}} if track_order else None
