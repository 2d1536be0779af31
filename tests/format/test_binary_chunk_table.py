"""The binary chunk table (spec §13): packing, unpacking, lookups, and hostile tables."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import binary_chunk_table as bct


def random_columns(rng: np.random.Generator, grid: tuple[int, ...], n_urls: int, *, masks: bool = False,
                   big: bool = False):
    cells = math.prod(grid)
    url_index = rng.integers(0, n_urls, cells) if n_urls else np.full(cells, -1)
    url_index[rng.random(cells) < 0.3] = -1  # missing chunks
    high = 2**40 if big else 2**20
    offset = rng.integers(0, high, cells)
    length = rng.integers(0, high, cells)
    offset[url_index < 0] = 0
    length[url_index < 0] = 0
    mask = rng.integers(0, 4, cells).astype(np.uint32) if masks else None
    if mask is not None:
        mask[url_index < 0] = 0
    return url_index, offset, length, mask


@pytest.mark.parametrize("grid", [(), (1,), (17,), (4, 5), (3, 1, 7), (2, 0, 3)])
@pytest.mark.parametrize("n_urls", [0, 1, 3, 300])
@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(grid, n_urls, masks, compress):
    rng = np.random.default_rng(hash((grid, n_urls, masks, compress)) % 2**32)
    url_index, offset, length, mask = random_columns(rng, grid, n_urls, masks=masks, big=n_urls == 3)
    urls = [f"https://example.org/ü/{i}.h5" for i in range(n_urls)]
    chunk_shape = tuple(range(2, 2 + len(grid)))
    data = bct.encode(grid, chunk_shape, urls, url_index, offset, length, mask, compress=compress)
    table = bct.decode(data)
    assert table.header.grid_shape == grid and table.header.chunk_shape == chunk_shape
    assert list(table.header.urls) == urls and table.header.compressed == compress
    present = url_index >= 0
    assert np.array_equal(table.url_index, np.where(present, url_index, -1))
    assert np.array_equal(table.offset[present], offset[present])
    assert np.array_equal(table.length[present], length[present])
    if mask is not None and mask[present].any():
        assert np.array_equal(table.filter_mask[present], mask[present])
    else:
        assert table.filter_mask is None
    if not compress:
        for linear in range(math.prod(grid)):
            found = bct.lookup(data, table.header, linear)
            if present[linear]:
                expected_mask = int(mask[linear]) if table.filter_mask is not None else 0
                assert found == (url_index[linear], offset[linear], length[linear], expected_mask)
            else:
                assert found is None


def test_entries_are_narrow_when_values_are_small():
    # One URL and 32-bit offsets and lengths: 8 bytes an entry.
    data = bct.encode((1000,), (8,), ["f.h5"], np.zeros(1000), np.arange(1000) * 64, np.full(1000, 64))
    header = bct.decode_header(data)
    assert header.entry_size == 8 and len(data) == header.entries_start + 8000
    # Offsets past 4 GiB and several URLs: wider fields, same values back.
    offsets = np.arange(1000, dtype=np.int64) * 2**33
    data = bct.encode((1000,), (8,), ["a", "b"], np.arange(1000) % 2, offsets, np.full(1000, 64))
    header = bct.decode_header(data)
    assert (header.url_bytes, header.offset_bytes, header.length_bytes) == (1, 8, 4)
    assert np.array_equal(bct.decode(data).offset, offsets)


def test_region_byte_ranges_cover_exactly_the_region_entries():
    grid = (5, 6, 7)
    rng = np.random.default_rng(1)
    url_index, offset, length, _ = random_columns(rng, grid, 2)
    data = bct.encode(grid, (1, 1, 1), ["a", "b"], url_index, offset, length)
    header = bct.decode_header(data)
    full = bct.decode(data)
    for start, stop in [((0, 0, 0), (5, 6, 7)), ((1, 2, 3), (4, 5, 6)), ((2, 0, 0), (3, 6, 7)),
                        ((0, 1, 0), (5, 3, 7)), ((4, 5, 6), (5, 6, 7)), ((1, 1, 1), (1, 4, 4))]:
        ranges = header.region_byte_ranges(start, stop)
        expected = np.ravel_multi_index(
            tuple(c.ravel() for c in np.meshgrid(*[np.arange(a, b) for a, b in zip(start, stop)], indexing="ij")),
            grid)
        got = []
        for a, b in ranges:
            first = (a - header.entries_start) // header.entry_size
            part = bct.decode_entries(header, memoryview(data)[a:b], first)
            got.extend(range(first, first + len(part.url_index)))
            assert np.array_equal(part.url_index, full.url_index[first : first + len(part.url_index)])
        assert got == sorted(expected.tolist())
        assert all(b0 < a1 for (_, b0), (a1, _) in zip(ranges, ranges[1:]))  # merged: never adjacent
    assert header.region_byte_ranges((0, 0, 0), (5, 6, 7)) == [(header.entries_start, len(data))]
    assert len(header.region_byte_ranges((1, 2, 3), (4, 5, 6))) == 3 * 3  # one per row of the grid


def test_encode_refuses_what_the_form_cannot_hold():
    with pytest.raises(ValueError, match="known lengths"):
        bct.encode((2,), (1,), ["a"], np.zeros(2), np.zeros(2), np.array([-1, 3]))
    with pytest.raises(ValueError, match="outside the URL table"):
        bct.encode((2,), (1,), ["a"], np.array([0, 1]), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="needs 6 entries"):
        bct.encode((2, 3), (1, 1), ["a"], np.zeros(5), np.zeros(5), np.zeros(5))


# -- hostile tables ---------------------------------------------------------------------------
def valid_table(**kwargs) -> bytes:
    rng = np.random.default_rng(7)
    url_index, offset, length, mask = random_columns(rng, (6, 4), 2, masks=True)
    return bct.encode((6, 4), (3, 3), ["a", "b"], url_index, offset, length, mask, **kwargs)


def header_with(data: bytes, **fields) -> bytes:
    names = ["magic", "version", "flags", "ndim", "url_bytes", "offset_bytes", "length_bytes", "reserved"]
    values = dict(zip(names, bct._FIXED.unpack_from(data)))
    values.update(fields)
    return bct._FIXED.pack(*(values[n] for n in names)) + data[bct._FIXED.size :]


def test_every_truncation_raises():
    for data in (valid_table(), valid_table(compress=True)):
        for cut in range(len(data)):
            with pytest.raises(ReferenceFormatError):
                bct.decode(data[:cut])


def test_every_byte_flip_raises_or_decodes_within_bounds():
    data = valid_table()
    header = bct.decode_header(data)
    for i in range(header.entries_start):
        for flip in (0x01, 0x80, 0xFF):
            mutated = bytearray(data)
            mutated[i] ^= flip
            try:
                table = bct.decode(bytes(mutated))
            except ReferenceFormatError:
                continue
            # What decodes is a table the bytes really hold: never larger than them.
            assert table.header.cells * table.header.entry_size <= len(mutated)


@pytest.mark.parametrize("mutation, message", [
    (lambda d: b"NOTATABL" + d[8:], "magic"),
    (lambda d: header_with(d, version=2), "version 2"),
    (lambda d: header_with(d, flags=0x80), "unknown flags"),
    (lambda d: header_with(d, reserved=1), "reserved"),
    (lambda d: header_with(d, offset_bytes=3), "field widths"),
    (lambda d: header_with(d, url_bytes=0), "do not fit"),
    (lambda d: d + b"\0", "holds"),
])
def test_hostile_headers_raise(mutation, message):
    with pytest.raises(ReferenceFormatError, match=message):
        bct.decode(mutation(valid_table()))


def _raw_table(grid, entries: bytes, urls=(b"a",), *, flags=0, url_bytes=0, offset_bytes=4, length_bytes=4,
               url_count=None, stored=None) -> bytes:
    ndim = len(grid)
    parts = [bct._FIXED.pack(bct.MAGIC, 1, flags, ndim, url_bytes, offset_bytes, length_bytes, 0),
             struct.pack(f"<{2 * ndim}Q", *grid, *([1] * ndim)),
             struct.pack("<I", len(urls) if url_count is None else url_count)]
    parts += [struct.pack("<I", len(u)) + u for u in urls]
    parts.append(struct.pack("<Q", len(entries) if stored is None else stored))
    return b"".join(parts) + entries


def test_declared_sizes_beyond_the_bytes_raise_before_allocating():
    # A vast grid with a few bytes of entries, plain or "compressed".
    with pytest.raises(ReferenceFormatError, match="needs"):
        bct.decode(_raw_table((2**40,), b"\0" * 8))
    with pytest.raises(ReferenceFormatError, match="cannot hold"):
        bct.decode(_raw_table((2**40,), zlib.compress(b"\0" * 80), flags=bct.FLAG_ZLIB))
    with pytest.raises(ReferenceFormatError, match="too large"):
        bct.decode(_raw_table((2**40, 2**40), b""))
    with pytest.raises(ReferenceFormatError, match="declares 4294967295 URLs"):
        bct.decode(_raw_table((1,), b"\0" * 8, url_count=2**32 - 1))
    with pytest.raises(ReferenceFormatError, match="declares 1000 bytes of entries"):
        bct.decode(_raw_table((1,), b"\0" * 8, stored=1000))
    url = struct.pack("<I", 2**31) + b"x"
    with pytest.raises(ReferenceFormatError, match="URL 0 declares"):
        bct.decode(bct._FIXED.pack(bct.MAGIC, 1, 0, 0, 0, 4, 4, 0) + struct.pack("<I", 1) + url)


def test_compressed_entries_must_hold_exactly_the_grid():
    entries = struct.pack("<II", 5, 6) * 4
    with pytest.raises(ReferenceFormatError, match="exactly|not"):
        bct.decode(_raw_table((3,), zlib.compress(entries), flags=bct.FLAG_ZLIB))
    with pytest.raises(ReferenceFormatError, match="hold"):
        bct.decode(_raw_table((5,), zlib.compress(entries), flags=bct.FLAG_ZLIB))
    with pytest.raises(ReferenceFormatError, match="corrupt"):
        bct.decode(_raw_table((4,), b"\x78\x9c" + b"\xff" * 30, flags=bct.FLAG_ZLIB))
    assert bct.decode(_raw_table((4,), zlib.compress(entries), flags=bct.FLAG_ZLIB)).offset.tolist() == [5] * 4


def test_entries_out_of_range_raise():
    # URL index past the URL table.
    with pytest.raises(ReferenceFormatError, match="names URL 2 of 2"):
        bct.decode(_raw_table((1,), bytes([2]) + struct.pack("<II", 0, 1), urls=(b"a", b"b"), url_bytes=1))
    # No URLs at all, yet a chunk with a reference.
    with pytest.raises(ReferenceFormatError, match="names URL 0 of 0"):
        bct.decode(_raw_table((1,), struct.pack("<II", 0, 1), urls=()))
    # 8-byte offsets and lengths of 2**63 or more (other than the missing marker).
    with pytest.raises(ReferenceFormatError, match="offset is 2\\*\\*63"):
        bct.decode(_raw_table((1,), struct.pack("<QI", 2**63, 1), offset_bytes=8))
    with pytest.raises(ReferenceFormatError, match="length is 2\\*\\*63"):
        bct.decode(_raw_table((1,), struct.pack("<IQ", 0, 2**63), length_bytes=8))
    # A missing entry (offset all ones) must be zero elsewhere.
    with pytest.raises(ReferenceFormatError, match="marked missing"):
        bct.decode(_raw_table((1,), struct.pack("<II", 2**32 - 1, 5)))
    missing = bct.decode(_raw_table((2,), struct.pack("<IIII", 2**32 - 1, 0, 7, 8)))
    assert missing.url_index.tolist() == [-1, 0] and missing.offset.tolist() == [0, 7]
    # URLs that are not UTF-8.
    with pytest.raises(ReferenceFormatError, match="not UTF-8"):
        bct.decode(_raw_table((1,), struct.pack("<II", 0, 1), urls=(b"\xff",)))
