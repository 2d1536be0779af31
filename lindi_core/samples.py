"""Built-in sample data: a small NWB file written with pynwb, for the demo and quick checks.

The file has what real recordings have in small: an ElectricalSeries with an electrodes table
region, LFP in a processing module, units with ragged spike times, trials, a subject, and a
big-enough contiguous dataset to be cut into virtual chunks.
"""

from __future__ import annotations

import datetime
import os

import numpy as np


def write_sample_nwb(path: str | os.PathLike, *, n_samples: int = 30_000, n_channels: int = 16, seed: int = 0) -> str:
    """Write the sample NWB file to ``path`` and return the path. Needs pynwb."""
    try:
        import pynwb
        from hdmf.backends.hdf5 import H5DataIO
        from pynwb.ecephys import LFP, ElectricalSeries
        from pynwb.file import Subject
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the sample NWB file needs pynwb: pip install 'lindi-core[demo]'") from exc

    rng = np.random.default_rng(seed)
    nwb = pynwb.NWBFile(
        session_description="lindi-core sample session",
        identifier="lindi-core-sample",
        session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        subject=Subject(subject_id="mouse-1", species="Mus musculus", sex="F", age="P90D"),
    )
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank0", description="shank", location="CA1", device=device)
    for i in range(n_channels):
        nwb.add_electrode(group=group, location="CA1", x=float(i), y=0.0, z=0.0, filtering="none",
                          imp=float("nan"), rel_x=float(i), rel_y=0.0)
    region = nwb.create_electrode_table_region(list(range(n_channels)), "all electrodes")
    raw = (rng.normal(0, 50, (n_samples, n_channels))).astype(np.int16)
    nwb.add_acquisition(ElectricalSeries(
        name="ElectricalSeries",
        data=H5DataIO(raw, chunks=(5000, n_channels), compression="gzip", shuffle=True),
        electrodes=region, rate=30_000.0, conversion=0.195e-6,
    ))
    ecephys = nwb.create_processing_module(name="ecephys", description="processed")
    lfp_data = rng.normal(0, 1, (n_samples // 30, n_channels)).astype(np.float32)
    ecephys.add(LFP(electrical_series=ElectricalSeries(name="LFP", data=lfp_data, electrodes=region, rate=1000.0)))
    for unit in range(5):
        spikes = np.sort(rng.uniform(0, n_samples / 30_000, 20 + unit))
        nwb.add_unit(spike_times=spikes, electrodes=[unit % n_channels])
    for t in range(3):
        nwb.add_trial(start_time=float(t), stop_time=float(t) + 0.5)
    with pynwb.NWBHDF5IO(os.fspath(path), "w") as io:
        io.write(nwb)
    return os.fspath(path)
