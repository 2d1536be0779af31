"""The usage patterns of LINDI 0.4's README, run unchanged but for ``import lindi_core as
lindi`` and a loopback URL in place of DANDI's: an NWB file written by pynwb is read through
each route with pynwb and compared, in full, with pynwb reading it with h5py."""

from __future__ import annotations

import h5py
import numpy as np
import pynwb
import pytest
from pynwb.file import TimeSeries

import lindi_core as lindi
from tests.facade.nwb.builders import build_ecephys
from tests.facade.nwb.compare import assert_same, snapshot


@pytest.fixture
def nwb(tmp_path, serve):
    """(local path, URL) of a small pynwb-written ecephys file, and pynwb's snapshot of it."""
    path = tmp_path / "served" / "ecephys.nwb"
    path.parent.mkdir()
    build_ecephys(path)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        expected = snapshot(io.read())
    return path, serve(path.parent).url_for("ecephys.nwb"), expected


def _read(f: h5py.File) -> dict:
    with pynwb.NWBHDF5IO(file=f, mode="r") as io:
        return snapshot(io.read())


def test_load_remote_nwb_and_save_lindi_json(nwb, tmp_path, monkeypatch):
    _path, h5_url, expected = nwb
    monkeypatch.chdir(tmp_path)
    f = lindi.LindiH5pyFile.from_hdf5_file(h5_url)
    assert_same(expected, _read(f))
    f.write_lindi_file("example.nwb.lindi.json")
    f.close()
    g = lindi.LindiH5pyFile.from_lindi_file("example.nwb.lindi.json")
    assert_same(expected, _read(g))
    g.close()
    # Cache with LINDI files: the same values again, through a LocalCache, twice
    local_cache = lindi.LocalCache(cache_dir=str(tmp_path / "cache"))
    for _ in range(2):
        with lindi.LindiH5pyFile.from_lindi_file("example.nwb.lindi.json", local_cache=local_cache) as h:
            data = h["processing/ecephys/LFP/LFP/data"][:1000]
    with h5py.File(_path, "r") as direct:
        assert np.array_equal(data, direct["processing/ecephys/LFP/LFP/data"][:1000])


def test_add_data_to_a_lindi_tar_with_pynwb(nwb, tmp_path, monkeypatch):
    _path, h5_url, expected = nwb
    monkeypatch.chdir(tmp_path)
    f = lindi.LindiH5pyFile.from_hdf5_file(h5_url)
    f.write_lindi_file("example.nwb.lindi.tar")
    f.close()
    g = lindi.LindiH5pyFile.from_lindi_file("example.nwb.lindi.tar", mode="r+")
    with pynwb.NWBHDF5IO(file=g, mode="a") as io:
        nwbfile = io.read()
        timeseries_test = TimeSeries(name="test", data=np.array([1, 2, 3, 4, 5, 4, 3, 2, 1]), rate=1.0, unit="s")
        nwbfile.processing["ecephys"].add(timeseries_test)
        io.write(nwbfile)
    h = lindi.LindiH5pyFile.from_lindi_file("example.nwb.lindi.tar")
    with pynwb.NWBHDF5IO(file=h, mode="r") as io:
        test_timeseries = io.read().processing["ecephys"]["test"]
        assert test_timeseries.data[:].tolist() == [1, 2, 3, 4, 5, 4, 3, 2, 1]
        assert test_timeseries.rate == 1.0
    h.close()


def test_remote_hdf5_with_local_cache(nwb, tmp_path):
    path, h5_url, expected = nwb
    local_cache = lindi.LocalCache(cache_dir=str(tmp_path / "custom_cache"))
    f = lindi.LindiH5pyFile.from_hdf5_file(h5_url, local_cache=local_cache)
    first = f["acquisition/ElectricalSeries/data"][:]
    second = f["acquisition/ElectricalSeries/data"][:]
    with h5py.File(path, "r") as direct:
        assert np.array_equal(first, direct["acquisition/ElectricalSeries/data"][:])
    assert np.array_equal(first, second)
    f.close()


def test_store_to_rfs_then_pynwb(nwb):
    """LINDI's test_local_cache pattern: a store over the URL, its reference file system, a file
    over that through a LocalCache, read by pynwb."""
    _path, h5_url, expected = nwb
    store = lindi.LindiH5ZarrStore.from_file(h5_url)
    rfs = store.to_reference_file_system()
    client = lindi.LindiH5pyFile.from_reference_file_system(rfs)
    x = client["/processing/ecephys/LFP/LFP/data"]
    assert isinstance(x, lindi.LindiH5pyDataset)
    # (LINDI 0.4's file still reads after pynwb closed it; an h5py file, and this one, do not)
    assert_same(expected, _read(client))
    store.close()


def test_remfile_h5py_pynwb_pattern(nwb, tmp_path):
    """DANDI's notebooks: ``h5py.File(remfile.File(url))`` into pynwb, with LindiRemfile."""
    _path, h5_url, expected = nwb
    remote = lindi.LindiRemfile(h5_url, local_cache=lindi.LocalCache(cache_dir=str(tmp_path / "cache")))
    with h5py.File(remote, "r") as f:
        assert_same(expected, _read(f))
    remote.close()
