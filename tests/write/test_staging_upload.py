"""New chunks are staged, consolidated into blobs, uploaded once, and the refs follow."""

from __future__ import annotations

import os

import numpy as np

import lindi_core
from lindi_core.write.uploaders import CallbackUploader, DirectoryUploader


def _edit(tmp_path, make_h5, staging):
    original = np.arange(50_000, dtype="<i8")
    make_h5(lambda f: f.create_dataset("orig", data=original, chunks=(5000,)), name="o.h5")
    lindi_core.translate_to_file(tmp_path / "o.h5", tmp_path / "o.lindi.json", progress=False)
    new = np.random.default_rng(0).normal(size=(400_000,))
    f = lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "o.lindi.json", mode="r+", staging_area=staging)
    f.create_dataset("new", data=new, chunks=(20_000,), compression="gzip")
    return f, original, new


def test_upload_moves_only_new_bytes_and_rewrites_refs(tmp_path, make_h5):
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    f, original, new = _edit(tmp_path, make_h5, staging)
    staged = [ref for _, ref in f._rfs.chunk_refs("new")]
    assert len(staged) == 20 and all(staging.contains(r.url) for r in staged)
    uploader = DirectoryUploader(tmp_path / "blobs", url_prefix=None)
    report = f.upload(uploader, blob_size=1 << 20)
    compressed = sum(r.length for r in staged)
    assert report.chunks == 20 and report.blobs >= 2
    assert uploader.uploaded_bytes == compressed  # only the new chunk bytes
    assert all(not staging.contains(ref.url) for _, ref in f._rfs.chunk_refs("new"))
    f.write_lindi_file(tmp_path / "edited.lindi.json")
    f.close()
    staging.cleanup()
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "edited.lindi.json") as g:
        np.testing.assert_array_equal(g["new"][...], new)
        np.testing.assert_array_equal(g["orig"][...], original)
        assert {ref.url for _, ref in g._rfs.chunk_refs("orig")} == {str(tmp_path / "o.h5")}


def test_a_rerun_after_a_crash_uploads_only_what_is_missing(tmp_path, make_h5):
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    f, _, new = _edit(tmp_path, make_h5, staging)
    calls = []

    def crash_on_second(local_path):
        calls.append(local_path)
        if len(calls) == 2:
            raise OSError("network gone")
        return DirectoryUploader(tmp_path / "blobs").upload(local_path, os.path.basename(local_path))

    try:
        f.upload(CallbackUploader(crash_on_second), blob_size=1 << 20)
    except OSError:
        pass
    assert all(staging.contains(ref.url) for _, ref in f._rfs.chunk_refs("new"))  # nothing published yet
    retry = DirectoryUploader(tmp_path / "blobs")
    f.upload(retry, blob_size=1 << 20)
    first_blob_size = os.path.getsize(calls[0])
    total = sum(os.path.getsize(p) for p in (tmp_path / "blobs").iterdir())
    assert retry.uploaded_bytes == total - first_blob_size  # the blob already there was not sent again
    np.testing.assert_array_equal(f["new"][...], new)
    f.close()
