"""Chunks that HDF5 stored with some filters skipped (a non-zero ``filter_mask``).

Zarr decodes every chunk of an array with the same codecs, so a chunk stored without, say, its
deflate step would be fed to zlib and fail (or worse). How the store prevents that depends on
the array's codecs:

* a pipeline decoded by libhdf5 (``lindi_core.hdf5_filters``) takes the mask in-band: the
  store prefixes every chunk of such an array with its 4-byte little-endian mask, and libhdf5
  skips what HDF5 skipped;
* a pipeline of ordinary codecs gets the chunk rewritten into the form the full pipeline
  expects: decode the stored bytes top-down through the codecs whose filters *were* applied,
  down to the lowest skipped filter, then encode from there back up through every codec.
  HDF5 skips only optional filters that failed, so this is rare and costs one re-encode.
"""

from __future__ import annotations

import numcodecs
import numpy as np

from lindi_core.codecs.bounded import BOUNDED_COMPRESSORS, compressor_output_limit, decompress
from lindi_core.codecs.hdf5_filters import MASK_HEADER, HDF5FilterPipeline


def uses_libhdf5_pipeline(filter_configs: list[dict] | None) -> bool:
    return bool(filter_configs) and filter_configs[0].get("id") == HDF5FilterPipeline.codec_id


def with_mask_header(stored: bytes, filter_mask: int) -> bytes:
    return MASK_HEADER.pack(filter_mask) + stored


def restore_skipped_filters(stored: bytes, filter_configs: list[dict], filter_mask: int,
                            chunk_nbytes: int | None = None) -> bytes:
    """The bytes the full pipeline of ordinary codecs would have written for this chunk; its
    decompressors stop at what a chunk of ``chunk_nbytes`` bytes allows (see
    :mod:`lindi_core.codecs.bounded`)."""
    codecs = [numcodecs.get_codec(dict(config)) for config in filter_configs]
    if filter_mask >> len(codecs):
        raise ValueError(f"filter mask {filter_mask:#x} names filters beyond the {len(codecs)} of the pipeline")
    lowest = min(i for i in range(len(codecs)) if filter_mask >> i & 1)
    data = stored
    for index in range(len(codecs) - 1, lowest - 1, -1):
        if filter_mask >> index & 1:
            continue
        config = filter_configs[index]
        if config.get("id") in BOUNDED_COMPRESSORS:
            limit = compressor_output_limit(chunk_nbytes, filter_configs[:index])
            data = _as_bytes(decompress(dict(config), data, limit))
        else:
            data = _as_bytes(codecs[index].decode(data))
    for codec in codecs[lowest:]:
        data = _as_bytes(codec.encode(data))
    return data


def _as_bytes(data) -> bytes:
    if isinstance(data, bytes):
        return data
    return np.ascontiguousarray(data).view(np.uint8).tobytes() if isinstance(data, np.ndarray) \
        else bytes(memoryview(data).cast("B"))
