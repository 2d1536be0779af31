"""``upload``: staged chunks consolidated, uploaded, and the reference file pointed at them."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from lindi_core import LindiH5pyFile, StagingArea
from lindi_core.cli import main


@pytest.fixture
def staged(make_h5, tmp_path):
    """A reference file with a new dataset whose chunks are in a staging area."""
    path = make_h5(lambda f: f.create_dataset("orig", data=np.arange(5000.0), chunks=(1000,)))
    ref = str(tmp_path / "x.lindi.json")
    assert main(["translate", path, "-o", ref, "-q"]) == 0
    staging_dir = tmp_path / "staging"
    new = np.random.default_rng(3).normal(size=(300, 20))
    with LindiH5pyFile.from_lindi_file(ref, mode="r+", staging_area=StagingArea(staging_dir)) as f:
        f.create_dataset("processed", data=new, chunks=(100, 20))
    assert str(staging_dir) in open(ref).read()
    return path, ref, str(staging_dir), new


def _check_uploaded(ref: str, path: str, new: np.ndarray, staging_dir: str, prefix: str) -> None:
    text = open(ref).read()
    assert staging_dir not in text and prefix in text
    with LindiH5pyFile.from_lindi_file(ref) as f, h5py.File(path, "r") as h:
        assert np.array_equal(f["processed"][()], new)
        assert np.array_equal(f["orig"][()], h["orig"][()])


def test_upload_to_a_folder(staged, tmp_path, capsys):
    path, ref, staging_dir, new = staged
    dest = tmp_path / "bucket"
    assert main(["upload", ref, "--staging-dir", staging_dir, "--to", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{ref}: its 3 staged chunk(s) now point at the uploaded blobs\n"
    assert "uploaded 3 chunk(s) in 1 blob(s)" in err
    assert len(list(dest.iterdir())) == 1
    _check_uploaded(ref, path, new, staging_dir, str(dest))


def test_upload_to_an_fsspec_url(staged, capsys):
    import fsspec

    path, ref, staging_dir, new = staged
    assert main(["upload", ref, "--staging-dir", staging_dir, "--to", "memory://cli-upload/blobs", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert len(fsspec.filesystem("memory").ls("/cli-upload/blobs")) == 1
    _check_uploaded(ref, path, new, staging_dir, "memory://cli-upload/blobs")


def test_upload_without_staged_chunks_is_an_error(make_h5, tmp_path, capsys):
    path = make_h5(lambda f: f.create_dataset("d", data=np.arange(10)))
    ref = str(tmp_path / "x.lindi.json")
    assert main(["translate", path, "-o", ref, "-q"]) == 0
    before = open(ref).read()
    assert main(["upload", ref, "--staging-dir", str(tmp_path / "empty"), "--to", str(tmp_path / "dest")]) == 0
    assert "its 0 staged chunk(s)" in capsys.readouterr().out
    assert json.loads(open(ref).read())["refs"] == json.loads(before)["refs"]
