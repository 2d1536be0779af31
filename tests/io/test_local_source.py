"""Local byte ranges: a reference cannot make the reader allocate more than the file holds."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from lindi_core.errors import ByteSourceError
from lindi_core.io.sources import LocalFileSource, read_local


def test_a_range_past_the_end_of_a_small_file_is_refused_before_anything_is_allocated(tmp_path):
    path = tmp_path / "small.bin"
    path.write_bytes(bytes(range(100)))
    tracemalloc.start()
    try:
        with pytest.raises(ByteSourceError, match="ends at byte 100"):
            read_local(str(path), 10, 2**40)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_ranges_inside_the_file_read_exactly_their_bytes(tmp_path):
    path = tmp_path / "small.bin"
    path.write_bytes(bytes(range(100)))
    assert read_local(str(path), 10, 5) == bytes(range(10, 15))
    assert read_local(str(path), 95, -1) == bytes(range(95, 100))
    assert asyncio.run(LocalFileSource().read(str(path), 0, 100)) == bytes(range(100))
    with pytest.raises(ByteSourceError):
        read_local(str(path), 99, 2)
