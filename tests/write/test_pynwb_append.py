"""pynwb appends to a translated file through the facade exactly as it appends to the HDF5 file."""

from __future__ import annotations

import shutil
import warnings

import h5py
import numpy as np
import pynwb
from pynwb import TimeSeries

import lindi_core
from tests.facade.nwb.builders import build_ecephys
from tests.facade.nwb.compare import assert_same, snapshot


def _with_id(cls, object_id: str, **kwargs):
    """A container with a fixed object_id, so both appends create identical objects."""
    container = cls.__new__(cls, object_id=object_id)
    cls.__init__(container, **kwargs)
    return container


def _append(io: pynwb.NWBHDF5IO) -> None:
    nwb = io.read()
    module = _with_id(pynwb.ProcessingModule, "results-module", name="results", description="processed offline")
    nwb.add_processing_module(module)
    module.add(_with_id(TimeSeries, "smoothed-series", name="smoothed",
                        data=np.random.default_rng(0).normal(size=(50_000, 4)), rate=10.0, unit="a.u.",
                        description="smoothed traces"))
    io.write(nwb)


def test_append_with_staging_upload_and_reopen(tmp_path):
    build_ecephys(tmp_path / "orig.nwb")
    shutil.copy(tmp_path / "orig.nwb", tmp_path / "truth.nwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(tmp_path / "truth.nwb"), mode="a") as io:
            _append(io)
    lindi_core.translate_to_file(tmp_path / "orig.nwb", tmp_path / "orig.nwb.lindi.json", progress=False)
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    f = lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "orig.nwb.lindi.json", mode="r+", staging_area=staging)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(file=f, mode="a") as io:
            _append(io)
    report = f.upload(lindi_core.uploaders.DirectoryUploader(tmp_path / "blobs"))
    assert report.chunks > 0
    f.write_lindi_file(tmp_path / "edited.nwb.lindi.json")
    f.close()
    staging.cleanup()
    with pynwb.NWBHDF5IO(str(tmp_path / "truth.nwb"), mode="r") as truth_io, \
            pynwb.NWBHDF5IO(file=lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "edited.nwb.lindi.json"),
                            mode="r") as edited_io:
        assert_same(snapshot(truth_io.read()), snapshot(edited_io.read()))


def _session() -> pynwb.NWBFile:
    import datetime

    nwb = pynwb.NWBFile(session_description="d", identifier="i",
                        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
    nwb.add_trial_column("cond", "a string column")
    for i in range(3):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5, cond=f"c{i}")
    return nwb


def _edit_strings_and_add_rows(io: pynwb.NWBHDF5IO) -> None:
    """What hdmf does through h5py's own Dataset code on its StrDataset wrapper (resize, write)."""
    nwb = io.read()
    nwb.add_trial(start_time=9.0, stop_time=9.5, cond="new")
    nwb.trials["cond"].data[0] = "edited"
    io.write(nwb)


def test_rows_added_and_strings_edited_in_append_mode_as_in_hdf5(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(tmp_path / "truth.nwb"), "w") as io:
            io.write(_session())
        lindi_core.translate_to_file(tmp_path / "truth.nwb", tmp_path / "edited.nwb.lindi.json", progress=False)
        with pynwb.NWBHDF5IO(str(tmp_path / "truth.nwb"), "a") as io:
            _edit_strings_and_add_rows(io)
        f = lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "edited.nwb.lindi.json", "r+")
        with pynwb.NWBHDF5IO(file=f, mode="a") as io:
            _edit_strings_and_add_rows(io)
        f.close()
        with pynwb.NWBHDF5IO(str(tmp_path / "truth.nwb"), "r") as truth_io, pynwb.NWBHDF5IO(
                file=lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "edited.nwb.lindi.json"), mode="r") as io:
            truth, edited = truth_io.read().trials.to_dataframe(), io.read().trials.to_dataframe()
            assert edited.equals(truth) and len(truth) == 4 and truth["cond"].iloc[0] == "edited"


def test_data_chunk_iterators_write_as_in_hdf5(tmp_path):
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.data_utils import DataChunkIterator

    def session() -> pynwb.NWBFile:
        nwb = _session()
        values = np.arange(1000.0).reshape(250, 4)
        nwb.add_acquisition(TimeSeries(name="known", unit="V", rate=1.0,
                                       data=DataChunkIterator(data=values, buffer_size=7)))
        nwb.add_acquisition(TimeSeries(name="unknown", unit="V", rate=1.0, data=H5DataIO(
            DataChunkIterator(data=iter(values), buffer_size=16), compression="gzip", chunks=(32, 4))))
        return nwb

    paths = [str(tmp_path / "truth.nwb"), str(tmp_path / "x.nwb.lindi.json"), str(tmp_path / "x.nwb.lindi.tar")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(paths[0], "w") as io:
            io.write(session())
        for path in paths[1:]:
            f = lindi_core.LindiH5pyFile.from_lindi_file(path, "w")
            with pynwb.NWBHDF5IO(file=f, mode="w") as io:
                io.write(session())
            f.close()
        def contents(nwb: pynwb.NWBFile) -> list:  # object ids differ between the sessions written
            return [(name, nwb.acquisition[name].data[()].tolist(), nwb.acquisition[name].data.chunks,
                     nwb.acquisition[name].data.compression) for name in ("known", "unknown")]

        with pynwb.NWBHDF5IO(paths[0], "r") as truth_io:
            truth = contents(truth_io.read())
            for path in paths[1:]:
                with pynwb.NWBHDF5IO(file=lindi_core.LindiH5pyFile.from_lindi_file(path), mode="r") as io:
                    assert contents(io.read()) == truth


def test_data_linked_from_another_reference_file_reads_back(tmp_path):
    """pynwb links data it read from one file into the next as an external link to that file."""
    a_path, b_path = str(tmp_path / "a.nwb.lindi.json"), str(tmp_path / "b.nwb.lindi.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwb = _session()
        nwb.add_acquisition(TimeSeries(name="ts", unit="V", rate=1.0, data=np.arange(3.0)))
        with pynwb.NWBHDF5IO(file=lindi_core.LindiH5pyFile.from_lindi_file(a_path, "w"), mode="w") as io:
            io.write(nwb)
        with pynwb.NWBHDF5IO(file=lindi_core.LindiH5pyFile.from_lindi_file(a_path), mode="r") as a_io:
            source = a_io.read().acquisition["ts"]
            b = _session()
            b.add_acquisition(TimeSeries(name="linked", unit="V", rate=1.0, data=source.data))
            with pynwb.NWBHDF5IO(file=lindi_core.LindiH5pyFile.from_lindi_file(b_path, "w"), mode="w") as io:
                io.write(b)
        with pynwb.NWBHDF5IO(file=lindi_core.LindiH5pyFile.from_lindi_file(b_path), mode="r") as io:
            linked = io.read().acquisition["linked"]
            assert linked.data[()].tolist() == [0.0, 1.0, 2.0]
            assert linked.data.file.filename == a_path  # read through the link, from the first file
        with lindi_core.LindiH5pyFile.from_lindi_file(b_path) as f:
            assert isinstance(f.get("acquisition/linked/data", getlink=True), h5py.ExternalLink)
