"""The command line: translate, tree, validate, demo, and how failures exit."""

from __future__ import annotations

import json

import numpy as np

from lindi_core.cli import main


def test_translate_tree_and_validate(make_h5, tmp_path, capsys):
    path = make_h5(lambda f: f.create_group("grp").create_dataset("x", data=np.arange(100), chunks=(10,)))
    out = tmp_path / "x.lindi.json"
    assert main(["translate", path, "-o", str(out), "--no-progress", "--inline-threshold", "0"]) == 0
    assert "10 chunk references" in capsys.readouterr().out
    assert json.loads(out.read_text())["refs"]["grp/x/.zarray"]["shape"] == [100]
    assert main(["tree", str(out)]) == 0
    assert "/\ngrp/\n  x  (100,) int64  chunks=(10,)\n" == capsys.readouterr().out
    assert main(["validate", str(out)]) == 0


def test_runtime_errors_exit_1_with_a_message(tmp_path, capsys):
    bogus = tmp_path / "bogus.h5"
    bogus.write_text("nope")
    assert main(["translate", str(bogus), "-o", str(tmp_path / "o.json"), "--no-progress"]) == 1
    assert "not an HDF5 file" in capsys.readouterr().err


def test_demo_runs_end_to_end(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where its plot goes, with matplotlib
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "identical to h5py reading the file: True" in out
    assert "ElectricalSeries/" in out


def test_the_compound_rows_limit_chooses_rows_or_a_structured_array(make_h5, tmp_path, capsys):
    table = np.array([(1, 0.5), (2, 1.5)], dtype=[("i", "<i4"), ("x", "<f8")])
    path = make_h5(lambda f: f.create_dataset("t", data=table))
    for limit, expected_dtype in (("0", [["i", "<i4"], ["x", "<f8"]]), ("1048576", "|O")):
        out = tmp_path / f"t{limit}.lindi.json"
        assert main(["translate", path, "-o", str(out), "--no-progress", "--compound-rows-limit", limit]) == 0
        assert json.loads(out.read_text())["refs"]["t/.zarray"]["dtype"] == expected_dtype


def test_what_the_user_names_wrongly_is_one_line_and_exit_1(make_h5, tmp_path, capsys):
    import pytest

    h5 = make_h5(lambda f: f.create_dataset("x", data=np.arange(3)))
    (tmp_path / "not-a-cache").write_text("x")
    for argv in (["tree", str(tmp_path / "missing.lindi.json")], ["validate", str(tmp_path)],
                 ["translate", h5, "-o", str(tmp_path / "no" / "such" / "folder.lindi.json")],
                 ["cache", "info", "--cache-dir", str(tmp_path / "not-a-cache")]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("lindi-core: error:") and err.count("\n") == 1 and "Traceback" not in err
    for bad in ("0", "-1", "many"):
        with pytest.raises(SystemExit) as exited:
            main(["translate", h5, "-o", str(tmp_path / "x.lindi.json"), "--chunk-target", bad])
        assert exited.value.code == 2
        assert "--chunk-target" in capsys.readouterr().err
