"""The version 2 binary chunk table (spec §13): blocks round-trip exactly, encode the same
whatever the pieces they are given in, and decoding refuses every lie before trusting it."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import pytest

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import blocked_chunk_table as blocked
from lindi_core.format.lazy_chunk_table import InlineTableBytes


def random_columns(seed: int, cells: int, urls: int = 3, big: bool = False):
    rng = np.random.default_rng(seed)
    length = rng.integers(1, 5000, cells) if not big else rng.integers(0, 2**40, cells)
    offset = np.cumsum(length) - length + (2**62 if big else 77)
    if not big:
        shuffle = rng.random(cells) < 0.1  # some chunks out of order
        offset[shuffle] = rng.integers(0, 2**31, shuffle.sum())
    url = rng.integers(-1, urls, cells)
    mask = np.where(rng.random(cells) < 0.05, rng.integers(1, 2**32, cells), 0).astype(np.uint32)
    return url, offset.astype(np.int64), length.astype(np.int64), mask


def decode_all(data: bytes):
    layout = blocked.read_layout(data)
    blocks = [blocked.decode_block(layout, i, data[s.start : s.start + s.size]) for i, s in enumerate(layout.blocks)]
    if not blocks:
        return layout, (np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint32))
    masks = [b.filter_mask if b.filter_mask is not None else np.zeros(len(b.url_index), np.uint32) for b in blocks]
    return layout, tuple(np.concatenate(c) for c in zip(*[(b.url_index, b.offset, b.length) for b in blocks],
                                                       )) + (np.concatenate(masks),)


@pytest.mark.parametrize("seed, grid, rows, big", [
    (0, (1000,), 64, False), (1, (33, 17), 100, False), (2, (7, 3, 5), 1, False), (3, (500,), 64, True),
    (4, (), 8, False), (5, (0, 4), 16, False), (6, (130,), 1 << 16, False),
])
def test_tables_round_trip_exactly(seed, grid, rows, big):
    cells = int(np.prod(grid))
    url, offset, length, mask = random_columns(seed, cells, big=big)
    urls = ["a.h5", "https://example.org/b.h5", "c/d.h5"]
    data = blocked.encode(grid, tuple(2 for _ in grid), urls, url, offset, length, mask, rows_per_block=rows)
    layout, (u, o, n, m) = decode_all(data)
    assert layout.grid_shape == tuple(grid) and layout.urls == tuple(urls)
    present = url >= 0
    np.testing.assert_array_equal(u, np.where(present, url, -1))
    np.testing.assert_array_equal(o[present], offset[present])
    np.testing.assert_array_equal(n[present], length[present])
    np.testing.assert_array_equal(m[present], mask[present])


def test_streaming_in_any_pieces_gives_the_same_bytes():
    url, offset, length, mask = random_columns(7, 5000)
    whole = blocked.encode((5000,), (4,), ["a", "b", "c"], url, offset, length, mask, rows_per_block=300)
    rng = np.random.default_rng(1)
    out: list[bytes] = []
    encoder = blocked.TableEncoder((5000,), (4,), out.append, rows_per_block=300)
    for name in ["a", "b", "c"]:
        encoder.url_index(name)
    start = 0
    while start < 5000:
        stop = min(5000, start + int(rng.integers(1, 900)))
        encoder.add(url[start:stop], offset[start:stop], length[start:stop], mask[start:stop])
        start = stop
    encoder.finish()
    assert b"".join(out) == whole


def test_evenly_laid_out_chunks_cost_tens_of_bytes_per_thousand():
    n = 200_000
    data = blocked.encode((n,), (8,), ["f.h5"], np.zeros(n), 4096 + 64 * np.arange(n), np.full(n, 64))
    assert len(data) < n / 25


def test_the_encoder_refuses_what_the_form_cannot_hold():
    with pytest.raises(ValueError, match="known lengths"):
        blocked.encode((2,), (1,), ["a"], np.zeros(2), np.zeros(2), np.array([1, -1]))
    with pytest.raises(ValueError, match="outside the URL table"):
        blocked.encode((2,), (1,), ["a"], np.array([0, 1]), np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="entries given"):
        encoder = blocked.TableEncoder((4,), (1,), lambda b: None)
        encoder.url_index("a")
        encoder.add(np.zeros(2), np.zeros(2), np.ones(2))
        encoder.finish()


def test_inline_bytes_decode_any_range_from_the_base64_that_holds_it():
    data = bytes(range(256)) * 3 + b"xy"
    source = InlineTableBytes(base64.b64encode(data).decode(), "t")
    assert source.size == len(data)
    for start in range(0, 40):
        for stop in (start, start + 1, start + 5, len(data) - 3, len(data)):
            if start <= stop:
                assert source.read(start, stop) == data[start:stop]
    with pytest.raises(ReferenceFormatError, match="outside"):
        source.read(0, len(data) + 1)
    with pytest.raises(ReferenceFormatError, match="base64"):
        InlineTableBytes("QUJD!!==", "t").read(0, 4)


# -- hostile tables --------------------------------------------------------------------------
def small_table() -> bytes:
    url, offset, length, mask = random_columns(9, 300)
    return blocked.encode((300,), (4,), ["a", "b", "c"], url, offset, length, mask, rows_per_block=64)


def with_header(data: bytes, edit) -> bytes:
    """The table with its header changed by ``edit(bytearray)`` (the trailer kept consistent)."""
    start, size, magic = blocked.TRAILER.unpack_from(data, len(data) - blocked.TRAILER.size)
    header = bytearray(data[start : start + size])
    edit(header)
    return data[:start] + bytes(header) + blocked.TRAILER.pack(start, len(header), magic)


def index_position(header: bytes | bytearray, block: int) -> int:
    return len(header) - (5 - block) * 20  # 300 rows in blocks of 64: 5 blocks, 20 bytes each


@pytest.mark.parametrize("cut", [1, 24, 30, 200])
def test_a_truncated_table_is_refused(cut):
    data = small_table()
    with pytest.raises(ReferenceFormatError):
        blocked.read_layout(data[:-cut])


def test_a_block_of_other_bytes_is_refused_by_its_crc():
    data = small_table()
    layout = blocked.read_layout(data)
    span = layout.blocks[1]
    with pytest.raises(ReferenceFormatError, match="CRC-32"):
        blocked.decode_block(layout, 1, data[layout.blocks[2].start : layout.blocks[2].start + span.size])
    with pytest.raises(ReferenceFormatError, match="bytes given"):
        blocked.decode_block(layout, 1, data[span.start : span.start + span.size - 1])


def _rewritten_block(data: bytes, block: int, raw: bytes, widths: tuple[int, int, int, int]) -> bytes:
    """The table with block ``block`` replaced by ``raw`` compressed (sizes, CRC and widths
    indexed honestly): what a hostile writer can make of a block's contents."""
    layout = blocked.read_layout(data)
    stored = zlib.compress(raw)
    span = layout.blocks[block]
    body = data[: span.start] + stored + data[span.start + span.size : layout.header_start]
    header = bytearray(layout.header_bytes_of(data))
    at = index_position(header, block)
    header[at : at + 20] = struct.pack("<QIIBBBB", 0, len(stored), zlib.crc32(stored), *widths)
    return body + bytes(header) + blocked.TRAILER.pack(len(body), len(header), blocked.MAGIC)


def _block_raw(rows: int, url, delta, length, widths=(1, 1, 1, 0)) -> bytes:
    def shuffled(values, width, signed):
        return np.ascontiguousarray(np.asarray(values).astype(f"<{'i' if signed else 'u'}{width}")
                                    .view(np.uint8).reshape(rows, width).T).tobytes()
    return shuffled(url, widths[0], False) + shuffled(delta, widths[1], True) + shuffled(length, widths[2], False)


@pytest.mark.parametrize("raw, widths, message", [
    (_block_raw(64, [1] * 64, [0] * 64, [5] * 64) + b"\0", (1, 1, 1, 0), "exactly"),  # one byte too many
    (_block_raw(64, [1] * 64, [0] * 64, [5] * 64)[:-1], (1, 1, 1, 0), "not"),  # one byte short
    (_block_raw(64, [9] + [1] * 63, [0] * 64, [5] * 64), (1, 1, 1, 0), "names URL"),
    (_block_raw(64, [0] + [1] * 63, [0] * 64, [5] + [5] * 63), (1, 1, 1, 0), "missing has nonzero"),
    (_block_raw(64, [1] * 64, [-3] + [0] * 63, [5] * 64), (1, 1, 1, 0), "negative"),
    (_block_raw(64, [1] * 64, [2**62] * 64, [5] * 64, (1, 8, 1, 0)), (1, 8, 1, 0), "past 2\\*\\*63"),
    (_block_raw(64, [1] * 64, [0] * 64, [2**63 + 1] * 64, (1, 1, 8, 0)), (1, 1, 8, 0), "2\\*\\*63"),
])
def test_a_hostile_block_is_refused(raw, widths, message):
    data = _rewritten_block(small_table(), 0, raw, widths)
    layout = blocked.read_layout(data)
    span = layout.blocks[0]
    with pytest.raises(ReferenceFormatError, match=message):
        blocked.decode_block(layout, 0, data[span.start : span.start + span.size])


@pytest.mark.parametrize("edit, message", [
    (lambda h: h.__setitem__(slice(4, 8), struct.pack("<I", 0)), "rows per block"),
    (lambda h: h.__setitem__(slice(4, 8), struct.pack("<I", 2**21)), "rows per block"),
    (lambda h: h.__setitem__(0, 1), "flags"),
    (lambda h: h.__setitem__(slice(8, 16), struct.pack("<Q", 10**9)), "blocks"),  # the grid
    (lambda h: h.__setitem__(slice(index_position(h, 0) + 8, index_position(h, 0) + 12), struct.pack("<I", 10**6)),
     "blocks end|cannot hold"),
    (lambda h: h.__setitem__(slice(index_position(h, 0) + 16, index_position(h, 0) + 17), b"\x03"), "widths"),
    (lambda h: h.__setitem__(slice(index_position(h, 0), index_position(h, 0) + 8), b"\xff" * 8), "base offset"),
    (lambda h: h.__delitem__(slice(len(h) - 20, len(h))), "block"),
    (lambda h: h.extend(b"\0" * 20), "block"),
])
def test_a_lying_header_is_refused(edit, message):
    with pytest.raises(ReferenceFormatError, match=message):
        blocked.read_layout(with_header(small_table(), edit))


def test_a_trailer_pointing_outside_the_table_is_refused():
    data = bytearray(small_table())
    struct.pack_into("<Q", data, len(data) - blocked.TRAILER.size, 3)
    with pytest.raises(ReferenceFormatError, match="header"):
        blocked.read_layout(bytes(data))


def test_a_block_that_claims_too_much_is_refused_before_inflating():
    def edit(header: bytearray) -> None:
        at = index_position(header, 0)
        header[at + 8 : at + 12] = struct.pack("<I", 0)
    with pytest.raises(ReferenceFormatError):
        blocked.read_layout(with_header(small_table(), edit))
