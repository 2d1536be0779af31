"""Hostile ``.lindi.tar`` containers end in data or a lindi-core error, locally and over HTTP.

A seeded run of the mutator of :mod:`tests.hostile_tar` in a child process (its peak memory
measured), and targeted cases for each layer a reader parses, each checked against the exact
error and, where the container stays readable, against the values written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lindi_core import LindiH5pyFile
from lindi_core.errors import LindiError, TarFormatError
from lindi_core.format.lindi_tar import BLOCK, ENTRY_SIZE
from tests.hostile_tar import _layout, _write_padded, exercise_tar, make_seed_tar, run_hostile_tar, seed_ints

CASES = 800
HTTP_EVERY = 5
MAX_PEAK_MB = 400


def test_seeded_hostile_containers_raise_only_lindi_errors_in_bounded_memory():
    counts = run_hostile_tar(CASES, first_seed=0, http_every=HTTP_EVERY)
    assert counts["cases"] == CASES and counts["http_cases"] >= CASES // HTTP_EVERY
    assert counts["escapes"] == {}, "\n\n".join(e["detail"] for e in counts["escapes"].values())
    assert counts["ok"] > 0 and counts["errors"] > 0
    assert counts["peak_mb"] < MAX_PEAK_MB


@pytest.fixture
def seed(tmp_path) -> bytes:
    return make_seed_tar(str(tmp_path / "seed.lindi.tar"))


def _index_record(data: bytearray, name: str) -> tuple[dict, dict]:
    _index, listing = _layout(bytes(data))
    return listing, next(r for r in listing["files"] if r["n"] == name)


def _rewrite_index(data: bytearray, listing: dict) -> None:
    index, _ = _layout(bytes(data))
    _write_padded(data, index, json.dumps(listing).encode())


def _hostile_member_sizes():
    return [("lindi.json", "s", 2**40, "past the end|overlapping"), ("lindi.json", "s", 2**64, "past the end|overlapping|non-negative"),
            ("lindi.json", "s", -1, "non-negative"), ("lindi.json", "o", 7, "block-aligned"),
            ("lindi.json", "s", "12", "non-negative"), ("lindi.json", "n", None, "member record"),
            (".tar_index.json", "s", 10**12, "index does not list itself")]


@pytest.mark.parametrize("name, field, value, message", _hostile_member_sizes())
@pytest.mark.parametrize("over_http", [False, True])
def test_hostile_member_records_in_the_index_are_tar_format_errors(tmp_path, serve, seed, name, field, value,
                                                                     message, over_http):
    data = bytearray(seed)
    listing, record = _index_record(data, name)
    record[field] = value
    if field == "o" and isinstance(value, int):
        record["d"] = value + BLOCK
    _rewrite_index(data, listing)
    path = tmp_path / "bad.lindi.tar"
    path.write_bytes(bytes(data))
    source = serve(tmp_path).url_for("bad.lindi.tar") if over_http else str(path)
    with pytest.raises(TarFormatError, match=message):
        exercise_tar(source)


@pytest.mark.parametrize("entry", [b'{"index": {"n": ".tar_index.json", "o": 1024, "d": 1536, "s": 1e400}}',
                                   b'{"index": [1, 2]}', b'[]', b'{"index": {"n": ".tar_index.json", "o": '
                                   b'18446744073709551616, "d": 18446744073709552128, "s": 8192}}', b"\xff\xfe{"])
def test_hostile_entry_records_are_tar_format_errors(tmp_path, seed, entry):
    data = bytearray(seed)
    data[BLOCK : BLOCK + ENTRY_SIZE] = entry.ljust(ENTRY_SIZE, b" ")
    path = tmp_path / "bad.lindi.tar"
    path.write_bytes(bytes(data))
    with pytest.raises(TarFormatError, match="entry record|past the end|index"):
        exercise_tar(str(path))


def test_a_chunk_member_listed_beyond_its_bytes_fails_only_that_chunk(tmp_path, seed):
    data = bytearray(seed)
    listing, record = _index_record(data, "blobs/g/ints/0.0")
    other = next(r for r in listing["files"] if r["n"].startswith("blobs/g/ints/") and r is not record)
    record["s"] = 3  # the member is shorter than the chunk its ref asks for
    _rewrite_index(data, listing)
    path = tmp_path / "short.lindi.tar"
    path.write_bytes(bytes(data))
    with LindiH5pyFile.from_lindi_file(str(path)) as f:
        expected = seed_ints()
        row, column = (int(x) * 100 for x in other["n"].rsplit("/", 1)[1].split("."))
        np.testing.assert_array_equal(f["g/ints"][row : row + 100, column : column + 100],
                                      expected[row : row + 100, column : column + 100])
        with pytest.raises(LindiError, match="0.0"):
            f["g/ints"][0:100, 0:100]


def test_a_container_cut_anywhere_is_a_lindi_error(tmp_path, seed):
    _index, listing = _layout(seed)
    last_byte = max(r["d"] + r["s"] for r in listing["files"])  # what follows is end-of-archive padding
    for end in range(0, last_byte, 1701):
        path = tmp_path / "cut.lindi.tar"
        path.write_bytes(seed[:end])
        with pytest.raises(LindiError):
            exercise_tar(str(path))
