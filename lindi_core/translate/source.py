"""Opening the HDF5 file to translate: a local path or an http(s) URL.

Remote files are opened as a :class:`lindi_core.hdf5.remote_file.RemoteFile`: a block-cached,
read-ahead file object over the HTTP engine, so h5py reads object headers and B-tree nodes in
a few range requests and never the data. The translator only sees an ``h5py.File``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import h5py

from lindi_core.errors import ByteSourceError, NotHDF5Error, TranslationError
from lindi_core.io.address_guard import AddressGuard
from lindi_core.io.locations import is_url

# What h5py and libhdf5 raise, and what parsing a corrupt file's bytes here may raise, when the
# file's structures are damaged: the translator turns each into a TranslationError naming the
# file and the object.
CORRUPT_FILE_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError,
                       struct.error, UnicodeDecodeError, MemoryError, AttributeError)


@dataclass
class OpenedSource:
    """An open HDF5 file plus the location chunk references should point at."""

    h5file: h5py.File
    name: str  # for messages
    ref_url: str  # what chunk references name: a URL or an absolute local path
    directory: str | None  # where external links and external storage are resolved
    _closer: Any = None
    _raw: Any = None  # the local file, opened for read_raw

    @property
    def remote_file(self) -> Any:
        """The :class:`RemoteFile` h5py reads through, for a URL; None for a local file."""
        from lindi_core.hdf5.remote_file import RemoteFile

        return self._closer if isinstance(self._closer, RemoteFile) else None

    def read_raw(self, offset: int, length: int) -> bytes:
        """``length`` bytes of the HDF5 file at ``offset``, read without libhdf5."""
        remote = self.remote_file
        if remote is not None:
            remote.seek(offset)
            return remote.read(length)
        if self._raw is None:
            self._raw = open(self.h5file.filename, "rb")  # noqa: SIM115  (closed by close())
        self._raw.seek(offset)
        return self._raw.read(length)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        self.h5file.close()
        if self._closer is not None:
            self._closer.close()


def open_source(source: str | os.PathLike, *, ref_url: str | None = None,
                address_guard: AddressGuard | None = None, timeout: float | None = None) -> OpenedSource:
    """Open ``source`` for reading with h5py, raising :class:`NotHDF5Error` for anything else
    (a URL's connections go only where ``address_guard`` admits). ``timeout``: seconds one read
    of a URL may take in all, retries included (default 60)."""
    source = os.fspath(source)
    if is_url(source):
        return _open_remote(source, ref_url, address_guard, timeout)
    path = os.path.abspath(source)
    if not os.path.isfile(path):
        raise TranslationError("no such file", source=source)
    if not h5py.is_hdf5(path):
        raise NotHDF5Error("not an HDF5 file (no HDF5 signature found)", source=source)
    try:
        h5file = h5py.File(path, "r")
    except CORRUPT_FILE_ERRORS as exc:
        raise NotHDF5Error(f"HDF5 file cannot be opened (truncated or corrupt?): {exc}", source=source) from exc
    return OpenedSource(h5file, source, ref_url or path, os.path.dirname(path))


def _open_remote(url: str, ref_url: str | None, address_guard: AddressGuard | None,
                 timeout: float | None) -> OpenedSource:
    from lindi_core.hdf5.remote_file import RemoteFile

    fobj = RemoteFile(url, guard=address_guard) if timeout is None else \
        RemoteFile(url, guard=address_guard, timeout=timeout)
    try:
        fobj.prefetch_root()
        h5file = h5py.File(fobj, "r")
    except (ByteSourceError, *CORRUPT_FILE_ERRORS) as exc:
        fobj.close()
        if isinstance(exc, ByteSourceError):
            raise TranslationError(f"cannot read URL: {exc}", source=url) from exc
        raise NotHDF5Error(f"not a readable HDF5 file: {exc}", source=url) from exc
    return OpenedSource(h5file, url, ref_url or url, None, fobj)
