"""Writing a binary chunk table (spec §13) straight from a ChunkTable's columns: the bytes are
those of the whole-column encoder, and the memory it takes stays a small fraction of the
table's own columns (a 10,000,000-chunk translation has no room for int64 copies of them)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from lindi_core.format import blocked_chunk_table, chunk_table_forms, jsonio
from lindi_core.format.keys import join_key
from lindi_core.format.refs import ChunkTable, ReferenceFileSystem


def zarray(grid: tuple[int, ...], chunks: tuple[int, ...]) -> dict:
    return {"zarr_format": 2, "shape": [g * c for g, c in zip(grid, chunks)], "chunks": list(chunks),
            "dtype": "<i8", "compressor": None, "fill_value": 0, "order": "C", "filters": None}


class Case:
    """An array's refs built from NumPy columns, and the dense int64 columns (URL indices local
    to the table, -1 for no ref) that the whole-column encoder takes for the same refs."""

    def __init__(self, grid: tuple[int, ...], chunks: tuple[int, ...], urls: list[str], *, dense: bool):
        self.grid, self.chunks = grid, chunks
        self.rfs = ReferenceFileSystem()
        self.rfs.set_metadata(".zgroup", {"zarr_format": 2})
        for url in urls:
            self.rfs.url_id(url)
        self.rfs.tables["a"] = ChunkTable(grid, dense=dense)
        self.rfs.set_metadata("a/.zarray", zarray(grid, chunks))
        self.table = self.rfs.tables["a"]
        cells = int(np.prod(grid))
        self.url = np.full(cells, -1, dtype=np.int64)  # global URL ids here; made local by expected()
        self.offset = np.zeros(cells, dtype=np.int64)
        self.length = np.zeros(cells, dtype=np.int64)
        self.mask = np.zeros(cells, dtype=np.uint32)

    def assign(self, linear, url, offset, length, mask=None) -> None:
        self.table.assign(linear, url, offset, length, mask)
        self.url[linear], self.offset[linear], self.length[linear] = url, offset, length
        self.mask[linear] = 0 if mask is None else mask

    def clear(self, linear: int) -> None:
        self.rfs.delete(join_key("a", self.table.chunk_name(linear)))
        self.url[linear] = -1

    def set_inline(self, linear: int) -> None:
        self.rfs.set_inline(join_key("a", self.table.chunk_name(linear)), b"12345678")
        self.url[linear] = -1

    def expected(self) -> bytes:
        used = np.unique(self.url[self.url >= 0])
        local = np.where(self.url >= 0, np.searchsorted(used, self.url), -1)
        present = local >= 0
        masks = np.where(present, self.mask, 0)
        return blocked_chunk_table.encode(self.grid, self.chunks, [self.rfs.urls[i] for i in used.tolist()], local,
                                          np.where(present, self.offset, 0), np.where(present, self.length, 0),
                                          masks if masks.any() else None)

    def written(self) -> bytes:
        assert chunk_table_forms.encodable(self.rfs, "a")
        return chunk_table_forms.encode_table_v2(self.rfs, "a")


ROWS = blocked_chunk_table.ROWS_PER_BLOCK


def translated_case(cells: int) -> Case:
    """What a translation makes: one URL, every chunk present, laid out back to back."""
    case = Case((cells,), (8,), ["https://example.org/data.h5"], dense=True)
    linear = np.arange(cells, dtype=np.int64)
    case.assign(linear, np.zeros(cells, np.int32), 4096 + 64 * linear, np.full(cells, 64))
    return case


def test_a_translated_table_is_written_as_the_whole_column_encoder_writes_it():
    case = translated_case(3 * ROWS + 123)
    assert case.written() == case.expected()


# dense: several blocks, cut across rows of the grid, the last one short; sparse: a grid small
# enough (one block) for a table of few refs
@pytest.mark.parametrize("dense,grid", [(True, (50, 3 * ROWS // 50 + 7)), (False, (7, 9000))])
def test_gaps_urls_masks_inline_cells_and_wide_values_are_written_as_the_whole_column_encoder_writes_them(dense, grid):
    rng = np.random.default_rng(7)
    cells = grid[0] * grid[1]
    # URL 0 and 3 are never used by the array: the table's own URL list skips them
    urls = [f"https://example.org/{i}.h5" for i in range(5)]
    case = Case(grid, (2, 4), urls, dense=dense)
    linear = np.flatnonzero(rng.random(cells) < (0.9 if dense else 0.1))
    url = rng.choice([1, 2, 4], size=len(linear)).astype(np.int32)
    offset = rng.integers(0, 2**40, size=len(linear))  # past 4 GiB: the offset column widens
    length = rng.integers(0, 2**33, size=len(linear))  # past 2 GiB: so does the length column
    mask = np.where(rng.random(len(linear)) < 0.01, rng.integers(1, 2**32, size=len(linear)), 0).astype(np.uint32)
    case.assign(linear, url, offset, length, mask)
    # a cleared cell keeps its old values in a dense table's columns: they must not be written
    for cell in linear[:: max(1, len(linear) // 40)].tolist():
        case.clear(cell)
    for cell in linear[5 :: max(1, len(linear) // 30)].tolist():
        case.set_inline(cell)  # a key holding inline bytes is written missing from the table
    assert case.table.is_dense == dense
    assert case.written() == case.expected()
    loaded = jsonio.loads(jsonio.dumps(case.rfs))  # and the refs come back as they were
    assert loaded.same_references(case.rfs)


def test_a_table_of_no_refs_is_written_as_the_whole_column_encoder_writes_it():
    case = Case((3, ROWS // 2), (1, 1), ["https://example.org/x.h5"], dense=True)
    assert not chunk_table_forms.encodable(case.rfs, "a")  # nothing present: too sparse for a table
    assert chunk_table_forms.encode_table_v2(case.rfs, "a") == case.expected()


def test_unknown_lengths_are_found_without_whole_table_temporaries():
    case = translated_case(3 * ROWS)
    cell = 2 * ROWS + 5
    case.table.set(cell, 0, 100, -1)  # fsspec's whole-file ref: the binary form cannot hold it
    assert not chunk_table_forms.encodable(case.rfs, "a")
    case.table.clear(cell)  # its stale length stays in the dense column, but no ref is there
    assert int(case.table.length[cell]) == -1
    assert chunk_table_forms.encodable(case.rfs, "a")


def test_encoding_a_500000_chunk_table_takes_a_fraction_of_its_columns_memory():
    case = translated_case(500_000)
    packed = case.table.url_index.nbytes + case.table.offset.nbytes + case.table.length.nbytes  # 9 B a chunk
    written = []
    tracemalloc.start()
    try:
        assert chunk_table_forms.encodable(case.rfs, "a")
        chunk_table_forms.write_table(case.rfs, "a", lambda data: written.append(len(data)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(written) > 0
    # One block at a time (65,536 rows of int64 temporaries), never a copy of the table: the
    # whole-table index arrays and int64 columns this replaced took several times ``packed``.
    assert peak < packed, (peak, packed)
