"""Codecs and data types that no maintained package provides; registered on import.

* :class:`HDF5FilterPipeline` (``lindi_core.hdf5_filters``): decodes any HDF5 filter pipeline
  through libhdf5 itself, for filters without an exactly matching codec.
* :class:`UnreadableChunks` (``lindi_core.unreadable``): refuses, with a reason, to decode the
  chunks of a dataset whose values a reference file cannot give.
* Zarr data types for ``json2`` and ``vlen-array`` object arrays (see ``object_dtypes``).

Importing this package also registers imagecodecs' numcodecs codecs (e.g. ``imagecodecs_lz4h5``
for HDF5's LZ4 framing).
"""

from __future__ import annotations

import numcodecs

from lindi_core.codecs.hdf5_filters import HDF5FilterPipeline
from lindi_core.codecs.object_dtypes import JSONObjects, RaggedArrays, register_object_dtypes
from lindi_core.codecs.unreadable import UnreadableChunks

_registered = False


def register_all() -> None:
    """Register our codecs with numcodecs and our data types with zarr (idempotent)."""
    global _registered
    if _registered:
        return
    numcodecs.register_codec(HDF5FilterPipeline)
    numcodecs.register_codec(UnreadableChunks)
    register_object_dtypes()
    import imagecodecs.numcodecs

    imagecodecs.numcodecs.register_codecs(verbose=False)
    _registered = True


register_all()

__all__ = ["HDF5FilterPipeline", "JSONObjects", "RaggedArrays", "UnreadableChunks", "register_all"]
