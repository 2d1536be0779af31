"""A codec that decodes chunks through libhdf5's own filter pipeline.

Most HDF5 filters have a numcodecs or imagecodecs twin with the same byte framing (deflate is
zlib, the blosc and zstd plugins store bare frames). Some do not: scale-offset and n-bit exist
only inside libhdf5, and filters such as bitshuffle, szip or lzf frame their output in ways no
maintained codec reproduces exactly. Rather than re-implement any of them, this codec hands the
raw chunk to libhdf5: it keeps a one-chunk dataset with the same type and filter pipeline in an
in-memory HDF5 file, writes the chunk there with ``write_direct_chunk`` and reads it back,
which runs the very code that wrote it (plugins come from ``hdf5plugin``).

It always covers a dataset's *whole* pipeline, so its output is the typed chunk. Its input is
a 4-byte little-endian HDF5 filter mask followed by the chunk as HDF5 stored it: libhdf5 then
skips exactly the filters HDF5 skipped for that chunk. The store supplies the mask from the
chunk reference (0 for inline chunks).
"""

from __future__ import annotations

import itertools
import math
import struct
import threading

import h5py
import hdf5plugin  # noqa: F401  (registers the plugin filters with libhdf5)
import numpy as np
from numcodecs.abc import Codec

from lindi_core.codecs.bounded import compressor_output_limit, decompress
from lindi_core.errors import ChunkDecodeError, MissingFilterError

H5Z_FLAG_OPTIONAL = 0x0001
H5Z_FILTER_FLETCHER32 = 3
H5Z_FILTER_SZIP = 4
# HDF5 filters whose stored form is a bare stream of a compressor bounded.decompress decodes
_DECOMPRESSING_FILTERS = {1: "zlib", 307: "bz2", 32015: "zstd"}
MASK_HEADER = struct.Struct("<I")
# Names of filter ids The HDF Group registered, for errors about a filter missing here (a file
# records a filter's name only when its writer gave one; h5py's allow_unknown_filter gives none).
REGISTERED_FILTER_NAMES = {
    1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset",
    305: "lzo", 307: "bzip2", 32000: "lzf", 32001: "blosc", 32002: "mafisc", 32003: "snappy",
    32004: "lz4", 32005: "apax", 32006: "cbf", 32007: "jpeg-xr", 32008: "bitshuffle", 32009: "spdp",
    32010: "lpc-rice", 32011: "ccsds-123", 32012: "jpeg-ls", 32013: "zfp", 32014: "fpzip",
    32015: "zstd", 32016: "b3d", 32017: "sz", 32018: "fcidecomp", 32019: "jpeg", 32020: "vbz",
    32021: "fapec", 32022: "bitgroom", 32023: "granular bitround", 32024: "sz3", 32025: "delta-rice",
    32026: "blosc2", 32027: "flac", 32028: "sperr", 32029: "terse/prose",
}


def filter_label(filter_id: int, declared_name: str = "") -> str:
    """``305 (lzo)``: a filter's id, with the name the file declares or the registered one."""
    name = declared_name or REGISTERED_FILTER_NAMES.get(filter_id)
    return f"{filter_id} ({name})" if name else str(filter_id)


def unavailable_filter_labels(zarray: dict) -> list[str]:
    """Labels of the HDF5 filters an array's libhdf5-pipeline codec needs and libhdf5 here lacks
    (its chunks cannot be decoded on this machine); empty when there is no such codec."""
    codecs = list(zarray.get("filters") or []) + [zarray.get("compressor")]
    labels = []
    for codec in codecs:
        if isinstance(codec, dict) and codec.get("id") == "lindi_core.hdf5_filters":
            for record in codec.get("filters") or []:
                if isinstance(record, list) and record and isinstance(record[0], int) \
                        and 0 <= record[0] <= 0xFFFF and not h5py.h5z.filter_avail(record[0]):
                    labels.append(filter_label(record[0]))
    return labels


def missing_filter_error(filter_ids: list[int], declared_names: list[str] | None = None) -> MissingFilterError:
    """The error for data that needs the filters ``filter_ids``, which libhdf5 lacks here."""
    names = declared_names or [""] * len(filter_ids)
    labels = ", ".join(filter_label(i, n) for i, n in zip(filter_ids, names))
    return MissingFilterError(f"HDF5 filter {labels} is not available here (neither a codec, hdf5plugin nor "
                              f"libhdf5's plugin path provides it), so its data cannot be read; h5py on this "
                              f"machine cannot read it either")
_file_counter = itertools.count()


class _ScratchDataset:
    """A one-chunk dataset in an in-memory HDF5 file, with a given type and filter pipeline."""

    def __init__(self, dtype: np.dtype, chunk_shape: tuple[int, ...], filters: list[list], mandatory: bool):
        name = f"lindi-core-scratch-{next(_file_counter)}.h5"
        # rdcc_nbytes=0: no chunk cache, so each read decodes the chunk just written.
        self.file = h5py.File(name, "w", driver="core", backing_store=False, rdcc_nbytes=0)
        self.tid = h5py.h5t.py_create(dtype)
        self.space = h5py.h5s.create_simple(chunk_shape)
        self.chunk_shape = chunk_shape
        declared = []
        for filter_id, flags, cd_values in filters:
            if mandatory:
                flags &= ~H5Z_FLAG_OPTIONAL
            declared.append((filter_id, flags, self._user_values(filter_id, flags, tuple(cd_values))))
        self.declared = declared
        self.dsid = self._create(b"chunk", declared)
        self.dataset = h5py.Dataset(self.dsid)
        self.origin = (0,) * len(chunk_shape)

    def decode_into(self, stored: bytes, filter_mask: int, out: np.ndarray) -> None:
        if not filter_mask:
            self.dsid.write_direct_chunk(self.origin, stored, 0)
            self.dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
            return
        # libhdf5 keeps the filter mask of a dataset's chunks in the open dataset's state, and a
        # direct write does not update it: a masked chunk is written through a dataset handle
        # of its own, which is closed before a new handle reads the chunk back.
        name = b"masked"
        writer = self._create(name, self.declared)
        try:
            writer.write_direct_chunk(self.origin, stored, filter_mask)
            writer.close()
            reader = h5py.h5d.open(self.file.id, name)
            reader.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
            reader.close()
        finally:
            del self.file[name.decode()]

    def _create(self, name: bytes, filters: list[tuple[int, int, tuple]]) -> h5py.h5d.DatasetID:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk(self.chunk_shape)
        for filter_id, flags, cd_values in filters:
            dcpl.set_filter(filter_id, flags, cd_values)
        return h5py.h5d.create(self.file.id, name, self.tid, self.space, dcpl=dcpl)

    def _user_values(self, filter_id: int, flags: int, stored: tuple) -> tuple:
        """The parameters to declare so that the filter's ``set_local`` callback ends with
        ``stored``, the parameters the file recorded.

        Filters such as bitshuffle and blosc prepend values of their own when a dataset is
        created, so declaring the stored values again would shift them. Try ever shorter
        suffixes of the stored values until one reproduces them exactly.
        """
        for start in range(len(stored) + 1):
            candidate = stored[start:]
            try:
                probe = self._create(f"probe-{filter_id}-{start}".encode(), [(filter_id, flags, candidate)])
            except ValueError:
                continue  # the filter's set_local rejected these values: not the user's
            produced = probe.get_create_plist().get_filter(0)[2]
            if tuple(produced) == stored:
                return candidate
        return stored


class HDF5FilterPipeline(Codec):
    """Decode (and encode) chunks with libhdf5, for filters 0..k of a dataset's pipeline.

    ``filters`` is a list of ``[filter_id, flags, cd_values]`` as the HDF5 file declares them,
    ``dtype`` the dataset's NumPy type string and ``chunk_shape`` its HDF5 chunk shape.
    """

    codec_id = "lindi_core.hdf5_filters"

    def __init__(self, filters: list, dtype: str, chunk_shape: list[int]):
        self.filters = [[int(f[0]), int(f[1]), [int(v) for v in f[2]]] for f in filters]
        self.dtype = str(dtype)
        self.chunk_shape = [int(c) for c in chunk_shape]
        # What libhdf5 will be handed, checked here: its own checks come at the first chunk,
        # as OverflowError or ValueError from deep inside h5py.
        for filter_id, flags, values in self.filters:
            if not 0 <= filter_id <= 0xFFFF or not 0 <= flags <= 0xFFFFFFFF \
                    or not all(0 <= v <= 0xFFFFFFFF for v in values):
                raise ValueError(f"a filter record is [id < 2**16, flags < 2**32, [values < 2**32]], "
                                 f"not {[filter_id, flags, values]}")
        if not self.chunk_shape or not all(c > 0 for c in self.chunk_shape):
            raise ValueError(f"an HDF5 chunk shape has one or more axes of at least 1, not {self.chunk_shape}")
        np.dtype(self.dtype)  # a TypeError for a string that is no type
        self._local = threading.local()

    def get_config(self) -> dict:
        return {
            "id": self.codec_id,
            "filters": self.filters,
            "dtype": self.dtype,
            "chunk_shape": self.chunk_shape,
        }

    def __repr__(self) -> str:
        ids = [f[0] for f in self.filters]
        return f"HDF5FilterPipeline(filters={ids}, dtype={self.dtype!r}, chunk_shape={self.chunk_shape})"

    def _scratch(self, mandatory: bool) -> _ScratchDataset:
        attr = "mandatory" if mandatory else "decode"
        scratch = getattr(self._local, attr, None)
        if scratch is None:
            self._check_szip_parameters()
            scratch = _ScratchDataset(np.dtype(self.dtype), tuple(self.chunk_shape), self.filters, mandatory)
            setattr(self._local, attr, scratch)
        return scratch

    def _check_szip_parameters(self) -> None:
        """libhdf5 hands szip's parameters to libaec unchecked, and libaec divides by them: a
        pipeline with szip and no or zero parameters killed the process (SIGFPE). What HDF5
        records (its set_local callback) is four values: options mask, pixels per block (even,
        at most 32), bits per pixel (1 to 32, or 64) and pixels per scanline (a block at least,
        at most 4096 blocks)."""
        for filter_id, _flags, values in self.filters:
            if filter_id != H5Z_FILTER_SZIP:
                continue
            if len(values) != 4:
                raise ChunkDecodeError(f"{self!r}: szip needs the 4 parameters HDF5 records, not {values}")
            _mask, per_block, bits, per_scanline = values
            if not (2 <= per_block <= 32 and per_block % 2 == 0 and (1 <= bits <= 32 or bits == 64)
                    and per_block <= per_scanline <= 4096 * per_block):
                raise ChunkDecodeError(f"{self!r}: szip parameters {values} are out of range (pixels per block "
                                       f"{per_block}, bits per pixel {bits}, pixels per scanline {per_scanline})")

    def decode(self, buf, out=None):
        """Decode ``mask (4 bytes LE) + stored chunk`` into the typed chunk's bytes."""
        filter_mask, stored = self._split_mask(buf)
        data = self.decode_stored(bytes(stored), filter_mask)
        if out is not None:
            out_view = np.frombuffer(memoryview(out).cast("B"), dtype=np.uint8)
            out_view[:] = np.frombuffer(data, dtype=np.uint8)
            return out
        return data

    def _split_mask(self, buf) -> tuple[int, memoryview]:
        view = memoryview(buf).cast("B")
        if len(view) < MASK_HEADER.size:
            raise ChunkDecodeError(f"{self!r} needs a {MASK_HEADER.size}-byte filter mask header")
        (filter_mask,) = MASK_HEADER.unpack_from(view)
        return filter_mask, view[MASK_HEADER.size :]

    def check(self, buf) -> None:
        """Raise :class:`ChunkDecodeError` when ``mask + stored chunk`` would decompress past
        the chunk's size (what :meth:`decode` checks first), without decoding it."""
        self._check_outer_decompression(*reversed(self._split_mask(buf)))

    def _check_available(self, filter_mask: int) -> None:
        """A :class:`MissingFilterError` naming the filters this chunk needs (those the mask does
        not mark skipped) that libhdf5 lacks here, before libhdf5 fails with its own words."""
        missing = getattr(self._local, "missing", None)
        if missing is None:
            missing = [i for i, f in enumerate(self.filters) if not h5py.h5z.filter_avail(f[0])]
            self._local.missing = missing
        needed = [self.filters[i][0] for i in missing if not filter_mask & (1 << i)]
        if needed:
            raise missing_filter_error(needed)

    def decode_stored(self, stored: bytes, filter_mask: int = 0) -> bytes:
        """Decode a chunk as HDF5 stored it, skipping the filters ``filter_mask`` marks."""
        self._check_available(filter_mask)
        self._check_outer_decompression(stored, filter_mask)
        scratch = self._scratch(mandatory=False)
        data = np.empty(self.chunk_shape, dtype=self.dtype)
        try:
            scratch.decode_into(stored, filter_mask, data)
        except (OSError, ValueError) as exc:
            raise ChunkDecodeError(f"libhdf5 could not decode a chunk with {self!r}: {exc}") from exc
        return data.tobytes()

    def _check_outer_decompression(self, stored: bytes | memoryview, filter_mask: int) -> None:
        """libhdf5's decompressing filters grow their output until the stream ends: before it
        decodes, check (in a bounded pass) that the outermost decompression stays within the
        chunk's size, plus a margin for the filters inside it."""
        data = memoryview(stored)
        for index in range(len(self.filters) - 1, -1, -1):
            if filter_mask & (1 << index):
                continue  # HDF5 skipped this filter for this chunk
            filter_id = self.filters[index][0]
            if filter_id == H5Z_FILTER_FLETCHER32:  # a checksum appended after the filters before it
                data = data[:-4]
                continue
            codec_id = _DECOMPRESSING_FILTERS.get(filter_id)
            if codec_id is not None:
                chunk_nbytes = math.prod(self.chunk_shape) * np.dtype(self.dtype).itemsize
                decompress({"id": codec_id}, data, compressor_output_limit(chunk_nbytes, [{"id": "margin"}]))
            return

    def encode(self, buf):
        """Encode typed chunk data with the pipeline (every filter applied, none optional)."""
        self._check_available(0)
        scratch = self._scratch(mandatory=True)
        data = np.frombuffer(memoryview(buf).cast("B"), dtype=self.dtype).reshape(self.chunk_shape)
        scratch.dataset.write_direct(np.ascontiguousarray(data))
        mask, encoded = scratch.dsid.read_direct_chunk(scratch.origin)
        return MASK_HEADER.pack(mask) + bytes(encoded)
