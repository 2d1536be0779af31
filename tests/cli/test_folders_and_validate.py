"""The commands on ``.lindi.d`` folders (LINDI's directory form), local and at a URL, and
``validate`` on every file kind: ``translate -o x.lindi.d`` writes a folder (it wrote a JSON file
of that name), ``validate`` reads a folder's ``lindi.json`` and validates an HDF5 file's
translation (it failed on both), ``verify`` finds the chunk files of a local folder (it looked
beside the folder), ``info`` gives a folder's size, and a folder at a URL is read through its
``lindi.json``."""

from __future__ import annotations

import io
import json
import os

import h5py
import numpy as np

from lindi_core import LindiH5pyFile
from lindi_core.cli import main


def _write_h5(tmp_path) -> str:
    path = str(tmp_path / "x.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("g/d", data=np.arange(20_000, dtype=np.int32).reshape(200, 100), chunks=(50, 100))
        f["g"].attrs["note"] = "hello"
    return path


def _folder_with_chunk_files(tmp_path) -> tuple[str, np.ndarray]:
    """A .lindi.d whose dataset's chunks are files of the folder (refs ./blobs/...)."""
    values = np.arange(40_000, dtype=np.int64).reshape(400, 100)
    folder = str(tmp_path / "own.lindi.d")
    with LindiH5pyFile.from_lindi_file(folder, "w") as f:
        f.create_dataset("big", data=values, chunks=(100, 100))
    refs = json.loads(open(os.path.join(folder, "lindi.json")).read())["refs"]
    assert refs["big/0.0"][0] == "./blobs/big/0.0"  # what the test is about: chunk files in the folder
    return folder, values


def _document(path: str) -> dict:
    document = json.loads(open(path).read())
    document["generationMetadata"].pop("creationDate")
    return document


def test_translate_to_a_lindi_d_writes_a_folder_holding_the_reference_file(tmp_path, capsys):
    h5 = _write_h5(tmp_path)
    assert main(["translate", h5, "-o", str(tmp_path / "x.lindi.json"), "-q"]) == 0
    assert main(["translate", h5, "-o", str(tmp_path / "x.lindi.d"), "-q"]) == 0
    folder = tmp_path / "x.lindi.d"
    assert folder.is_dir() and [p.name for p in folder.iterdir() if not p.name.startswith(".")] == ["lindi.json"]
    assert _document(str(folder / "lindi.json")) == _document(str(tmp_path / "x.lindi.json"))
    with LindiH5pyFile.from_lindi_file(str(folder)) as f, h5py.File(h5, "r") as truth:
        assert np.array_equal(f["g/d"][()], truth["g/d"][()])
    # a relative --ref-url names the source beside the folder, as in a .lindi.json beside it,
    # not a file inside the folder
    assert main(["translate", h5, "-o", str(tmp_path / "rel.lindi.d"), "--ref-url", "x.h5", "-q"]) == 0
    assert json.loads((tmp_path / "rel.lindi.d" / "lindi.json").read_text())["templates"] == {"u1": h5}
    assert main(["cat", str(tmp_path / "rel.lindi.d"), "g/d[199, 99]"]) == 0
    assert capsys.readouterr().out == "19999\n"


def test_validate_takes_a_folder_local_or_at_a_url_and_an_hdf5_file(tmp_path, serve, capsys):
    h5 = _write_h5(tmp_path)
    assert main(["translate", h5, "-o", str(tmp_path / "x.lindi.d"), "-q"]) == 0
    server = serve(tmp_path)
    for where in (str(tmp_path / "x.lindi.d"), server.url_for("x.lindi.d"), server.url_for("x.lindi.d") + "/"):
        assert main(["validate", where]) == 0, where
        assert capsys.readouterr().out == f"{where}: valid\n"
    for where in (h5, server.url_for("x.h5")):
        assert main(["validate", where]) == 0, where
        assert capsys.readouterr().out == f"{where}: its translation is valid\n"
    broken = tmp_path / "broken.lindi.d"
    broken.mkdir()
    (broken / "lindi.json").write_text(json.dumps({"version": 1, "refs": {"x/0": 5}}))
    assert main(["validate", str(broken)]) == 1
    assert capsys.readouterr().out.startswith(f"{broken}: invalid: ")


def test_verify_finds_the_chunk_files_of_a_folder_and_a_missing_one(tmp_path, capsys):
    folder, _ = _folder_with_chunk_files(tmp_path)
    assert main(["verify", folder, "-q"]) == 0
    assert capsys.readouterr().out == f"{folder}: ok\n"
    assert main(["verify", folder, "--deep", "-q"]) == 0
    capsys.readouterr()
    os.remove(os.path.join(folder, "blobs", "big", "2.0"))
    assert main(["verify", folder, "-q"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("MISSING ./blobs/big/2.0: ") and out.endswith(f"{folder}: 1 problem(s)\n")


def test_info_of_a_folder_gives_its_size_and_its_chunk_files(tmp_path, capsys):
    folder, values = _folder_with_chunk_files(tmp_path)
    sizes = [os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(folder) for n in names]
    assert main(["info", folder]) == 0
    out = capsys.readouterr().out
    assert f"folder size: {sum(sizes):,} bytes in {len(sizes)} files\n" in out
    assert f"referenced chunks: 4 ({values.nbytes:,} bytes in 4 source(s))" in out


def test_ls_tree_attrs_cat_diff_of_a_folder_local_and_at_a_url(tmp_path, serve, capsys):
    h5 = _write_h5(tmp_path)
    server = serve(tmp_path)
    assert main(["translate", h5, "-o", str(tmp_path / "x.lindi.d"), "--ref-url", server.url_for("x.h5"), "-q"]) == 0
    with h5py.File(h5, "r") as truth:
        expected = truth["g/d"][10:60, 3]
    outputs = []
    for where in (str(tmp_path / "x.lindi.d"), server.url_for("x.lindi.d")):
        for argv in (["ls", where, "g"], ["tree", where], ["attrs", where, "g"]):
            assert main(argv) == 0, argv
            outputs.append(capsys.readouterr().out)
        assert main(["cat", where, "g/d[10:60, 3]", "--out", str(tmp_path / "x.npy")]) == 0
        assert np.array_equal(np.load(tmp_path / "x.npy"), expected)
        assert main(["diff", where, str(tmp_path / "x.lindi.d")]) == 0
        assert capsys.readouterr().out == "no differences\n"
    assert outputs[:3] == outputs[3:]
    assert outputs[0] == "d  (200, 100) int32  chunks=(50, 100)\n" and outputs[2] == "note = 'hello'\n"
    # a folder at a URL whose chunks are files inside it: its relative refs name URLs inside
    # the folder's URL (spec §14), read from the server, not from this machine's files
    own, values = _folder_with_chunk_files(tmp_path)
    server.stats.reset()
    assert main(["cat", server.url_for(os.path.basename(own)), "big[390:400, 90:100]", "--out",
                 str(tmp_path / "own.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "own.npy"), values[390:400, 90:100])
    assert any(p.startswith(f"/{os.path.basename(own)}/blobs/") for p in server.stats.paths)


def test_cat_out_npy_of_a_folder_to_standard_output(tmp_path, capsysbinary):
    folder, values = _folder_with_chunk_files(tmp_path)
    assert main(["cat", folder, "big[390:400, 90:100]", "--out", "-"]) == 0
    assert np.array_equal(np.load(io.BytesIO(capsysbinary.readouterr().out)), values[390:400, 90:100])


def test_upload_of_a_folder_points_it_at_the_uploaded_blobs(tmp_path, capsys):
    from lindi_core import StagingArea

    h5 = _write_h5(tmp_path)
    folder, staging = str(tmp_path / "x.lindi.d"), str(tmp_path / "staging")
    assert main(["translate", h5, "-o", folder, "-q"]) == 0
    new = np.random.default_rng(0).normal(size=(300, 10))
    with LindiH5pyFile.from_lindi_file(folder, mode="r+", staging_area=StagingArea(staging)) as f:
        f.create_dataset("processed", data=new, chunks=(100, 10))
    assert main(["upload", folder, "--staging-dir", staging, "--to", str(tmp_path / "bucket"), "-q"]) == 0
    text = open(os.path.join(folder, "lindi.json")).read()
    assert staging not in text and str(tmp_path / "bucket") in text
    with LindiH5pyFile.from_lindi_file(folder) as f, h5py.File(h5, "r") as truth:
        assert np.array_equal(f["processed"][()], new) and np.array_equal(f["g/d"][()], truth["g/d"][()])
