"""What every facade object shares: its file, its names, its attributes, its identity.

An object has two paths. ``name`` is the HDF5 path it was reached by, as h5py reports it (a
dataset reached through a soft or hard link reports the link's path). ``id.zpath`` is the Zarr
path where the object is stored: its *primary* path. Identity (``id``, ``==``, ``hash``)
follows the primary path in one open file, so hdmf recognises an object reached twice.
Everything else an object knows of its file it asks the file's low-level ``handle``
(:mod:`lindi_core.facade.lowlevel`).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from lindi_core.facade.attrs import LindiH5pyAttributes
from lindi_core.facade.references import LindiH5pyReference

if TYPE_CHECKING:
    from lindi_core.facade.files import LindiH5pyFile
    from lindi_core.facade.lowlevel import FileHandle


class LindiObjectID:
    """Stands in for h5py's ``ObjectID``: hashable, equal for the same stored object (the same
    ``zpath`` in the same open file, its ``handle``)."""

    __slots__ = ("handle", "zpath")

    def __init__(self, handle: FileHandle, zpath: str):
        self.handle = handle
        self.zpath = zpath

    @property
    def valid(self) -> bool:
        """False once the file is closed, as h5py's ids (hdmf checks it before reading)."""
        return self.handle.is_open

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LindiObjectID) and other.handle is self.handle and other.zpath == self.zpath

    def __hash__(self) -> int:
        return hash((id(self.handle), self.zpath))

    def __repr__(self) -> str:
        return f"<LindiObjectID /{self.zpath}>"


def _object_in_file(file: LindiH5pyFile, zpath: str, name: str) -> Any:
    return file.handle.object_at(zpath, name)


def h5_path(zpath: str) -> str:
    return "/" + zpath


def _h5py_module(cls: type) -> str:
    """The module of the h5py class ``cls`` stands in for (``h5py._hl.dataset`` for a dataset)."""
    return next(base.__module__ for base in cls.__mro__ if base.__module__.startswith("h5py."))


class FacadeObject:
    """Mixin giving a facade object h5py's ``HLObject`` surface."""

    handle: FileHandle  # the file's low-level layer
    _file: LindiH5pyFile
    _zpath: str
    _name: str

    def _init_object(self, file: LindiH5pyFile, zpath: str, name: str) -> None:
        self.handle = file.handle
        self._file = file
        self._zpath = zpath
        self._name = name
        # Libraries that drive several HDF5 APIs tell which one an object speaks by the module
        # it reports (h5netcdf: "h5py." or "h5pyd." or "pyfive."). A facade object speaks h5py's,
        # so it reports the module of the h5py class it stands for; its class keeps its own
        # module (for repr, pickle and documentation).
        self.__module__ = _h5py_module(type(self))

    def _zattrs(self) -> dict:
        return self.handle.zattrs(self._zpath)

    @property
    def name(self) -> str:
        return self._name

    @property
    def file(self) -> LindiH5pyFile:
        return self._file

    @property
    def parent(self) -> Any:
        return self._file[posixpath.dirname(self._name) or "/"]

    @property
    def attrs(self) -> LindiH5pyAttributes:
        return LindiH5pyAttributes(self, self.handle, self._zpath)

    @property
    def id(self) -> LindiObjectID:
        return LindiObjectID(self.handle, self._zpath)

    @property
    def ref(self) -> LindiH5pyReference:
        return LindiH5pyReference({
            "object_id": self._zattrs().get("object_id"),
            "path": h5_path(self._zpath),
            "source": ".",
            "source_object_id": self.handle.root_object_id(),
        })

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as its file (see ``LindiH5pyFile.__reduce__``) and its paths; unpickled, it is
        the object at those paths in the copy of the file."""
        return _object_in_file, (self._file, self._zpath, self._name)

    def __bool__(self) -> bool:
        return self.handle.is_open

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FacadeObject) and other.id == self.id

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.id)
