"""Hostile HDF5 files given to translate end in a reference file or a lindi-core error.

A seeded run of the mutator of :mod:`tests.hostile_hdf5` (bits flipped, fields overwritten with
huge values, files cut short, mostly in the metadata), locally and for a subset over HTTP from a
loopback server, in child processes whose peak memory is measured; plus targeted cases that
pinned escapes the fuzzing found. ``benchmarks/reliability.py`` runs the same mutator at scale.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import TranslationError
from tests.hostile_hdf5 import exercise_metadata_parser, make_seeds, run_hostile_hdf5

CASES = 500
HTTP_EVERY = 6  # one case in six is translated over HTTP
MAX_PEAK_MB = 400  # the child: Python, numpy, h5py, zarr and aiohttp take about 90 MB


def test_seeded_hostile_hdf5_files_raise_only_lindi_errors_in_bounded_memory():
    counts = run_hostile_hdf5(CASES, first_seed=0, http_every=HTTP_EVERY, case_timeout=30.0)
    assert counts["cases"] == CASES
    assert counts["escapes"] == {}, "\n\n".join(e["detail"] for e in counts["escapes"].values())
    assert counts["hangs"] == []
    assert counts["crashes"] == [], f"libhdf5 crashed on cases {counts['crashes']}"
    assert counts["http_cases"] >= CASES // HTTP_EVERY
    assert counts["ok"] > 0 and counts["errors"] > 0  # the mutations neither all break nor all spare the file
    assert counts["peak_mb"] < MAX_PEAK_MB


def test_a_root_header_failing_its_checksum_is_a_translation_error_naming_the_file(make_h5):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(5)), name="bad_root.h5", libver="latest")
    with h5py.File(path) as f:
        root = h5py.h5o.get_info(f.id).addr
    with open(path, "r+b") as f:  # one byte inside the root's version 2 header: its checksum fails
        f.seek(root + 8)
        byte = f.read(1)
        f.seek(root + 8)
        f.write(bytes([byte[0] ^ 0x40]))
    with pytest.raises(TranslationError, match="bad_root.h5") as raised:
        lindi_core.translate(path, progress=False)
    assert isinstance(raised.value.__cause__, (RuntimeError, OSError, KeyError))


def test_the_metadata_parser_survives_every_seed_cut_anywhere(tmp_path):
    # The read-ahead's parser sees whatever bytes a server sends: every prefix of every seed.
    for seed in make_seeds(str(tmp_path)):
        for end in range(0, len(seed), 97):
            exercise_metadata_parser(seed[:end])


def test_a_heap_collection_whose_object_sizes_overrun_it_is_refused_not_looped_on(tmp_path):
    # One object's size in the global heap collection holding a vlen string attribute made
    # larger than the collection: libhdf5 looped without end loading it (a fuzzing case).
    import subprocess
    import sys

    path = tmp_path / "heap.h5"
    with h5py.File(path, "w") as f:
        f.attrs["names"] = np.array(["n0", "n1", "n2", "n3"], dtype=h5py.string_dtype())
    raw = bytearray(path.read_bytes())
    collection = raw.index(b"GCOL")
    second_object = collection + 16 + 24  # objects: 16-byte header, "n0" padded to 8 bytes
    assert int.from_bytes(raw[second_object : second_object + 2], "little") == 2
    raw[second_object + 9] = 4  # its size: 2 -> 1026 bytes
    path.write_bytes(raw)
    program = ("import sys, lindi_core\n"
               "try:\n    lindi_core.translate(sys.argv[1], progress=False)\n"
               "except lindi_core.errors.TranslationError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True, text=True, timeout=60)
    assert "heap collection" in done.stdout and "'names'" in done.stdout and "heap.h5" in done.stdout, done


def test_a_huge_sparse_chunk_grid_translates_in_memory_of_its_chunks(make_h5, tmp_path):
    # 10**12 one-byte chunks declared, two written: the chunk table follows the chunks present
    # (a dense table of the grid asked numpy for terabytes; a corrupt dataspace did the same).
    def build(f):
        d = f.create_dataset("x", shape=(10**12,), chunks=(1,), dtype="<i1", fillvalue=7)
        d[5] = 1
        d[10**12 - 1] = 2

    path = make_h5(build, name="sparse.h5")
    rfs = lindi_core.translate(path, progress=False, options=lindi_core.ChunkOptions(inline_threshold=0))
    assert len(rfs.tables["x"].present()) == 2
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f, h5py.File(path) as truth:
        np.testing.assert_array_equal(f["x"][0:10], truth["x"][0:10])
        assert f["x"][10**12 - 1] == truth["x"][10**12 - 1] == 2


def test_an_unfiltered_chunk_recorded_larger_than_a_chunk_is_refused_before_libhdf5_reads_it(tmp_path):
    # A chunk B-tree key saying 255 bytes for a 16-byte unfiltered chunk: libhdf5 copied 255
    # bytes into its 16-byte buffer and the process died (a fuzzing case).
    import subprocess
    import sys

    path = tmp_path / "chunks.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=np.arange(4, dtype="<i8"), chunks=(2,))
        f.create_dataset("after", data=np.zeros(100))  # bytes after the chunk: 255 bytes stay inside the file
    raw = bytearray(path.read_bytes())
    node = raw.index(b"TREE\x01")  # the chunk index: a version 1 B-tree of raw data chunks
    second_key = node + 24 + 24 + 8  # header; key 0 (size, mask, two offsets); child 0's address
    assert int.from_bytes(raw[second_key : second_key + 4], "little") == 16
    raw[second_key] = 255
    path.write_bytes(raw)
    program = ("import sys, lindi_core\n"
               "try:\n    lindi_core.translate(sys.argv[1], progress=False)\n"
               "except lindi_core.errors.TranslationError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "255 bytes" in done.stdout and "'/d'" in done.stdout and "chunks.h5" in done.stdout, done


@pytest.mark.parametrize("make_link, named", [
    (lambda f: f.id.links.create_external(b"ext", b"other.h5", b"/\xafx"), "/ext"),
    (lambda f: f.id.links.create_soft(b"soft", b"/\xafx"), "/soft"),
], ids=["external-target", "soft-target"])  # (link names: tests/translate/test_non_utf8_names.py)
def test_a_link_name_or_value_that_is_not_utf8_is_a_translation_error(make_h5, tmp_path, make_link, named):
    # JSON holds Unicode text only: such a value was kept with surrogate escapes and failed
    # writing the reference file (TypeError from orjson), a name failed as AttributeError.
    path = make_h5(make_link, name="links.h5")
    out = tmp_path / "links.lindi.json"
    with pytest.raises(TranslationError, match="not UTF-8") as raised:
        lindi_core.translate_to_file(path, str(out), progress=False)
    assert raised.value.object_path == named and "links.h5" in str(raised.value)
    assert not out.exists()


def _szip_file(path) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("s", data=np.arange(400, dtype="<i4").reshape(20, 20), chunks=(10, 10),
                         compression="szip", compression_opts=("nn", 8))


def test_szip_chunks_still_read_as_h5py_reads_them(tmp_path):
    path = tmp_path / "szip.h5"
    try:
        _szip_file(path)
    except (ValueError, OSError):
        pytest.skip("this h5py cannot write szip")
    with lindi_core.LindiH5pyFile.from_hdf5_file(str(path)) as f, h5py.File(path) as truth:
        np.testing.assert_array_equal(f["s"][...], truth["s"][...])


@pytest.mark.parametrize("values", [[], [0, 0, 0, 0], [141, 0, 32, 10], [141, 8, 0, 80], [141, 8, 32]])
def test_szip_without_sane_parameters_is_a_chunk_decode_error_not_a_crash(tmp_path, values):
    # A fuzzed file turned fletcher32 (3) into szip (4) without parameters: libaec divided by
    # zero and the process died (SIGFPE) reading the translated file; a hostile reference file
    # can declare the same pipeline.
    import subprocess
    import sys

    path = tmp_path / "szip.h5"
    try:
        _szip_file(path)
    except (ValueError, OSError):
        pytest.skip("this h5py cannot write szip")
    rfs = lindi_core.translate(str(path), progress=False)
    document = json.loads(lindi_core.format.jsonio.dumps(rfs))
    zarray = document["refs"]["s/.zarray"]
    codec = (zarray["filters"] or [zarray["compressor"]])[0]
    assert codec["filters"][0][0] == 4
    codec["filters"][0][2] = values
    out = tmp_path / "szip.lindi.json"
    out.write_text(json.dumps(document))
    program = ("import sys, lindi_core\n"
               "f = lindi_core.LindiH5pyFile.from_lindi_file(sys.argv[1], allow_local=True)\n"
               "try:\n    f['s'][...]\n"
               "except lindi_core.errors.ChunkDecodeError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", program, str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "szip" in done.stdout and "s/0.0" in done.stdout, done.stdout


def test_a_vlen_attribute_of_neither_kind_is_refused_before_libhdf5_reads_it(tmp_path):
    # The variable-length kind in an attribute's datatype message turned from 1 (string) to 5:
    # libhdf5 read the value anyway and the process died (fuzzing cases 52978, 57600).
    import subprocess
    import sys

    path = tmp_path / "kind.h5"
    with h5py.File(path, "w") as f:
        f.attrs["vlen"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
    raw = bytearray(path.read_bytes())
    name = raw.index(b"vlen\0")
    datatype = name + 8  # the name, NUL-terminated and padded to 8 bytes (attribute message version 1)
    assert raw[datatype] & 0x0F == 9 and raw[datatype + 1] & 0x0F == 1  # variable-length, a string
    raw[datatype + 1] = (raw[datatype + 1] & 0xF0) | 5
    path.write_bytes(raw)
    program = ("import sys, lindi_core\n"
               "try:\n    lindi_core.translate(sys.argv[1], progress=False)\n"
               "except lindi_core.errors.TranslationError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "'vlen'" in done.stdout and "kind 5" in done.stdout and "kind.h5" in done.stdout, done.stdout


def test_a_vlen_dataset_of_neither_kind_is_refused_before_libhdf5_reads_it(tmp_path):
    # A variable-length datatype message whose kind bits say 8 (neither a sequence nor a string):
    # h5py still opens it as a sequence of integers, and reading it crashed the process (a
    # fuzzing case, seed 18743 of tests/hostile_hdf5.py).
    import subprocess
    import sys

    path = tmp_path / "kind.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("ragged", data=np.array([np.arange(2), np.arange(3)], dtype=object),
                         dtype=h5py.vlen_dtype("<i4"))
        message = f["ragged"].id.get_type().encode()[2:]  # the datatype message as stored
    raw = bytearray(path.read_bytes())
    at = raw.index(message)
    raw[at + 1] = 0x08
    path.write_bytes(bytes(raw))
    program = ("import sys, lindi_core\n"
               "try:\n    lindi_core.translate(sys.argv[1], progress=False)\n"
               "except lindi_core.errors.TranslationError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-1000:]}"
    assert "'/ragged'" in done.stdout and "kind 8" in done.stdout
