"""The scale benchmark's "bytes per chunk before compression" (issue 17's 16 B/chunk target) is
computed from the spec's table header, not by lindi-core: check it against the table's own bytes,
decompressed with zlib."""

from __future__ import annotations

import base64
import json
import struct
import sys
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.format import jsonio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import scale_bench  # noqa: E402


def _write(path: Path, n_chunks: int) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(n_chunks * 8, dtype=np.int64), chunks=(8,))


def _inflated_bytes(table: bytes) -> tuple[int, int]:
    """(prelude + header + trailer bytes, the blocks' bytes inflated by zlib) of a version 2
    table: block sizes from the index, each block decompressed."""
    assert table[:8] == b"LINDICT\n" and struct.unpack_from("<H", table, 8)[0] == 2
    header_start, header_size = struct.unpack_from("<QQ", table, len(table) - 24)
    ndim = table[header_start + 1]
    pos = header_start + 8 + 16 * ndim
    (n_urls,) = struct.unpack_from("<I", table, pos)
    pos += 4
    for _ in range(n_urls):
        pos += 4 + struct.unpack_from("<I", table, pos)[0]
    (n_blocks,) = struct.unpack_from("<Q", table, pos)
    pos += 8
    start, inflated = 16, 0
    for _ in range(n_blocks):
        (stored,) = struct.unpack_from("<I", table, pos + 8)
        inflated += len(zlib.decompress(table[start:start + stored]))
        start, pos = start + stored, pos + 20
    assert start == header_start
    return 16 + header_size + 24, inflated


def test_binary_table_counted_at_its_decompressed_size(tmp_path):
    n = 3000
    _write(tmp_path / "a.h5", n)
    out = tmp_path / "a.lindi.json"
    lindi_core.translate_to_file(tmp_path / "a.h5", out, chunk_table="binary", progress=False)
    text = json.loads(out.read_bytes())["refs"]["data/.zchunktable"]["data"]
    other, inflated = _inflated_bytes(base64.b64decode(text.removeprefix("base64:")))
    measured = scale_bench.reference_bytes(out, n)
    size = out.stat().st_size
    assert measured["stored_bytes"] == size
    assert measured["uncompressed_bytes"] == size - len(text) + other + inflated
    assert inflated >= n and measured["binary_tables"] == 1


def test_a_table_file_beside_the_reference_file_is_counted(tmp_path):
    n = 3000
    _write(tmp_path / "c.h5", n)
    out = tmp_path / "c.lindi.json"
    rfs = lindi_core.translate(str(tmp_path / "c.h5"), progress=False, chunk_table="binary")
    jsonio.write_atomic(rfs, str(out), table_file_threshold=0)
    descriptor = json.loads(out.read_bytes())["refs"]["data/.zchunktable"]
    table = (tmp_path / descriptor["ref"]).read_bytes()
    other, inflated = _inflated_bytes(table)
    measured = scale_bench.reference_bytes(out, n)
    assert measured["stored_bytes"] == out.stat().st_size + len(table)
    assert measured["uncompressed_bytes"] == out.stat().st_size + other + inflated


def test_json_refs_counted_as_stored(tmp_path):
    _write(tmp_path / "b.h5", 50)
    out = tmp_path / "b.lindi.json"
    lindi_core.translate_to_file(tmp_path / "b.h5", out, chunk_table="json", progress=False)
    measured = scale_bench.reference_bytes(out, 50)
    assert measured["uncompressed_bytes"] == measured["stored_bytes"] == out.stat().st_size
    assert measured["binary_tables"] == 0
    assert measured["uncompressed_bytes_per_chunk"] == pytest.approx(out.stat().st_size / 50)
