"""``LindiH5pyDatatype``: h5py's ``Datatype``, a committed (named) HDF5 datatype.

HDF5 can store a datatype as an object of its own, linked into a group like a dataset
(``group["name"] = numpy.dtype(...)`` in h5py; netCDF-4 stores its enum, compound and
variable-length user types so). Datasets and attributes created with it share the type. A
reference file keeps it as an empty group annotated ``_NAMED_DATATYPE`` (spec sections 8 and
10), which a LINDI 0.4 reader shows as an empty group; here it is h5py's ``Datatype`` again: a
``dtype`` (enum mapping, compound fields, vlen base as h5py marks them), attributes, a name, an
object reference.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from lindi_core.errors import ReferenceFormatError, UnsupportedTypeError
from lindi_core.facade.base import FacadeObject, LindiObjectID
from lindi_core.format import annotations as ann
from lindi_core.format.dtype_descriptions import dtype_from_description

if TYPE_CHECKING:
    from lindi_core.facade.files import LindiH5pyFile
    from lindi_core.facade.lowlevel import FileHandle


class LindiTypeID(LindiObjectID):
    """A committed datatype's id: h5py's is a ``TypeID``, with the ``dtype`` and the
    ``committed()`` h5py code asks it for."""

    __slots__ = ("_datatype",)

    def __init__(self, handle: FileHandle, zpath: str, datatype: LindiH5pyDatatype):
        super().__init__(handle, zpath)
        self._datatype = datatype

    @property
    def dtype(self) -> np.dtype:
        return self._datatype.dtype

    def committed(self) -> bool:
        return True

    def get_class(self) -> int:
        """The HDF5 type class (``h5py.h5t.ENUM``, ``COMPOUND``, ``VLEN``...), libhdf5's answer
        for the type (h5netcdf sorts netCDF user types by it)."""
        return h5py.h5t.py_create(self.dtype, logical=True).get_class()


class _CommittedTypeIdentity:
    """What makes a libhdf5 type this file's committed datatype: it is committed, valid while the
    file is open, has the datatype's dtype (with h5py's marks) and is equal to the id of the same
    stored object; compared with any other ``TypeID`` it is libhdf5's type equality, as h5py's
    type ids compare."""

    datatype: LindiH5pyDatatype
    handle: FileHandle
    zpath: str

    def committed(self) -> bool:
        return True

    @property
    def valid(self) -> bool:
        return self.handle.is_open

    @property
    def dtype(self) -> np.dtype:
        return self.datatype.dtype

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_CommittedTypeIdentity, LindiTypeID)):
            return other.handle is self.handle and other.zpath == self.zpath
        return h5py.h5t.TypeID.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((id(self.handle), self.zpath))

    def __repr__(self) -> str:
        return f"<committed type id /{self.zpath}>"


_COMMITTED_ID_CLASSES: dict[type, type] = {}


def committed_type_id(handle: FileHandle, zpath: str, datatype: LindiH5pyDatatype) -> h5py.h5t.TypeID:
    """A transient libhdf5 type of ``datatype``'s dtype, wrapped as the id of the datatype
    stored at ``zpath`` in the file of ``handle``."""
    transient = h5py.h5t.py_create(datatype.dtype, logical=True)
    base = type(transient)
    cls = _COMMITTED_ID_CLASSES.get(base)
    if cls is None:
        cls = _COMMITTED_ID_CLASSES[base] = type(f"Committed{base.__name__}", (_CommittedTypeIdentity, base), {})
    # The wrapper holds a reference of its own to the same libhdf5 id: each releases one.
    h5py.h5i.inc_ref(transient)
    wrapped = cls(transient.id)
    wrapped.datatype = datatype
    wrapped.handle = handle
    wrapped.zpath = zpath
    return wrapped


class LindiH5pyDatatype(FacadeObject, h5py.Datatype):
    """A committed datatype of a translated file (``isinstance(x, h5py.Datatype)`` holds)."""

    def __init__(self, file: LindiH5pyFile, zpath: str, name: str):
        self._init_object(file, zpath, name)
        self._dtype: np.dtype | None = None

    @property
    def id(self) -> Any:
        """A real h5py ``TypeID`` of the type where libhdf5 can build one (so that it equals, as
        h5py compares types, the type of a dataset created with it: h5netcdf finds a netCDF
        variable's user type so), answering ``committed()`` and identity as this file's object;
        else a :class:`LindiTypeID`."""
        try:
            return committed_type_id(self.handle, self._zpath, self)
        except (TypeError, ValueError):
            return LindiTypeID(self.handle, self._zpath, self)

    @property
    def dtype(self) -> np.dtype:
        """The type, with the marks h5py gives it (enum mapping, vlen base, field layout)."""
        if self._dtype is None:
            self._dtype = _described_dtype(self._zattrs(), self._name)
        return self._dtype

    def __repr__(self) -> str:
        if not self.handle.is_open:
            return "<Closed HDF5 named type>"
        label = posixpath.basename(posixpath.normpath(self._name)) or "/"
        return f'<HDF5 named type "{label}" (dtype {self.dtype.str})>'


def _described_dtype(zattrs: dict, name: str) -> np.dtype:
    body = zattrs.get(ann.NAMED_DATATYPE)
    if not isinstance(body, dict) or "dtype" not in body:
        raise ReferenceFormatError(f"committed datatype {name!r}: {ann.NAMED_DATATYPE} has no type description")
    try:
        return dtype_from_description(body["dtype"])
    except ReferenceFormatError as exc:
        raise ReferenceFormatError(f"committed datatype {name!r}: {exc}") from exc
    except UnsupportedTypeError as exc:  # a type h5py has no NumPy type for either
        raise UnsupportedTypeError(f"committed datatype: {exc.detail}", object_path=name) from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ReferenceFormatError(f"committed datatype {name!r}: its type description does not describe a "
                                   f"type: {type(exc).__name__}: {exc}") from exc


def plain_dtype(dtype: Any) -> Any:
    """``dtype`` as NumPy takes it: a committed datatype given where a type is expected
    (``create_dataset(..., dtype=f["t"])``, ``attrs.create(..., dtype=f["t"])``) is its type."""
    if isinstance(dtype, h5py.Datatype):
        return dtype.dtype
    return dtype

