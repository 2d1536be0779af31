"""The store over HTTP: remote translation and reads, faults, and the trust policy."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core import ChunkOptions
from lindi_core.errors import AccessDeniedError, ByteSourceError
from lindi_core.testing.range_server import ServerFaults

DATA = np.arange(200_000, dtype="<i4").reshape(2000, 100)


@pytest.fixture
def remote_file(tmp_path, make_h5):
    def build(f):
        f.create_dataset("chunked", data=DATA, chunks=(100, 100), compression="gzip", shuffle=True)
        f.create_dataset("contiguous", data=DATA)
        f.attrs["title"] = "remote"

    make_h5(build, name="remote.h5")
    return tmp_path


def test_translate_from_url_and_read_slices_over_http(remote_file, serve):
    server = serve(remote_file)
    url = server.url_for("remote.h5")
    rfs = lindi_core.translate(url, options=ChunkOptions(contiguous_chunk_target=64 * 1024))
    assert rfs.urls == [url]
    store = lindi_core.ReferenceStore(rfs)
    root = zarr.open_group(store, mode="r", zarr_format=2)
    server.stats.reset()
    np.testing.assert_array_equal(root["chunked"][150:160, 5:10], DATA[150:160, 5:10])
    assert server.stats.requests == 1  # one chunk, one range request
    server.stats.reset()
    np.testing.assert_array_equal(root["contiguous"][1999, :], DATA[1999, :])
    assert server.stats.requests == 1 and server.stats.bytes_sent <= 64 * 1024
    assert root.attrs["title"] == "remote"
    store.close()


def test_reads_survive_server_faults_and_ignored_ranges(remote_file, serve, tmp_path):
    out = tmp_path / "remote.lindi.json"
    clean = serve(remote_file)
    lindi_core.translate_to_file(clean.url_for("remote.h5"), out, progress=False)
    rfs = lindi_core.load_reference_file(out)
    for faults in [ServerFaults(error_rate=0.2, seed=1), ServerFaults(ignore_range=True),
                   ServerFaults(truncate_rate=0.2, seed=2)]:
        flaky = serve(remote_file, faults=faults)
        rfs.urls[:] = [flaky.url_for("remote.h5")]
        store = lindi_core.ReferenceStore(rfs)
        root = zarr.open_group(store, mode="r", zarr_format=2)
        np.testing.assert_array_equal(root["chunked"][...], DATA)
        store.close()


def test_missing_remote_file_is_a_clear_error(remote_file, serve):
    server = serve(remote_file)
    rfs = lindi_core.translate(server.url_for("remote.h5"))
    rfs.urls[:] = [server.url_for("gone.h5")]
    store = lindi_core.ReferenceStore(rfs)
    root = zarr.open_group(store, mode="r", zarr_format=2)
    with pytest.raises(ByteSourceError, match="404"):
        root["chunked"][0, 0]
    store.close()


def test_reference_file_from_a_url_may_not_read_local_files(remote_file, serve, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(10, dtype="<i4").tobytes())
    hostile = {"version": 1, "refs": {
        ".zgroup": {"zarr_format": 2},
        "x/.zarray": {"zarr_format": 2, "shape": [10], "chunks": [10], "dtype": "<i4", "compressor": None,
                      "fill_value": 0, "order": "C", "filters": None},
        "x/0": [str(secret), 0, 40]}}
    (remote_file / "hostile.lindi.json").write_text(json.dumps(hostile))
    server = serve(remote_file)
    url = server.url_for("hostile.lindi.json")

    root = zarr.open_group(lindi_core.ReferenceStore.from_file(url), mode="r", zarr_format=2)
    with pytest.raises(AccessDeniedError, match="local file"):
        root["x"][...]
    hostile["refs"]["x/0"][0] = "file://" + str(secret)
    (remote_file / "hostile.lindi.json").write_text(json.dumps(hostile))
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(url), mode="r", zarr_format=2)
    with pytest.raises(AccessDeniedError):
        root["x"][...]
    trusted = zarr.open_group(lindi_core.ReferenceStore.from_file(url, allow_local=True), mode="r", zarr_format=2)
    np.testing.assert_array_equal(trusted["x"][...], np.arange(10))


def test_relative_targets_resolve_next_to_a_local_reference_file(tmp_path, make_h5):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(5000), chunks=(1000,)), name="here.h5")
    sub = tmp_path / "moved"
    sub.mkdir()
    shutil.copy(path, sub / "here.h5")
    rfs = lindi_core.translate(path, ref_url="here.h5")
    from lindi_core.format import jsonio

    jsonio.write_atomic(rfs, sub / "x.lindi.json")
    root = zarr.open_group(lindi_core.ReferenceStore.from_file(sub / "x.lindi.json"), mode="r", zarr_format=2)
    with h5py.File(path) as f:
        np.testing.assert_array_equal(root["x"][...], f["x"][...])


def test_a_reference_shorter_than_its_chunk_is_an_error_not_zeros(make_h5, tmp_path):
    import lindi_core.errors
    from lindi_core.format import jsonio

    path = make_h5(lambda f: f.create_dataset("v", data=np.arange(100_000, dtype="f8")), name="contiguous.h5")
    rfs = lindi_core.translate(path, options=lindi_core.ChunkOptions(contiguous_chunk_target=80_000))
    table = rfs.tables["v"]
    assert len(table) > 2  # virtual chunks; the last one holds only the end of the array
    table.length[0] = 800  # a reference that no longer holds its (full, first) chunk
    out = tmp_path / "short.lindi.json"
    jsonio.write_atomic(rfs, out)
    with lindi_core.LindiH5pyFile.from_lindi_file(str(out)) as f:
        with pytest.raises(lindi_core.errors.ReferenceFormatError, match="fewer than"):
            f["v"][100]
        np.testing.assert_array_equal(f["v"][-5:], np.arange(99_995, 100_000, dtype="f8"))  # the short edge chunk
