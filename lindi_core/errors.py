"""Exceptions raised by lindi-core.

Every error the library raises on bad input derives from :class:`LindiError`, so callers can
catch one type. Errors that concern a file or an object inside it carry both names in the
message, because a translation of thousands of objects is useless to debug without them.
"""

from __future__ import annotations


class LindiError(Exception):
    """Base class of every lindi-core error."""


class ReferenceFormatError(LindiError, ValueError):
    """A reference file (``.lindi.json``) is malformed or violates the spec."""


class TarFormatError(ReferenceFormatError):
    """A ``.lindi.tar`` container is corrupt or truncated, or a reference names a member (or a
    byte range of one) that the container does not hold."""


class FolderFormatError(ReferenceFormatError):
    """A ``.lindi.d`` folder has no reference file, or a reference names a file of the folder
    by a name that is not a plain relative path inside it."""


class TranslationError(LindiError):
    """An HDF5 file or one of its objects could not be translated.

    ``source`` names the file (path or URL) and ``object_path`` the HDF5 object, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, object_path: str | None = None):
        self.detail = message
        self.source = source
        self.object_path = object_path
        where = []
        if source is not None:
            where.append(f"file {source!r}")
        if object_path is not None:
            where.append(f"object {object_path!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)


    def located(self, *, source: str, object_path: str) -> TranslationError:
        """This error with the file and object filled in where they were missing."""
        if self.source is not None and self.object_path is not None:
            return self
        located = type(self)(self.detail, source=self.source or source, object_path=self.object_path or object_path)
        located.__cause__ = self.__cause__
        return located


class NotHDF5Error(TranslationError):
    """The input is not an HDF5 file (or is truncated before its superblock can be read)."""


class UnreadableObjectError(LindiError, OSError):
    """An object of a translated file whose values cannot be read here: a dataset stored with an
    HDF5 filter that neither a codec nor libhdf5 provides on this machine, a dataset or attribute
    whose type has no form in a reference file. The rest of the file reads as usual; h5py too
    opens such a file and raises only when the object is read. An ``OSError``, as h5py's error
    for a filter it cannot find is.

    ``object_path`` names the dataset (or the object holding the attribute) once known.
    """

    def __init__(self, message: str, *, object_path: str | None = None):
        self.detail = message
        self.object_path = object_path
        super().__init__(f"object {object_path!r}: {message}" if object_path is not None else message)

    def located(self, object_path: str) -> UnreadableObjectError:
        """This error naming ``object_path``, where it named no object yet."""
        if self.object_path is not None:
            return self
        located = type(self)(self.detail, object_path=object_path)
        located.__cause__ = self.__cause__
        return located


class UnsupportedTypeError(UnreadableObjectError, TypeError, ValueError):
    """An object's HDF5 type has no NumPy type to read it as: h5py cannot read it either (128-bit
    integers, HDF5 time types, floats wider than this platform's long double), or this reader
    cannot convert it as libhdf5 would. A ``TypeError`` and a ``ValueError``, as h5py's errors for
    such types are (``TypeError`` for integers and time types, ``ValueError`` for floats)."""


class MissingFilterError(UnreadableObjectError):
    """A dataset's chunks need an HDF5 filter that is not available here."""


class ByteSourceError(LindiError, OSError):
    """Bytes could not be read from a local file or a remote URL."""


class AccessDeniedError(ByteSourceError, PermissionError):
    """A reference asks for a location the current policy forbids.

    Reference files fetched from a URL are untrusted: their chunk references may not point at
    local files, nor lead to network addresses more private than the one the file came from,
    unless the user explicitly allows it.
    """


class ChunkDecodeError(LindiError, OSError):
    """A referenced chunk was read but could not be decoded (corrupt data, checksum mismatch).

    An ``OSError`` too, as h5py's error for a chunk its filters cannot decode ("Can't read data
    (data error detected by Fletcher32 checksum)") is: h5py code catching it keeps working."""


class FileInUseError(LindiError, OSError):
    """A local reference file is already open for writing, in this process or another: two
    writers would each write back their own copy, and the last would undo the other's edits."""


class NotPicklableError(LindiError, TypeError):
    """An object that cannot be pickled (a file or store open for writing, whose edits a copy in
    another process could not keep); a ``TypeError`` as pickle's own refusals."""


class ChunkTooLargeError(LindiError):
    """A byte range too large for a :class:`~lindi_core.io.cache.LocalCache` to keep (LINDI 0.4's
    error for ``put_remote_chunk`` of 900 MB or more, SQLite's practical limit for one value)."""


class ReadOnlyFileError(LindiError, OSError, ValueError):
    """A write to a file open for reading only, where h5py raises ``OSError`` ("Unable to create
    attribute (no write intent on file)"). A ``ValueError`` too, as LINDI 0.4 raises for every
    write in mode ``r``: code written for either catches it (as ``io.UnsupportedOperation`` is
    both)."""


class ExistingFileError(LindiError, FileExistsError, ValueError):
    """A file to create (mode ``w-`` or ``x``) already exists: h5py's ``FileExistsError``, and
    the ``ValueError`` LINDI 0.4 raises, so code written for either catches it."""
