"""Version 2 of the binary chunk table: entries in independently compressed blocks (spec §13).

Version 1 (:mod:`lindi_core.format.binary_chunk_table`) packs all entries of an array as one
optional zlib stream: a reader decodes the whole table to find one chunk. Version 2 cuts the
entries (C order over the chunk grid) into *blocks* of a fixed number of rows, each compressed
on its own, and indexes them, so that a reader fetches and decodes only the blocks of the
chunks a selection touches, and a writer emits blocks as the entries come (bounded memory).

Inside a block the entries are columns, each transformed so that the usual layouts (chunks
stored one after another, of equal or similar sizes) compress to almost nothing:

* ``url``: the entry's URL index plus one; 0 marks a chunk without a reference;
* ``delta``: the offset minus the end (offset + length) of the previous present entry of the
  block (the block's base offset, in the index, before the first), signed;
* ``length``: the length;
* ``mask``: the HDF5 filter mask (only in blocks where one is nonzero), u32.

Each column has the narrowest width of 1, 2, 4 or 8 bytes that holds its values in that block
(the widths are in the block index), and is stored byte-shuffled: byte 0 of every value, then
byte 1, and so on. The block is that text, zlib-compressed.

Layout (integers little-endian)::

    prelude   magic b"LINDICT\\n", u16 version 2, 6 zero bytes          (16 bytes)
    blocks    one zlib stream per block, in grid order, back to back
    header    u8 flags (0), u8 ndim, u16 0, u32 rows per block
              grid shape ndim x u64, chunk shape ndim x u64
              u32 URL count, then per URL: u32 byte length and its UTF-8 text
              u64 block count, then per block: u64 base offset, u32 stored size, u32 CRC-32
              of the stored bytes, u8 url width, u8 delta width, u8 length width, u8 mask
              width (0 or 4)
    trailer   u64 header start, u64 header size, magic b"LINDICT\\n"        (24 bytes)

The header sits at the end so that a writer can stream the blocks first; a reference file
keeps a copy of it in the table's descriptor so that a reader needs only the blocks' bytes.
Decoding trusts nothing: the header's sizes are checked against the bytes really given before
anything of their size is allocated, every block's CRC against its bytes, and a block must
inflate to exactly the size its rows and widths make (inflation stops there).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lindi_core.errors import ReferenceFormatError
from lindi_core.format.binary_chunk_table import MAX_CELLS, MAX_NDIM, MAX_OFFSET, inflate_exactly, read_urls

MAGIC = b"LINDICT\n"
VERSION = 2
PRELUDE = struct.Struct("<8sH6s")
TRAILER = struct.Struct("<QQ8s")
_HEADER_FIXED = struct.Struct("<BBHI")
_BLOCK_ENTRY = struct.Struct("<QIIBBBB")
# 65,536 rows a block: at 10,000,000 chunks, 153 blocks (an index of 3 KB); a block inflates to
# at most 1.4 MB and decodes in about a millisecond, the cost of reading one chunk cold.
ROWS_PER_BLOCK = 1 << 16
MAX_ROWS_PER_BLOCK = 1 << 20  # what a reader accepts: bounds the memory of one decoded block
ZLIB_MAX_RATIO = 1100  # zlib cannot expand data by more than about 1032x
ZLIB_LEVEL = 1  # level 6 saves little on blocks of varied lengths at three times the time
_WIDTHS = (1, 2, 4, 8)


@dataclass(frozen=True)
class BlockSpan:
    """Where one block is in the table's bytes, and how to read it."""

    start: int
    size: int
    base: int  # the offset deltas start from (the block's first offset)
    crc32: int
    url_width: int
    delta_width: int
    length_width: int
    mask_width: int

    @property
    def row_width(self) -> int:
        return self.url_width + self.delta_width + self.length_width + self.mask_width


@dataclass(frozen=True)
class Layout:
    """What a table's header says: its grid, URLs and blocks (positions in the table's bytes)."""

    grid_shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    urls: tuple[str, ...]
    rows_per_block: int
    blocks: tuple[BlockSpan, ...]
    header_start: int
    header_size: int

    @property
    def cells(self) -> int:
        return math.prod(self.grid_shape)

    @property
    def table_size(self) -> int:
        return self.header_start + self.header_size + TRAILER.size

    def block_rows(self, i: int) -> int:
        return min(self.rows_per_block, self.cells - i * self.rows_per_block)

    def blocks_of(self, linear: np.ndarray) -> np.ndarray:
        """The sorted distinct blocks holding the given cells (linear indices)."""
        return group_by_block(np.asarray(linear, dtype=np.int64) // self.rows_per_block)[0]

    def header_bytes_of(self, table: bytes | memoryview) -> bytes:
        return bytes(memoryview(table)[self.header_start : self.header_start + self.header_size])


def group_by_block(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The cells of each block, for cells given by their block numbers ``blocks``: (the sorted
    distinct blocks, the order that sorts the cells by block or ``None`` when they are in block
    order already, the bounds of each block's cells in that order: ``len(distinct) + 1``
    positions). Cells asked for in grid order (a read's usual case) cost one pass, no sort."""
    if len(blocks) < 2 or bool((blocks[1:] >= blocks[:-1]).all()):
        order, ordered = None, blocks
    else:
        order = np.argsort(blocks, kind="stable")
        ordered = blocks[order]
    starts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1 if len(ordered) else np.zeros(0, np.int64)
    firsts = np.concatenate(([0], starts)) if len(ordered) else starts
    return ordered[firsts], order, np.append(firsts, len(ordered))


@dataclass
class BlockColumns:
    """The decoded entries of one block (``url_index == -1``: no reference)."""

    url_index: np.ndarray  # int32
    offset: np.ndarray  # int64
    length: np.ndarray  # int64
    filter_mask: np.ndarray | None  # uint32, None when the block has no masks


# -- encoding ------------------------------------------------------------------------------
def _width_unsigned(largest: int) -> int:
    return next(w for w in _WIDTHS if largest < 1 << (8 * w))


def _width_signed(smallest: int, largest: int) -> int:
    return next(w for w in _WIDTHS if -(1 << (8 * w - 1)) <= smallest and largest < 1 << (8 * w - 1))


def _shuffled(values: np.ndarray, width: int) -> bytes:
    """The low ``width`` bytes of each int64 value (two's complement, little-endian), plane by
    plane: byte 0 of each, then byte 1, ... Each plane is one strided pass over the values'
    own bytes (no temporary of the column's size)."""
    planes = np.ascontiguousarray(values, dtype="<i8").view(np.uint8).reshape(len(values), 8)
    return b"".join(planes[:, k].tobytes() for k in range(width))


def _unshuffled(raw: memoryview, rows: int, width: int, signed: bool) -> np.ndarray:
    """The values of :func:`_shuffled` bytes: int64 (signed), else uint64. Built plane by plane
    (contiguous passes; a transposing copy is several times slower)."""
    planes = np.frombuffer(raw, dtype=np.uint8, count=rows * width).reshape(width, rows)
    values = planes[0].astype(np.uint64)
    for k in range(1, width):
        values |= planes[k].astype(np.uint64) << np.uint64(8 * k)
    if not signed:
        return values
    values = values.view(np.int64)
    if width < 8:  # sign-extend from the width's top bit
        values = np.where(values >= 1 << (8 * width - 1), values - (1 << (8 * width)), values)
    return values


class TableEncoder:
    """Writes a version 2 table as its entries come, block by block, through ``write``.

    Give the entries in grid order with :meth:`add` (any number of cells at a time, as NumPy
    columns), then call :meth:`finish`. At most one block of entries is held; URLs are
    collected as :meth:`url_index` meets them."""

    def __init__(self, grid_shape: tuple[int, ...], chunk_shape: tuple[int, ...], write: Callable[[bytes], object],
                 *, rows_per_block: int | None = None):
        rows_per_block = ROWS_PER_BLOCK if rows_per_block is None else rows_per_block
        self.grid_shape = tuple(int(n) for n in grid_shape)
        self.chunk_shape = tuple(int(n) for n in chunk_shape)
        if len(self.grid_shape) != len(self.chunk_shape) or len(self.grid_shape) > MAX_NDIM:
            raise ValueError("grid and chunk shapes must have the same number of dimensions (at most 64)")
        if not 1 <= rows_per_block <= MAX_ROWS_PER_BLOCK:
            raise ValueError(f"rows per block must be 1 to {MAX_ROWS_PER_BLOCK}")
        self.cells = math.prod(self.grid_shape)
        self.rows_per_block = rows_per_block
        self._write = write
        self.urls: list[str] = []
        self._url_ids: dict[str, int] = {}
        self._pending: list[tuple[np.ndarray | None, ...]] = []
        self._pending_rows = 0
        self._rows_done = 0
        self._blocks: list[BlockSpan] = []
        self._position = PRELUDE.size
        self._masks_seen = False
        write(PRELUDE.pack(MAGIC, VERSION, bytes(6)))

    def url_index(self, url: str) -> int:
        found = self._url_ids.get(url)
        if found is None:
            found = self._url_ids[url] = len(self.urls)
            self.urls.append(url)
        return found

    def add(self, url_index: np.ndarray, offset: np.ndarray, length: np.ndarray,
            filter_mask: np.ndarray | None = None) -> None:
        """Entries of the next cells (``url_index < 0``: no reference; indices into
        :attr:`urls`). Raises ValueError for what the form cannot hold (negative lengths, i.e.
        fsspec's whole-file refs; values past int64)."""
        columns = [np.asarray(url_index, dtype=np.int64), np.asarray(offset, dtype=np.int64),
                   np.asarray(length, dtype=np.int64)]
        masks = None if filter_mask is None else np.asarray(filter_mask).astype(np.uint32)
        if not len(columns[0]) == len(columns[1]) == len(columns[2]) == len(columns[0] if masks is None else masks):
            raise ValueError("the columns of the entries differ in length")
        columns.append(masks)  # (None: no masks, and no column of zeros held for them)
        if self._rows_done + self._pending_rows + len(columns[0]) > self.cells:
            raise ValueError(f"more entries than the {self.cells} cells of the grid")
        self._pending.append(tuple(columns))
        self._pending_rows += len(columns[0])
        while self._pending_rows >= self.rows_per_block:
            self._emit(self.rows_per_block)

    def finish(self) -> bytes:
        """Write the header and trailer; returns the header's bytes (for a descriptor)."""
        if self._pending_rows:
            self._emit(self._pending_rows)
        if self._rows_done != self.cells:
            raise ValueError(f"{self._rows_done} entries given for a grid of {self.cells} cells")
        parts = [_HEADER_FIXED.pack(0, len(self.grid_shape), 0, self.rows_per_block),
                 struct.pack(f"<{2 * len(self.grid_shape)}Q", *self.grid_shape, *self.chunk_shape),
                 struct.pack("<I", len(self.urls))]
        for url in self.urls:
            text = url.encode("utf-8")
            parts.append(struct.pack("<I", len(text)) + text)
        parts.append(struct.pack("<Q", len(self._blocks)))
        parts.extend(_BLOCK_ENTRY.pack(b.base, b.size, b.crc32, b.url_width, b.delta_width, b.length_width,
                                       b.mask_width)
                     for b in self._blocks)
        header = b"".join(parts)
        self._write(header)
        self._write(TRAILER.pack(self._position, len(header), MAGIC))
        return header

    def _take(self, rows: int) -> list[np.ndarray | None]:
        # Only the pieces the block needs are cut (views): a large add is not copied per block.
        parts: list[tuple[np.ndarray | None, ...]] = []
        needed = rows
        while needed:
            piece = self._pending[0]
            count = len(piece[0])
            if count <= needed:
                parts.append(piece)
                self._pending.pop(0)
                needed -= count
            else:
                parts.append(tuple(None if c is None else c[:needed] for c in piece))
                self._pending[0] = tuple(None if c is None else c[needed:] for c in piece)
                needed = 0
        self._pending_rows -= rows
        if len(parts) == 1:
            return list(parts[0])
        masks = None
        if any(p[3] is not None for p in parts):
            masks = np.concatenate([np.zeros(len(p[0]), np.uint32) if p[3] is None else p[3] for p in parts])
        return [np.concatenate([p[k] for p in parts]) for k in range(3)] + [masks]

    def _emit(self, rows: int) -> None:
        url_index, offset, length, mask = self._take(rows)
        present = url_index >= 0
        every = bool(present.all())
        if every or present.any():
            if int(url_index.max()) >= len(self.urls):
                raise ValueError("a URL index is outside the URL table")
            if every and (int(length.min()) < 0 or int(offset.min()) < 0) \
                    or not every and ((length[present] < 0).any() or (offset[present] < 0).any()):
                raise ValueError("the binary form holds only [url, offset, length] refs with known lengths")
        if every:  # the usual block: every cell has a ref, no column needs its missing rows zeroed
            url_column = url_index + 1
            # The base is the block's first offset (its delta 0); then each offset minus the end
            # of the entry before it.
            base = int(offset[0])
            delta = np.empty(rows, dtype=np.int64)
            delta[0] = 0
            np.subtract(offset[1:], offset[:-1], out=delta[1:])
            delta[1:] -= length[:-1]
        else:
            url_column = np.where(present, url_index + 1, 0)
            length = np.where(present, length, 0)
            mask = None if mask is None else np.where(present, mask, 0).astype(np.uint32)
            offset = np.where(present, offset, 0)
            ends = offset + length
            # The end of the previous present entry (the base before the first): carried over
            # missing rows. The base is the block's first offset, so that its delta is 0 too.
            base = int(offset[present][0]) if present.any() else 0
            previous_end = np.full(rows, base, dtype=np.int64)
            if rows > 1:
                last_end = np.where(present, ends, 0)
                index = np.where(present, np.arange(rows), -1)
                carried = np.maximum.accumulate(index)[:-1]
                previous_end[1:] = np.where(carried >= 0, last_end[np.maximum(carried, 0)], base)
            delta = np.where(present, offset - previous_end, 0)
        url_width = _width_unsigned(int(url_column.max(initial=0)))
        delta_width = _width_signed(int(delta.min(initial=0)), int(delta.max(initial=0)))
        length_width = _width_unsigned(int(length.max(initial=0)))
        mask_width = 4 if mask is not None and mask.any() else 0
        pieces = [_shuffled(url_column, url_width), _shuffled(delta, delta_width), _shuffled(length, length_width)]
        if mask_width:
            pieces.append(_shuffled(mask, 4))
        stored = zlib.compress(b"".join(pieces), ZLIB_LEVEL)
        self._write(stored)
        self._blocks.append(BlockSpan(self._position, len(stored), base, zlib.crc32(stored), url_width, delta_width,
                                      length_width, mask_width))
        self._position += len(stored)
        self._rows_done += rows


def encode(grid_shape: tuple[int, ...], chunk_shape: tuple[int, ...], urls: list[str], url_index: np.ndarray,
           offset: np.ndarray, length: np.ndarray, filter_mask: np.ndarray | None = None, *,
           rows_per_block: int | None = None) -> bytes:
    """A whole table from dense columns over a grid (``url_index < 0``: no reference)."""
    out: list[bytes] = []
    encoder = TableEncoder(grid_shape, chunk_shape, out.append, rows_per_block=rows_per_block)
    for url in urls:
        encoder.url_index(url)
    encoder.add(url_index, offset, length, filter_mask)
    encoder.finish()
    return b"".join(out)


# -- decoding ------------------------------------------------------------------------------
def is_version_2(data: bytes | memoryview) -> bool:
    if len(data) < PRELUDE.size:
        return False
    magic, version, _ = PRELUDE.unpack_from(data, 0)
    return magic == MAGIC and version == VERSION


def read_trailer(tail: bytes | memoryview, table_size: int, name: str = "chunk table") -> tuple[int, int]:
    """(header start, header size) from the last TRAILER.size bytes of a table of
    ``table_size`` bytes, checked to lie between the prelude and the trailer."""
    if table_size < PRELUDE.size + TRAILER.size or len(tail) != TRAILER.size:
        raise ReferenceFormatError(f"{name}: {table_size} bytes is too short for a binary chunk table")
    start, size, magic = TRAILER.unpack_from(tail, 0)
    if magic != MAGIC:
        raise ReferenceFormatError(f"{name}: not a binary chunk table (wrong magic bytes at its end)")
    if start < PRELUDE.size or start + size != table_size - TRAILER.size:
        raise ReferenceFormatError(f"{name}: its header ({size} bytes at {start}) is not where the table's "
                                   f"{table_size} bytes end")
    return start, size


def read_layout(table: bytes | memoryview, name: str = "chunk table") -> Layout:
    """The layout of a whole encoded table (its prelude, trailer and header checked)."""
    table = memoryview(table)
    if not is_version_2(table):
        raise ReferenceFormatError(f"{name}: not a version 2 binary chunk table (wrong prelude)")
    start, size = read_trailer(table[len(table) - TRAILER.size :], len(table), name)
    return parse_header(table[start : start + size], start, name)


def parse_header(header: bytes | memoryview, header_start: int, name: str = "chunk table") -> Layout:
    """The layout a table's header describes, the header being at ``header_start`` of the
    table; the blocks must lie back to back from the prelude up to the header."""
    data = memoryview(header)

    def fail(why: str) -> ReferenceFormatError:
        return ReferenceFormatError(f"{name}: {why}")

    if len(data) < _HEADER_FIXED.size:
        raise fail("its header is truncated")
    flags, ndim, reserved, rows_per_block = _HEADER_FIXED.unpack_from(data, 0)
    if flags or reserved:
        raise fail(f"unknown flags {flags:#x} or reserved bits set in its header")
    if ndim > MAX_NDIM or not 1 <= rows_per_block <= MAX_ROWS_PER_BLOCK:
        raise fail(f"invalid header ({ndim} dimensions, {rows_per_block} rows per block)")
    position = _HEADER_FIXED.size
    if len(data) < position + 16 * ndim + 4:
        raise fail("its header is truncated in its shapes")
    shapes = struct.unpack_from(f"<{2 * ndim}Q", data, position)
    position += 16 * ndim
    grid_shape, chunk_shape = tuple(shapes[:ndim]), tuple(shapes[ndim:])
    if any(c == 0 for c in chunk_shape):
        raise fail("a chunk shape has a zero extent")
    cells = math.prod(grid_shape)
    if cells > MAX_CELLS:
        raise fail(f"a grid of {cells} cells is too large")
    (url_count,) = struct.unpack_from("<I", data, position)
    position += 4
    if url_count > (len(data) - position) // 4:  # every URL takes at least its 4-byte length
        raise fail(f"declares {url_count} URLs in {len(data) - position} bytes")
    urls, position = read_urls(data, position, url_count, fail, "header")
    if position + 8 > len(data):
        raise fail("truncated before its block index")
    (block_count,) = struct.unpack_from("<Q", data, position)
    position += 8
    expected_blocks = -(-cells // rows_per_block)
    if block_count != expected_blocks:
        raise fail(f"declares {block_count} blocks; a grid of {cells} cells in blocks of {rows_per_block} "
                   f"rows has {expected_blocks}")
    if block_count * _BLOCK_ENTRY.size != len(data) - position:
        raise fail(f"its block index of {block_count} blocks does not fill the {len(data) - position} bytes left")
    blocks = []
    start = PRELUDE.size
    for i, entry in enumerate(_BLOCK_ENTRY.iter_unpack(data[position:])):
        base, size, crc, url_width, delta_width, length_width, mask_width = entry
        if url_width not in _WIDTHS or delta_width not in _WIDTHS or length_width not in _WIDTHS \
                or mask_width not in (0, 4):
            raise fail(f"block {i} has invalid column widths")
        if base > MAX_OFFSET:
            raise fail(f"block {i} has a base offset of 2**63 or more")
        blocks.append(BlockSpan(start, size, base, crc, url_width, delta_width, length_width, mask_width))
        rows = min(rows_per_block, cells - i * rows_per_block)
        if rows * blocks[-1].row_width > ZLIB_MAX_RATIO * max(size, 1):
            raise fail(f"block {i}: {size} compressed bytes cannot hold {rows} entries")
        start += size
    if start != header_start:
        raise fail(f"its blocks end at byte {start}, but its header starts at {header_start}")
    return Layout(grid_shape, chunk_shape, tuple(urls), rows_per_block, tuple(blocks), header_start, len(data))


def decode_block(layout: Layout, i: int, data: bytes | memoryview, name: str = "chunk table") -> BlockColumns:
    """Decode block ``i`` from its stored bytes (exactly its span), checking everything."""
    if not 0 <= i < len(layout.blocks):
        raise IndexError(f"block {i} is outside a table of {len(layout.blocks)} blocks")
    span = layout.blocks[i]
    where = f"{name}, block {i}"
    if len(data) != span.size:
        raise ReferenceFormatError(f"{where}: {len(data)} bytes given for a block of {span.size}")
    if zlib.crc32(data) != span.crc32:
        raise ReferenceFormatError(f"{where}: its bytes do not match the block index (CRC-32)")
    rows = layout.block_rows(i)
    raw = memoryview(inflate_exactly(data, rows * span.row_width, where, "the block's entries"))
    position = 0

    def column(width: int, signed: bool) -> np.ndarray:
        nonlocal position
        values = _unshuffled(raw[position : position + rows * width], rows, width, signed)
        position += rows * width
        return values

    url_column = column(span.url_width, False).astype(np.int64)
    delta = column(span.delta_width, True).astype(np.int64)
    length_raw = column(span.length_width, False)
    mask = column(4, False).astype(np.uint32) if span.mask_width else None
    if span.length_width == 8 and (length_raw > MAX_OFFSET).any():
        raise ReferenceFormatError(f"{where}: a length is 2**63 or more")
    length = length_raw.astype(np.int64)
    missing = url_column == 0
    if (url_column > len(layout.urls)).any():
        bad = int(np.flatnonzero(url_column > len(layout.urls))[0])
        raise ReferenceFormatError(f"{where}: row {bad} names URL {int(url_column[bad]) - 1} of {len(layout.urls)}")
    if missing.any():
        stray = (delta[missing] != 0) | (length[missing] != 0)
        if mask is not None:
            stray |= mask[missing] != 0
        if stray.any():
            raise ReferenceFormatError(f"{where}: an entry marked missing has nonzero fields")
    if span.delta_width == 8 or span.length_width == 8:
        # Sums of 64-bit values could wrap in int64: checked exactly, in Python integers.
        offset_exact = span.base + np.cumsum(delta.astype(object) + length.astype(object)) - length.astype(object)
        if rows and (min(offset_exact) < 0 or max(offset_exact + length.astype(object)) > MAX_OFFSET):
            raise ReferenceFormatError(f"{where}: an offset is negative or past 2**63")
        offset = offset_exact.astype(np.int64)
    else:  # |sums| < 2**20 rows * (2**31 + 2**32): exact in int64, and so is the check with the base
        relative = np.cumsum(delta + length) - length
        if rows and (span.base + int(relative.min()) < 0 or span.base + int((relative + length).max()) > MAX_OFFSET):
            raise ReferenceFormatError(f"{where}: an offset is negative or past 2**63")
        offset = relative + span.base
    offset[missing] = 0
    url_index = (url_column - 1).astype(np.int32)
    return BlockColumns(url_index, offset, length, mask)


