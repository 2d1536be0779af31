"""Decoding a chunk without letting its bytes decide how much memory the decoding takes.

A chunk's decoded size is known before it is decoded: chunk shape x item size, from the array's
``.zarray``. The bytes themselves may claim anything: a 600 KB zlib stream can inflate to
600 MB, a blosc or LZ4 header and a zstd frame declare their own output size (and numcodecs
allocates it), and the object codecs (``vlen-utf8``, ``vlen-bytes``, ``vlen-array``, ``json2``)
read an item count, or a shape, from the chunk and allocate for it before looking further.

So here:

* decompressors write into a buffer of the size the metadata allows and stop there
  (imagecodecs' decoders fail when ``out`` is too small; zlib, gzip and bz2 are inflated in a
  stream with ``max_length``); more output than that is a :class:`ChunkDecodeError`;
* an object codec's declared item count (or JSON shape) must be the chunk's item count and fit
  in the bytes present (each variable-length item has a 4-byte length prefix) before the codec
  sees the chunk.

The decoded size of an object chunk has no bound in its metadata (strings have any length):
its decompression stops at :data:`OBJECT_CHUNK_LIMIT`.
"""

from __future__ import annotations

import bz2
import json
import math
import struct
import zlib
from collections.abc import Callable
from typing import Any

import imagecodecs
import numcodecs
import numpy as np
import orjson

from lindi_core.codecs.scratch import ThreadScratch
from lindi_core.errors import ChunkDecodeError
from lindi_core.format.array_metadata import zarr_dtype

# Decompressors bounded here (their numcodecs ids): every other codec decodes unbounded.
BOUNDED_COMPRESSORS = frozenset({"zlib", "gzip", "bz2", "zstd", "lz4", "blosc"})
# Where decompressing one chunk of an object array stops (its decoded size is not declared).
OBJECT_CHUNK_LIMIT = 64 * 1024 * 1024
# Room for filters whose encoded form is a little larger than the chunk (fletcher32 appends a
# 4-byte checksum, packbits a 1-byte header).
FILTER_HEADER_MARGIN = 1024
VLEN_CODECS = frozenset({"vlen-utf8", "vlen-bytes", "vlen-array"})
OBJECT_CODECS = VLEN_CODECS | {"json2"}
# A JSON item is at least one character: its decoded element can be this many times larger
# (a fixed-size string type, say) before a declared type is taken for an attempt to allocate.
JSON_EXPANSION_LIMIT = 64
_STREAM_PIECE = 1 << 20
_U32 = struct.Struct("<I")


def _fail(config: dict, why: str) -> ChunkDecodeError:
    return ChunkDecodeError(f"{config.get('id')!r} {why}")


def _too_big(config: dict, limit: int) -> ChunkDecodeError:
    return _fail(config, f"data decodes to more than the {limit} bytes a chunk of this array can hold (or is corrupt)")


def decompress(config: dict, data: Any, limit: int, out: np.ndarray | None = None) -> np.ndarray:
    """The bytes the compressor ``config`` (a numcodecs config) decodes ``data`` to, as a flat
    ``uint8`` array of at most ``limit`` bytes; written into ``out`` (flat ``uint8``) when they
    fit there. Raises :class:`ChunkDecodeError` past ``limit`` or for corrupt data.

    Only ids in :data:`BOUNDED_COMPRESSORS` are accepted.
    """
    codec_id = config.get("id")
    if codec_id not in BOUNDED_COMPRESSORS:
        raise ValueError(f"no bounded decoder for {codec_id!r}")
    view = _bytes_view(data)
    if out is not None and out.nbytes <= limit:
        try:
            return _as_flat(_INTO[codec_id](view, out))
        except (ValueError, RuntimeError, OSError, ChunkDecodeError):  # imagecodecs' errors are RuntimeErrors
            pass  # too small for ``out`` (a header-carrying filter follows) or corrupt: decide below
    return _as_flat(_CAPPED[codec_id](config, view, limit))


def _bytes_view(data: Any) -> memoryview:
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return memoryview(data).cast("B")


def _as_flat(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


# -- into a buffer of the expected size (fast; imagecodecs fails when ``out`` is too small) -----

def _bz2_into(data: memoryview, out: np.ndarray) -> np.ndarray:
    # imagecodecs' bz2 decoder silently truncates to ``out``: never use it.
    decoded = _bz2_stream({"id": "bz2"}, data, out.nbytes)
    out[: decoded.nbytes] = decoded
    return out[: decoded.nbytes]


_INTO: dict[str, Callable[[memoryview, np.ndarray], Any]] = {
    "zlib": lambda data, out: imagecodecs.deflate_decode(data, out=out),
    "gzip": lambda data, out: imagecodecs.gzip_decode(data, out=out),
    "zstd": lambda data, out: imagecodecs.zstd_decode(data, out=out),
    "lz4": lambda data, out: imagecodecs.lz4_decode(data, header=True, out=out),
    "blosc": lambda data, out: imagecodecs.blosc_decode(data, out=out),
    "bz2": _bz2_into,
}


# -- of unknown size, at most ``limit`` --------------------------------------------------------

class _Output:
    """Where a stream decoder writes, up to ``limit`` bytes: a buffer that grows (doubling) with
    what the stream really produces, so a chunk that declares a huge size while holding little
    takes little memory."""

    def __init__(self, config: dict, limit: int):
        self.config, self.limit = config, limit
        self.buffer = np.empty(min(limit, _STREAM_PIECE), np.uint8)
        self.size = 0

    def room(self) -> int:
        """How much to ask for next: one byte past the limit tells a bomb from a full chunk."""
        return min(_STREAM_PIECE, self.limit - self.size + 1)

    def add(self, piece: bytes) -> None:
        end = self.size + len(piece)
        if end > self.limit:
            # The error may be kept a while (with its traceback, this frame): not the buffer.
            self.buffer = np.empty(0, np.uint8)
            raise _too_big(self.config, self.limit)
        if end > self.buffer.nbytes:
            grown = np.empty(min(self.limit, max(end, 2 * self.buffer.nbytes)), np.uint8)
            grown[: self.size] = self.buffer[: self.size]
            self.buffer = grown
        self.buffer[self.size : end] = np.frombuffer(piece, np.uint8)
        self.size = end

    def result(self) -> np.ndarray:
        return self.buffer[: self.size]


def _inflate_stream(config: dict, data: memoryview, limit: int, wbits: int, members: bool) -> np.ndarray:
    output = _Output(config, limit)
    rest = bytes(data)
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            while rest:
                output.add(inflater.decompress(rest, output.room()))
                rest = inflater.unconsumed_tail
                if inflater.eof:
                    break
        except zlib.error as exc:
            raise _fail(config, f"data is corrupt: {exc}") from exc
        if not inflater.eof:
            raise _fail(config, "data is truncated")
        rest = inflater.unused_data
        # gzip (as Python's gzip module reads it): further members follow, zero padding ends
        if not (members and rest.strip(b"\0")):
            break
    return output.result()


def _bz2_stream(config: dict, data: memoryview, limit: int) -> np.ndarray:
    output = _Output(config, limit)
    rest = bytes(data)
    while rest:
        decompressor = bz2.BZ2Decompressor()
        try:
            output.add(decompressor.decompress(rest, output.room()))
            while not (decompressor.eof or decompressor.needs_input):
                output.add(decompressor.decompress(b"", output.room()))
        except (OSError, ValueError, EOFError) as exc:
            raise _fail(config, f"data is corrupt: {exc}") from exc
        if not decompressor.eof:
            raise _fail(config, "data is truncated")
        rest = decompressor.unused_data
    return output.result()


def _declared_size_then_numcodecs(config: dict, data: memoryview, declared: int, limit: int) -> Any:
    if declared > limit:
        raise _too_big(config, limit)
    try:
        return numcodecs.get_codec(dict(config)).decode(data)
    except (RuntimeError, ValueError, TypeError, OSError) as exc:
        raise _fail(config, f"data is corrupt: {exc}") from exc


def _lz4_capped(config: dict, data: memoryview, limit: int) -> Any:
    if len(data) < 4:
        raise _fail(config, "data is shorter than its 4-byte size header")
    return _declared_size_then_numcodecs(config, data, _U32.unpack_from(data)[0], limit)


def _blosc_capped(config: dict, data: memoryview, limit: int) -> Any:
    # blosc 1 header: version, versionlz, flags, typesize, nbytes (u32), blocksize, cbytes
    if len(data) < 16:
        raise _fail(config, "data is shorter than its 16-byte header")
    return _declared_size_then_numcodecs(config, data, _U32.unpack_from(data, 4)[0], limit)


def _zstd_capped(config: dict, data: memoryview, limit: int) -> Any:
    # zstd cannot be streamed here: first a buffer sized by the data (real ratios are far below
    # 64), then the whole limit, so that a chunk declaring a huge size while holding a few
    # bytes takes a few bytes
    first = min(limit, max(_STREAM_PIECE, 64 * len(data)))
    for size in (first, limit) if first < limit else (limit,):
        try:
            return imagecodecs.zstd_decode(data, out=np.empty(size, np.uint8))
        except RuntimeError as exc:
            error = exc
    raise _fail(config, f"data is corrupt or decodes to more than the {limit} bytes a chunk can hold: {error}") from error


_CAPPED: dict[str, Callable[[dict, memoryview, int], Any]] = {
    "zlib": lambda config, data, limit: _inflate_stream(config, data, limit, zlib.MAX_WBITS, members=False),
    "gzip": lambda config, data, limit: _inflate_stream(config, data, limit, 16 + zlib.MAX_WBITS, members=True),
    "bz2": _bz2_stream,
    "zstd": _zstd_capped,
    "lz4": _lz4_capped,
    "blosc": _blosc_capped,
}


# -- what a chunk of an array may decode to ----------------------------------------------------

def compressor_output_limit(chunk_nbytes: int | None, filters: list | None) -> int:
    """At most how many bytes the compressor of an array may produce for one chunk: the chunk's
    size (``None``: an object array, :data:`OBJECT_CHUNK_LIMIT`), scaled for filters whose
    encoded items are larger than the decoded ones, plus a margin for filter headers."""
    if chunk_nbytes is None:
        return OBJECT_CHUNK_LIMIT
    if not filters:
        return chunk_nbytes
    scale = 1.0
    for config in filters:
        if any(isinstance(v, dict) for v in config.values()):
            continue
        encoded = config.get("astype") or config.get("encode_dtype")
        decoded = config.get("dtype") or config.get("decode_dtype")
        try:
            if encoded and decoded:
                scale *= max(1.0, np.dtype(encoded).itemsize / np.dtype(decoded).itemsize)
        except TypeError:
            continue
    return math.ceil(chunk_nbytes * scale) + FILTER_HEADER_MARGIN


def check_object_chunk(codec_id: str, data: Any, nitems: int) -> None:
    """Raise :class:`ChunkDecodeError` unless ``data``, the input of the object codec
    ``codec_id``, declares ``nitems`` items (the chunk's) and can hold them."""
    view = _bytes_view(data)
    if codec_id in VLEN_CODECS:
        if len(view) < 4:
            raise ChunkDecodeError(f"{codec_id!r} data is shorter than its 4-byte item count")
        (count,) = _U32.unpack_from(view)
        if count != nitems:
            raise ChunkDecodeError(f"{codec_id!r} data declares {count} items; a chunk of this array holds {nitems}")
        if 4 * count > len(view) - 4:
            raise ChunkDecodeError(
                f"{codec_id!r} data declares {count} items, more than its {len(view)} bytes can hold (4 bytes each at least)")
    elif codec_id == "json2":
        _check_json_rows(view, nitems)


def _check_json_rows(view: memoryview, nitems: int) -> None:
    """numcodecs' JSON chunks are ``[item, ..., dtype, shape]`` and it allocates
    ``np.empty(shape, dtype)`` before looking at the items."""
    try:
        items = orjson.loads(view)
    except orjson.JSONDecodeError:
        try:  # numcodecs' decoder is Python's, which reads NaN and Infinity too
            items = json.loads(bytes(view))
        except ValueError as exc:
            raise ChunkDecodeError(f"'json2' data is not JSON: {exc}") from exc
    if not isinstance(items, list) or len(items) < 2:
        raise ChunkDecodeError("'json2' data is not a list of items followed by a type and a shape")
    type_string, shape = items[-2], items[-1]
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ChunkDecodeError(f"'json2' data declares the shape {shape!r}")
    count = math.prod(shape)
    # items are nested lists along the shape (``tolist()``); each takes a character at least
    if count != nitems or len(items) - 2 != (shape[0] if shape else 1) or count > len(view):
        raise ChunkDecodeError(f"'json2' data declares the shape {shape} with {len(items) - 2} items; "
                               f"a chunk of this array holds {nitems}")
    try:
        itemsize = np.dtype(type_string).itemsize
    except (TypeError, ValueError) as exc:
        raise ChunkDecodeError(f"'json2' data declares the type {type_string!r}: {exc}") from exc
    if itemsize * count > JSON_EXPANSION_LIMIT * len(view) + 4096:
        raise ChunkDecodeError(f"'json2' data declares {count} items of {itemsize} bytes, far more than its "
                               f"{len(view)} bytes hold")


def chunk_geometry(zarray: dict) -> tuple[int | None, int]:
    """(decoded bytes of one chunk, ``None`` for object items; items of one chunk) of an array."""
    nitems = math.prod(zarray.get("chunks") or [])
    dtype = zarr_dtype(zarray.get("dtype"))
    return (None if dtype.hasobject else nitems * dtype.itemsize), nitems


def decode_chain(zarray: dict) -> list[tuple[dict, list]]:
    """The array's codecs in decoding order (compressor, then filters last to first), each with
    the filters its output is still encoded with (those decoded after it)."""
    filters = list(zarray.get("filters") or [])
    chain = [(dict(zarray["compressor"]), filters)] if zarray.get("compressor") else []
    chain.extend((dict(filters[i]), filters[:i]) for i in range(len(filters) - 1, -1, -1))
    return chain


# Buffers the checks decode into and throw away, kept per thread (their own: never the
# decoders' buffers, which may hold a result still in use).
_check_buffers = ThreadScratch()


def _bounded_step(config: dict, inner: list, chunk_nbytes: int | None, data: Any, scratch_slot: int | None = None) -> np.ndarray:
    """``scratch_slot``: decode into a buffer of this thread that the next check reuses."""
    limit = compressor_output_limit(chunk_nbytes, inner)
    out = _check_buffers.get(limit, scratch_slot) if scratch_slot is not None else None
    decoded = decompress(config, data, limit, out)
    if not inner and chunk_nbytes is not None and decoded.nbytes != chunk_nbytes:
        raise ChunkDecodeError(f"{config.get('id')!r} data decodes to {decoded.nbytes} bytes; a chunk of this "
                               f"array holds {chunk_nbytes}")
    return decoded


def _numcodecs_step(config: dict, data: Any) -> Any:
    try:
        return numcodecs.get_codec(dict(config)).decode(data)
    except (ValueError, TypeError, RuntimeError, KeyError, IndexError, OverflowError, MemoryError, OSError,
            EOFError, zlib.error) as exc:
        raise ChunkDecodeError(f"{config.get('id')!r} cannot decode the chunk: {exc}") from exc


def decode_chunk(zarray: dict, data: Any) -> Any:
    """A stored chunk decoded by the array's codecs as numcodecs does it (the object codec's
    output is an object array), within the bounds of the chunk."""
    chunk_nbytes, nitems = chunk_geometry(zarray)
    for config, inner in decode_chain(zarray):
        if config.get("id") in BOUNDED_COMPRESSORS:
            data = _bounded_step(config, inner, chunk_nbytes, data)
            continue
        if not inner and config.get("id") in OBJECT_CODECS:
            check_object_chunk(config["id"], data, nitems)
        data = _numcodecs_step(config, data)
    return data


def check_encoded_chunk(zarray: dict, chunk_nbytes: int | None, nitems: int, data: Any) -> None:
    """Check that ``data``, a stored chunk, decodes within its bounds before a codec pipeline
    that knows no bounds (zarr's) decodes it: every decompression stops at the chunk's size
    (the codecs up to the last decompressor are run, bounded) and an object codec's item count
    must fit in what reaches it."""
    chain = decode_chain(zarray)
    object_codec = bool(chain) and chain[-1][0].get("id") in OBJECT_CODECS
    # (Checksums are left to zarr's decode: a mismatch there reaches the user as ChunkDecodeError
    # through lindi_core.store.codec_pipeline; verifying them here too would do it twice.)
    bounded = [i for i, (config, _) in enumerate(chain) if config.get("id") in BOUNDED_COMPRESSORS]
    last = len(chain) - 1 if object_codec else (bounded[-1] if bounded else -1)
    for index, (config, inner) in enumerate(chain[: last + 1]):
        if index == len(chain) - 1 and object_codec:
            check_object_chunk(config["id"], data, nitems)
        elif config.get("id") in BOUNDED_COMPRESSORS:
            # into a kept buffer (libdeflate's fast path): the result is only looked at
            data = _bounded_step(config, inner, chunk_nbytes, data, scratch_slot=index % 2)
        else:
            data = _numcodecs_step(config, data)
