"""Reading and writing .lindi.json: round trips, LINDI 0.4's shape, malformed input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import ReferenceFormatError
from lindi_core.format import jsonio
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.format.validate import validate_file, validate_json

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _lindi04_fixture(tmp_path) -> str:
    data = np.arange(15, dtype="<i2")
    target = tmp_path / "data.bin"
    target.write_bytes(data.tobytes())
    obj = json.load(open(os.path.join(FIXTURES, "lindi04_style.lindi.json")))
    obj["templates"]["u1"] = str(target)
    path = tmp_path / "fixture.lindi.json"
    path.write_text(json.dumps(obj, indent=2, sort_keys=True))
    return str(path)


def test_a_file_in_lindi_04_shape_reads_correctly(tmp_path):
    path = _lindi04_fixture(tmp_path)
    validate_file(path)
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(path), mode="r", zarr_format=2)
    np.testing.assert_array_equal(root["acquisition/ts/data"][...], np.arange(15, dtype="<i2").reshape(5, 3))
    assert root["acquisition/ts/rate"][0] == 1000.0
    assert list(root["acquisition/ts/names"][...]) == ["ab", "cde"]
    assert root["acquisition/link_to_ts"].attrs["_SOFT_LINK"] == {"path": "/acquisition/ts"}
    assert root.attrs["ratio"] == "NaN"


def test_round_trip_keeps_every_key_and_value(tmp_path):
    rfs = jsonio.load_path(_lindi04_fixture(tmp_path))
    text = jsonio.dumps(rfs)
    again = jsonio.loads(text)
    assert sorted(again.keys()) == sorted(rfs.keys())
    for key in rfs.keys():
        assert again.get(key) == rfs.get(key), key
    assert json.loads(text)["templates"] == {"u1": str(tmp_path / "data.bin")}


def test_chunk_refs_are_compact_tables_and_loose_refs_survive():
    rfs = ReferenceFileSystem()
    rfs.set_metadata("a/.zarray", {"zarr_format": 2, "shape": [10, 10], "chunks": [5, 5], "dtype": "<i4",
                                   "compressor": None, "fill_value": 0, "order": "C", "filters": None})
    rfs.set_ref("a/1.0", ChunkRef("http://h/f", 100, 50))
    rfs.set_ref("a/0.1", ChunkRef("http://h/f", 150, 50, filter_mask=2))
    rfs.set_ref("b/0", ChunkRef("http://h/g", 0, 5))  # no .zarray yet: kept loose
    assert len(rfs.tables["a"]) == 2 and "b/0" in rfs.loose_refs
    again = jsonio.loads(jsonio.dumps(rfs))
    assert again.get("a/0.1") == ChunkRef("http://h/f", 150, 50, 2)
    assert again.get("a/1.0") == ChunkRef("http://h/f", 100, 50, 0)
    assert again.get("b/0") == ChunkRef("http://h/g", 0, 5)
    assert again.get("a/1.1") is None


def test_inline_data_encodings():
    assert jsonio.encode_inline(b"plain text") == "plain text"
    assert jsonio.encode_inline(b"\x00\xff") == "base64:AP8="
    assert jsonio.encode_inline(b"base64:x") == "base64:YmFzZTY0Ong="
    assert jsonio.decode_inline("k", "base64:AP8=") == b"\x00\xff"
    assert jsonio.decode_inline("k", "é") == "é".encode()


@pytest.mark.parametrize("text,message", [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"version": 2, "refs": {}}', "version"),
    (b'{"refs": 3}', "refs"),
    (b'{"refs": {"a/0": ["u", 1]}}', "offset, length"),
    (b'{"refs": {"a/0": ["u", -1, 5]}}', "non-negative"),
    (b'{"refs": {"a/0": ["{{nope}}", 0, 5]}}', "unknown template"),
    (b'{"refs": {"../evil": "x"}}', "invalid key"),
    (b'{"refs": {"/abs": "x"}}', "invalid key"),
    (b'{"refs": {".zattrs": [1]}}', "JSON object"),
    (b'{"refs": {"a/0": 5}}', "unsupported value"),
    (b'{"refs": {"a/0": ["u", 0, 5, {"other": 1}]}}', "fourth element"),
])
def test_malformed_files_raise_clear_errors(text, message):
    with pytest.raises(ReferenceFormatError, match=message):
        jsonio.loads(text)


def test_translated_files_validate_against_the_schema(make_h5, tmp_path):
    import h5py

    def build(f):
        f.create_dataset("x", data=np.arange(100), chunks=(10,))
        f.create_dataset("s", data=["a", "b"], dtype=h5py.string_dtype())
        f["soft"] = h5py.SoftLink("/x")
        f.attrs["r"] = f["x"].regionref[1:3]

    out = tmp_path / "out.lindi.json"
    lindi_core.translate_to_file(make_h5(build), out, progress=False)
    validate_file(out)
    with pytest.raises(ReferenceFormatError, match="_SCALAR"):
        validate_json({"refs": {"x/.zattrs": {"_SCALAR": "yes"}}})


def test_write_is_atomic(tmp_path, monkeypatch):
    rfs = ReferenceFileSystem()
    rfs.set_metadata(".zgroup", {"zarr_format": 2})
    target = tmp_path / "out.lindi.json"
    target.write_text("old")

    def broken(*args, **kwargs):
        yield b"{"
        raise OSError("disk full")

    monkeypatch.setattr(jsonio, "iter_json_text", broken)
    with pytest.raises(OSError, match="disk full"):
        jsonio.write_atomic(rfs, target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.lindi.json"]


def test_lindi_external_array_links_read_the_linked_dataset(make_h5, tmp_path):
    import h5py

    data = np.arange(6000, dtype="<i4").reshape(200, 30)

    def build(f):
        f.create_dataset("big", data=data, chunks=(16, 7), compression="gzip", shuffle=True)
        ds = f.create_dataset("sparse", shape=(100,), chunks=(10,), dtype="<f8", fillvalue=-1)
        ds[20:30] = 5.0

    path = make_h5(build)
    refs = {".zgroup": {"zarr_format": 2}}
    with h5py.File(path) as f:
        for name in ["big", "sparse"]:
            ds = f[name]
            filters = [{"elementsize": 4, "id": "shuffle"}, {"id": "zlib", "level": 4}] if name == "big" else None
            refs[f"{name}/.zarray"] = {"chunks": list(ds.chunks), "compressor": None, "dtype": ds.dtype.str,
                                       "fill_value": float(ds.fillvalue) if name == "sparse" else 0,
                                       "filters": filters, "order": "C", "shape": list(ds.shape), "zarr_format": 2}
            refs[f"{name}/.zattrs"] = {"_EXTERNAL_ARRAY_LINK": {"link_type": "hdf5_dataset", "name": name,
                                                                "url": path}}
    out = tmp_path / "linked.lindi.json"
    out.write_text(json.dumps({"refs": refs}))
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(out), mode="r", zarr_format=2)
    np.testing.assert_array_equal(root["big"][...], data)
    with h5py.File(path) as f:
        np.testing.assert_array_equal(root["sparse"][...], f["sparse"][...])


def test_a_chunk_reference_whose_url_is_not_a_string_is_a_reference_format_error():
    from lindi_core.errors import ReferenceFormatError

    refs = {".zgroup": {"zarr_format": 2},
            "x/.zarray": {"zarr_format": 2, "shape": [20], "chunks": [10], "dtype": "<i4", "fill_value": 0,
                          "order": "C", "compressor": None, "filters": None},
            "x/0": ["http://host/a", 0, 40], "x/1": [["http://host/a"], 40, 40]}
    with pytest.raises(ReferenceFormatError, match="URL string"):
        jsonio.loads(json.dumps({"version": 1, "refs": refs}))
