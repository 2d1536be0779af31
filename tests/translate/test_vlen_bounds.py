"""A corrupt variable-length dataset cannot make libhdf5 allocate what its records declare.

Each element of a variable-length string or sequence dataset is stored as a record: a 4-byte
length, then the global heap object (collection address, index). The tests write real files
with h5py, then rewrite one record's length in the raw bytes (a contiguous dataset's bytes in
the file, a chunk through ``write_direct_chunk``), and translate them in a fresh process whose
peak memory is measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import TranslationError

RECORD = np.dtype([("length", "<u4"), ("collection", "<u8"), ("index", "<u4")])
STRINGS = np.array([f"value number {i}" for i in range(10)], dtype=object)
MEMORY_BOUND = 200 * 1024 * 1024


def _flip_contiguous(path, name: str, element: int, length: int) -> None:
    with h5py.File(path, "r") as f:
        offset = f[name].id.get_offset()
    with open(path, "r+b") as raw:
        raw.seek(offset + element * RECORD.itemsize)
        raw.write(length.to_bytes(4, "little"))


def _flip_chunk(path, name: str, element: int, length: int) -> None:
    with h5py.File(path, "r+") as f:
        dsid = f[name].id
        mask, stored = dsid.read_direct_chunk((0,))
        gzip = f[name].compression == "gzip"
        records = bytearray(zlib.decompress(stored) if gzip else stored)
        records[element * RECORD.itemsize : element * RECORD.itemsize + 4] = length.to_bytes(4, "little")
        dsid.write_direct_chunk((0,), zlib.compress(bytes(records)) if gzip else bytes(records), mask)


_TRANSLATE = textwrap.dedent("""
    import json, resource, sys
    import lindi_core
    # a safety net only: the measure is the peak resident size
    resource.setrlimit(resource.RLIMIT_AS, (6 * 1024 ** 3, resource.RLIM_INFINITY))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        lindi_core.translate(sys.argv[1])
        outcome = "no error"
    except Exception as exc:
        outcome = [type(exc).__module__ + "." + type(exc).__name__, str(exc)]
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) * 1024
    print(json.dumps({"outcome": outcome, "grown": grown}))
""")


def _translate_in_subprocess(path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", _TRANSLATE, str(path)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.stdout.strip(), done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_refused(result: dict, name: str) -> None:
    assert result["outcome"] != "no error"
    kind, message = result["outcome"]
    assert kind == "lindi_core.errors.TranslationError", result
    assert f"object '/{name}'" in message and "declares" in message, message
    assert result["grown"] < MEMORY_BOUND, result


@pytest.mark.parametrize("layout", ["contiguous", "chunked", "chunked-gzip", "chunked-shuffle-gzip"])
def test_a_bit_flipped_vlen_string_length_is_refused_within_bounded_memory(tmp_path, layout):
    path = tmp_path / "flipped.h5"
    with h5py.File(path, "w") as f:
        options = {} if layout == "contiguous" else {"chunks": (len(STRINGS),)}
        if "gzip" in layout:
            options["compression"] = "gzip"
        if "shuffle" in layout:
            options["shuffle"] = True
        f.create_dataset("s", data=STRINGS, dtype=h5py.string_dtype(), **options)
    if layout == "contiguous":
        _flip_contiguous(path, "s", 3, 0x7FFFFFFF)
    elif layout == "chunked-shuffle-gzip":
        with h5py.File(path, "r+") as f:  # shuffle: the length's bytes are planes of the chunk
            dsid = f["s"].id
            mask, stored = dsid.read_direct_chunk((0,))
            planes = np.frombuffer(zlib.decompress(stored), np.uint8).reshape(RECORD.itemsize, -1).copy()
            planes[0:4, 3] = 0xFF
            planes[3, 3] = 0x7F
            dsid.write_direct_chunk((0,), zlib.compress(planes.tobytes()), mask)
    else:
        _flip_chunk(path, "s", 3, 0x7FFFFFFF)
    _assert_refused(_translate_in_subprocess(path), "s")


def test_a_bit_flipped_ragged_array_length_is_refused(tmp_path):
    path = tmp_path / "ragged.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("r", shape=(4,), dtype=h5py.vlen_dtype(np.int32))
        for i in range(4):
            d[i] = np.arange(i + 1, dtype=np.int32)
    _flip_contiguous(path, "r", 2, 0x20000000)  # x 4 bytes: 2 GiB
    _assert_refused(_translate_in_subprocess(path), "r")


def test_lengths_that_together_exceed_the_file_are_refused(tmp_path):
    """Each length alone fits in the file, their heap objects together cannot: libhdf5 would
    read past each object (bytes of something else) as the element's value."""
    path = tmp_path / "sum.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("s", data=STRINGS, dtype=h5py.string_dtype())
    size = os.path.getsize(path)
    for element in range(len(STRINGS)):
        _flip_contiguous(path, "s", element, size // 2)
    with pytest.raises(TranslationError, match="object '/s'.*distinct heap objects"):
        lindi_core.translate(str(path))


def test_honest_vlen_datasets_translate_to_their_values(tmp_path):
    path = tmp_path / "honest.h5"
    ragged = [np.arange(i, dtype=np.int16) for i in range(7)]
    with h5py.File(path, "w") as f:
        f.create_dataset("contiguous", data=STRINGS, dtype=h5py.string_dtype())
        f.create_dataset("gzip", data=STRINGS, dtype=h5py.string_dtype(), chunks=(3,), compression="gzip",
                         shuffle=True)
        d = f.create_dataset("ragged", shape=(7,), dtype=h5py.vlen_dtype(np.int16), chunks=(2,), compression="gzip")
        for i, row in enumerate(ragged):
            d[i] = row
        f.create_dataset("empty", shape=(0,), dtype=h5py.string_dtype())
        f.create_dataset("unwritten", shape=(3,), dtype=h5py.string_dtype())
    rfs = lindi_core.translate(str(path))
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as lf, h5py.File(path, "r") as hf:
        for name in ("contiguous", "gzip", "empty", "unwritten"):
            assert list(lf[name][()]) == list(hf[name][()]), name
        for got, want in zip(lf["ragged"][()], hf["ragged"][()]):
            np.testing.assert_array_equal(got, want)


def test_the_check_reads_each_record_once(tmp_path, monkeypatch):
    """The raw records of a contiguous dataset are read in one piece, not element by element."""
    path = tmp_path / "reads.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("s", data=np.array([f"v{i}" for i in range(1000)], dtype=object), dtype=h5py.string_dtype())
    from lindi_core.translate import source

    calls = []
    original = source.OpenedSource.read_raw

    def counting(self, offset, length):
        calls.append(length)
        return original(self, offset, length)

    monkeypatch.setattr(source.OpenedSource, "read_raw", counting)
    lindi_core.translate(str(path))
    assert calls == [1000 * RECORD.itemsize]
