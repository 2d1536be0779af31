"""Reading HDF5 files remotely: knowledge of the HDF5 format that is not a transport.

:mod:`lindi_core.hdf5.remote_file` is the file object h5py reads a URL through (block cache,
read-ahead of chunk indexes and object headers); :mod:`lindi_core.hdf5.metadata` follows the
pointers between an HDF5 file's metadata structures so that read-ahead knows what libhdf5 will
read next. Layering: this package sits between ``io/`` and ``translate/``: it reads bytes
through ``io/`` (the blocking HTTP client, the address guard, the deadlines) and imports nothing
above it; ``translate/`` (translating from a URL) and ``store/`` (external array links to remote
HDF5 files) use it.
"""
