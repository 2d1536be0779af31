"""``LindiH5pyGroup``: h5py's ``Group`` over the hierarchy of a translated file."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import h5py

from lindi_core.facade.base import FacadeObject
from lindi_core.facade.hierarchy import DATASET, ExternalTarget

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
        self._file._check_open()
        if isinstance(name, h5py.Reference):
            return self._file._dereference(name)
        if not isinstance(name, (str, bytes)):
            raise TypeError(f"Accessing a group is done with bytes or str, not {type(name)}")
        if isinstance(name, bytes):
            name = name.decode("utf-8")
        try:
            zpath, used_name = self._file._resolve(self, name)
        except ExternalTarget as external:
            return self._file._open_external(external)
        return self._file._object_at(zpath, used_name)

    def get(self, name: Any, default: Any = None, getclass: bool = False, getlink: bool = False) -> Any:
        self._file._check_open()
        if getlink:
            link = self._file._link_of(self, name)
            if link is None:
                return default
            return type(link) if getclass else link
        try:
            obj = self[name]
        except KeyError:
            if getclass and name in self:  # the link exists, its target does not (h5py's error)
                raise RuntimeError("Can't get deprecated info for object (component not found)") from None
            return default
        if getclass:
            return h5py.Dataset if isinstance(obj, h5py.Dataset) else h5py.Group
        return obj

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, (str, bytes)) or not self._file._is_open:
            return False
        if isinstance(name, bytes):
            name = name.decode("utf-8")
        return self._file._link_exists(self, name)

    def __iter__(self) -> Iterator[str]:
        self._file._check_open()
        yield from list(self._file._hierarchy.child_names(self._zpath))

    def __len__(self) -> int:
        return len(self._file._hierarchy.child_names(self._zpath))

    def __repr__(self) -> str:
        if not self._file._is_open:
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
        hierarchy = self._file._hierarchy
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
            result = func(child_relative, self._file._object_at(child_zpath, used))
            if result is not None:
                return result
            if self._file._kind(child_zpath) != DATASET:
                stack.append((child_zpath, child_relative, iter(sorted(hierarchy.child_names(child_zpath)))))
        return None

    def visit_links(self, func: Callable[[str], Any]) -> Any:
        return self.visititems_links(lambda name, link: func(name))

    def visititems_links(self, func: Callable[[str, Any], Any]) -> Any:
        """Call ``func(relative_name, link)`` for every link below this group, in name order,
        entering each group once (as h5py's ``visititems_links``)."""
        hierarchy = self._file._hierarchy
        seen = {self._zpath}

        def walk(zpath: str, relative: str) -> Any:
            for child in sorted(hierarchy.child_names(zpath)):
                child_zpath = f"{zpath}/{child}" if zpath else child
                child_relative = f"{relative}/{child}" if relative else child
                link = hierarchy.links.get(child_zpath)
                result = func(child_relative, self._file._link_object(link))
                if result is not None:
                    return result
                if link is not None:
                    if link.kind != "hard":
                        continue
                    child_zpath = link.path.strip("/")
                if child_zpath in seen or self._file._kind(child_zpath) == DATASET:
                    continue
                seen.add(child_zpath)
                result = walk(child_zpath, child_relative)
                if result is not None:
                    return result
            return None

        return walk(self._zpath, "")

    # -- writing (refused in read-only files) ---------------------------------------------------
    def create_group(self, name: str, track_order: Any = None) -> Any:
        self._file._require_writable("create group", error=ValueError)

    def create_dataset(self, name: str, shape: Any = None, dtype: Any = None, data: Any = None, **kwargs: Any) -> Any:
        self._file._require_writable("create dataset", error=ValueError)

    def require_group(self, name: str) -> Any:
        if name in self:
            obj = self[name]
            if not isinstance(obj, LindiH5pyGroup):
                raise TypeError(f"Incompatible object ({type(obj).__name__}) already exists")
            return obj
        return self.create_group(name)

    def require_dataset(self, name: str, shape: Any, dtype: Any, exact: bool = False, **kwargs: Any) -> Any:
        if name in self:
            return self[name]
        return self.create_dataset(name, shape=shape, dtype=dtype, **kwargs)

    def __setitem__(self, name: str, obj: Any) -> None:
        self._file._require_writable("create link", error=OSError)

    def __delitem__(self, name: str) -> None:
        self._file._require_writable("delete link", error=KeyError)

    def move(self, source: str, dest: str) -> None:
        self._file._require_writable("move link", error=OSError)

    def copy(self, source: Any, dest: Any, name: str | None = None, **kwargs: Any) -> None:
        self._file._require_writable("copy object", error=OSError)
