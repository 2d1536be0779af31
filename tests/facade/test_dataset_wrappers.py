"""Subclasses of ``h5py.Dataset`` that wrap a facade dataset (hdmf's ``StrDataset``, which pynwb
puts around UTF-8 string datasets) run h5py's own ``__array__`` and ``read_direct`` code over
it; they must read what they read over h5py."""

from __future__ import annotations

import datetime

import h5py
import numpy as np
import pynwb
import pytest
from hdmf.utils import StrDataset

import lindi_core


@pytest.fixture
def pair(tmp_path):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("texts", data=np.array(["2026-01-01T00:00:00", "b", "c"], dtype=h5py.string_dtype()))
        f.create_dataset("text", data="scalar", dtype=h5py.string_dtype())
        f.create_dataset("numbers", data=np.arange(24).reshape(4, 6), chunks=(2, 3))
    lindi_core.translate_to_file(path, tmp_path / "w.lindi.json", progress=False)
    with h5py.File(path, "r") as h, lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "w.lindi.json") as f:
        yield h, f


def test_str_dataset_reads_through_the_facade_as_through_h5py(pair):
    h, f = pair
    for name in ("texts", "text"):
        ours, theirs = np.asarray(StrDataset(f[name], None)), np.asarray(StrDataset(h[name], None))
        assert ours.tolist() == theirs.tolist() and ours.dtype == theirs.dtype
        assert np.asarray(StrDataset(f[name], None)[()]).tolist() == np.asarray(StrDataset(h[name], None)[()]).tolist()


@pytest.mark.parametrize("source, dest", [
    (np.s_[1:3, 2:5], np.s_[0:2, 1:4]), (np.s_[::2, 1], np.s_[3, 0:2]), (np.s_[[0, 3], :], np.s_[1:3, :]),
    (np.s_[...], np.s_[...]), (np.s_[2, ::3], np.s_[0, 4:6]),
])
def test_h5pys_read_direct_code_over_the_facade_dataset(pair, source, dest):
    h, f = pair
    expected = np.full((4, 6), -1)
    h["numbers"].read_direct(expected, source, dest)
    got = np.full((4, 6), -1)
    h5py.Dataset.read_direct(f["numbers"], got, source, dest)  # h5py's code, the facade's id
    np.testing.assert_array_equal(got, expected)


def test_the_id_describes_the_dataspace_as_libhdf5_does(pair):
    h, f = pair
    for name in ("texts", "text", "numbers"):
        ours, theirs = f[name].id.get_space(), h[name].id.get_space()
        assert ours.shape == theirs.shape and ours.get_simple_extent_type() == theirs.get_simple_extent_type()
        assert f[name]._is_empty is False
    assert f["numbers"].id == f["numbers"].id and hash(f["numbers"].id) == hash(f["numbers"].id)


def test_pynwb_reads_utf8_datetime_strings_through_the_facade(tmp_path):
    path = tmp_path / "utf8.nwb"
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    nwb = pynwb.NWBFile(session_description="utf-8 dates", identifier="u", session_start_time=start,
                        file_create_date=[start, start + datetime.timedelta(days=1)])
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with h5py.File(path, "r+") as f:  # as other writers store them: UTF-8 variable-length strings
        values = [v.decode() for v in f["file_create_date"][()]]
        del f["file_create_date"]
        f.create_dataset("file_create_date", data=np.array(values, dtype=h5py.string_dtype("utf-8")))
    lindi_core.translate_to_file(path, tmp_path / "utf8.nwb.lindi.json", progress=False)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        expected = list(io.read().file_create_date)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "utf8.nwb.lindi.json") as f, \
            pynwb.NWBHDF5IO(file=f, mode="r") as io:
        assert list(io.read().file_create_date) == expected == [start, start + datetime.timedelta(days=1)]
