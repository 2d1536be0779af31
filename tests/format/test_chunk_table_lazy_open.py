"""Opening a reference file with a version 2 binary table decodes none of it (spec §13)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lindi_core.format import blocked_chunk_table, jsonio
from lindi_core.format.lazy_chunk_table import LazyChunkTable
from lindi_core.format.refs import ChunkRef, ChunkTable, ReferenceFileSystem

CHUNKS = 1_000_000


def million_chunk_document() -> tuple[bytes, ReferenceFileSystem]:
    rfs = ReferenceFileSystem()
    rfs.set_metadata(".zgroup", {"zarr_format": 2})
    rfs.set_metadata("x/.zarray", {"zarr_format": 2, "shape": [8 * CHUNKS], "chunks": [8], "dtype": "<i8",
                                   "compressor": None, "filters": None, "fill_value": 0, "order": "C"})
    table = rfs.tables["x"]
    table.assign(np.arange(CHUNKS), np.full(CHUNKS, rfs.url_id("https://example.org/big.h5"), np.int32),
                 2048 + 64 * np.arange(CHUNKS, dtype=np.int64), np.full(CHUNKS, 64, np.int64))
    rfs.binary_tables = {"x"}
    return jsonio.dumps(rfs), rfs


def test_a_million_chunk_table_opens_without_decoding_a_block(monkeypatch):
    text, truth = million_chunk_document()
    assert len(text) < 64 * 1024  # a table of evenly laid out chunks is a few bytes per thousand
    decoded = []
    real = blocked_chunk_table.decode_block
    monkeypatch.setattr(blocked_chunk_table, "decode_block",
                        lambda layout, i, data, name="": decoded.append(i) or real(layout, i, data, name))
    started = time.perf_counter()
    rfs = jsonio.loads(text)
    assert time.perf_counter() - started < 5  # a safety net only: the assertion is on decoding
    table = rfs.tables["x"]
    assert isinstance(table, LazyChunkTable) and decoded == [] and not table.materialized
    assert rfs.get("x/987654") == ChunkRef("https://example.org/big.h5", 2048 + 64 * 987654, 64)
    assert decoded == [987654 // blocked_chunk_table.ROWS_PER_BLOCK]
    assert rfs.get("x/987653") is not None and len(decoded) == 1  # the same block: decoded once
    assert rfs.same_references(truth)  # everything, once asked for: every block


def test_a_run_of_cells_is_looked_up_as_the_same_cells_listed():
    """``lookup_many`` of a ``range`` (a read's run of the grid, looked up slice by slice) gives
    what the same cells as an array give, for lazy, dense and sparse tables, holes included."""
    rng = np.random.default_rng(4)
    cells = 3 * blocked_chunk_table.ROWS_PER_BLOCK + 17
    rfs = ReferenceFileSystem()
    rfs.set_metadata(".zgroup", {"zarr_format": 2})
    for name in ("lazy", "dense"):
        rfs.set_metadata(f"{name}/.zarray", {"zarr_format": 2, "shape": [cells], "chunks": [1], "dtype": "<i1",
                                             "compressor": None, "filters": None, "fill_value": 0, "order": "C"})
        written = np.flatnonzero(rng.random(cells) < 0.9)
        rfs.tables[name].assign(written, np.full(len(written), rfs.url_id("f.h5"), np.int32),
                                rng.integers(0, 2**40, len(written)), rng.integers(1, 2**20, len(written)))
    rfs.binary_tables = {"lazy"}
    loaded = jsonio.loads(jsonio.dumps(rfs))
    sparse = ChunkTable((cells,))
    sparse.set(5, 0, 100, 8)
    sparse.set(70_000, 0, 200, 9, 4)
    tables = [loaded.tables["lazy"], loaded.tables["dense"], sparse]
    assert isinstance(tables[0], LazyChunkTable) and sparse.cells is not None and tables[1].cells is None
    for table in tables:
        for start, stop in [(0, cells), (5, 6), (65_530, 65_540), (70_000, 3 * 65_536 + 17), (9, 9)]:
            by_run, by_list = table.lookup_many(range(start, stop)), table.lookup_many(np.arange(start, stop))
            for field in ("url_index", "offset", "length", "filter_mask", "present"):
                np.testing.assert_array_equal(getattr(by_run, field), getattr(by_list, field), err_msg=field)


@pytest.mark.parametrize("grid", [(), (1000,), (7, 9)], ids=str)
def test_many_chunk_names_read_as_each_one_alone(grid):
    """``linear_indices`` (a zarr read's keys, all at once) gives what ``linear_index`` gives for
    each name, non-canonical names included: leading zeros, signs, spaces, other digits, too
    many digits, names outside the grid or of another rank."""
    table = ChunkTable(grid)
    names = ["0", "1", "7", "999", "1000", "00", "01", "+1", "-1", " 1", "1 ", "1e3", "\u0661", "\uff11", "\u00b2",
             "", "3.0", "3.4", "6.8", "7.0", "0.9", "03.4", "3.04", "1" * 19, "1" * 20, "9" * 19, "x", "3/0", "0.0.0"]
    assert "\u0661".isdigit() and "\u00b2".isdigit()  # digits to str.isdigit, not to the grammar
    expected = [-1 if (found := table.linear_index(name)) is None else found for name in names]
    assert table.linear_indices(names).tolist() == expected
