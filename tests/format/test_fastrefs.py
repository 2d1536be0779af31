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


ODD_ENTRIES = [
    b'"a/1": ["u", 1e3, 4]',
    b'"a/1": ["u", -1, 4]',
    b'"a/1": ["u", 1 2, 4]',
    b'"a/1": ["u", 007, 4]',
    b'"a/1": ["u\\"v", 1, 4]',
    b'"a/1": ["u", 99999999999999999999, 4]',
    b'"a/x": ["u", 1, 4]',
    b'"a/01": ["u", 1, 4]',
    b'"a/1..2": ["u", 1, 4]',
    b'"a/1": ["u", 1, 4, {"filter_mask": 1}]',
    b'"a/1": ["u"]',
]


@pytest.mark.parametrize("odd", ODD_ENTRIES)
def test_bulk_reader_leaves_what_it_does_not_model_to_the_json_parser(odd, monkeypatch):
    text = (b'{"refs": {"a/.zarray": {"zarr_format": 2, "shape": [12], "chunks": [4], "dtype": "<i4", '
            b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}, "a/0": ["u", 1, 4], '
            + odd + b', "a/2": ["u", 9, 4]}}')
    document = fastrefs.split(text)
    assert document is not None
    assert odd in document.rest  # left exactly as written, for the parser
    assert [int(x) for run in document.runs for x in run.offsets] == [1, 9]
    _assert_fast_path_agrees(text, monkeypatch)


def _assert_fast_path_agrees(text: bytes, monkeypatch) -> None:
    """The fast path gives what the plain JSON path gives: the same refs, or the same error."""
    from lindi_core.errors import ReferenceFormatError

    try:
        slow = jsonio.from_json_dict(jsonio.parse_json_bytes(text))
    except ReferenceFormatError:
        slow = None
    monkeypatch.setattr(jsonio, "FAST_PATH_MIN_BYTES", 0)
    if slow is None:
        with pytest.raises(ReferenceFormatError):
            jsonio.loads(text)
    else:
        _assert_same(jsonio.loads(text), slow)


def _random_document(rng: np.random.Generator) -> bytes:
    """A reference file with plain, odd and metadata entries in random order and layout."""
    entries = [b'"a/.zarray": ' + json.dumps(_zarray([40, 6], [4, 3])).encode(),
               b'"a/.zattrs": {"k": ["x", 1, 2], "s": "[\\\"]"}']
    for i in range(10):
        for j in range(2):
            if rng.random() < 0.85:
                entries.append(b'"a/%d.%d": ["{{u1}}", %d, %d]' % (i, j, rng.integers(0, 10**12), rng.integers(0, 99)))
            else:
                entries.append(b'"a/%d.%d": "base64:AAAA"' % (i, j))
    entries += [ODD_ENTRIES[k].replace(b"a/", b"b/") for k in rng.choice(len(ODD_ENTRIES), 3, replace=False)]
    if rng.random() < 0.5:
        rng.shuffle(entries)
    space = [b"", b" ", b"\n    ", b"\t"][rng.integers(0, 4)]
    body = (b"," + space).join(entries)
    return b'{"version": 1,' + space + b'"templates": {"u1": "http://h/f.h5"}, "refs": {' + space + body + space + b"}}"


def _mutate(rng: np.random.Generator, text: bytes) -> bytes:
    """The text with one structural byte deleted, doubled or replaced."""
    positions = [i for i, b in enumerate(text) if b in b'[]{},:"0123456789']
    i = int(rng.choice(positions))
    action = rng.integers(0, 3)
    if action == 0:
        return text[:i] + text[i + 1 :]
    if action == 1:
        return text[:i] + text[i : i + 1] * 2 + text[i + 1 :]
    return text[:i] + bytes([int(rng.choice(list(b'[]{},: "x0')))]) + text[i + 1 :]


def test_bulk_reader_agrees_with_the_json_parser_on_random_documents(monkeypatch):
    rng = np.random.default_rng(11)
    for _ in range(200):
        text = _random_document(rng)
        _assert_fast_path_agrees(text, monkeypatch)
        for _ in range(5):
            _assert_fast_path_agrees(_mutate(rng, text), monkeypatch)


def test_bulk_reader_leaves_malformed_documents_to_the_json_parser(monkeypatch):
    monkeypatch.setattr(jsonio, "FAST_PATH_MIN_BYTES", 0)
    from lindi_core.errors import ReferenceFormatError

    with pytest.raises(ReferenceFormatError):
        jsonio.loads(b'{"refs": {"a/.zarray": {"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<i4", '
                     b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}, "a/0": ["u", 1, 2], '
                     b'"a/1": ["u", 1, 2],, }}')
