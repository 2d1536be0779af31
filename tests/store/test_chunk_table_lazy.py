"""Binary chunk tables (version 2, spec §13) read lazily: inline or in a file beside the
reference file, only the blocks a read needs fetched, h5py's values as the truth."""

from __future__ import annotations

import base64
import os
import pickle

import h5py
import numpy as np
import orjson
import pytest
import zarr

import lindi_core
from lindi_core.errors import LindiError, ReferenceFormatError
from lindi_core.format import blocked_chunk_table, jsonio, table_files
from lindi_core.format.lazy_chunk_table import LazyChunkTable
from lindi_core.format.validate import validate_json
from lindi_core.store.reference_store import ReferenceStore

ROWS = 64  # rows per block in these tests: small tables of many blocks


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(blocked_chunk_table, "ROWS_PER_BLOCK", ROWS)


@pytest.fixture
def h5_file(tmp_path) -> str:
    path = str(tmp_path / "data.h5")
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("flat", data=np.arange(4000, dtype=np.int64), chunks=(8,))  # 500 chunks
        f.create_dataset("packed", data=rng.integers(0, 9, (60, 70)).astype(np.int32), chunks=(3, 4),
                         compression="gzip")  # 20 x 18 chunks of varied lengths
        holes = f.create_dataset("holes", shape=(400,), dtype=np.int16, chunks=(4,), fillvalue=-3)
        holes[40:120] = 7  # chunks 10..29 written, the rest never allocated
    return path


def save(h5_path: str, out: str, *, threshold: int) -> str:
    rfs = lindi_core.translate(h5_path, progress=False, chunk_table="binary")
    jsonio.write_atomic(rfs, out, table_file_threshold=threshold)
    return out


def assert_values(store: ReferenceStore, h5_path: str) -> None:
    f = lindi_core.LindiH5pyFile(store)
    with h5py.File(h5_path, "r") as h:
        for name in ("flat", "packed", "holes"):
            np.testing.assert_array_equal(f[name][...], h[name][...])
        np.testing.assert_array_equal(f["flat"][1001:1003], h["flat"][1001:1003])


@pytest.mark.parametrize("threshold", [0, 1 << 30], ids=["file", "inline"])
def test_saved_tables_read_as_h5py_does(h5_file, tmp_path, threshold):
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=threshold)
    doc = orjson.loads(open(out, "rb").read())
    descriptors = {k: v for k, v in doc["refs"].items() if k.endswith(".zchunktable")}
    assert len(descriptors) == 3 and all(v["version"] == 2 for v in descriptors.values())
    assert all(("ref" in v) == (threshold == 0) for v in descriptors.values())
    if threshold == 0:
        for value in descriptors.values():
            assert os.path.getsize(tmp_path / value["ref"]) == value["size"]
    validate_json(doc)
    store = ReferenceStore.from_file(out)
    try:
        assert all(isinstance(store.rfs.tables[k], LazyChunkTable) for k in ("flat", "packed", "holes"))
        assert_values(store, h5_file)
    finally:
        store.close()


def test_opening_decodes_no_block_and_a_read_decodes_only_its_own(h5_file, tmp_path):
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    store = ReferenceStore.from_file(out)
    try:
        table = store.rfs.tables["flat"]
        assert table.loaded_blocks == [] and not table.materialized
        f = lindi_core.LindiH5pyFile(store)
        with h5py.File(h5_file, "r") as h:
            np.testing.assert_array_equal(f["flat"][8 * 70 : 8 * 72], h["flat"][8 * 70 : 8 * 72])
        assert table.loaded_blocks == [1] and not table.materialized  # chunks 70, 71: block 1 of 64 rows
    finally:
        store.close()


def test_a_bulk_read_of_many_chunks_loads_only_their_blocks(h5_file, tmp_path, monkeypatch):
    # 96 chunks: the read engine looks their refs up in bulk (chunk_ref_columns), which loads
    # blocks 1 and 2 of the lazy table in one step and leaves the rest of it undecoded.
    from lindi_core.store import bulk_reads

    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    bulk_lookups = []
    real = ReferenceStore.chunk_ref_columns

    async def counting(self, array_path, linear):
        bulk_lookups.append((array_path, len(linear)))
        return await real(self, array_path, linear)

    monkeypatch.setattr(ReferenceStore, "chunk_ref_columns", counting)
    store = ReferenceStore.from_file(out)
    try:
        table = store.rfs.tables["flat"]
        f = lindi_core.LindiH5pyFile(store)
        with h5py.File(h5_file, "r") as h:
            np.testing.assert_array_equal(f["flat"][8 * 64 : 8 * 160], h["flat"][8 * 64 : 8 * 160])
        assert any(path == "flat" and n >= bulk_reads.BULK_MIN_CHUNKS for path, n in bulk_lookups)
        assert table.loaded_blocks == [1, 2] and not table.materialized
    finally:
        store.close()


def test_reading_a_table_file_over_http_fetches_only_the_needed_blocks(h5_file, tmp_path, serve):
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    server = serve(tmp_path)
    store = ReferenceStore.from_file(server.url_for("x.lindi.json"), allow_local=True)
    try:
        assert server.stats.requests == 1  # the JSON: the descriptors hold the tables' headers
        table = store.rfs.tables["flat"]
        doc = orjson.loads(open(out, "rb").read())
        table_name = doc["refs"]["flat/.zchunktable"]["ref"]
        server.stats.reset()
        f = lindi_core.LindiH5pyFile(store)
        with h5py.File(h5_file, "r") as h:
            expected = h["flat"][8 * 130 : 8 * 131 + 4]
        np.testing.assert_array_equal(f["flat"][8 * 130 : 8 * 131 + 4], expected)
        table_requests = [p for p in server.stats.paths if table_name in p]
        assert len(table_requests) == 1  # one round trip for the table, of block 2 only
        assert table.loaded_blocks == [2]
        span = table.layout.blocks[2]
        assert server.stats.bytes_sent <= span.size + 2 * 8 * 8 + 4096
    finally:
        store.close()


def test_resaving_and_converting_forms_keep_the_references(h5_file, tmp_path):
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    truth = lindi_core.translate(h5_file, progress=False, chunk_table="binary")
    loaded = jsonio.load_path(out)
    # Saved again elsewhere unchanged: the tables are copied as read (same file names, content).
    again = str(tmp_path / "copy" / "y.lindi.json")
    os.makedirs(os.path.dirname(again))
    jsonio.write_atomic(loaded, again, table_file_threshold=0)
    assert jsonio.load_path(again).same_references(truth)
    # Written to a stream unchanged, a table file's descriptor is kept as read.
    assert orjson.loads(jsonio.dumps(loaded))["refs"]["flat/.zchunktable"]["ref"] == \
        orjson.loads(open(out, "rb").read())["refs"]["flat/.zchunktable"]["ref"]
    # File form -> inline -> JSON refs: lossless each way.
    inline_path = str(tmp_path / "inline.lindi.json")
    jsonio.write_atomic(jsonio.load_path(out), inline_path, table_file_threshold=1 << 40)
    assert all("data" in v for k, v in orjson.loads(open(inline_path, "rb").read())["refs"].items()
               if k.endswith(".zchunktable"))
    inline = jsonio.loads(open(inline_path, "rb").read())
    assert all(isinstance(t, LazyChunkTable) for t in inline.tables.values())
    assert inline.same_references(truth)
    as_json = jsonio.load_path(out)
    as_json.binary_tables.clear()
    text = jsonio.dumps(as_json)
    assert b".zchunktable" not in text and jsonio.loads(text).same_references(truth)


def test_resaving_never_changes_a_table_file_an_old_reference_file_names(h5_file, tmp_path, monkeypatch):
    monkeypatch.setattr(table_files, "TABLE_FILE_THRESHOLD", 0)
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    old_doc = orjson.loads(open(out, "rb").read())
    old_files = {v["ref"]: open(tmp_path / v["ref"], "rb").read() for k, v in old_doc["refs"].items()
                 if k.endswith(".zchunktable")}
    f = lindi_core.LindiH5pyFile.from_lindi_file(out, mode="r+")
    f["flat"][0:8] = -1  # an edit of a chunk: the table changes
    f.close()
    new_doc = orjson.loads(open(out, "rb").read())
    assert new_doc["refs"]["flat/.zchunktable"]["ref"] != old_doc["refs"]["flat/.zchunktable"]["ref"]
    for name, data in old_files.items():
        assert open(tmp_path / name, "rb").read() == data
    with h5py.File(h5_file, "r") as h:
        expected = h["flat"][...]
    expected[0:8] = -1
    g = lindi_core.LindiH5pyFile.from_lindi_file(out)
    np.testing.assert_array_equal(g["flat"][...], expected)
    g.close()


def test_a_pickled_store_reads_the_table_file(h5_file, tmp_path):
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    store = ReferenceStore.from_file(out)
    copy = pickle.loads(pickle.dumps(store))
    try:
        assert_values(copy, h5_file)
    finally:
        copy.close()
        store.close()


# -- hostile descriptors and table files ------------------------------------------------
def _file_doc(h5_file: str, tmp_path) -> tuple[str, dict]:
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    return out, orjson.loads(open(out, "rb").read())


@pytest.mark.parametrize("ref", ["../x.lct", "/etc/passwd", "http://other.example/x.lct", "a/b.lct", ".", "..",
                                 "", "x\\y", 7])
def test_a_table_file_name_that_leaves_the_folder_is_refused(h5_file, tmp_path, ref):
    out, doc = _file_doc(h5_file, tmp_path)
    doc["refs"]["flat/.zchunktable"]["ref"] = ref
    with pytest.raises(ReferenceFormatError, match="plain file name"):
        jsonio.from_json_dict(doc)


def test_a_table_file_from_a_url_is_read_beside_it_never_locally(h5_file, tmp_path, serve):
    out, doc = _file_doc(h5_file, tmp_path)
    server = serve(tmp_path)
    store = ReferenceStore.from_file(server.url_for("x.lindi.json"), allow_local=True)
    try:
        locations = {t.source.reader.location for t in store.rfs.tables.values()}
        assert all(loc.kind == "http" and loc.where.startswith(server.url + "/x.lindi.json.") for loc in locations)
    finally:
        store.close()


def _rewrite(tmp_path, doc: dict, name: str = "x.lindi.json") -> str:
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(orjson.dumps(doc))
    return path


def _read_flat(path: str):
    store = ReferenceStore.from_file(path)
    try:
        return lindi_core.LindiH5pyFile(store)["flat"][...]
    finally:
        store.close()


def test_a_truncated_table_file_raises(h5_file, tmp_path):
    out, doc = _file_doc(h5_file, tmp_path)
    name = doc["refs"]["flat/.zchunktable"]["ref"]
    data = open(tmp_path / name, "rb").read()
    with open(tmp_path / name, "wb") as f:
        f.write(data[:20])  # into its first block
    with pytest.raises(LindiError):
        _read_flat(out)


def test_a_table_file_of_other_content_raises(h5_file, tmp_path):
    out, doc = _file_doc(h5_file, tmp_path)
    flat, holes = doc["refs"]["flat/.zchunktable"], doc["refs"]["holes/.zchunktable"]
    flat["ref"] = holes["ref"]  # another table file, the header of this one
    with pytest.raises(LindiError):
        _read_flat(_rewrite(tmp_path, doc))


def test_a_lying_block_index_raises(h5_file, tmp_path):
    out, doc = _file_doc(h5_file, tmp_path)
    header = bytearray(base64.b64decode(doc["refs"]["flat/.zchunktable"]["header"][len("base64:"):]))
    header[-20 * 3 + 12] ^= 0xFF  # the CRC-32 of the third block from the end
    doc["refs"]["flat/.zchunktable"]["header"] = "base64:" + base64.b64encode(bytes(header)).decode()
    with pytest.raises(ReferenceFormatError, match="CRC-32"):
        _read_flat(_rewrite(tmp_path, doc))


@pytest.mark.parametrize("size_change", [-1, 1, 10**12])
def test_a_size_that_disagrees_with_the_header_raises(h5_file, tmp_path, size_change):
    out, doc = _file_doc(h5_file, tmp_path)
    doc["refs"]["flat/.zchunktable"]["size"] += size_change
    with pytest.raises(ReferenceFormatError):
        jsonio.from_json_dict(doc)


def test_a_reference_file_loaded_from_text_names_where_its_table_file_is_needed(h5_file, tmp_path):
    out, _ = _file_doc(h5_file, tmp_path)
    rfs = jsonio.loads(open(out, "rb").read())  # no location: the table file cannot be found
    with pytest.raises(ReferenceFormatError, match="beside the reference file"):
        rfs.get("flat/0")


def test_a_whole_read_decodes_each_block_once(h5_file, tmp_path, serve, monkeypatch):
    save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    decoded = []
    real = blocked_chunk_table.decode_block

    def counting(layout, i, data, name="chunk table"):
        decoded.append((name, i))
        return real(layout, i, data, name)

    monkeypatch.setattr(blocked_chunk_table, "decode_block", counting)
    server = serve(tmp_path)
    store = ReferenceStore.from_file(server.url_for("x.lindi.json"), allow_local=True)
    try:
        f = lindi_core.LindiH5pyFile(store)
        with h5py.File(h5_file, "r") as h:
            np.testing.assert_array_equal(f["flat"][...], h["flat"][...])
        flat = [i for name, i in decoded if name.startswith("flat/")]
        assert sorted(flat) == list(range(len(store.rfs.tables["flat"].layout.blocks)))  # 500 chunks: 8 blocks
    finally:
        store.close()


def test_zarr_reads_a_table_file_over_http(h5_file, tmp_path, serve):
    # zarr's own reads (any selection) size their windows from the refs before fetching.
    save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    server = serve(tmp_path)
    store = ReferenceStore.from_file(server.url_for("x.lindi.json"), allow_local=True)
    try:
        group = zarr.open_group(store, mode="r", zarr_format=2)
        with h5py.File(h5_file, "r") as h:
            np.testing.assert_array_equal(group["packed"][5:40, [1, 7, 30]], h["packed"][5:40, [1, 7, 30]])
            np.testing.assert_array_equal(group["holes"][...], h["holes"][...])
    finally:
        store.close()


def test_a_lindi_folder_keeps_its_tables_in_its_files(h5_file, tmp_path, monkeypatch):
    monkeypatch.setattr(table_files, "TABLE_FILE_THRESHOLD", 0)
    from lindi_core.write.lindi_folder import write_new_folder

    rfs = lindi_core.translate(h5_file, progress=False, chunk_table="binary")
    folder = str(tmp_path / "x.lindi.d")
    write_new_folder(rfs, folder, read=lambda *a: b"")
    names = [n for n in os.listdir(folder) if n.endswith(".lct")]
    assert len(names) == 3 and all(n.startswith("lindi.json.") for n in names)
    store = ReferenceStore.from_file(folder)
    try:
        assert all(t.source.reader.location.where.startswith(os.path.realpath(folder) + os.sep)
                   for t in store.rfs.tables.values())
        assert_values(store, h5_file)
    finally:
        store.close()
    # Opened for writing and closed unchanged: the folder's reference file is left as it was.
    before = open(os.path.join(folder, "lindi.json"), "rb").read()
    lindi_core.LindiH5pyFile.from_lindi_file(folder, mode="r+").close()
    assert open(os.path.join(folder, "lindi.json"), "rb").read() == before


def test_table_blocks_read_once_are_kept_in_the_local_cache(h5_file, tmp_path, serve):
    save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    server = serve(tmp_path)
    url = server.url_for("x.lindi.json")
    table_name = orjson.loads(open(tmp_path / "x.lindi.json", "rb").read())["refs"]["flat/.zchunktable"]["ref"]
    with h5py.File(h5_file, "r") as h:
        expected = h["flat"][8 * 200 : 8 * 203]
    for attempt in range(2):
        server.stats.reset()
        store = ReferenceStore.from_file(url, allow_local=True, local_cache=lindi_core.LocalCache(tmp_path / "cache"))
        try:
            np.testing.assert_array_equal(lindi_core.LindiH5pyFile(store)["flat"][8 * 200 : 8 * 203], expected)
        finally:
            store.close()
        table_requests = [p for p in server.stats.paths if table_name in p]
        assert len(table_requests) == (1 if attempt == 0 else 0)


def test_a_staged_whole_read_fetches_a_table_file_in_one_request(h5_file, tmp_path, serve, monkeypatch):
    """A window read in stages (its first one small, so that bytes leave early) still asks for
    the blocks of a table file once, for the whole window, before its first spans."""
    from lindi_core.store import bulk_reads

    monkeypatch.setattr(bulk_reads, "STAGE_BYTES", 64 * 100)  # stages of 100 chunks at most: 500 here
    out = save(h5_file, str(tmp_path / "x.lindi.json"), threshold=0)
    table_name = orjson.loads(open(out, "rb").read())["refs"]["flat/.zchunktable"]["ref"]
    server = serve(tmp_path)
    store = ReferenceStore.from_file(server.url_for("x.lindi.json"), allow_local=True)
    try:
        server.stats.reset()
        f = lindi_core.LindiH5pyFile(store)
        with h5py.File(h5_file, "r") as h:
            np.testing.assert_array_equal(f["flat"][...], h["flat"][...])
        # the chunks are in the local HDF5 file: the one request is the table's
        assert len(server.stats.paths) == 1 and table_name in server.stats.paths[0]
        assert len(bulk_reads.stage_bounds(0, 500, 100)) - 1 == 7  # stages of 32, 64, 100... chunks
    finally:
        store.close()
