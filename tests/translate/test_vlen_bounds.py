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
    """The raw records of a contiguous dataset are read in one piece, not element by element;
    besides them, each heap collection is read once (its header, then itself whole)."""
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
    collections = open(path, "rb").read().count(b"GCOL")
    assert calls[0] == 1000 * RECORD.itemsize
    assert len(calls) == 1 + 2 * collections and calls.count(16) == collections, calls


def test_each_heap_collection_is_checked_once_per_translation(tmp_path, monkeypatch):
    """Attributes of many objects share a few heap collections (an NWB file's strings): each
    collection is read once in the whole translation, not again for every attribute naming it,
    and the values still read as h5py reads them."""
    path = tmp_path / "shared.h5"
    with h5py.File(path, "w") as f:
        for i in range(40):
            group = f.create_group(f"g{i}")
            group.attrs["neurodata_type"] = f"Type{i}"
            group.attrs["namespace"] = "core"
            f.create_dataset(f"g{i}/d", data=np.arange(3)).attrs["unit"] = "volts"
    collections = open(path, "rb").read().count(b"GCOL")
    from lindi_core.translate import source

    calls = []
    original = source.OpenedSource.read_raw

    def counting(self, offset, length):
        calls.append((offset, length))
        return original(self, offset, length)

    monkeypatch.setattr(source.OpenedSource, "read_raw", counting)
    rfs = lindi_core.translate(str(path))
    raw = open(path, "rb").read()
    collection_reads = [offset for offset, length in calls if length == 16 and raw[offset : offset + 4] == b"GCOL"]
    assert sorted(collection_reads) == sorted(set(collection_reads)) and len(collection_reads) == collections, calls
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as lf, h5py.File(path, "r") as hf:
        for i in range(40):
            assert dict(lf[f"g{i}"].attrs) == dict(hf[f"g{i}"].attrs)
            assert lf[f"g{i}/d"].attrs["unit"] == hf[f"g{i}/d"].attrs["unit"]


def _find_records(path, lengths: list[int]) -> int:
    """The file offset of consecutive element records with these lengths (searched in the raw
    bytes, independently of how lindi-core reads object headers)."""
    raw = open(path, "rb").read()
    first = lengths[0].to_bytes(4, "little")
    at = raw.find(first)
    while at >= 0:
        records = np.frombuffer(raw, dtype=RECORD, count=len(lengths), offset=at) \
            if at + len(lengths) * RECORD.itemsize <= len(raw) else None
        if records is not None and list(records["length"]) == lengths and \
                all(0 < c < len(raw) for c in records["collection"]):
            return at
        at = raw.find(first, at + 1)
    raise AssertionError("records not found")


LONG_STRINGS = np.array(["x" * (37 + 11 * i) for i in range(6)], dtype=object)


def _flip_found(path, element: int, length: int) -> None:
    at = _find_records(path, [len(s) for s in LONG_STRINGS])
    with open(path, "r+b") as raw:
        raw.seek(at + element * RECORD.itemsize)
        raw.write(length.to_bytes(4, "little"))


# Version 1 object headers (h5py's default): version 2 headers carry a checksum, which libhdf5
# checks before reading anything of them.
@pytest.mark.parametrize("libver", ["earliest"])
def test_a_bit_flipped_vlen_attribute_is_refused_within_bounded_memory(tmp_path, libver):
    path = tmp_path / "attribute.h5"
    with h5py.File(path, "w", libver=libver) as f:
        g = f.create_group("g")
        g.attrs["before"] = "fine"
        g.attrs.create("names", LONG_STRINGS, dtype=h5py.string_dtype())
    _flip_found(path, 2, 0x7FFFFFFF)
    result = _translate_in_subprocess(path)
    kind, message = result["outcome"]
    assert kind == "lindi_core.errors.TranslationError", result
    assert "object '/g'" in message and "attribute 'names'" in message and "declares" in message, message
    assert result["grown"] < MEMORY_BOUND, result


@pytest.mark.parametrize("libver", ["earliest"])
def test_a_bit_flipped_compact_vlen_dataset_is_refused_within_bounded_memory(tmp_path, libver):
    path = tmp_path / "compact.h5"
    with h5py.File(path, "w", libver=libver) as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        dsid = h5py.h5d.create(f.id, b"c", h5py.h5t.py_create(h5py.string_dtype(), logical=True),
                               h5py.h5s.create_simple((len(LONG_STRINGS),)), dcpl=dcpl)
        h5py.Dataset(dsid)[...] = LONG_STRINGS
    with h5py.File(path, "r") as f:
        assert f["c"].id.get_create_plist().get_layout() == h5py.h5d.COMPACT
    _flip_found(path, 4, 0x7FFFFFFF)
    _assert_refused(_translate_in_subprocess(path), "c")


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_honest_vlen_attributes_and_compact_datasets_translate(tmp_path, libver):
    path = tmp_path / "honest-header.h5"
    with h5py.File(path, "w", libver=libver, track_order=True) as f:
        g = f.create_group("g")
        for i in range(20):  # many attributes: dense storage in version 2 headers
            g.attrs[f"a{i}"] = f"value {i}"
        g.attrs.create("names", LONG_STRINGS, dtype=h5py.string_dtype())
        g.attrs.create("ragged", [np.arange(3, dtype="i2"), np.arange(5, dtype="i2")], dtype=h5py.vlen_dtype("i2"))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        dsid = h5py.h5d.create(f.id, b"c", h5py.h5t.py_create(h5py.string_dtype(), logical=True),
                               h5py.h5s.create_simple((len(LONG_STRINGS),)), dcpl=dcpl)
        h5py.Dataset(dsid)[...] = LONG_STRINGS
    rfs = lindi_core.translate(str(path))
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as lf, h5py.File(path, "r") as hf:
        assert list(lf["c"][()]) == list(hf["c"][()])
        for name, value in hf["g"].attrs.items():
            if name == "ragged":
                for got, want in zip(lf["g"].attrs[name], value):
                    np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_array_equal(lf["g"].attrs[name], value, err_msg=name)


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_object_header_reading_finds_the_records_libhdf5_wrote(tmp_path, libver):
    """The header walk (version 1 and 2 headers) finds exactly the records of the attribute and
    of the compact dataset: the lengths of the values, pointing into the file."""
    from lindi_core.translate import object_header

    path = tmp_path / "header.h5"
    with h5py.File(path, "w", libver=libver) as f:
        g = f.create_group("g")
        g.attrs["plain"] = 3
        g.attrs.create("names", LONG_STRINGS, dtype=h5py.string_dtype())
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        dsid = h5py.h5d.create(f.id, b"c", h5py.h5t.py_create(h5py.string_dtype(), logical=True),
                               h5py.h5s.create_simple((len(LONG_STRINGS),)), dcpl=dcpl)
        h5py.Dataset(dsid)[...] = LONG_STRINGS
    raw = open(path, "rb").read()

    def read_raw(offset, length):
        return raw[offset : offset + length]

    lengths = [len(s) for s in LONG_STRINGS]
    with h5py.File(path, "r") as f:
        found = object_header.vlen_attributes(read_raw, h5py.h5o.get_info(f["g"].id).addr, 8, 8)
        compact = object_header.compact_data(read_raw, h5py.h5o.get_info(f["c"].id).addr, 8, 8)
    assert set(found) == {"names"}
    assert (found["names"].item_size, found["names"].count) == (1, len(LONG_STRINGS))
    records = np.frombuffer(found["names"].data[: len(lengths) * RECORD.itemsize], dtype=RECORD)
    assert list(records["length"]) == lengths and all(0 < c < len(raw) for c in records["collection"])
    assert compact is not None and len(compact) == len(lengths) * RECORD.itemsize
    assert list(np.frombuffer(compact, dtype=RECORD)["length"]) == lengths


def test_a_bit_flipped_file_at_a_url_is_refused_too(tmp_path, serve):
    """Over HTTP the records are read through the same remote file libhdf5 reads."""
    path = tmp_path / "remote.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("s", data=STRINGS, dtype=h5py.string_dtype())
        f.create_group("g").attrs.create("names", LONG_STRINGS, dtype=h5py.string_dtype())
    _flip_contiguous(path, "s", 3, 0x7FFFFFFF)
    server = serve()
    with pytest.raises(TranslationError, match="object '/s'.*declares"):
        lindi_core.translate(server.url_for("remote.h5"))
    honest = tmp_path / "honest-remote.h5"
    with h5py.File(honest, "w") as f:
        f.create_dataset("s", data=STRINGS, dtype=h5py.string_dtype())
        f.create_group("g").attrs.create("names", LONG_STRINGS, dtype=h5py.string_dtype())
    rfs = lindi_core.translate(server.url_for("honest-remote.h5"))
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as lf:
        assert [v.decode() for v in lf["s"][()]] == list(STRINGS)
        assert list(lf["g"].attrs["names"]) == list(LONG_STRINGS)


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_header_address_is_the_one_libhdf5_reports(tmp_path, libver):
    """header_address (from H5Gget_objinfo) equals H5Oget_info's address for every kind of object."""
    from lindi_core.translate.vlen_bounds import header_address

    path = tmp_path / "kinds.h5"
    with h5py.File(path, "w", libver=libver) as f:
        f.create_group("g/h")
        f.create_dataset("contiguous", data=np.arange(10))
        f.create_dataset("chunked", data=np.arange(1000), chunks=(10,))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((3,))
        h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32LE, space, dcpl=dcpl)
        f["type"] = np.dtype("<i4")
    with h5py.File(path, "r") as f:
        names = ["/", "g", "g/h", "contiguous", "chunked", "compact", "type"]
        for name in names:
            assert header_address(f[name].id) == h5py.h5o.get_info(f[name].id).addr, name


def test_checking_a_chunked_datasets_string_attributes_does_not_walk_its_chunk_index(tmp_path, monkeypatch):
    """A chunked dataset's string attributes (an NWB data dataset's "unit") are checked from its
    object header without H5Oget_info, which walks the whole chunk index to count its storage;
    the attribute still reads as h5py reads it."""
    path = tmp_path / "series.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(2000, dtype="<i4"), chunks=(10,)).attrs["unit"] = "volts"
    asked = []
    original = h5py.h5o.get_info

    def counting(object_id, *args, **kwargs):
        if h5py.h5i.get_type(object_id) == h5py.h5i.DATASET:
            asked.append(object_id)
        return original(object_id, *args, **kwargs)

    monkeypatch.setattr(h5py.h5o, "get_info", counting)
    rfs = lindi_core.translate(str(path))
    monkeypatch.undo()
    assert asked == []
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as lf, h5py.File(path, "r") as hf:
        assert lf["data"].attrs["unit"] == hf["data"].attrs["unit"] == "volts"
