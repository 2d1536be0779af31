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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import scale_bench  # noqa: E402


def _write(path: Path, n_chunks: int) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(n_chunks * 8, dtype=np.int64), chunks=(8,))


def test_binary_table_counted_at_its_decompressed_size(tmp_path):
    n = 3000
    _write(tmp_path / "a.h5", n)
    out = tmp_path / "a.lindi.json"
    lindi_core.translate_to_file(tmp_path / "a.h5", out, chunk_table="binary", progress=False)
    text = json.loads(out.read_bytes())["refs"]["data/.zchunktable"]["data"]
    table = base64.b64decode(text.removeprefix("base64:"))
    flags, ndim = table[10], table[11]  # after the 8-byte magic and the u16 version
    assert flags & 2, "lindi-core's inline tables are compressed: the case this measure exists for"
    pos = 16 + 16 * ndim
    (n_urls,) = struct.unpack_from("<I", table, pos)
    pos += 4
    for _ in range(n_urls):
        pos += 4 + struct.unpack_from("<I", table, pos)[0]
    entries = zlib.decompress(table[pos + 8:])
    measured = scale_bench.reference_bytes(out, n)
    size = out.stat().st_size
    assert measured["stored_bytes"] == size
    assert measured["uncompressed_bytes"] == size - len(text) + pos + 8 + len(entries)
    assert len(entries) % n == 0 and measured["binary_tables"] == 1


def test_json_refs_counted_as_stored(tmp_path):
    _write(tmp_path / "b.h5", 50)
    out = tmp_path / "b.lindi.json"
    lindi_core.translate_to_file(tmp_path / "b.h5", out, chunk_table="json", progress=False)
    measured = scale_bench.reference_bytes(out, 50)
    assert measured["uncompressed_bytes"] == measured["stored_bytes"] == out.stat().st_size
    assert measured["binary_tables"] == 0
    assert measured["uncompressed_bytes_per_chunk"] == pytest.approx(out.stat().st_size / 50)
