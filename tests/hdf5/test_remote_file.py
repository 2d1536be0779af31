"""Remote HDF5 translation reads metadata, not data; the remote file object reads correctly."""

from __future__ import annotations

import io
import time

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.hdf5.remote_file import RemoteFile


def test_remote_file_reads_any_range_like_a_local_file(tmp_path, serve):
    payload = np.random.default_rng(0).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    (tmp_path / "blob.bin").write_bytes(payload)
    server = serve(tmp_path)
    f = RemoteFile(server.url_for("blob.bin"), block_size=64 * 1024)
    assert f.size == len(payload)
    for start, size in [(0, 10), (65530, 20), (1_000_000, 500_000), (2_999_990, 100)]:
        f.seek(start)
        assert f.read(size) == payload[start : start + size]
    f.seek(-5, io.SEEK_END)
    assert f.read() == payload[-5:] and f.tell() == len(payload)
    f.close()


def test_translating_over_http_fetches_the_metadata_not_the_data(tmp_path, make_h5, serve):
    rng = np.random.default_rng(1)

    def build(f):
        for i in range(20):
            g = f.create_group(f"group{i}")
            g.attrs["description"] = f"group number {i}"
            g.create_dataset("contiguous", data=rng.integers(0, 2**15, (250_000,), dtype="<i2"))
            g.create_dataset("chunked", data=rng.normal(size=(20_000, 16)), chunks=(1000, 16), compression="gzip")

    path = make_h5(build, name="big.h5")
    data_bytes = sum(len(b) for b in [open(path, "rb").read()])
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("big.h5"))
    assert server.stats.bytes_sent < data_bytes / 20
    assert len(rfs.tables) == 40
    with h5py.File(path) as f:
        loaded = lindi_core.LindiH5pyFile(lindi_core.ReferenceStore(rfs))
        np.testing.assert_array_equal(loaded["group7/chunked"][3000:3010], f["group7/chunked"][3000:3010])
        loaded.close()


def test_blocking_reads_keep_one_connection_alive(tmp_path, serve, monkeypatch):
    import http.client

    from lindi_core.io.sync_http import SyncHttp

    payload = np.random.default_rng(2).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    (tmp_path / "k.bin").write_bytes(payload)
    server = serve(tmp_path)
    opened = []

    class CountingConnection(http.client.HTTPConnection):
        def connect(self):
            opened.append(self)
            super().connect()

    monkeypatch.setattr(http.client, "HTTPConnection", CountingConnection)
    client = SyncHttp()
    for i in range(10):
        data, total = client.read(server.url_for("k.bin"), i * 1000, 500)
        assert data == payload[i * 1000 : i * 1000 + 500] and total == len(payload)
    assert len(opened) == 1 and server.stats.requests == 10
    client.close()


def test_round_trip_timing_leaves_out_the_connection_setup(tmp_path, serve, monkeypatch):
    """Read-ahead is decided on the round trip of a request; a slow connect is paid once."""
    import http.client

    from lindi_core.io.sync_http import SyncHttp

    (tmp_path / "c.bin").write_bytes(bytes(100_000))
    server = serve(tmp_path)

    class SlowToConnect(http.client.HTTPConnection):
        def connect(self):
            time.sleep(0.2)  # a far host's TCP and TLS handshakes
            super().connect()

    monkeypatch.setattr(http.client, "HTTPConnection", SlowToConnect)
    client = SyncHttp()
    client.read(server.url_for("c.bin"), 0, 10)
    assert client.connect_seconds >= 0.2
    client.read(server.url_for("c.bin"), 10, 10)
    assert client.connect_seconds == 0.0  # the connection was kept
    client.close()

    remote = RemoteFile(server.url_for("c.bin"))
    assert remote.size == 100_000
    assert remote._round_trip < 0.2  # what the read-ahead decision sees
    remote.close()


def test_blocking_reads_follow_a_redirect_once_then_read_its_target(tmp_path, serve):
    from lindi_core.io.sync_http import SyncHttp

    payload = bytes(range(256)) * 100
    (tmp_path / "r.bin").write_bytes(payload)
    server = serve(tmp_path)
    client = SyncHttp()
    url = server.url_for("redirect/r.bin")
    assert client.read(url, 10, 20)[0] == payload[10:30]
    assert client.read(url, 300, 5)[0] == payload[300:305]
    assert server.stats.paths == ["/redirect/r.bin", "/r.bin", "/r.bin"]  # the redirect is remembered
    client.close()


@pytest.mark.parametrize("shape, chunks", [((8000, 256), (2, 256)), ((40, 40, 1024), (2, 2, 1024)),
                                           ((1_200_000,), (256,))])
def test_chunk_index_nodes_are_fetched_ahead_in_parallel_and_refs_match_the_local_walk(
        tmp_path, make_h5, serve, shape, chunks):
    from lindi_core.format import jsonio

    def build(f):  # thousands of chunks of noise: a chunk B-tree of several levels, nodes megabytes apart
        d = f.create_dataset("d", shape=shape, dtype="<i2", chunks=chunks, compression="gzip")
        d[...] = np.random.default_rng(0).integers(-(2**15), 2**15, size=shape, dtype="<i2")
        f.create_dataset("other", data=np.arange(10))

    path = make_h5(build, name="tree.h5")
    server = serve(tmp_path, latency=0.01)
    url = server.url_for("tree.h5")
    remote = jsonio.to_json_dict(lindi_core.translate(url))
    assert server.stats.max_in_flight > 1  # child nodes fetched together
    assert remote["refs"] == jsonio.to_json_dict(lindi_core.translate(path, ref_url=url))["refs"]
    loaded = lindi_core.LindiH5pyFile(lindi_core.ReferenceStore(lindi_core.format.jsonio.from_json_dict(remote)))
    with h5py.File(path) as f:
        np.testing.assert_array_equal(loaded["d"][...], f["d"][...])
    loaded.close()

