"""A ``.lindi.d`` folder at a URL (spec §14): its ``lindi.json`` is read from the folder's URL and
its relative targets (chunk files, table files) resolve to URLs inside the folder, trusted exactly
as that ``lindi.json``: never local paths, never out of the folder (``..``, encoded dots), never
another host. Truth is h5py reading the same values from an HDF5 file."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import orjson
import pytest

from lindi_core import LindiH5pyFile
from lindi_core.errors import LindiError
from lindi_core.format import jsonio, table_files
from lindi_core.translate import ChunkOptions, translate_to_file
from tests.cli.installed import run_installed


@pytest.fixture
def served_folder(make_h5, tmp_path, serve, monkeypatch):
    """A served ``x.lindi.d`` holding a table file (its 2,000-chunk array's refs name the served
    HDF5 file) and the chunk files of a dataset created in it; and the HDF5 truth of both."""
    monkeypatch.setattr(table_files, "TABLE_FILE_THRESHOLD", 512)
    monkeypatch.setattr(table_files, "CONTAINER_TABLE_THRESHOLD", 512)
    rng = np.random.default_rng(7)
    big = rng.integers(0, 4, 2000 * 16).astype("<i4") * rng.integers(0, 2, 2000 * 16)
    source = make_h5(lambda f: f.create_dataset("big", data=big, chunks=(16,), compression="gzip"), name="src.h5")
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(source, served / "src.h5")
    server = serve(served)
    folder = served / "x.lindi.d"
    translate_to_file(source, str(folder), progress=False, ref_url=server.url_for("src.h5"),
                      options=ChunkOptions(inline_threshold=0, chunk_table_threshold=1000))
    files = np.arange(8192, dtype="<f8") * 0.5
    with LindiH5pyFile.from_lindi_file(str(folder), mode="r+") as f:
        f.create_dataset("files", data=files, chunks=(1024,))  # 8 KiB chunks: files of the folder
    assert any(name.endswith(".lct") for name in os.listdir(folder)) and os.path.isdir(folder / "blobs")
    truth = str(tmp_path / "truth.h5")
    shutil.copy(source, truth)
    with h5py.File(truth, "r+") as h:
        h.create_dataset("files", data=files, chunks=(1024,))
    return server, truth


@pytest.mark.parametrize("suffix", ["", "/", "/lindi.json"])
def test_a_folder_at_a_url_reads_its_files(served_folder, suffix):
    server, truth = served_folder
    server.stats.reset()
    with LindiH5pyFile.from_lindi_file(server.url_for("x.lindi.d") + suffix) as f, h5py.File(truth, "r") as h:
        assert np.array_equal(f["files"][()], h["files"][()])
        assert np.array_equal(f["big"][()], h["big"][()])
        assert f._rfs.binary_tables == {"big"}
    paths = server.stats.paths
    assert any("/x.lindi.d/blobs/" in p for p in paths) and any(p.endswith(".lct") for p in paths)
    assert all(p.startswith("/x.lindi.d/") or p == "/src.h5" for p in paths), paths


def test_cat_and_verify_deep_on_a_folder_url(served_folder, tmp_path):
    server, truth = served_folder
    url = server.url_for("x.lindi.d")
    out = tmp_path / "cat.npy"
    done = run_installed("cat", url, "files[100:3000]", "--out", str(out))
    assert done.returncode == 0, done.stderr.decode()
    with h5py.File(truth, "r") as h:
        assert np.array_equal(np.load(out), h["files"][100:3000])
    done = run_installed("verify", url, "--deep", "--source", truth)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()


def _hostile_folder(served, name: str, target: str) -> None:
    folder = served / name
    folder.mkdir()
    refs = {".zgroup": {"zarr_format": 2},
            "a/.zarray": {"zarr_format": 2, "shape": [1], "chunks": [1], "dtype": "<i8", "compressor": None,
                          "fill_value": 0, "filters": None, "order": "C"},
            "a/0": [target, 0, 8]}
    (folder / "lindi.json").write_bytes(orjson.dumps({"version": 1, "refs": refs}))


def test_hostile_relative_targets_are_refused(tmp_path, serve):
    served = tmp_path / "served"
    served.mkdir()
    secret = served / "secret.bin"
    secret.write_bytes(np.array([42], dtype="<i8").tobytes())
    server = serve(served)
    host = server.url_for("secret.bin").split("/")[2]
    targets = ["./../secret.bin", "../secret.bin", "./blobs/../../secret.bin", ".//secret.bin", str(secret),
               f"//{host}/secret.bin", "./%2e%2e/secret.bin", "./blobs/..%2fsecret.bin", "http:secret.bin",
               f"file://{secret}"]
    for i, target in enumerate(targets):
        _hostile_folder(served, f"evil{i}.lindi.d", target)
    for i, target in enumerate(targets):
        server.stats.reset()
        with LindiH5pyFile.from_lindi_file(server.url_for(f"evil{i}.lindi.d")) as f:
            with pytest.raises(LindiError):
                f["a"][()]
        # Whatever was asked of the server stayed inside the folder.
        assert all(p.startswith(f"/evil{i}.lindi.d/") for p in server.stats.paths), (target, server.stats.paths)


def test_a_folder_at_a_url_written_locally_keeps_reading(served_folder, tmp_path):
    server, truth = served_folder
    with LindiH5pyFile.from_lindi_file(server.url_for("x.lindi.d")) as f:
        for name in ("copy.lindi.json", "copy.lindi.tar", "copy.lindi.d"):
            f.write_lindi_file(str(tmp_path / name))
    for name in ("copy.lindi.json", "copy.lindi.tar", "copy.lindi.d"):
        with LindiH5pyFile.from_lindi_file(str(tmp_path / name)) as g, h5py.File(truth, "r") as h:
            assert np.array_equal(g["files"][()], h["files"][()]) and np.array_equal(g["big"][()], h["big"][()])
            text = jsonio.dumps(g._rfs)
            assert b"./blobs/" not in text  # the folder's files are named by their URLs
