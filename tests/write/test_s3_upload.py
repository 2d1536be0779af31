"""Uploading staged chunks to S3 (moto's server on 127.0.0.1) and reading them back via s3://."""

from __future__ import annotations

import numpy as np
import pytest

import lindi_core
from lindi_core.write.uploaders import FsspecUploader

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")


@pytest.fixture
def s3(monkeypatch):
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    fs.mkdir("lindi-core-test")
    yield endpoint
    server.stop()


def test_upload_to_s3_then_read_through_s3_urls(tmp_path, make_h5, s3):
    make_h5(lambda f: f.create_dataset("orig", data=np.arange(1000)), name="o.h5")
    lindi_core.translate_to_file(tmp_path / "o.h5", tmp_path / "o.lindi.json", progress=False)
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    new = np.random.default_rng(1).normal(size=(200_000,))
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "o.lindi.json", mode="r+", staging_area=staging) as f:
        f.create_dataset("new", data=new, chunks=(25_000,), compression="gzip")
        uploader = FsspecUploader("s3://lindi-core-test/blobs", client_kwargs={"endpoint_url": s3},
                                  skip_instance_cache=True)
        report = f.upload(uploader)
        assert report.chunks == 8 and uploader.uploaded_bytes == report.bytes
        again = FsspecUploader("s3://lindi-core-test/blobs", client_kwargs={"endpoint_url": s3},
                               skip_instance_cache=True)
        f.upload(again)  # nothing left staged, nothing sent
        assert again.uploaded_bytes == 0
    staging.cleanup()
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "o.lindi.json") as g:
        assert {r.url.split("/")[0] for _, r in g._rfs.chunk_refs("new")} == {"s3:"}
        np.testing.assert_array_equal(g["new"][...], new)
        np.testing.assert_array_equal(g["orig"][...], np.arange(1000))
