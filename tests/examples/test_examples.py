"""The runnable examples under examples/: each script's ``main`` against a loopback server serving
a pynwb-written test file (its results checked against h5py and pynwb reading that file), and
each script run as a new user runs it, ``python examples/X.py`` without arguments."""

from __future__ import annotations

import datetime
import importlib
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

import lindi_core

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "examples")
DATA = "acquisition/position/data"


def example(name: str):
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def nwb_source(tmp_path_factory) -> str:
    """An NWB file unlike the examples' sample: a TimeSeries of 2000 x 3 float64 in chunks of
    250 rows (8 chunks), the largest dataset of the file."""
    import pynwb
    from hdmf.backends.hdf5 import H5DataIO

    path = str(tmp_path_factory.mktemp("nwb") / "test.nwb")
    nwb = pynwb.NWBFile(session_description="examples test session", identifier="examples-test",
                        session_start_time=datetime.datetime(2026, 2, 3, tzinfo=datetime.UTC))
    values = np.cumsum(np.random.default_rng(7).normal(size=(2000, 3)), axis=0)
    nwb.add_acquisition(pynwb.TimeSeries(name="position", data=H5DataIO(values, chunks=(250, 3), compression="gzip"),
                                         unit="cm", rate=50.0, conversion=0.01))
    with pynwb.NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    return path


@pytest.fixture
def www(tmp_path, nwb_source, serve):
    """(folder, server, URL of test.nwb): the test file served on 127.0.0.1 from a fresh folder."""
    folder = tmp_path / "www"
    folder.mkdir()
    shutil.copy(nwb_source, folder / "test.nwb")
    server = serve(folder)
    return folder, server, server.url_for("test.nwb")


def sidecar_of(www) -> str:
    """Translate the served file by URL into a served sidecar; its URL."""
    folder, server, url = www
    lindi_core.translate_to_file(url, folder / "test.nwb.lindi.json", progress=False)
    return server.url_for("test.nwb.lindi.json")


def h5_values(path: str, dataset: str = DATA) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f[dataset][()]


@pytest.mark.parametrize("through", ["hdf5", "sidecar"])
def test_lazy_load_nwb_reads_the_slice_pynwb_reads(www, nwb_source, through):
    url = www[2] if through == "hdf5" else sidecar_of(www)
    result = example("lazy_load_nwb").main(url, rows=7)
    assert result["series"] == "position" and result["path"] == "/" + DATA
    np.testing.assert_array_equal(result["window"], h5_values(nwb_source)[:7, :4])
    assert result["requests"] == 1  # the 7 rows lie in the first chunk


def test_write_sidecar_refers_to_the_url_it_translated(www, nwb_source, tmp_path):
    url = www[2]
    out = str(tmp_path / "out.nwb.lindi.json")
    result = example("write_sidecar").main(url, out)
    rfs = lindi_core.load_reference_file(out)
    refs = list(rfs.chunk_refs(DATA))
    assert len(refs) == 8 and {ref.url for _, ref in refs} == {url}
    assert rfs.used_urls() == [url]
    assert result["dataset"] == DATA
    np.testing.assert_array_equal(result["first"], h5_values(nwb_source)[:3])
    with lindi_core.LindiH5pyFile.from_lindi_file(out) as f:
        np.testing.assert_array_equal(f[DATA][()], h5_values(nwb_source))


def test_write_sidecar_names_its_output_after_the_url(www, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    example("write_sidecar").main(www[2])
    assert lindi_core.load_reference_file(str(tmp_path / "test.nwb.lindi.json")).used_urls() == [www[2]]


def test_cached_sidecar_second_read_makes_no_range_request(www, nwb_source, tmp_path):
    folder, server, url = www
    sidecar = sidecar_of(www)
    server.stats.reset()
    result = example("cached_sidecar").main(sidecar, rows=600, cache_dir=str(tmp_path / "cache"))
    first, second = result["requests"]
    assert first >= 1 and second == 0
    data_requests = [p for p in server.stats.paths if p == "/test.nwb"]
    assert len(data_requests) == first  # counted by the server: the cache served session 2
    assert server.stats.paths.count("/test.nwb.lindi.json") == 2
    assert result["dataset"] == DATA and result["same"]
    np.testing.assert_array_equal(result["values"], h5_values(nwb_source)[:600])
    assert lindi_core.LocalCache(cache_dir=str(tmp_path / "cache")).info().entries >= 3  # rows 0..599: 3 chunks


def local_sidecar_of(www, tmp_path) -> str:
    """Translate the served file by URL into a local sidecar; its path."""
    path = str(tmp_path / "local.nwb.lindi.json")
    lindi_core.translate_to_file(www[2], path, progress=False)
    return path


def source_of(www, tmp_path, through: str) -> str:
    return {"hdf5": lambda: www[2], "sidecar": lambda: sidecar_of(www),
            "local-sidecar": lambda: local_sidecar_of(www, tmp_path)}[through]()


@pytest.mark.parametrize("through", ["hdf5", "sidecar", "local-sidecar"])
def test_fix_metadata_keeps_the_data_refs_on_the_original_file(www, nwb_source, tmp_path, through):
    import pynwb

    folder, server, url = www
    source = source_of(www, tmp_path, through)
    served_before = {p.name: p.read_bytes() for p in folder.iterdir()}
    source_before = open(source, "rb").read() if through == "local-sidecar" else None
    out = str(tmp_path / "fixed.nwb.lindi.json")
    result = example("fix_metadata").main(source, out, description="fixed here", conversion=0.5)
    assert result["old_description"] == "examples test session"
    rfs = lindi_core.load_reference_file(out)
    assert rfs.used_urls() == [url]
    original = lindi_core.translate(nwb_source, ref_url=url, progress=False)
    assert list(rfs.chunk_refs(DATA)) == list(original.chunk_refs(DATA))  # the very same ranges
    with lindi_core.LindiH5pyFile.from_lindi_file(out) as f, pynwb.NWBHDF5IO(file=f, mode="r") as io:
        nwb = io.read()
        assert nwb.session_description == "fixed here"
        assert nwb.acquisition["position"].conversion == 0.5
        np.testing.assert_array_equal(nwb.acquisition["position"].data[()], h5_values(nwb_source))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == served_before  # nothing uploaded
    if source_before is not None:
        assert open(source, "rb").read() == source_before  # the local sidecar edited is a copy


def test_add_processed_dataset_uploads_only_the_new_chunks(www, nwb_source, tmp_path):
    folder, server, url = www
    sidecar = sidecar_of(www)
    out = str(tmp_path / "processed.nwb.lindi.json")
    result = example("add_processed_dataset").main(sidecar, str(folder / "up"), server.url_for("up"), out, rows=1500)
    expected = h5_values(nwb_source)[:1500].mean(axis=1).astype(np.float32)
    np.testing.assert_array_equal(result["values"], expected)
    blobs = sorted((folder / "up").iterdir())
    assert blobs and sum(p.stat().st_size for p in blobs) == result["report"].bytes
    rfs = lindi_core.load_reference_file(out)
    new_refs = [ref for _, ref in rfs.chunk_refs("analysis/channel_mean")]
    assert len(new_refs) == result["report"].chunks == 1  # 1500 rows: one chunk of 1500
    blob_urls = {server.url_for(f"up/{p.name}") for p in blobs}
    assert {ref.url for ref in new_refs} == blob_urls
    assert sum(ref.length for ref in new_refs) == result["report"].bytes
    assert set(rfs.used_urls()) == {url} | blob_urls  # nothing points into the (deleted) staging area
    original = lindi_core.translate(nwb_source, ref_url=url, progress=False)
    assert list(rfs.chunk_refs(DATA)) == list(original.chunk_refs(DATA))
    server.stats.reset()
    with lindi_core.LindiH5pyFile.from_lindi_file(out) as f:
        np.testing.assert_array_equal(f["analysis/channel_mean"][()], expected)
    assert server.stats.paths and all(p.startswith("/up/blob-") for p in server.stats.paths)


def test_add_processed_dataset_leaves_a_local_sidecar_as_it_was(www, nwb_source, tmp_path):
    source = local_sidecar_of(www, tmp_path)
    before = open(source, "rb").read()
    out = str(tmp_path / "processed.nwb.lindi.json")
    example("add_processed_dataset").main(source, str(tmp_path / "up"), None, out, rows=2000)
    assert open(source, "rb").read() == before
    assert "analysis/channel_mean/.zarray" not in lindi_core.load_reference_file(source)
    with lindi_core.LindiH5pyFile.from_lindi_file(out) as f:
        np.testing.assert_array_equal(f["analysis/channel_mean"][()],
                                      h5_values(nwb_source).mean(axis=1).astype(np.float32))
        np.testing.assert_array_equal(f[DATA][()], h5_values(nwb_source))


def test_add_processed_dataset_uploads_to_an_fsspec_url(www, nwb_source, tmp_path):
    import fsspec

    target = "memory://lindi-core-examples-test"
    out = str(tmp_path / "processed.nwb.lindi.json")
    try:
        result = example("add_processed_dataset").main(www[2], target, None, out, rows=2000)
        fs = fsspec.filesystem("memory")
        uploaded = fs.ls(target, detail=True)
        assert len(uploaded) == result["report"].blobs and sum(e["size"] for e in uploaded) == result["report"].bytes
        refs = [ref for _, ref in lindi_core.load_reference_file(out).chunk_refs("analysis/channel_mean")]
        assert len(refs) == 1 and refs[0].url.startswith(target + "/blob-")  # 2000 rows, chunks of 2000
        with lindi_core.LindiH5pyFile.from_lindi_file(out) as f:
            np.testing.assert_array_equal(f["analysis/channel_mean"][()],
                                          h5_values(nwb_source).mean(axis=1).astype(np.float32))
    finally:
        fsspec.filesystem("memory").rm(target, recursive=True)


@pytest.mark.parametrize("through", ["hdf5", "sidecar"])
def test_xarray_dask_mean_is_h5pys(www, nwb_source, through):
    url = www[2] if through == "hdf5" else sidecar_of(www)
    result = example("xarray_dask").main(url)
    assert result["dataset"] == DATA
    expected = h5_values(nwb_source).mean(axis=0)
    np.testing.assert_allclose(result["xarray_mean"], expected, rtol=1e-12)
    np.testing.assert_allclose(result["to_dask_mean"], expected, rtol=1e-12)
    assert result["attrs"]["neurodata_type"] == "TimeSeries"


@pytest.mark.slow  # a new interpreter importing pynwb, xarray and dask: a few seconds each
@pytest.mark.parametrize("script, expected", [
    ("lazy_load_nwb.py", "read with 1 range request"),
    ("write_sidecar.py", "chunks, 614,265 bytes -> http://127.0.0.1:"),
    ("cached_sidecar.py", "session 2: the same rows, 0 range request(s)"),
    ("fix_metadata.py", "ElectricalSeries.conversion 1e-06"),
    ("add_processed_dataset.py", "identical to the values computed: True"),
    ("xarray_dask.py", "equal: True"),
    ("translate_and_read.py", "acquisition/ElectricalSeries/data: shape (30000, 16)"),
])
def test_example_runs_offline_without_arguments(script, expected, tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert os.listdir(tmp_path) == []  # it wrote nothing into the folder it ran in
