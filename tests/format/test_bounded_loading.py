"""Opening a reference file costs memory and time in proportion to what it holds, not to what it
declares: chunk tables follow the refs present, and templates expand within a bound (spec §2, §3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import jsonio
from lindi_core.format.refs import ChunkRef, ChunkTable
from lindi_core.format.validate import validate_json

# Run in a child with its address space capped, so that a regression fails with MemoryError
# instead of taking the machine's memory; the assertion itself is on tracemalloc's peak (NumPy
# reports its buffers to tracemalloc).
_HOSTILE_OPEN = textwrap.dedent("""
    import json, os, resource, sys, tracemalloc
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import numpy as np, zarr
    import lindi_core
    from lindi_core.format import jsonio

    folder = sys.argv[1]
    data = os.path.join(folder, "data.bin")
    np.array([42, 43], dtype="<i4").tofile(data)

    def zarray(shape, chunks):
        return {"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": "<i4", "compressor": None,
                "fill_value": 7, "order": "C", "filters": None}

    one = {"refs": {".zgroup": {"zarr_format": 2}, "x/.zarray": zarray([500000000], [1]), "x/3": ["d", 0, 4]}}
    many = {"refs": {".zgroup": {"zarr_format": 2}}}
    for i in range(200):
        many["refs"][f"x{i}/.zarray"] = zarray([500000000], [1])
        many["refs"][f"x{i}/3"] = [data, 4, 4]
    many["refs"]["o/.zarray"] = zarray([2**40, 2**40], [1, 1])  # 2**80 chunks: past int64
    many["refs"]["o/5.9"] = [data, 0, 4]
    many["refs"]["p/.zarray"] = zarray([2**31, 2**31], [1, 1])  # 2**62 chunks
    many["refs"]["p/5.9"] = [data, 0, 4]
    one_text = json.dumps(one, separators=(",", ":")).encode()
    many_text = json.dumps(many, separators=(",", ":")).encode()
    path = os.path.join(folder, "many.lindi.json")
    with open(path, "wb") as f:
        f.write(many_text)

    tracemalloc.start()
    jsonio.loads(one_text)
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(path), mode="r", zarr_format=2)
    values = {"x5[2:5]": root["x5"][2:5].tolist(), "x199[-1]": int(root["x199"][499999999]),
              "o[5,8:10]": root["o"][5, 8:10].tolist(), "p[5,9]": int(root["p"][5, 9])}
    f = lindi_core.LindiH5pyFile.from_lindi_file(path)
    values["h5 x0[3:4]"] = f["x0"][3:4].tolist()
    values["h5 shape"] = list(f["x0"].shape)
    print(json.dumps({"one": len(one_text), "many": len(many_text), "peak": tracemalloc.get_traced_memory()[1],
                      "values": values}))
""")


def test_declared_shapes_cost_no_memory(tmp_path):
    result = subprocess.run([sys.executable, "-c", _HOSTILE_OPEN, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["one"] < 250 and report["many"] < 60_000  # the 209-byte and ~30 KB (+ paths) files of issue 12
    assert report["peak"] < 100e6, report
    assert report["values"] == {"x5[2:5]": [7, 43, 7], "x199[-1]": 7, "o[5,8:10]": [7, 42], "p[5,9]": 42,
                                "h5 x0[3:4]": [43], "h5 shape": [500000000]}


def test_sparse_tables_hold_and_edit_refs_like_dense_ones():
    sparse, dense = ChunkTable((1000, 1000)), ChunkTable((1000, 1000), dense=True)
    for table in (sparse, dense):
        for i in range(0, 5000, 7):
            table.set(i * 37, i % 3, i, i + 1, filter_mask=i % 2)
        table.clear(7 * 37)
        table.set(14 * 37, 2, 5, 6)  # overwritten, mask cleared
    assert not sparse.is_dense and len(sparse) == len(dense) == len(range(0, 5000, 7)) - 1
    assert sparse.lookup(14 * 37) == dense.lookup(14 * 37) == (2, 5, 6, 0)
    assert sparse.lookup(7 * 37) is None and dense.lookup(7 * 37) is None
    assert sparse.lookup(21 * 37) == dense.lookup(21 * 37) == (0, 21, 22, 1)
    for a, b in zip(sparse.present_columns(), dense.present_columns()):
        assert a.tolist() == b.tolist()
    assert sparse.stored_length() == dense.stored_length()
    # Covering enough of its grid turns a table dense; the refs stay.
    small = ChunkTable((40,))
    for i in range(0, 40, 9):
        small.set(i, 0, i, 1)
    assert len(small) == 5 and small.is_dense and small.lookup(36) == (0, 36, 1, 0)


def test_a_loaded_sparse_array_round_trips():
    rfs = jsonio.loads(json.dumps({"refs": {
        "x/.zarray": {"zarr_format": 2, "shape": [10**12], "chunks": [1], "dtype": "<i4", "compressor": None,
                      "fill_value": 0, "order": "C", "filters": None},
        "x/999999999999": ["u", 1, 2], "x/5": ["u", 3, 4, {"filter_mask": 1}]}}))
    again = jsonio.loads(jsonio.dumps(rfs))
    assert sorted(again.keys()) == ["x/.zarray", "x/5", "x/999999999999"]
    assert again.get("x/5") == ChunkRef("u", 3, 4, 1) and again.get("x/999999999999") == ChunkRef("u", 1, 2)
    moved = again.relocated({"u": ("v", 10)})
    assert moved.get("x/5") == ChunkRef("v", 13, 4, 1) and moved.tables["x"].stored_length() == 6


# -- templates --------------------------------------------------------------------------------
def _templated(template_bytes: int, urls: list[str]) -> bytes:
    refs = {"a/.zarray": {"zarr_format": 2, "shape": [len(urls)], "chunks": [1], "dtype": "<i4",
                          "compressor": None, "fill_value": 0, "order": "C", "filters": None}}
    refs.update({f"a/{i}": [url, 0, 4] for i, url in enumerate(urls)})
    return json.dumps({"templates": {"t": "x" * template_bytes, "u1": "http://h/f"}, "refs": refs}).encode()


@pytest.mark.parametrize("path", ["fast", "plain"])
@pytest.mark.parametrize("urls", [
    [f"{{{{t}}}}/{i}" for i in range(300)],  # many distinct URLs sharing a long template
    ["{{t}}" * 1000],  # one URL naming it many times
], ids=["distinct-urls", "repeated-in-one-url"])
def test_templates_cannot_expand_past_the_bound(urls, path, monkeypatch):
    text = _templated(200_000, urls)  # ~200 KB of text expanding to 60-200 MB; the bound is ~18 MB
    monkeypatch.setattr(jsonio, "FAST_PATH_MIN_BYTES", 0 if path == "fast" else 1 << 62)
    with pytest.raises(ReferenceFormatError, match="templates expand"):
        jsonio.loads(text)


def test_templates_within_the_bound_expand_once_per_distinct_url():
    text = _templated(100_000, ["{{t}}/0", "{{u1}}", "{{t}}/0", "{{u1}}"] * 20)
    rfs = jsonio.loads(text)
    assert rfs.get("a/0").url == "x" * 100_000 + "/0" and rfs.get("a/1").url == "http://h/f"
    assert rfs.get("a/0").url is rfs.get("a/78").url  # one string, not one per ref
    assert sorted(len(u) for u in rfs.urls) == [len("http://h/f"), 100_002]


def test_templates_do_not_nest():
    text = json.dumps({"templates": {"a": "{{b}}/x", "b": "http://h"}, "refs": {"k/0": ["{{a}}", 0, 1]}})
    with pytest.raises(ReferenceFormatError, match="template 'a'"):
        jsonio.loads(text)
    with pytest.raises(ReferenceFormatError):
        validate_json(json.loads(text))  # the JSON Schema says so too
