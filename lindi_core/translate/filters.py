"""HDF5 filter pipelines and the Zarr codecs that decode them.

An HDF5 chunked dataset declares a *filter pipeline*: an ordered list of filters, each an
integer id, a flags word and a few integer parameters (``cd_values``). On write, HDF5 runs the
filters in order (typically shuffle, then a compressor, then fletcher32); on read, in reverse.
A filter declared *optional* (deflate and lzf are, by default) may fail on a chunk - deflate
fails when the output would not be smaller - and HDF5 then stores that chunk without it and sets
the filter's bit in the chunk's ``filter_mask``.

Zarr v2 applies its ``filters`` list in the same order on write and in reverse on read, so each
HDF5 filter becomes one entry of ``filters`` (``compressor`` stays null), in pipeline order:

====================  ======  ============================================================
HDF5 filter           id      Zarr codec
====================  ======  ============================================================
deflate (gzip)        1       numcodecs ``zlib`` (the same zlib stream)
shuffle               2       numcodecs ``shuffle`` (element size from the filter)
fletcher32            3       numcodecs ``fletcher32`` (HDF5's checksum; verified on read)
szip                  4       libhdf5 (``lindi_core.hdf5_filters``)
n-bit                 5       libhdf5
scale-offset          6       libhdf5
bzip2                 307     numcodecs ``bz2`` (bare bzip2 stream)
lzf                   32000   libhdf5 (h5py's filter; LZF needs the size HDF5 knows)
blosc                 32001   numcodecs ``blosc`` (bare blosc frame)
lz4                   32004   imagecodecs ``imagecodecs_lz4h5`` (HDF5's LZ4 block framing)
bitshuffle            32008   libhdf5 (hdf5plugin's filter)
zstd                  32015   numcodecs ``zstd`` (bare zstd frame)
anything else         -       libhdf5, if a plugin for it is available
====================  ======  ============================================================

"libhdf5" means :class:`lindi_core.codecs.HDF5FilterPipeline`, which decodes through libhdf5
itself. When any filter of a pipeline needs it, it takes the whole pipeline: its output must
be the typed chunk, and it must see the stored bytes to honour each chunk's filter mask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import h5py
import hdf5plugin  # noqa: F401  (makes plugin filters available to libhdf5)
import numpy as np

from lindi_core.codecs import HDF5FilterPipeline

DEFLATE, SHUFFLE, FLETCHER32, SZIP, NBIT, SCALEOFFSET = 1, 2, 3, 4, 5, 6
BZIP2, LZF, BLOSC, LZ4, BITSHUFFLE, ZSTD = 307, 32000, 32001, 32004, 32008, 32015


@dataclass(frozen=True)
class HDF5Filter:
    """One entry of a dataset's filter pipeline, as the file declares it."""

    filter_id: int
    flags: int
    cd_values: tuple[int, ...]
    name: str

    def as_list(self) -> list:
        return [self.filter_id, self.flags, list(self.cd_values)]


def pipeline_of(dcpl: h5py.h5p.PropDCID) -> list[HDF5Filter]:
    """The filter pipeline of a dataset creation property list, in write order."""
    filters = []
    for i in range(dcpl.get_nfilters()):
        filter_id, flags, cd_values, name = dcpl.get_filter(i)
        filters.append(HDF5Filter(int(filter_id), int(flags), tuple(int(v) for v in cd_values),
                                  name.decode("ascii", "replace")))
    return filters


def _shuffle(f: HDF5Filter, dtype: np.dtype) -> dict:
    return {"id": "shuffle", "elementsize": f.cd_values[0] if f.cd_values else dtype.itemsize}


def _deflate(f: HDF5Filter, dtype: np.dtype) -> dict:
    return {"id": "zlib", "level": f.cd_values[0] if f.cd_values else 6}


def _fletcher32(f: HDF5Filter, dtype: np.dtype) -> dict:
    return {"id": "fletcher32"}


def _bzip2(f: HDF5Filter, dtype: np.dtype) -> dict:
    return {"id": "bz2", "level": f.cd_values[0] if f.cd_values else 9}


_BLOSC_COMPRESSORS = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}


def _blosc(f: HDF5Filter, dtype: np.dtype) -> dict:
    # cd_values: [filter rev, blosc version, typesize, chunk bytes, clevel, shuffle, compressor]
    values = f.cd_values
    return {
        "id": "blosc",
        "cname": _BLOSC_COMPRESSORS.get(values[6] if len(values) > 6 else 0, "blosclz"),
        "clevel": values[4] if len(values) > 4 else 5,
        "shuffle": values[5] if len(values) > 5 else 1,
        "blocksize": 0,
    }


def _zstd(f: HDF5Filter, dtype: np.dtype) -> dict:
    return {"id": "zstd", "level": f.cd_values[0] if f.cd_values else 0}


def _lz4(f: HDF5Filter, dtype: np.dtype) -> dict:
    return {"id": "imagecodecs_lz4h5"}


CodecBuilder = Callable[[HDF5Filter, np.dtype], dict]

#: Filters whose stored bytes an existing codec decodes exactly.
CODEC_BUILDERS: dict[int, CodecBuilder] = {
    DEFLATE: _deflate,
    SHUFFLE: _shuffle,
    FLETCHER32: _fletcher32,
    BZIP2: _bzip2,
    BLOSC: _blosc,
    LZ4: _lz4,
    ZSTD: _zstd,
}


def codecs_for_pipeline(filters: list[HDF5Filter], dtype: np.dtype, chunk_shape: tuple[int, ...]) -> list[dict]:
    """Zarr v2 ``filters`` configs that decode chunks written by ``filters``.

    The returned list has one entry per HDF5 filter, or a single libhdf5-decoded entry for the
    whole pipeline; see :func:`hdf5_filter_groups`. A filter libhdf5 lacks here still goes into
    that entry, as the file declares it: the reference file describes the data exactly, and the
    codec refuses to decode (naming the filter) where the filter is missing, as h5py does.
    """
    configs = []
    for group in hdf5_filter_groups(filters):
        if len(group) == 1 and group[0].filter_id in CODEC_BUILDERS:
            configs.append(CODEC_BUILDERS[group[0].filter_id](group[0], dtype))
        else:
            configs.append(
                HDF5FilterPipeline([f.as_list() for f in group], dtype.str, list(chunk_shape)).get_config()
            )
    return configs


def missing_filters(filters: list[HDF5Filter]) -> list[HDF5Filter]:
    """The filters of a pipeline libhdf5 cannot run here (it would fail to read the data)."""
    return [f for f in filters if not h5py.h5z.filter_avail(f.filter_id)]


def hdf5_filter_groups(filters: list[HDF5Filter]) -> list[list[HDF5Filter]]:
    """Split a pipeline into the groups that become single Zarr codecs, in pipeline order.

    When every filter has an exact codec, each is a group of its own. Otherwise the whole
    pipeline is one libhdf5-decoded group: that codec then sees the stored bytes first and
    can apply each chunk's filter mask itself (see ``lindi_core.codecs.hdf5_filters``).
    """
    if all(f.filter_id in CODEC_BUILDERS for f in filters):
        return [[f] for f in filters]
    return [list(filters)]
