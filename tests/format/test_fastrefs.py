"""The bulk chunk-ref reader gives exactly what the ordinary JSON path gives, or declines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lindi_core.format import fastrefs, jsonio
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem


def _zarray(shape, chunks):
    return {"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": "<i4", "compressor": None,
            "fill_value": 0, "order": "C", "filters": None}


def _sample_rfs() -> ReferenceFileSystem:
    rng = np.random.default_rng(3)
    rfs = ReferenceFileSystem(generation_metadata={"note": 'a [list] {and} "quotes" \\ '})
    rfs.set_metadata(".zgroup", {"zarr_format": 2})
    rfs.set_metadata(".zattrs", {"weird": 'x"y[1,2]', "list": [1, 2, [3]]})
    rfs.set_metadata("a/.zarray", _zarray([100, 30], [7, 4]))
    rfs.set_metadata("g/b/.zarray", _zarray([1000], [10]))
    rfs.set_metadata("scalar/.zarray", _zarray([], []))
    rfs.set_metadata("masked/.zarray", _zarray([20], [10]))
    for i in range(15):
        for j in range(8):
            if rng.random() < 0.8:
                rfs.set_ref(f"a/{i}.{j}", ChunkRef("http://h/one.h5", int(rng.integers(0, 2**40)), int(rng.integers(0, 2**20))))
    for i in range(100):
        url = "/data/local file.h5" if i % 3 else "https://other.example/x?y=1&z=2"
        rfs.set_ref(f"g/b/{i}", ChunkRef(url, i * 40, 40))
    rfs.set_ref("scalar/0", ChunkRef("http://h/one.h5", 5, 4))
    rfs.set_ref("masked/0", ChunkRef("http://h/one.h5", 0, 10, filter_mask=1))
    rfs.set_ref("masked/1", ChunkRef("http://h/one.h5", 10, 10))
    rfs.set_ref("loose/0", ChunkRef("http://h/one.h5", 1, 2))  # no .zarray for it
    rfs.set_inline("g/b/5", b"\x00\x01inline")
    return rfs


def _assert_same(fast: ReferenceFileSystem, slow: ReferenceFileSystem) -> None:
    assert sorted(fast.keys()) == sorted(slow.keys())
    for key in slow.keys():
        assert fast.get(key) == slow.get(key), key
    assert fast.generation_metadata == slow.generation_metadata


@pytest.mark.parametrize("style", ["ours", "lindi-indent-sorted", "kerchunk-strings", "no-templates"])
def test_bulk_reader_matches_the_json_path(style, monkeypatch):
    rfs = _sample_rfs()
    if style == "ours":
        text = jsonio.dumps(rfs)
    else:
        obj = jsonio.to_json_dict(rfs, use_templates=style != "no-templates")
        if style == "kerchunk-strings":
            obj["refs"] = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in obj["refs"].items()}
        text = json.dumps(obj, indent=2 if style.startswith("lindi") else None, sort_keys=style.startswith("lindi")).encode()
    document = fastrefs.split(text)
    assert document is not None and document.runs
    slow = jsonio.from_json_dict(json.loads(text))
    monkeypatch.setattr(jsonio, "FAST_PATH_MIN_BYTES", 0)
    fast = jsonio.loads(text)
    _assert_same(fast, slow)
    assert len(fast.tables["a"]) == len(slow.tables["a"]) > 50


@pytest.mark.parametrize("text", [
    b'{"refs": {"a/0": ["u", 1e3, 4]}}',
    b'{"refs": {"a/0": ["u", -1, 4]}}',
    b'{"refs": {"a/0": ["u", 1 2, 4]}}',
    b'{"refs": {"a/0": ["u\\"v", 1, 4]}}',
    b'{"refs": {"a/0": ["u", 99999999999999999999, 4]}}',
])
def test_bulk_reader_declines_what_it_does_not_model(text):
    assert fastrefs.split(text) is None


def test_bulk_reader_leaves_malformed_documents_to_the_json_parser(monkeypatch):
    monkeypatch.setattr(jsonio, "FAST_PATH_MIN_BYTES", 0)
    from lindi_core.errors import ReferenceFormatError

    with pytest.raises(ReferenceFormatError):
        jsonio.loads(b'{"refs": {"a/.zarray": {"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<i4", '
                     b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}, "a/0": ["u", 1, 2], '
                     b'"a/1": ["u", 1, 2],, }}')
