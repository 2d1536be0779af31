"""An array's chunk refs written as a binary chunk table (spec §13) instead of JSON entries:
lossless both ways, loaded into the same ChunkTable, and refused loudly by readers that do not
know the extension."""

from __future__ import annotations

import base64
import json
import math

import fsspec
import numpy as np
import orjson
import pytest
import zarr

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import blocked_chunk_table, chunk_table_forms, jsonio
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.format.validate import validate_json


def zarray(shape, chunks, **extra) -> dict:
    return {"zarr_format": 2, "shape": list(shape), "chunks": list(chunks), "dtype": "<i4", "compressor": None,
            "fill_value": 0, "order": "C", "filters": None, **extra}


def random_rfs(seed: int) -> ReferenceFileSystem:
    """A few arrays of random grids, chunks missing at random, refs into several URLs, masks."""
    rng = np.random.default_rng(seed)
    rfs = ReferenceFileSystem()
    rfs.set_metadata(".zgroup", {"zarr_format": 2})
    urls = [f"https://example.org/{i}.h5" for i in range(rng.integers(1, 5))] + ["./blobs/x"]
    for a in range(3):
        ndim = int(rng.integers(0, 4))
        shape = [int(rng.integers(0, 30)) for _ in range(ndim)]
        chunks = [int(rng.integers(1, 6)) for _ in range(ndim)]
        path = f"g/a{a}"
        rfs.set_metadata(f"{path}/.zarray", zarray(shape, chunks))
        grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
        for linear in range(math.prod(grid)):
            if rng.random() < 0.3:
                continue  # a missing chunk
            name = ".".join(map(str, np.unravel_index(linear, grid))) if grid else "0"
            mask = int(rng.integers(0, 3)) if a == 1 else 0
            rfs.set_ref(f"{path}/{name}", ChunkRef(urls[int(rng.integers(len(urls)))], int(rng.integers(0, 2**40)),
                                                  int(rng.integers(0, 2**20)), mask))
    return rfs


@pytest.mark.parametrize("seed", range(12))
def test_json_and_binary_forms_round_trip_losslessly(seed):
    rfs = random_rfs(seed)
    rfs.binary_tables = set(rfs.tables)
    binary_text = jsonio.dumps(rfs)
    validate_json(orjson.loads(binary_text))
    loaded = jsonio.loads(binary_text)
    assert loaded.same_references(rfs)
    assert loaded.binary_tables == set(rfs.tables)
    assert loaded.metadata == rfs.metadata  # the marker filter lives only on disk
    for key in rfs.keys():
        assert loaded.get(key) == rfs.get(key), key
    # And back to JSON: the same refs, and no trace of the table.
    loaded.binary_tables.clear()
    json_text = jsonio.dumps(loaded)
    assert b"lindi.chunk_table" not in json_text
    assert jsonio.loads(json_text).same_references(rfs)
    assert jsonio.loads(jsonio.dumps(rfs)).same_references(jsonio.loads(json_text))


def test_binary_form_holds_no_chunk_keys_and_marks_the_array():
    rfs = random_rfs(3)
    rfs.binary_tables = {"g/a0"}
    refs = orjson.loads(jsonio.dumps(rfs))["refs"]
    assert not [k for k in refs if k.startswith("g/a0/") and not k.split("/")[-1].startswith(".")]
    assert refs["g/a0/.zarray"]["filters"] == [{"id": "lindi.chunk_table"}]
    assert refs["g/a0/.zchunktable"]["format"] == "lindi.chunk_table"
    assert any(k.startswith("g/a1/") and k[-1].isdigit() for k in refs)  # other arrays stay JSON


def test_marker_goes_before_existing_filters_and_comes_off_again():
    rfs = ReferenceFileSystem()
    meta = zarray([10], [2], filters=[{"id": "shuffle", "elementsize": 4}])
    rfs.set_metadata("x/.zarray", meta)
    rfs.set_ref("x/1", ChunkRef("f.h5", 3, 4))
    rfs.binary_tables = {"x"}
    refs = orjson.loads(jsonio.dumps(rfs))["refs"]
    assert refs["x/.zarray"]["filters"] == [{"id": "lindi.chunk_table"}, {"id": "shuffle", "elementsize": 4}]
    assert jsonio.loads(jsonio.dumps(rfs)).metadata["x/.zarray"] == meta


def test_inline_chunks_win_over_the_table_as_in_json():
    rfs = ReferenceFileSystem()
    rfs.set_metadata("x/.zarray", zarray([10], [2]))
    rfs.set_ref("x/0", ChunkRef("f.h5", 3, 4))
    rfs.set_ref("x/1", ChunkRef("f.h5", 30, 4))
    rfs.set_inline("x/1", b"abcd")
    rfs.binary_tables = {"x"}
    loaded = jsonio.loads(jsonio.dumps(rfs))
    assert loaded.get("x/1") == b"abcd" and loaded.get("x/0") == ChunkRef("f.h5", 3, 4)
    assert sorted(loaded.keys()) == sorted(rfs.keys())


def test_arrays_the_form_cannot_hold_stay_json():
    rfs = ReferenceFileSystem()
    rfs.set_metadata("x/.zarray", zarray([10], [2]))
    rfs.set_ref("x/0", ChunkRef("f.h5", 0, -1))  # fsspec's whole-file ref: no length
    rfs.set_metadata("y/.zarray", zarray([10**9], [1]))  # sparse: a dense table would be mostly empty
    rfs.set_ref("y/5", ChunkRef("f.h5", 0, 4))
    rfs.binary_tables = {"x", "y"}
    text = jsonio.dumps(rfs)
    assert b"lindi.chunk_table" not in text
    assert jsonio.loads(text).same_references(rfs)


def test_choose_binary_by_chunk_count():
    rfs = ReferenceFileSystem()
    for name, n in (("small", 99), ("large", 100)):
        rfs.set_metadata(f"{name}/.zarray", zarray([n], [1]))
        rfs.tables[name].assign(np.arange(n), np.zeros(n, np.int32), np.arange(n), np.ones(n, np.int64))
        rfs.url_id("f.h5")
    chunk_table_forms.choose_binary(rfs, "auto", threshold=100)
    assert rfs.binary_tables == {"large"}
    chunk_table_forms.choose_binary(rfs, "binary")
    assert rfs.binary_tables == {"small", "large"}
    chunk_table_forms.choose_binary(rfs, "json")
    assert rfs.binary_tables == set()
    with pytest.raises(ValueError, match="chunk_table"):
        chunk_table_forms.choose_binary(rfs, "parquet")


def test_edits_after_loading_keep_the_binary_form():
    rfs = random_rfs(5)
    rfs.binary_tables = set(rfs.tables)
    loaded = jsonio.loads(jsonio.dumps(rfs))
    shape = loaded.metadata["g/a2/.zarray"]["shape"]
    if not all(shape):
        pytest.skip("this seed's array is empty")
    first = ".".join(["0"] * len(shape)) or "0"
    loaded.set_ref(f"g/a2/{first}", ChunkRef("https://example.org/new.h5", 1, 2))
    again = jsonio.loads(jsonio.dumps(loaded))
    assert again.get(f"g/a2/{first}") == ChunkRef("https://example.org/new.h5", 1, 2)
    assert again.same_references(loaded) and "g/a2" in again.binary_tables


# -- what other readers see ------------------------------------------------------------------
def binary_file(tmp_path) -> str:
    rfs = ReferenceFileSystem()
    rfs.set_metadata(".zgroup", {"zarr_format": 2})
    rfs.set_metadata("x/.zarray", zarray([4], [2]))
    data = tmp_path / "data.bin"
    data.write_bytes(np.arange(4, dtype="<i4").tobytes())
    rfs.set_ref("x/0", ChunkRef(str(data), 0, 8))
    rfs.set_ref("x/1", ChunkRef(str(data), 8, 8))
    path = tmp_path / "f.lindi.json"
    path.write_bytes(jsonio.dumps(rfs))
    rfs.binary_tables = {"x"}
    binary = tmp_path / "binary.lindi.json"
    binary.write_bytes(jsonio.dumps(rfs))
    return str(path), str(binary)


def test_fsspec_and_zarr_fail_loudly_instead_of_reading_fill_values(tmp_path):
    plain, binary = binary_file(tmp_path)
    fs = fsspec.filesystem("reference", fo=plain)
    assert zarr.open_array(store=fs.get_mapper("x"), mode="r", zarr_format=2)[:].tolist() == [0, 1, 2, 3]
    fs = fsspec.filesystem("reference", fo=binary)
    with pytest.raises(Exception, match="lindi.chunk_table"):
        zarr.open_array(store=fs.get_mapper("x"), mode="r", zarr_format=2)[:]


# -- inconsistent or hostile documents -------------------------------------------------------
def document(tmp_path) -> dict:
    return json.loads(open(binary_file(tmp_path)[1], "rb").read())


def test_marker_without_table_raises(tmp_path):
    doc = document(tmp_path)
    del doc["refs"]["x/.zchunktable"]
    with pytest.raises(ReferenceFormatError, match="marked as having a binary chunk table"):
        jsonio.from_json_dict(doc)


def test_table_without_marker_raises(tmp_path):
    doc = document(tmp_path)
    doc["refs"]["x/.zarray"]["filters"] = None
    with pytest.raises(ReferenceFormatError, match="lacks the 'lindi.chunk_table' marker"):
        jsonio.from_json_dict(doc)


def test_marker_elsewhere_than_first_raises(tmp_path):
    doc = document(tmp_path)
    doc["refs"]["x/.zarray"]["filters"] = [{"id": "shuffle"}, {"id": "lindi.chunk_table"}]
    with pytest.raises(ReferenceFormatError, match="must be the first filter"):
        jsonio.from_json_dict(doc)


def test_table_and_json_refs_together_raise(tmp_path):
    doc = document(tmp_path)
    doc["refs"]["x/1"] = ["f.h5", 0, 8]
    with pytest.raises(ReferenceFormatError, match="both a chunk table and JSON chunk refs"):
        jsonio.from_json_dict(doc)


def test_table_of_another_grid_raises(tmp_path):
    doc = document(tmp_path)
    doc["refs"]["x/.zarray"]["shape"] = [6]
    with pytest.raises(ReferenceFormatError, match="is not the array's"):
        jsonio.from_json_dict(doc)


def test_table_beside_no_array_raises(tmp_path):
    doc = document(tmp_path)
    doc["refs"]["y/.zchunktable"] = doc["refs"]["x/.zchunktable"]
    with pytest.raises(ReferenceFormatError, match="lacks the 'lindi.chunk_table' marker"):
        jsonio.from_json_dict(doc)


@pytest.mark.parametrize("value, message", [
    ([1, 2], "must be a JSON object"),
    ({"format": "other", "version": 1, "data": "base64:"}, "descriptor"),
    ({"format": "lindi.chunk_table", "version": 9, "data": "base64:"}, "version 9"),
    ({"format": "lindi.chunk_table", "version": 1, "data": "QUJD"}, "base64"),
    ({"format": "lindi.chunk_table", "version": 1, "data": "base64:!!"}, "invalid base64"),
    ({"format": "lindi.chunk_table", "version": 1, "data": "base64:", "x": 1}, "inline chunk table"),
    ({"format": "lindi.chunk_table", "version": 1, "ref": ["t.bin", 0, 10]}, "needs version 2"),
    ({"format": "lindi.chunk_table", "version": 1, "data": "base64:" + base64.b64encode(b"LINDICT\n").decode()},
     "too short"),
])
def test_hostile_descriptors_raise(tmp_path, value, message):
    doc = document(tmp_path)
    doc["refs"]["x/.zchunktable"] = value
    with pytest.raises(ReferenceFormatError, match=message):
        jsonio.from_json_dict(doc)


def test_large_documents_take_the_fast_path_with_the_same_result():
    # Above FAST_PATH_MIN_BYTES the JSON refs of other arrays are read in bulk; the table is
    # put in after them.
    rfs = ReferenceFileSystem()
    n = 40_000
    for name in ("json", "binary"):
        rfs.set_metadata(f"{name}/.zarray", zarray([n], [1]))
        rfs.tables[name].assign(np.arange(n), np.full(n, rfs.url_id(f"{name}.h5"), np.int32),
                                np.arange(n) * 8, np.full(n, 8, np.int64))
    rfs.binary_tables = {"binary"}
    text = jsonio.dumps(rfs)
    assert len(text) > jsonio.FAST_PATH_MIN_BYTES
    loaded = jsonio.loads(text)
    assert loaded.same_references(rfs) and loaded.binary_tables == {"binary"}


def test_written_tables_are_version_2_and_version_1_still_reads():
    rfs = random_rfs(2)
    rfs.binary_tables = {"g/a1"}
    doc = orjson.loads(jsonio.dumps(rfs))
    value = doc["refs"]["g/a1/.zchunktable"]
    assert value["version"] == 2
    layout = blocked_chunk_table.read_layout(base64.b64decode(value["data"][len("base64:"):]))
    assert layout.grid_shape == rfs.tables["g/a1"].grid_shape
    # The version 1 form of the same table (as lindi-core wrote it before) reads the same refs.
    doc["refs"]["g/a1/.zchunktable"] = chunk_table_forms.descriptor(
        chunk_table_forms.encode_table(rfs, "g/a1", compress=True))
    assert doc["refs"]["g/a1/.zchunktable"]["version"] == 1
    assert jsonio.from_json_dict(doc).same_references(rfs)


def test_urls_only_tables_use_get_no_template():
    rfs = ReferenceFileSystem()
    for name, url in (("t", "https://example.org/table-only.h5"), ("j", "https://example.org/json.h5")):
        rfs.set_metadata(f"{name}/.zarray", zarray([4], [2]))
        rfs.set_ref(f"{name}/0", ChunkRef(url, 0, 8))
    rfs.binary_tables = {"t"}
    doc = orjson.loads(jsonio.dumps(rfs))
    assert list(doc["templates"].values()) == ["https://example.org/json.h5"]
    assert jsonio.loads(jsonio.dumps(rfs)).same_references(rfs)
