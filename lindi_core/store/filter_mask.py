"""Chunks that HDF5 stored with some filters skipped (a non-zero ``filter_mask``).

Zarr decodes every chunk of an array with the same codecs, so a chunk stored without, say, its
deflate step would be fed to zlib and fail (or worse). The store instead rewrites such a chunk
into the form the full pipeline expects before Zarr sees it:

1. decode the stored bytes top-down through the codecs whose filters *were* applied, down to
   the lowest skipped filter;
2. encode from there back up through every codec.

A libhdf5-decoded pipeline prefix (``lindi_core.hdf5_filters``) counts as one codec covering
several HDF5 filters; it decodes its own masked part with libhdf5, which honours the mask.
This is rare (HDF5 skips optional filters only when they fail) and costs one re-encode.
"""

from __future__ import annotations

import numcodecs
import numpy as np

from lindi_core.codecs import HDF5FilterPipeline


def _codec_spans(filter_configs: list[dict]) -> list[tuple[numcodecs.abc.Codec, int, int]]:
    """(codec, first HDF5 filter index, number of HDF5 filters) for each Zarr filter."""
    spans = []
    position = 0
    for config in filter_configs:
        codec = numcodecs.get_codec(dict(config))
        width = len(config["filters"]) if config.get("id") == HDF5FilterPipeline.codec_id else 1
        spans.append((codec, position, width))
        position += width
    return spans


def restore_skipped_filters(stored: bytes, filter_configs: list[dict], filter_mask: int) -> bytes:
    """The bytes the full pipeline would have written for a chunk stored under ``filter_mask``."""
    spans = _codec_spans(filter_configs)
    lowest = min(i for i in range(32) if filter_mask >> i & 1)
    data = stored
    restart = len(spans)
    for index in range(len(spans) - 1, -1, -1):
        codec, first, width = spans[index]
        own_mask = (filter_mask >> first) & ((1 << width) - 1)
        if first + width <= lowest:
            break
        restart = index
        if isinstance(codec, HDF5FilterPipeline):
            data = codec.decode(data, filter_mask=own_mask)
        elif not own_mask:
            data = codec.decode(data)
        data = bytes(np.ascontiguousarray(np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)))
    for codec, _first, _width in spans[restart:]:
        data = codec.encode(data)
        data = bytes(memoryview(data).cast("B")) if not isinstance(data, bytes) else data
    return data
