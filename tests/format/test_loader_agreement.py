"""One reference file means one thing: the bulk loader (fastrefs) and the plain JSON loader give
the same reference file system for every document, or both raise ReferenceFormatError.

``jsonio.loads`` takes the bulk path for documents of at least ``FAST_PATH_MIN_BYTES``; the
tests set that threshold to 0 or to "never" to force one path or the other on the same bytes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import fastrefs, jsonio
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem

NEVER = 1 << 62


def _zarray(shape, chunks, **extra):
    return {"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": "<i4", "compressor": None,
            "fill_value": 0, "order": "C", "filters": None, **extra}


def _load(text: bytes, path: str, monkeypatch) -> ReferenceFileSystem | None:
    """The document loaded by one path (None when it raised ReferenceFormatError)."""
    monkeypatch.setattr(jsonio, "FAST_PATH_MIN_BYTES", 0 if path == "fast" else NEVER)
    try:
        return jsonio.loads(text)
    except ReferenceFormatError:
        return None


def _contents(rfs: ReferenceFileSystem) -> dict:
    """Everything a reference file system holds, independent of how it stores it."""
    tables = {}
    for path, table in rfs.tables.items():
        linear, url_ids, offsets, lengths, masks = table.present_columns()
        masks = masks if masks is not None else np.zeros(len(linear), dtype=np.uint32)
        tables[path] = (table.grid_shape, {int(i): ChunkRef(rfs.urls[int(u)], int(o), int(n), int(m))
                                           for i, u, o, n, m in zip(linear, url_ids, offsets, lengths, masks)})
    every_key = {key: rfs.get(key) for key in rfs.keys()}
    return {"metadata": rfs.metadata, "inline": rfs.inline, "loose": rfs.loose_refs, "tables": tables,
            "keys": every_key, "generation": rfs.generation_metadata, "templates": rfs.preferred_templates}


def _both(text: bytes, monkeypatch) -> ReferenceFileSystem | None:
    fast, plain = _load(text, "fast", monkeypatch), _load(text, "plain", monkeypatch)
    assert (fast is None) == (plain is None), (text, "fast" if fast is None else "plain", "raised")
    if plain is not None:
        assert _contents(fast) == _contents(plain), text
    return plain


ARRAY = b'"a/.zarray": ' + json.dumps(_zarray([200, 6], [1, 3])).encode()


def _document(*entries: bytes) -> bytes:
    return b'{"templates": {"u1": "http://h/f"}, "refs": {' + b", ".join((ARRAY,) + entries) + b"}}"


def test_a_chunk_key_with_leading_zeros_is_not_the_chunk(monkeypatch):
    text = _document(b'"a/130.0": ["{{u1}}", 1, 2]', b'"a/0130.0": ["{{u1}}", 5, 6]', b'"a/131.1": ["u", 7, 8]')
    rfs = _both(text, monkeypatch)
    assert rfs.get("a/130.0") == ChunkRef("http://h/f", 1, 2)
    assert rfs.get("a/0130.0") == ChunkRef("http://h/f", 5, 6)  # a key of its own, never read by Zarr
    assert len(rfs.tables["a"]) == 2
    # and in the other order
    rfs = _both(_document(b'"a/0130.0": ["{{u1}}", 5, 6]', b'"a/130.0": ["{{u1}}", 1, 2]'), monkeypatch)
    assert rfs.get("a/130.0") == ChunkRef("http://h/f", 1, 2)


@pytest.mark.parametrize("name", ["+1.0", " 1.0", "1.0 ", "1.+0", "-0.0", "1e1.0", "\u0661.0", "\u00b2.0",
                                  "1.0.0", "1", "200.0", "1.2", "99999999999999999999.0", "4611686018427387904.0"])
def test_non_canonical_chunk_names_name_only_themselves(name, monkeypatch):
    key = json.dumps("a/" + name).encode()
    rfs = _both(_document(b'"a/1.0": ["u", 1, 2]', key + b': ["u", 5, 6]'), monkeypatch)
    assert rfs.get("a/1.0") == ChunkRef("u", 1, 2)
    assert rfs.get("a/" + name) == ChunkRef("u", 5, 6)
    assert len(rfs.tables["a"]) == 1


@pytest.mark.parametrize("key", ["a//1.0", "a/", "/a/1.0", "a/./1.0", "a/../a/1.0", "b//0", "//0"])
def test_keys_with_empty_or_dot_segments_are_rejected_by_both_paths(key, monkeypatch):
    text = _document(b'"a/1.0": ["u", 1, 2]', json.dumps(key).encode() + b': ["u", 5, 6]')
    assert _load(text, "fast", monkeypatch) is None
    with pytest.raises(ReferenceFormatError, match="key"):
        jsonio.loads(text)


def test_a_key_written_twice_means_its_last_value_on_both_paths(monkeypatch):
    for first, second in [(b'["u", 1, 2]', b'["u", 3, 4]'), (b'["u", 1, 2, {"filter_mask": 1}]', b'["u", 3, 4]'),
                          (b'["u", 3, 4]', b'["u", 1, 2, {"filter_mask": 1}]'), (b'"inline"', b'["u", 3, 4]'),
                          (b'["u", 3, 4]', b'"inline"'), (b'["{{nope}}", 3, 4]', b'["u", 3, 4]'),
                          (b'["u", 1, 2]', b'["u", 1, 2]')]:
        for parent in (b"a/1.0", b"b/1.0", b"a/999.0"):  # a table cell, no table, off the grid
            text = _document(b'"' + parent + b'": ' + first, b'"a/2.0": ["u", 0, 1]', b'"' + parent + b'": ' + second)
            rfs = _both(text, monkeypatch)
            assert rfs is not None
            expected = json.loads(b"[" + second + b"]")[0]
            got = rfs.get(parent.decode())
            if isinstance(expected, str):
                assert got == expected.encode()
            else:
                assert got == ChunkRef(*expected[:3], (expected[3:] or [{}])[0].get("filter_mask", 0))


def test_separator_slash_and_arrays_without_metadata_keep_keys_as_written(monkeypatch):
    text = (b'{"refs": {"s/.zarray": ' + json.dumps(_zarray([4, 4], [2, 2], dimension_separator="/")).encode()
            + b', "s/1/0": ["u", 1, 2], "s/1.0": ["u", 3, 4], "n/1": ["u", 5, 6], "n/01": ["u", 7, 8]}}')
    rfs = _both(text, monkeypatch)
    assert rfs.get("s/1/0") == ChunkRef("u", 1, 2) and rfs.get("s/1.0") == ChunkRef("u", 3, 4)
    assert rfs.get("n/1") == ChunkRef("u", 5, 6) and rfs.get("n/01") == ChunkRef("u", 7, 8)
    assert "s" not in rfs.tables and "n" not in rfs.tables


# -- differential fuzz --------------------------------------------------------------------------
ARRAYS = {
    "a": _zarray([20, 6], [4, 3]),
    "g/b": _zarray([7], [2]),
    "z": _zarray([], []),
    "h": _zarray([500_000_000], [1]),
    "o": _zarray([2**40, 2**40], [1, 1]),  # 2**80 cells: past int64
    "s": _zarray([4, 4], [2, 2], dimension_separator="/"),
    "bad": {**_zarray([4], [2]), "shape": ["x"]},
    "e": _zarray([0], [1]),
}
NAMES = {  # per parent: chunk names, canonical first
    "a": ["0.0", "4.1", "2.0", "3.1", "04.1", "4.01", "5.0", "0.2", "4", "4.1.0", "+1.0", " 1.0", "-1.0", "1e0.0"],
    "g/b": ["0", "3", "1", "4", "03", "00", "+3", "3 ", "\u0663", "99999999999999999999", "-0"],
    "z": ["0", "00", "1", "0.0"],
    "h": ["0", "499999999", "123456", "500000000", "0123456", "4611686018427387904"],
    "o": ["0.0", "1099511627775.1099511627775", "1099511627776.0", "01.0"],
    "s": ["0/1", "1/1", "0.1", "01/1"],
    "bad": ["0", "1"],
    "e": ["0"],
    "n": ["0", "1.1", "01"],
}
VALUES = [b'["{{u1}}", %d, %d]', b'["{{u2}}", %d, %d]', b'["http://x/y", %d, %d]']
ODD_VALUES = [b'["{{u1}}", 1, 2, {"filter_mask": 3}]', b'["{{u1}}"]', b'"base64:AAAA"', b'"text"',
              b'["{{u1}}", -1, 2]', b'["{{u1}}", 1.5, 2]', b'["{{u1}}", 9223372036854775808, 2]',
              b'["{{u1}}", 9223372036854775807, 2]', b'["{{nope}}", 1, 2]', b'[1, 2, 3]', b'["u", true, 2]',
              b'["u", 1, 2, {"filter_mask": 4294967296}]', b'["u", 1, 2, {"filter_mask": -1}]', b'5',
              b'{"a": 1}', b'[]', b'["u", 1]', b'"base64:!!"', b'["u", 1, 2, 3, 4]', b'null']
BAD_KEYS = ["a//0.0", "a/", "/a/0.0", "a/./0.0", "", "g/b/.zarray"]


def _fuzz_document(rng: np.random.Generator) -> bytes:
    entries = []
    for path, zarray in ARRAYS.items():
        if rng.random() < 0.9:
            entries.append(json.dumps(path + "/.zarray").encode() + b": " + json.dumps(zarray).encode())
    for _ in range(int(rng.integers(5, 40))):
        parent = str(rng.choice(list(NAMES)))
        names = NAMES[parent]
        name = names[int(rng.integers(0, min(3, len(names))))] if rng.random() < 0.6 else str(rng.choice(names))
        key = parent + "/" + name
        if rng.random() < 0.01:
            key = str(rng.choice(BAD_KEYS))
        if rng.random() < 0.04:
            value = ODD_VALUES[int(rng.integers(0, len(ODD_VALUES)))]
        else:
            value = VALUES[int(rng.integers(0, len(VALUES)))] % (rng.integers(0, 10**15), rng.integers(0, 10**6))
        entries.append(json.dumps(key).encode() + b": " + value)
    if rng.random() < 0.3:  # a key written twice
        entries.append(entries[int(rng.integers(0, len(entries)))])
    rng.shuffle(entries)
    space = [b"", b" ", b"\n  ", b"\t"][int(rng.integers(0, 4))]
    templates = b'{"u1": "http://h/f.h5", "u2": "/data/local file.h5"}'
    return (b'{"version": 1,' + space + b'"templates": ' + templates + b"," + space + b'"refs": {' + space
            + (b"," + space).join(entries) + space + b"}}")


def _mutate(rng: np.random.Generator, text: bytes) -> bytes:
    """The text with one byte deleted, doubled or replaced by a structural or digit byte."""
    i = int(rng.integers(0, len(text)))
    action = rng.integers(0, 3)
    if action == 0:
        return text[:i] + text[i + 1 :]
    if action == 1:
        return text[:i] + text[i : i + 1] * 2 + text[i + 1 :]
    return text[:i] + bytes([int(rng.choice(list(b'[]{},:"/. 0123456789-+e\\')))]) + text[i + 1 :]


def test_both_loaders_agree_on_random_and_mutated_documents(monkeypatch):
    rng = np.random.default_rng(20261204)
    loaded = failed = with_runs = 0
    for _ in range(150):
        text = _fuzz_document(rng)
        for candidate in [text] + [_mutate(rng, text) for _ in range(2)]:
            document = fastrefs.split(candidate)
            with_runs += bool(document is not None and document.runs)
            if _both(candidate, monkeypatch) is None:
                failed += 1
            else:
                loaded += 1
    # The fuzz exercised both outcomes and the bulk path really took refs.
    assert loaded > 100 and failed > 100 and with_runs > 250, (loaded, failed, with_runs)


def test_hostile_documents_raise_reference_format_errors_only(monkeypatch):
    """Whatever the bytes, loading either succeeds or raises ReferenceFormatError (never a
    TypeError, KeyError, OverflowError... from inside)."""
    rng = np.random.default_rng(7)
    seeds = [_fuzz_document(rng) for _ in range(20)]
    for _ in range(400):
        text = seeds[int(rng.integers(0, len(seeds)))]
        for _ in range(int(rng.integers(1, 6))):
            text = _mutate(rng, text)
        for path in ("fast", "plain"):
            _load(text, path, monkeypatch)  # anything but ReferenceFormatError propagates


def _hostile_tree_document(rng: np.random.Generator) -> dict:
    """A valid document with a few values (at any depth) or keys replaced by hostile ones."""
    doc = {"version": 1, "templates": {"u1": "http://h/f"}, "generationMetadata": {"a": 1},
           "refs": {".zgroup": {"zarr_format": 2}, ".zattrs": {"x": 1},
                    "a/.zarray": {**_zarray([20, 6], [4, 3]), "dimension_separator": "."},
                    "a/.zattrs": {"_ARRAY_DIMENSIONS": ["x", "y"]}, "a/.zhdf5": {"_HDF5_CHUNKS": None, "_ATTRIBUTE_ORDER": ["k"]},
                    "a/0.0": ["{{u1}}", 0, 4], "a/1.1": ["{{u1}}", 4, 4, {"filter_mask": 1}], "a/2.0": "base64:AAAA",
                    "g/.zgroup": {"zarr_format": 2}, "g/.zhdf5": {"_CREATION_ORDER": {"links": True}}, "z/0": ["u"]}}
    hostile = [None, True, -1, 0, 2**70, -2**70, 1.5, 1e308, "", "x", "{{u1}}", "{{", "base64:", [], {}, [[]],
               [None], ["x"], {"": 1}, [0, 0], [2**63], "\u0000", "../x", [1, 1, 1], {"filter_mask": 2**40}]
    new_keys = ["", "/", "a//b", "a/.zarray", "a/.zhdf5", "b/.zattrs", ".zhdf5", "a/0.0", "a/00.0"]
    for _ in range(int(rng.integers(1, 5))):
        node = doc
        while True:
            if isinstance(node, dict) and node:
                key = list(node)[int(rng.integers(0, len(node)))]
            elif isinstance(node, list) and node:
                key = int(rng.integers(0, len(node)))
            else:
                break
            roll = rng.random()
            if roll < 0.4:
                node[key] = json.loads(json.dumps(hostile[int(rng.integers(0, len(hostile)))]))
                break
            if roll < 0.5 and isinstance(node, dict):
                node[new_keys[int(rng.integers(0, len(new_keys)))]] = node.pop(key)
                break
            node = node[key]
    return doc


def test_structurally_hostile_documents_raise_reference_format_errors_only(monkeypatch):
    rng = np.random.default_rng(5)
    outcomes = {True: 0, False: 0}
    for _ in range(400):
        text = json.dumps(_hostile_tree_document(rng)).encode()
        outcomes[_both(text, monkeypatch) is None] += 1  # anything but ReferenceFormatError propagates
    assert outcomes[True] > 50 and outcomes[False] > 50, outcomes


def test_text_that_is_not_unicode_is_a_reference_format_error():
    with pytest.raises(ReferenceFormatError, match="Unicode"):
        jsonio.loads('{"refs": {"a": "\ud800"}}')


@pytest.mark.parametrize("url", [b'["u"]', b'{"u": 1}', b"5", b"null"])
def test_a_chunk_ref_whose_url_is_not_a_string_is_refused_by_both_paths(url, monkeypatch):
    # A list or an object as the URL escaped the vectorised path as TypeError (unhashable),
    # found by the hostile .lindi.tar fuzzer in an embedded lindi.json.
    text = _document(b'"a/0.0": ["{{u1}}", 1, 2]', b'"a/1.0": [' + url + b", 3, 4]")
    for path in ("fast", "plain"):
        monkeypatch.setattr(jsonio, "FAST_PATH_MIN_BYTES", 0 if path == "fast" else NEVER)
        with pytest.raises(ReferenceFormatError, match="URL string"):
            jsonio.loads(text)
