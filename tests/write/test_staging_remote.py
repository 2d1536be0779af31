"""A reference file opened from a URL, edited with a staging area: the chunks this process
staged read back, while local paths named by the remote file (even inside the staging folder)
stay refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lindi_core
from lindi_core.errors import AccessDeniedError

pytestmark = pytest.mark.filterwarnings("ignore:.*edits made since it was opened are not kept")

_EMPTY = {"version": 1, "refs": {".zgroup": {"zarr_format": 2}}}


def _serve_json(folder, serve, name, refs) -> str:
    (folder / name).write_text(json.dumps(refs))
    return serve(folder).url_for(name)


def test_a_remote_file_reads_back_the_chunks_it_staged(tmp_path, serve):
    served = tmp_path / "served"
    served.mkdir()
    url = _serve_json(served, serve, "remote.lindi.json", _EMPTY)
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    data = np.random.default_rng(1).normal(size=(125_000,))  # 1 MB, chunks of 80 KB
    with lindi_core.LindiH5pyFile.from_lindi_file(url, mode="r+", staging_area=staging) as f:
        f.create_dataset("new", data=data, chunks=(10_000,), compression="gzip")
        refs = [ref for _, ref in f._rfs.chunk_refs("new")]
        assert len(refs) == 13 and all(staging.contains(ref.url) for ref in refs)  # staged, not inline
        np.testing.assert_array_equal(f["new"][...], data)
        np.testing.assert_array_equal(f["new"][12_345:67_890], data[12_345:67_890])


def _staged_secret_named_by_a_served_file(tmp_path, serve, make_h5, secret: np.ndarray):
    """(staging area, URL of a served reference file whose dataset ``x`` names the staged chunk
    of ``secret``, written there by another, local file)."""
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    make_h5(lambda f: f.create_group("g"), name="mine.h5")
    lindi_core.translate_to_file(tmp_path / "mine.h5", tmp_path / "mine.lindi.json", progress=False)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "mine.lindi.json", mode="r+",
                                                  staging_area=staging) as mine:
        mine.create_dataset("secret", data=secret, chunks=(10_000,))
        (secret_ref,) = [ref for _, ref in mine._rfs.chunk_refs("secret")]
    assert staging.contains(secret_ref.url)
    hostile = {"version": 1, "refs": {
        ".zgroup": {"zarr_format": 2},
        "x/.zarray": {"zarr_format": 2, "shape": [10_000], "chunks": [10_000], "dtype": "<i8", "compressor": None,
                      "fill_value": 0, "order": "C", "filters": None},
        "x/.zattrs": {},
        "x/0": [secret_ref.url, 0, secret_ref.length]}}
    served = tmp_path / "served"
    served.mkdir()
    return staging, _serve_json(served, serve, "hostile.lindi.json", hostile)


def test_a_remote_file_may_not_name_staged_chunks_it_did_not_write(tmp_path, serve, make_h5):
    staging, url = _staged_secret_named_by_a_served_file(tmp_path, serve, make_h5, np.arange(10_000, dtype="<i8"))
    # The same staging area, and this file stages chunks of its own: still only its own are trusted.
    with lindi_core.LindiH5pyFile.from_lindi_file(url, mode="r+", staging_area=staging) as f:
        f.create_dataset("own", data=np.arange(5000.0), chunks=(5000,))
        np.testing.assert_array_equal(f["own"][...], np.arange(5000.0))
        with pytest.raises(AccessDeniedError, match="local file"):
            f["x"][...]


def test_a_remote_file_cannot_name_staged_chunks_into_an_upload_or_a_copy(tmp_path, serve, make_h5):
    """Neither uploading nor saving as a container takes the bytes of a staged file the remote
    file named but this process did not write: they went to the uploader, or into the copy."""
    secret = np.full(10_000, 0x5EC2E7, dtype="<i8")
    staging, url = _staged_secret_named_by_a_served_file(tmp_path, serve, make_h5, secret)
    blobs = tmp_path / "blobs"
    own = np.arange(5000.0)
    with lindi_core.LindiH5pyFile.from_lindi_file(url, mode="r+", staging_area=staging) as f:
        f.create_dataset("own", data=own, chunks=(5000,))
        f.write_lindi_file(tmp_path / "copy.lindi.tar")
        f.upload(lindi_core.uploaders.DirectoryUploader(str(blobs), url_prefix="https://host/blobs"))
    needle = secret.tobytes()[:64]
    uploaded = b"".join(p.read_bytes() for p in blobs.rglob("*") if p.is_file())
    assert own.tobytes() in uploaded and needle not in uploaded
    assert own.tobytes() in (tmp_path / "copy.lindi.tar").read_bytes()
    assert needle not in (tmp_path / "copy.lindi.tar").read_bytes()
