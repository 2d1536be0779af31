"""The binary chunk table: the chunk references of one array as packed integers (spec §13).

A reference file can describe arrays of millions of chunks. As JSON, every chunk costs a key
and a ``[url, offset, length]`` list (about 40 bytes of text, and a parse of each); packed, an
entry is 8 to 21 bytes, decoded in one ``np.frombuffer``. Entries are in C order over the chunk
grid with a fixed size each, so the entries of any chunk-aligned region are one contiguous
byte range per row of the grid (a reader can fetch just the part of the table a selection
needs).

Layout (all integers little-endian)::

    magic        8 bytes   b"LINDICT\\n"
    version      u16       1
    flags        u8        bit 0: entries carry a filter mask; bit 1: entries are zlib-compressed
    ndim         u8        number of dimensions (0 for a scalar array: one chunk)
    url_bytes    u8        width of an entry's URL index: 0, 1, 2 or 4 (0: every chunk uses URL 0)
    offset_bytes u8        4 or 8
    length_bytes u8        4 or 8
    reserved     u8        0
    grid shape   ndim x u64
    chunk shape  ndim x u64
    url count    u32, then per URL: u32 byte length and its UTF-8 text
    entries size u64       bytes of the entries as stored (compressed or not)
    entries      per chunk: [url index] offset length [filter mask u32]

A chunk without a reference (read as the fill value) has an offset of all one bits (the
largest value of its width) and zeros elsewhere; real offsets are below it (8-byte offsets
are below 2**63, as in JSON refs).

Decoding trusts nothing: every size the header declares is checked against the bytes really
given before anything of that size is allocated, so memory is bounded by the input.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lindi_core.errors import ReferenceFormatError

MAGIC = b"LINDICT\n"
VERSION = 1
FLAG_FILTER_MASKS = 1
FLAG_ZLIB = 2
MAX_NDIM = 64
MAX_CELLS = 2**62  # as ChunkTable: linear indices stay exact in int64
MAX_OFFSET = 2**63 - 1  # offsets and lengths are int64 as in JSON refs (spec §2)
# zlib cannot expand data by more than about 1032x: a declared size beyond this is a lie.
ZLIB_MAX_RATIO = 1100
_FIXED = struct.Struct("<8sHBBBBBB")


@dataclass(frozen=True)
class TableHeader:
    """What the header of an encoded table says, checked against the bytes that hold it."""

    grid_shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    urls: tuple[str, ...]
    has_filter_masks: bool
    compressed: bool
    url_bytes: int
    offset_bytes: int
    length_bytes: int
    entries_start: int  # where the entries begin in the encoded bytes
    entries_stored_size: int

    @property
    def cells(self) -> int:
        return math.prod(self.grid_shape)

    @property
    def entry_dtype(self) -> np.dtype:
        return entry_dtype(self.url_bytes, self.offset_bytes, self.length_bytes, self.has_filter_masks)

    @property
    def entry_size(self) -> int:
        return self.entry_dtype.itemsize

    @property
    def missing_offset(self) -> int:
        return (1 << (8 * self.offset_bytes)) - 1

    def region_byte_ranges(self, start: tuple[int, ...], stop: tuple[int, ...]) -> list[tuple[int, int]]:
        """Byte ranges of the (uncompressed) entries of the chunk-aligned region whose grid
        coordinates run from ``start`` to ``stop`` (exclusive) on each axis: one range per row of
        the grid, adjacent ones merged; positions are in the encoded table."""
        if self.compressed:
            raise ValueError("a compressed table has no byte ranges per region: decode it whole")
        if len(start) != len(self.grid_shape) or len(stop) != len(self.grid_shape):
            raise ValueError("the region must have one range per grid axis")
        if any(not 0 <= a <= b <= n for a, b, n in zip(start, stop, self.grid_shape)):
            raise ValueError(f"region {start}..{stop} is outside the grid {self.grid_shape}")
        if any(a == b for a, b in zip(start, stop)):
            return []
        if not self.grid_shape:
            return [(self.entries_start, self.entries_start + self.entry_size)]
        # Rows of the last axis; leading axes that the region covers whole merge rows together.
        leading = [np.arange(a, b, dtype=np.int64) for a, b in zip(start[:-1], stop[:-1])]
        first_cells = np.ravel_multi_index(
            tuple(c.ravel() for c in np.meshgrid(*leading, np.array([start[-1]]), indexing="ij")), self.grid_shape)
        first_cells = np.sort(first_cells.astype(np.int64))
        row_length = stop[-1] - start[-1]
        starts = first_cells
        stops = first_cells + row_length
        merged_start = np.ones(len(starts), dtype=bool)
        merged_start[1:] = starts[1:] != stops[:-1]
        range_starts = starts[merged_start]
        range_stops = stops[np.append(merged_start[1:], True)]
        size, base = self.entry_size, self.entries_start
        return [(base + int(a) * size, base + int(b) * size) for a, b in zip(range_starts, range_stops)]


@dataclass
class DecodedTable:
    """A whole table as dense columns over the grid (``url_index == -1``: no reference)."""

    header: TableHeader
    url_index: np.ndarray  # int32
    offset: np.ndarray  # int64
    length: np.ndarray  # int64
    filter_mask: np.ndarray | None  # uint32, None when the table has no masks


def entry_dtype(url_bytes: int, offset_bytes: int, length_bytes: int, has_filter_masks: bool) -> np.dtype:
    fields = []
    if url_bytes:
        fields.append(("url", f"<u{url_bytes}"))
    fields += [("offset", f"<u{offset_bytes}"), ("length", f"<u{length_bytes}")]
    if has_filter_masks:
        fields.append(("mask", "<u4"))
    return np.dtype(fields)  # packed: no alignment padding


# -- encoding ------------------------------------------------------------------------------
def encode(grid_shape: tuple[int, ...], chunk_shape: tuple[int, ...], urls: list[str], url_index: np.ndarray,
           offset: np.ndarray, length: np.ndarray, filter_mask: np.ndarray | None = None, *,
           compress: bool = False) -> bytes:
    """Pack dense columns over a grid (``url_index < 0``: no reference) into a table.

    Field widths are the narrowest that hold the values. Raises ValueError for what the form
    cannot hold (negative lengths, i.e. fsspec's whole-file refs; values of 2**63 or more)."""
    grid_shape, chunk_shape = tuple(int(n) for n in grid_shape), tuple(int(n) for n in chunk_shape)
    cells = math.prod(grid_shape)
    if len(grid_shape) != len(chunk_shape) or len(grid_shape) > MAX_NDIM:
        raise ValueError("grid and chunk shapes must have the same number of dimensions (at most 64)")
    url_index = np.asarray(url_index).astype(np.int64, copy=False)
    offset = np.asarray(offset).astype(np.int64, copy=False)
    length = np.asarray(length).astype(np.int64, copy=False)
    if not len(url_index) == len(offset) == len(length) == cells:
        raise ValueError(f"a grid of {cells} cells needs {cells} entries")
    present = url_index >= 0
    if present.any():
        if int(url_index.max()) >= len(urls):
            raise ValueError("a URL index is outside the URL table")
        if (length[present] < 0).any() or (offset[present] < 0).any():
            raise ValueError("the binary form holds only [url, offset, length] refs with known lengths")
    largest_offset = int(offset[present].max(initial=0))
    largest_length = int(length[present].max(initial=0))
    offset_bytes = 4 if largest_offset < 2**32 - 1 else 8
    length_bytes = 4 if largest_length < 2**32 else 8
    url_bytes = 0 if len(urls) <= 1 else 1 if len(urls) <= 2**8 else 2 if len(urls) <= 2**16 else 4
    masks = None
    if filter_mask is not None:
        filter_mask = np.asarray(filter_mask)
        if (filter_mask[present] != 0).any():
            masks = filter_mask
    dtype = entry_dtype(url_bytes, offset_bytes, length_bytes, masks is not None)
    entries = np.zeros(cells, dtype=dtype)
    if url_bytes:
        entries["url"] = np.where(present, url_index, 0)
    entries["offset"] = np.where(present, offset, (1 << (8 * offset_bytes)) - 1).astype(dtype["offset"])
    entries["length"] = np.where(present, length, 0)
    if masks is not None:
        entries["mask"] = np.where(present, masks, 0)
    body = entries.tobytes()
    if compress:
        body = zlib.compress(body, 1)  # level 1: ~6x faster than 6 for ~3% more bytes on tables
    flags = (FLAG_FILTER_MASKS if masks is not None else 0) | (FLAG_ZLIB if compress else 0)
    parts = [_FIXED.pack(MAGIC, VERSION, flags, len(grid_shape), url_bytes, offset_bytes, length_bytes, 0),
             struct.pack(f"<{2 * len(grid_shape)}Q", *grid_shape, *chunk_shape),
             struct.pack("<I", len(urls))]
    for url in urls:
        text = url.encode("utf-8")
        parts.append(struct.pack("<I", len(text)) + text)
    parts.append(struct.pack("<Q", len(body)))
    parts.append(body)
    return b"".join(parts)


# -- decoding ------------------------------------------------------------------------------
def decode_header(data: bytes | memoryview, name: str = "chunk table") -> TableHeader:
    """Read and check the header of an encoded table (``name`` is for error messages)."""
    data = memoryview(data)

    def fail(why: str) -> ReferenceFormatError:
        return ReferenceFormatError(f"{name}: {why}")

    if len(data) < _FIXED.size:
        raise fail(f"{len(data)} bytes is too short for a binary chunk table")
    magic, version, flags, ndim, url_bytes, offset_bytes, length_bytes, reserved = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        raise fail("not a binary chunk table (wrong magic bytes)")
    if version != VERSION:
        raise fail(f"binary chunk table version {version} is not supported (this library reads {VERSION})")
    if flags & ~(FLAG_FILTER_MASKS | FLAG_ZLIB) or reserved:
        raise fail(f"unknown flags {flags:#x} or reserved byte {reserved} set")
    if ndim > MAX_NDIM or url_bytes not in (0, 1, 2, 4) or offset_bytes not in (4, 8) or length_bytes not in (4, 8):
        raise fail(f"invalid field widths (ndim {ndim}, url {url_bytes}, offset {offset_bytes}, "
                   f"length {length_bytes} bytes)")
    position = _FIXED.size
    if len(data) < position + 16 * ndim + 4:
        raise fail("truncated in its shapes")
    shapes = struct.unpack_from(f"<{2 * ndim}Q", data, position)
    position += 16 * ndim
    grid_shape, chunk_shape = tuple(shapes[:ndim]), tuple(shapes[ndim:])
    if any(c == 0 for c in chunk_shape):
        raise fail("a chunk shape has a zero extent")
    if math.prod(grid_shape) > MAX_CELLS:
        raise fail(f"a grid of {math.prod(grid_shape)} cells is too large")
    (url_count,) = struct.unpack_from("<I", data, position)
    position += 4
    if url_count > (len(data) - position) // 4:  # every URL takes at least its 4-byte length
        raise fail(f"declares {url_count} URLs in {len(data) - position} bytes")
    if url_bytes == 0 and url_count > 1 or url_bytes and url_count > 1 << (8 * url_bytes):
        raise fail(f"{url_count} URLs do not fit URL indices of {url_bytes} bytes")
    urls, position = read_urls(data, position, url_count, fail, "table")
    if position + 8 > len(data):
        raise fail("truncated before its entries")
    (stored,) = struct.unpack_from("<Q", data, position)
    position += 8
    if stored != len(data) - position:
        raise fail(f"declares {stored} bytes of entries but holds {len(data) - position}")
    header = TableHeader(grid_shape, chunk_shape, tuple(urls), bool(flags & FLAG_FILTER_MASKS),
                         bool(flags & FLAG_ZLIB), url_bytes, offset_bytes, length_bytes, position, stored)
    expected = header.cells * header.entry_size
    if not header.compressed and expected != stored:
        raise fail(f"a grid of {header.cells} cells needs {expected} bytes of entries, the table holds {stored}")
    if header.compressed and expected > ZLIB_MAX_RATIO * max(stored, 1):
        raise fail(f"{stored} compressed bytes cannot hold the {expected} bytes of entries a grid of "
                   f"{header.cells} cells needs")
    return header


def decode(data: bytes | memoryview, name: str = "chunk table") -> DecodedTable:
    """Decode and check a whole table: dense columns over its grid."""
    header = decode_header(data, name)
    raw = memoryview(data)[header.entries_start :]
    if header.compressed:
        raw = inflate_exactly(raw, header.cells * header.entry_size, name, "the compressed entries")
    entries = np.frombuffer(raw, dtype=header.entry_dtype, count=header.cells)
    return _columns(header, entries, name)


def decode_entries(header: TableHeader, raw: bytes | memoryview, first_cell: int,
                   name: str = "chunk table") -> DecodedTable:
    """Decode and check the uncompressed entries of consecutive cells from ``first_cell`` on
    (e.g. one byte range of :meth:`TableHeader.region_byte_ranges`)."""
    if len(raw) % header.entry_size or first_cell < 0 or first_cell + len(raw) // header.entry_size > header.cells:
        raise ReferenceFormatError(f"{name}: {len(raw)} bytes from cell {first_cell} are not whole entries "
                                   "of the table")
    return _columns(header, np.frombuffer(raw, dtype=header.entry_dtype), name)


def lookup(data: bytes | memoryview, header: TableHeader, linear: int,
           name: str = "chunk table") -> tuple[int, int, int, int] | None:
    """(url index, offset, length, filter mask) of one chunk of an uncompressed table, read
    from its entry alone; None when it has no reference."""
    if header.compressed:
        raise ValueError("a compressed table must be decoded whole")
    if not 0 <= linear < header.cells:
        raise IndexError(f"cell {linear} is outside a grid of {header.cells} cells")
    start = header.entries_start + linear * header.entry_size
    found = decode_entries(header, memoryview(data)[start : start + header.entry_size], linear, name)
    if found.url_index[0] < 0:
        return None
    mask = int(found.filter_mask[0]) if found.filter_mask is not None else 0
    return int(found.url_index[0]), int(found.offset[0]), int(found.length[0]), mask


def inflate_exactly(data: bytes | memoryview, expected: int, where: str, what: str) -> bytes:
    """``data`` inflated by zlib, which must be exactly ``expected`` bytes: never more is
    allocated, and a stream that ends early, late or corrupt raises, naming ``where`` and
    ``what`` it holds (both table versions)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, expected)
        if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
            raise ReferenceFormatError(f"{where}: {what} do not hold exactly {expected} bytes inflated")
    except zlib.error as exc:
        raise ReferenceFormatError(f"{where}: corrupt compressed data in {what} ({exc})") from None
    if len(out) != expected:
        raise ReferenceFormatError(f"{where}: {what} hold {len(out)} bytes inflated, not {expected}")
    return out


def _columns(header: TableHeader, entries: np.ndarray, name: str) -> DecodedTable:
    offset_raw = entries["offset"]
    missing = offset_raw == np.array(header.missing_offset, dtype=offset_raw.dtype)
    offset = offset_raw.astype(np.int64)  # wraps the 8-byte missing marker; masked out below
    length = entries["length"].astype(np.int64)
    if header.url_bytes:
        url_index = entries["url"].astype(np.int64)
    else:
        url_index = np.zeros(len(entries), dtype=np.int64)
    masks = entries["mask"].astype(np.uint32) if header.has_filter_masks else None
    present = ~missing
    if header.offset_bytes == 8 and (offset_raw[present] > MAX_OFFSET).any():
        raise ReferenceFormatError(f"{name}: an offset is 2**63 or more")
    if header.length_bytes == 8 and (entries["length"][present] > MAX_OFFSET).any():
        raise ReferenceFormatError(f"{name}: a length is 2**63 or more")
    if present.any() and int(url_index[present].max()) >= len(header.urls):
        bad = int(np.flatnonzero(present & (url_index >= len(header.urls)))[0])
        raise ReferenceFormatError(f"{name}: chunk {bad} names URL {int(url_index[bad])} of "
                                   f"{len(header.urls)}")
    if missing.any():
        stray = (length[missing] != 0) | (url_index[missing] != 0)
        if masks is not None:
            stray |= masks[missing] != 0
        if stray.any():
            raise ReferenceFormatError(f"{name}: an entry marked missing has nonzero fields")
    url_index = np.where(missing, -1, url_index).astype(np.int32)
    offset[missing] = 0
    return DecodedTable(header, url_index, offset, length, masks)


def read_urls(data: bytes | memoryview, position: int, url_count: int, fail: Callable[[str], Exception],
              holder: str) -> tuple[list[str], int]:
    """The ``url_count`` URLs of a table's URL table at ``position`` (each a u32 byte length and
    that many bytes of UTF-8; both table versions), and the position after them. Every length
    is checked against the bytes ``data`` really holds (``holder`` names them in errors)."""
    urls = []
    for i in range(url_count):
        if position + 4 > len(data):
            raise fail("truncated in its URL table")
        (size,) = struct.unpack_from("<I", data, position)
        position += 4
        if size > len(data) - position:
            raise fail(f"URL {i} declares {size} bytes, more than the {holder} holds")
        try:
            urls.append(bytes(data[position : position + size]).decode("utf-8"))
        except UnicodeDecodeError:
            raise fail(f"URL {i} is not UTF-8") from None
        position += size
    return urls, position
