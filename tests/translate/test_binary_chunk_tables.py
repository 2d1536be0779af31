"""Translation writing binary chunk tables (spec §13), and reading them back through the store and
the facade with the values h5py reads."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.cli import main
from lindi_core.format.validate import validate_file
from lindi_core.translate import ChunkOptions, translate_to_file


def many_chunks(f: h5py.File) -> None:
    # Edge chunks on both axes (37 = 7*5 + 2, 1000 = 7*142 + 6) and chunks never written.
    d = f.create_dataset("x", shape=(1000, 37), chunks=(7, 5), dtype="<i4", fillvalue=-3)
    d[:500] = np.arange(500 * 37).reshape(500, 37)
    d[700:703, 30:] = 5
    # Compressed, with a filter mask on a chunk deflate would not shrink.
    g = f.create_group("g")
    rng = np.random.default_rng(0)
    z = g.create_dataset("z", shape=(3000,), chunks=(10,), dtype="<f8", compression="gzip", fillvalue=np.nan)
    z[:1500] = np.arange(1500.0)
    z[2000:2010] = rng.random(10)
    g.create_dataset("small", data=np.arange(20), chunks=(4,))


SELECTIONS = [(), np.s_[695:705, 28:33], np.s_[::13, ::3], np.s_[999, :], np.s_[500:510]]


def assert_same_values(h5_path: str, lindi_file: lindi_core.LindiH5pyFile) -> None:
    with h5py.File(h5_path, "r") as f:
        for selection in SELECTIONS:
            assert np.array_equal(f["x"][selection], lindi_file["x"][selection]), selection
        for selection in ((), np.s_[1495:1505], np.s_[1999:2011], np.s_[::7]):
            assert np.array_equal(f["g/z"][selection], lindi_file["g/z"][selection], equal_nan=True), selection
        assert np.array_equal(f["g/small"][()], lindi_file["g/small"][()])


@pytest.mark.parametrize("output_name", ["f.lindi.json", "f.lindi.tar"])
def test_binary_tables_read_as_h5py_reads(make_h5, tmp_path, output_name):
    path = make_h5(many_chunks)
    out = tmp_path / output_name
    rfs = translate_to_file(path, out, progress=False, chunk_table="binary",
                            options=ChunkOptions(inline_threshold=0))
    assert rfs.binary_tables == {"x", "g/z", "g/small"}
    with lindi_core.LindiH5pyFile.from_lindi_file(out) as lindi_file:
        assert_same_values(path, lindi_file)
    if output_name.endswith(".json"):
        validate_file(out)
        refs = json.loads(out.read_bytes())["refs"]
        assert not [k for k in refs if k.startswith("x/") and k.split("/")[-1][0].isdigit()]
        assert "x/.zchunktable" in refs


def test_auto_writes_tables_only_for_arrays_of_many_chunks(make_h5, tmp_path):
    path = make_h5(many_chunks)
    out = tmp_path / "f.lindi.json"
    options = ChunkOptions(inline_threshold=0, chunk_table_threshold=300)
    rfs = translate_to_file(path, out, progress=False, options=options)
    # x has 143 * 8 = 1144 cells, g/z 300, g/small 5.
    assert rfs.binary_tables == {"x", "g/z"}
    refs = json.loads(out.read_bytes())["refs"]
    assert "g/small/0" in refs and "g/small/.zchunktable" not in refs
    with lindi_core.LindiH5pyFile.from_lindi_file(out) as lindi_file:
        assert_same_values(path, lindi_file)
    json_out = tmp_path / "j.lindi.json"
    assert translate_to_file(path, json_out, progress=False, options=options, chunk_table="json").binary_tables == set()
    assert b"lindi.chunk_table" not in json_out.read_bytes()
    with lindi_core.LindiH5pyFile.from_lindi_file(json_out) as plain, \
            lindi_core.LindiH5pyFile.from_lindi_file(out) as binary:
        assert plain._rfs.same_references(binary._rfs)


def test_default_threshold_keeps_small_files_plain_json(make_h5, tmp_path):
    path = make_h5(many_chunks)
    out = tmp_path / "f.lindi.json"
    assert translate_to_file(path, out, progress=False).binary_tables == set()
    assert b"lindi.chunk_table" not in out.read_bytes()


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="chunk_table"):
        ChunkOptions(chunk_table="parquet")


def test_edits_in_r_plus_keep_the_table_and_read_back(make_h5, tmp_path):
    path = make_h5(many_chunks)
    out = tmp_path / "f.lindi.json"
    translate_to_file(path, out, progress=False, chunk_table="binary")
    with lindi_core.LindiH5pyFile.from_lindi_file(out, mode="r+") as lindi_file:
        lindi_file.attrs["note"] = "edited"
    assert "x/.zchunktable" in json.loads(out.read_bytes())["refs"]
    with lindi_core.LindiH5pyFile.from_lindi_file(out) as lindi_file:
        assert lindi_file.attrs["note"] == "edited"
        assert_same_values(path, lindi_file)


def test_cli_chunk_table_option(make_h5, tmp_path, capsys):
    path = make_h5(many_chunks)
    for choice, expect_table in (("binary", True), ("json", False), ("auto", False)):
        out = tmp_path / f"{choice}.lindi.json"
        assert main(["translate", path, "-o", str(out), "--no-progress", "--chunk-table", choice]) == 0
        assert ("x/.zchunktable" in json.loads(out.read_bytes())["refs"]) == expect_table
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["translate", path, "-o", str(tmp_path / "o.json"), "--chunk-table", "parquet"])


def test_binary_tables_over_http(make_h5, tmp_path, serve):
    path = make_h5(many_chunks)
    server = serve(tmp_path)
    url = server.url_for("data.h5")
    out = tmp_path / "remote.lindi.json"
    translate_to_file(url, out, progress=False, chunk_table="binary")
    assert json.loads(out.read_bytes())["refs"]["x/.zchunktable"]
    (tmp_path / "served.lindi.json").write_bytes(out.read_bytes())
    with lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("served.lindi.json")) as lindi_file:
        assert_same_values(path, lindi_file)
