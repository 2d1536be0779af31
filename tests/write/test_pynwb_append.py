"""pynwb appends to a translated file through the facade exactly as it appends to the HDF5 file."""

from __future__ import annotations

import shutil
import warnings

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
