"""Chunks placed while their span's bytes arrive (``PlacingSink``), a span read into a sink
through the byte sources, and the lazily worked-out axis cuts of a bulk read.

The sink's answer is checked against placing each chunk on its own with NumPy, for 1-D and N-D
layouts, chunks that follow each other, chunks with gaps between them, chunks sharing bytes
(a hostile table), and every way of cutting the span into pieces, restarts included.
"""

from __future__ import annotations

import asyncio

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.io import coalesce
from lindi_core.io.locations import Location
from lindi_core.io.sources import ByteSources
from lindi_core.store import bulk_reads, result_memory
from lindi_core.store.chunk_placement import PlacingSink, byte_blocks, chunked_view


def _layout(rng, count, nbytes, overlapping=False):
    """Offsets of ``count`` chunks of ``nbytes`` bytes in a span: runs of neighbours with gaps
    between them (as libhdf5 writes index nodes between chunks); or sharing bytes."""
    if overlapping:
        return np.sort(rng.integers(0, count * nbytes // 2, size=count))
    gaps = np.where(rng.random(count) < 0.2, rng.integers(1, 3 * nbytes, size=count), 0)
    gaps[0] = rng.integers(0, 50)
    return np.cumsum(gaps + nbytes) - nbytes


def _expected(out_shape, chunks, grid_positions, span, at, dtype):
    """Each chunk copied on its own from the span into a fresh result (the independent truth)."""
    expected = np.zeros(out_shape, dtype)
    nbytes = int(np.prod(chunks)) * np.dtype(dtype).itemsize
    for position, offset in zip(grid_positions, at.tolist()):
        box = tuple(slice(p * c, (p + 1) * c) for p, c in zip(position, chunks))
        expected[box] = np.frombuffer(span[offset : offset + nbytes], dtype).reshape(chunks)
    return expected


def _feed(sink, span, rng, restart_at=None):
    """The span's bytes in pieces of random sizes (one byte up to a few chunks), in order; a
    restart after ``restart_at`` bytes, as a retry does."""
    position = 0
    while position < len(span):
        size = int(rng.choice([1, 7, 64, 500, 4096, 100_000]))
        piece = memoryview(span[position : position + size])
        sink.write(position, piece)
        position += len(piece)
        if restart_at is not None and position >= restart_at:
            sink.restart()
            position, restart_at = 0, None


CASES = [
    # out shape, chunk shape, dtype: 1-D; chunks as wide as the box (contiguous in the result);
    # chunks narrower than the box (scattered in the result)
    ((4000,), (8,), "<i8"),
    ((60, 12), (3, 12), "<f4"),
    ((60, 12), (3, 4), "<i2"),
    ((10, 6, 8), (2, 3, 4), ">i4"),
]


@pytest.mark.parametrize("out_shape, chunks, dtype", CASES, ids=str)
@pytest.mark.parametrize("overlapping", [False, True], ids=["apart", "sharing bytes"])
def test_a_sink_places_what_chunk_by_chunk_placement_places(out_shape, chunks, dtype, overlapping):
    rng = np.random.default_rng(len(out_shape) * 10 + overlapping)
    grid = tuple(n // c for n, c in zip(out_shape, chunks))
    nbytes = int(np.prod(chunks)) * np.dtype(dtype).itemsize
    for trial in range(6):
        count = int(np.prod(grid))
        order = rng.permutation(count) if trial % 2 else np.arange(count)  # span order vs grid order
        positions = [np.unravel_index(int(i), grid) for i in order]
        at = _layout(rng, count, nbytes, overlapping)
        span = rng.integers(0, 256, size=int(at[-1]) + nbytes + int(rng.integers(0, 30)), dtype=np.uint8).tobytes()
        out = np.zeros(out_shape, dtype)
        blocks = byte_blocks(chunked_view(out, grid, chunks), chunks, np.dtype(dtype).itemsize)
        where = tuple(np.array([p[d] for p in positions], dtype=np.int64) for d in range(len(grid)))
        sink = PlacingSink(blocks, where, at, nbytes)
        _feed(sink, span, rng, restart_at=len(span) // 2 if trial == 3 else None)
        sink.check_complete()
        np.testing.assert_array_equal(out, _expected(out_shape, chunks, positions, span, at, dtype))


def test_a_sink_keeps_the_pieces_for_the_store_when_asked():
    rng = np.random.default_rng(5)
    out = np.zeros(800, "<i8")
    blocks = byte_blocks(chunked_view(out, (100,), (8,)), (8,), 8)
    at = _layout(rng, 100, 64)
    span = rng.integers(0, 256, size=int(at[-1]) + 64, dtype=np.uint8).tobytes()
    sink = PlacingSink(blocks, (np.arange(100),), at, 64, keep=True)
    _feed(sink, span, rng, restart_at=1000)
    assert sink.span_bytes() == span
    with pytest.raises(ValueError, match="keeps no bytes"):
        PlacingSink(blocks, (np.arange(100),), at, 64).span_bytes()


def test_a_sink_short_of_its_last_chunk_says_so():
    out = np.zeros(80, "<i8")
    blocks = byte_blocks(chunked_view(out, (10,), (8,)), (8,), 8)
    for layout in (np.arange(10) * 64, np.arange(10) * 100):  # copied in runs; placed chunk by chunk
        sink = PlacingSink(blocks, (np.arange(10),), layout, 64)
        sink.write(0, memoryview(bytes(int(layout[-1]) + 63)))
        with pytest.raises(ValueError, match="before all of its 10 chunks were placed"):
            sink.check_complete()
    with pytest.raises(ValueError, match="arrive in order"):
        sink.write(5, memoryview(b"x"))
    with pytest.raises(ValueError, match="order of their offsets"):
        PlacingSink(blocks, (np.arange(2),), np.array([64, 0]), 64)


def test_a_merged_request_serves_sinks_and_buffers_alike():
    """Ranges read into sinks and ranges read as bytes, in one turn: merged into one request,
    each sink getting its own range's bytes at positions relative to it."""
    data = bytes(range(256)) * 40
    fetches = []

    class Collect:
        def __init__(self):
            self.got = bytearray()
            self.restarts = 0

        def restart(self):
            self.got, self.restarts = bytearray(), self.restarts + 1

        def write(self, position, piece):
            assert position == len(self.got)
            self.got += piece

    async def fetch(url, offset, length, sink):
        fetches.append((offset, length))
        sink.restart()
        sink.write(0, memoryview(data[offset : offset + 1500]))  # an attempt cut short: retried
        sink.restart()
        for start in range(0, length, 333):
            sink.write(start, memoryview(data[offset + start : offset + min(length, start + 333)]))
        return b""

    async def main():
        batcher = coalesce.RangeBatcher(fetch, max_gap=100, max_size=10_000)
        first, second = Collect(), Collect()
        results = await asyncio.gather(batcher.read("u", 10, 1000, first), batcher.read("u", 1050, 20),
                                       batcher.read("u", 1080, 2000, second))
        return results, first, second

    (a, b, c), first, second = asyncio.run(main())
    assert fetches == [(10, 3070)]
    assert a == b"" and c == b"" and b == data[1050:1070]
    assert bytes(first.got) == data[10:1010] and bytes(second.got) == data[1080:3080]
    assert first.restarts >= 2 and second.restarts >= 2  # each attempt starts its sinks over


def test_reads_into_a_sink_from_a_local_file_and_through_the_cache(tmp_path, serve):
    data = np.random.default_rng(1).integers(0, 256, size=300_000, dtype=np.uint8).tobytes()
    (tmp_path / "f.bin").write_bytes(data)
    server = serve(tmp_path)

    class Whole:
        def restart(self):
            self.parts = []

        def write(self, position, piece):
            assert position == sum(len(p) for p in self.parts)
            self.parts.append(bytes(piece))

    async def read(sources, location):
        sink = Whole()
        await sources.read_into(location, 1234, 200_000, sink)
        return b"".join(sink.parts)

    cache = lindi_core.LocalCache(tmp_path / "cache")
    for sources, location in [
        (ByteSources(), Location("local", str(tmp_path / "f.bin"))),
        (ByteSources(), Location("http", server.url_for("f.bin"))),
        (ByteSources(cache=cache), Location("http", server.url_for("f.bin"))),
    ]:
        assert asyncio.run(read(sources, location)) == data[1234:201_234]
    with pytest.raises(lindi_core.errors.ByteSourceError):
        asyncio.run(read(ByteSources(), Location("local", str(tmp_path / "missing.bin"))))


def test_axis_cuts_agree_with_the_chunks_each_element_falls_in():
    """Each touched chunk, its part of the box and whether it is taken whole, against the
    elements of the slice listed one by one."""
    for extent in (1, 5, 17, 40):
        for size in (1, 3, 8):
            for start in range(-2, extent + 2):
                for stop in list(range(-2, extent + 3)) + [None]:
                    for step in (1, 2, 3, 9):
                        axis = slice(start, stop, step)
                        elements = list(range(extent))[axis]
                        cut = bulk_reads.cut_axis(axis, extent, size)
                        touched = sorted({e // size for e in elements})
                        assert cut.touched == len(touched) and cut.count == len(elements)
                        t = np.arange(cut.touched)
                        assert cut.coords_at(t).tolist() == touched
                        for i, coord in enumerate(touched):
                            mine = [k for k, e in enumerate(elements) if e // size == coord]
                            assert cut.into(i) == slice(mine[0], mine[-1] + 1)
                            inside = [elements[k] - coord * size for k in mine]
                            assert list(range(size))[cut.within(i)] == inside
                            whole = step == 1 and inside == list(range(size)) and (coord + 1) * size <= extent
                            assert bool(cut.full_at(np.array([i]))[0]) == whole


def test_a_span_inside_a_remembered_one_is_read_from_memory(tmp_path, serve):
    values = np.arange(80_000, dtype="<i8")
    with h5py.File(tmp_path / "f.h5", "w") as h:
        h.create_dataset("x", data=values, chunks=(8,))
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("f.h5"), progress=False)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        np.testing.assert_array_equal(f["x"][:], values)
        server.stats.reset()
        for part in (np.s_[8:79_992], np.s_[64:72_000], np.s_[40_000:]):
            np.testing.assert_array_equal(f["x"][part], values[part])
        assert server.stats.requests == 0


def test_populating_a_result_keeps_its_contents():
    values = np.arange(3_000_000, dtype="<i8")
    copy = values.copy()
    done = result_memory.populate(copy)
    assert done in (True, False)  # False where the system lacks the call
    np.testing.assert_array_equal(copy, values)
    assert result_memory.populate(np.arange(10)) is False  # smaller than a page


@pytest.mark.parametrize("faults", [
    dict(truncate_rate=0.4, seed=1), dict(reset_rate=0.4, seed=2), dict(error_rate=0.3, seed=3),
    dict(ignore_range=True), dict(shifted_range_times=3), dict(superset_range_times=3),
    dict(wrong_total_times=3), dict(endless_times=2), dict(page_200_times=2),
], ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items() if k != "seed"))
def test_spans_streamed_into_the_result_survive_a_faulty_server(tmp_path, serve, monkeypatch, faults):
    """Whole reads placed while their spans stream in (in stages, several spans each, 1-D and
    2-D, chunks in runs of the result and apart in it), from a server that cuts bodies short,
    drops connections, fails, ignores or shifts ranges, sends junk: the values h5py reads, or
    an error; never other bytes."""
    from lindi_core.testing.range_server import ServerFaults
    from lindi_core.translate.chunks import ChunkOptions

    monkeypatch.setattr(bulk_reads, "STAGE_BYTES", 64 * 400)  # stages of at most 400 chunks
    rng = np.random.default_rng(9)
    line = rng.integers(-2**40, 2**40, 8 * 3000)
    grid = rng.integers(-2**20, 2**20, (120, 96)).astype("<i4")
    with h5py.File(tmp_path / "f.h5", "w") as h:
        h.create_dataset("line", data=line, chunks=(8,))
        h.create_dataset("grid", data=grid, chunks=(4, 4))  # 64-byte chunks, apart in the result
    clean = serve(tmp_path)
    rfs = lindi_core.translate(clean.url_for("f.h5"), progress=False, options=ChunkOptions(inline_threshold=0))
    flaky = serve(tmp_path, faults=ServerFaults(**faults), latency=0.001)
    rfs.urls[:] = [flaky.url_for("f.h5")]
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        f._store.sources.http.max_merged = 64 * 150  # several spans per stage
        for name, truth, parts in [("line", line, [np.s_[:], np.s_[8:23_992]]),
                                   ("grid", grid, [np.s_[:], np.s_[4:116, 8:96]])]:
            for part in parts:
                try:
                    got = f[name][part]
                except (lindi_core.errors.ByteSourceError, lindi_core.errors.ChunkDecodeError):
                    continue  # refused: allowed; what is returned must be right
                np.testing.assert_array_equal(got, truth[part], err_msg=f"{name}{part}")


def test_a_merged_request_nobody_waits_for_any_more_stops():
    """Readers that give up (a read failing elsewhere cancels the rest) stop their merged
    request and its retries; a request one of whose readers still waits goes on."""
    started, stopped = [], []

    async def fetch(url, offset, length, sink):
        started.append(offset)
        try:
            await asyncio.sleep(30)  # a request retrying towards its deadline
        except asyncio.CancelledError:
            stopped.append(offset)
            raise
        return b""

    async def main():
        batcher = coalesce.RangeBatcher(fetch, max_gap=0, max_size=100)
        gone = [asyncio.ensure_future(batcher.read("u", 0, 10)), asyncio.ensure_future(batcher.read("u", 10, 10))]
        kept = [asyncio.ensure_future(batcher.read("u", 1000, 10)), asyncio.ensure_future(batcher.read("u", 1010, 10))]
        await asyncio.sleep(0.01)
        for task in gone + kept[:1]:
            task.cancel()
        await asyncio.sleep(0.01)
        assert started == [0, 1000] and stopped == [0]  # the second request still has a reader
        kept[1].cancel()
        await asyncio.sleep(0.01)
        assert stopped == [0, 1000]
        await asyncio.gather(*gone, *kept, return_exceptions=True)

    asyncio.run(main())


def test_a_sink_refuses_grid_positions_outside_its_blocks():
    """Runs are copied by address: a position outside the result is refused before any byte
    is written, never written past the result's end."""
    out = np.zeros(80, "<i8")
    blocks = byte_blocks(chunked_view(out, (10,), (8,)), (8,), 8)
    for positions in (np.array([8, 9, 10]), np.array([-1, 0, 1]), np.array([0, 1])):
        with pytest.raises(ValueError, match="outside the blocks|2 grid positions for 3 chunks"):
            PlacingSink(blocks, (positions,), np.arange(3) * 64, 64)
    assert not out.any()
