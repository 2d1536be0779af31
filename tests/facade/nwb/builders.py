"""Small NWB files written with pynwb, one per feature family, for the facade read matrix.

Each builder writes one file to ``path`` and returns nothing. Every file is a few hundred
kilobytes at most (except the deliberately big contiguous dataset in ``timeseries_storage``),
uses fixed random seeds and fixed dates, so rebuilding gives the same content (object ids are
random, but the tests only compare reads of the same file with each other).

``BUILDERS`` maps a feature-family name to its builder; ``build_all(folder)`` writes every
file as ``<folder>/<name>.nwb``.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pynwb
from hdmf.backends.hdf5 import H5DataIO
from hdmf.build import BuildManager
from pynwb import NWBFile, TimeSeries
from pynwb.base import ImageReferences, Images
from pynwb.behavior import CompassDirection, Position, SpatialSeries
from pynwb.ecephys import LFP, ElectricalSeries
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject
from pynwb.icephys import (
    CurrentClampSeries,
    CurrentClampStimulusSeries,
    IZeroClampSeries,
    VoltageClampSeries,
    VoltageClampStimulusSeries,
)
from pynwb.image import GrayscaleImage, ImageSeries, IndexSeries, RGBAImage, RGBImage
from pynwb.misc import AnnotationSeries
from pynwb.ogen import OptogeneticSeries
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, TwoPhotonSeries
from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder, export_spec

SESSION_START = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

# Sizes that keep every file small but still exercise multi-chunk reads.
N_CHANNELS = 8
N_RAW_SAMPLES = 3_000
N_FRAMES, FRAME_HEIGHT, FRAME_WIDTH = 12, 16, 20
# Bigger than the translator's default 16 MiB virtual-chunk target, so the contiguous dataset is
# cut into more than one virtual chunk (int16, 4 columns -> 20 MiB).
BIG_CONTIGUOUS_SHAPE = (2_621_440, 4)

EXTENSION_NAMESPACE = "ndx-lindi-matrix"
EXTENSION_TYPE = "LindiMatrixMetaData"


# -- shared helpers --------------------------------------------------------------------------


def new_nwbfile(identifier: str, **metadata) -> NWBFile:
    """An ``NWBFile`` with the fixed session start time and ``identifier`` (also the description)."""
    return NWBFile(
        session_description=f"lindi-core facade matrix: {identifier}",
        identifier=f"lindi-matrix-{identifier}",
        session_start_time=SESSION_START,
        file_create_date=SESSION_START,
        **metadata,
    )


def write_nwbfile(nwbfile: NWBFile, path: str | os.PathLike, manager: BuildManager | None = None) -> None:
    """Write ``nwbfile`` to ``path`` with its namespaces cached in the file."""
    with pynwb.NWBHDF5IO(os.fspath(path), "w", manager=manager) as io:
        io.write(nwbfile, cache_spec=True)


def add_electrodes(nwbfile: NWBFile, n_channels: int = N_CHANNELS) -> None:
    """A device, two electrode groups and ``n_channels`` electrodes with extra columns
    (a string label, a float quality, a bool flag and a ragged integer list of neighbours)."""
    model = nwbfile.create_device_model(name="probe_model", manufacturer="lab-made", model_number="P-64",
                                        description="64-channel silicon probe")
    device = nwbfile.create_device(name="probe", description="silicon probe", serial_number="0042",
                                   model=model)
    groups = [nwbfile.create_electrode_group(name=f"shank{i}", description=f"shank {i}", location="CA1",
                                             device=device) for i in range(2)]
    nwbfile.add_electrode_column(name="label", description="channel label")
    nwbfile.add_electrode_column(name="quality", description="impedance-derived quality")
    nwbfile.add_electrode_column(name="is_reference", description="used as reference")
    nwbfile.add_electrode_column(name="neighbors", description="neighbouring channel ids", index=True)
    for channel in range(n_channels):
        nwbfile.add_electrode(
            group=groups[channel % 2], location="CA1", x=float(channel), y=2.0 * channel, z=0.0,
            filtering="none", imp=float("nan") if channel == 3 else 1e6 + channel, rel_x=float(channel),
            rel_y=0.0, label=f"ch{channel:02d}", quality=channel / n_channels, is_reference=channel == 0,
            neighbors=[c for c in (channel - 1, channel + 1) if 0 <= c < n_channels],
        )


# -- builders, one per feature family ------------------------------------------------------------


def build_ecephys(path: str | os.PathLike) -> None:
    """ElectricalSeries (gzip, chunked, channel conversion) with an electrodes region into an
    electrodes table with extra columns; LFP in a processing module; Units with ragged spike
    times, electrodes, observation intervals and mean waveforms."""
    rng = np.random.default_rng(1)
    nwbfile = new_nwbfile("ecephys")
    add_electrodes(nwbfile)
    all_channels = nwbfile.create_electrode_table_region(list(range(N_CHANNELS)), "all electrodes")
    raw = rng.normal(0, 50, (N_RAW_SAMPLES, N_CHANNELS)).astype(np.int16)
    nwbfile.add_acquisition(ElectricalSeries(
        name="ElectricalSeries", description="raw voltage",
        data=H5DataIO(raw, chunks=(500, N_CHANNELS), compression="gzip", shuffle=True),
        electrodes=all_channels, rate=30_000.0, starting_time=0.5, conversion=0.195e-6,
        channel_conversion=np.linspace(1.0, 1.1, N_CHANNELS), filtering="300-6000 Hz band-pass",
    ))

    ecephys = nwbfile.create_processing_module(name="ecephys", description="processed extracellular data")
    half_channels = nwbfile.create_electrode_table_region([0, 2, 4, 6], "even electrodes")
    lfp_data = rng.normal(0, 1, (N_RAW_SAMPLES // 30, 4)).astype(np.float32)
    ecephys.add(LFP(electrical_series=ElectricalSeries(name="LFP", data=lfp_data, electrodes=half_channels,
                                                       rate=1_000.0)))

    n_waveform_samples = 12
    for unit in range(5):
        nwbfile.add_unit(
            spike_times=np.sort(rng.uniform(0, N_RAW_SAMPLES / 30_000, 10 + 3 * unit)),
            electrodes=[unit % N_CHANNELS, (unit + 1) % N_CHANNELS],
            obs_intervals=[[0.0, 0.04], [0.05, 0.1]][: 1 + unit % 2],
            waveform_mean=rng.normal(0, 1, (n_waveform_samples, 2)).astype(np.float32),
            id=100 + unit,
        )
    write_nwbfile(nwbfile, path)


def build_intervals(path: str | os.PathLike) -> None:
    """Trials and epochs with tags (ragged strings) and time-series references, extra trial
    columns, invalid times, a custom TimeIntervals table, an EventsTable and a (deprecated but
    still common) AnnotationSeries."""
    rng = np.random.default_rng(2)
    nwbfile = new_nwbfile("intervals")
    stimulus = TimeSeries(name="stimulus_trace", data=rng.normal(0, 1, 400), unit="V", rate=100.0)
    running = TimeSeries(name="running_speed", data=rng.uniform(0, 30, 200).astype(np.float32),
                         unit="cm/s", timestamps=np.arange(200) / 50.0)
    nwbfile.add_stimulus(stimulus)
    nwbfile.add_acquisition(running)

    nwbfile.add_trial_column(name="condition", description="stimulus condition")
    nwbfile.add_trial_column(name="correct", description="whether the response was correct")
    nwbfile.add_trial_column(name="reward_ml", description="reward volume")
    for trial in range(6):
        start = 0.6 * trial
        nwbfile.add_trial(
            start_time=start, stop_time=start + 0.5,
            tags=["go" if trial % 2 else "nogo"] + (["opto"] if trial % 3 == 0 else []),
            timeseries=[stimulus, running] if trial % 2 else [stimulus],
            condition=["A", "B", "C"][trial % 3], correct=bool(trial % 4), reward_ml=0.01 * trial,
        )
    for epoch, (start, stop) in enumerate([(0.0, 1.5), (1.5, 4.0)]):
        nwbfile.add_epoch(start_time=start, stop_time=stop, tags=[f"epoch{epoch}", "awake"],
                          timeseries=[running])
    nwbfile.add_invalid_time_interval(start_time=2.0, stop_time=2.1, tags=["artifact"])

    sleep = TimeIntervals(name="sleep_states", description="scored sleep states")
    sleep.add_column(name="state", description="sleep state")
    for start, state in [(0.0, "wake"), (1.0, "nrem"), (2.5, "rem")]:
        sleep.add_interval(start_time=start, stop_time=start + 1.0, state=state)
    nwbfile.add_time_intervals(sleep)

    licks = nwbfile.create_events_table(name="licks", description="lick onsets",
                                        source_description="lickometer")
    for timestamp, duration, annotation in [(0.2, 0.01, "first"), (0.9, float("nan"), ""),
                                            (1.7, 0.02, "µ ✓")]:
        licks.add_event(timestamp=timestamp, duration=duration, annotation=annotation)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="AnnotationSeries is deprecated", category=UserWarning)
        nwbfile.add_acquisition(AnnotationSeries(name="annotations",
                                                 data=["start", "lick", "reward ✓", "stop"],
                                                 timestamps=[0.0, 1.2, 1.3, 5.0]))
    write_nwbfile(nwbfile, path)


def build_session_metadata(path: str | os.PathLike) -> None:
    """Subject with every field and the NWBFile general metadata (lists of strings, text fields,
    timestamps reference time), plus a device described by a DeviceModel."""
    nwbfile = new_nwbfile(
        "session-metadata",
        experimenter=["Doe, Jane", "Roe, Richard"], experiment_description="facade metadata check",
        session_id="session-007", institution="Lindi Institute", lab="Core Lab",
        keywords=["hdf5", "zarr", "références"], notes="notes with unicode: µV ✓",
        pharmacology="none", protocol="P-1", related_publications=["doi:10.0000/example"],
        slices="none", source_script="builders.py", source_script_file_name="builders.py",
        data_collection="automatic", surgery="headplate", virus="AAV-none", stimulus_notes="none",
        timestamps_reference_time=SESSION_START,
        subject=Subject(
            subject_id="mouse-42", species="Mus musculus", sex="F", age="P90D", age__reference="birth",
            description="a small mouse", genotype="wt", strain="C57BL/6J", weight="0.025 kg",
            date_of_birth=SESSION_START - datetime.timedelta(days=90),
        ),
    )
    rig_model = nwbfile.create_device_model(name="rig_model", manufacturer="Lindi Devices")
    nwbfile.create_device(name="rig", description="behaviour rig", model=rig_model)
    nwbfile.add_acquisition(TimeSeries(name="placeholder", data=np.arange(10, dtype=np.uint8), unit="a.u.",
                                       rate=1.0))
    write_nwbfile(nwbfile, path)


def build_ophys(path: str | os.PathLike) -> None:
    """Two-photon imaging: ImagingPlane with an OpticalChannel, a TwoPhotonSeries of uint16 frames
    chunked one frame per chunk, a PlaneSegmentation with both image masks and pixel masks
    (a ragged compound column), and Fluorescence / DfOverF RoiResponseSeries over ROI regions."""
    rng = np.random.default_rng(3)
    nwbfile = new_nwbfile("ophys")
    device = nwbfile.create_device(name="microscope", description="two-photon microscope")
    channel = OpticalChannel(name="green", description="GCaMP channel", emission_lambda=520.0)
    plane = nwbfile.create_imaging_plane(
        name="plane0", optical_channel=channel, imaging_rate=30.0, description="layer 2/3",
        device=device, excitation_lambda=920.0, indicator="GCaMP6f", location="V1",
        grid_spacing=[0.002, 0.002], grid_spacing_unit="millimeters", origin_coords=[0.1, 0.2],
        origin_coords_unit="millimeters",
    )
    frames = rng.integers(0, 4096, (N_FRAMES, FRAME_HEIGHT, FRAME_WIDTH), dtype=np.uint16)
    movie = TwoPhotonSeries(
        name="TwoPhotonSeries", imaging_plane=plane, rate=30.0, unit="n.a.",
        data=H5DataIO(frames, chunks=(1, FRAME_HEIGHT, FRAME_WIDTH)), dimension=[FRAME_HEIGHT, FRAME_WIDTH],
    )
    nwbfile.add_acquisition(movie)

    ophys = nwbfile.create_processing_module(name="ophys", description="optical physiology")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    rois = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="ROIs",
                                                  imaging_plane=plane, reference_images=movie)
    n_rois = 4
    for roi in range(n_rois):
        image_mask = np.zeros((FRAME_HEIGHT, FRAME_WIDTH), dtype=np.float32)
        top, left = 2 + 3 * roi, 1 + 4 * roi
        image_mask[top:top + 3, left:left + 3] = rng.uniform(0.5, 1.0, (3, 3))
        pixel_mask = [(int(x), int(y), float(image_mask[y, x]))
                      for y, x in zip(*np.nonzero(image_mask))][: 4 + roi]
        rois.add_roi(image_mask=image_mask, pixel_mask=pixel_mask)

    all_rois = rois.create_roi_table_region(region=list(range(n_rois)), description="all ROIs")
    first_rois = rois.create_roi_table_region(region=[0, 1], description="first two ROIs")
    traces = rng.normal(1, 0.1, (N_FRAMES, n_rois)).astype(np.float32)
    fluorescence = Fluorescence()
    fluorescence.create_roi_response_series(name="RoiResponseSeries", data=traces, rois=all_rois,
                                            unit="lumens", rate=30.0)
    ophys.add(fluorescence)
    ophys.add(DfOverF(roi_response_series=fluorescence.create_roi_response_series(
        name="DfOverFSeries", data=traces[:, :2] - 1.0, rois=first_rois, unit="n.a.", rate=30.0)))
    write_nwbfile(nwbfile, path)


def build_icephys(path: str | os.PathLike) -> None:
    """Intracellular electrophysiology: an electrode, current- and voltage-clamp stimulus/response
    pairs and an I=0 recording, and the full hierarchy of icephys tables (intracellular
    recordings, simultaneous, sequential, repetitions, experimental conditions) with extra
    columns on some of them."""
    rng = np.random.default_rng(4)
    nwbfile = new_nwbfile("icephys")
    device = nwbfile.create_device(name="amplifier", description="patch amplifier")
    electrode = nwbfile.create_icephys_electrode(name="pipette", description="patch pipette", device=device,
                                                 location="CA1", resistance="5 MOhm", cell_id="cell-1")
    n_samples = 200

    def sweep(kind: str, number: int) -> dict:
        """Stimulus and response series of one sweep, ``kind`` being "current" or "voltage"."""
        stimulus_values = np.where(np.arange(n_samples) > n_samples // 4, 1e-10 * (number + 1), 0.0)
        response_values = rng.normal(-0.065, 0.001, n_samples)
        common = dict(electrode=electrode, rate=20_000.0, gain=1.0, sweep_number=np.uint64(number))
        if kind == "current":
            return dict(
                stimulus=CurrentClampStimulusSeries(name=f"ccss_{number}", data=stimulus_values, **common),
                response=CurrentClampSeries(name=f"ccs_{number}", data=response_values, bias_current=0.0,
                                            bridge_balance=1e7, capacitance_compensation=1e-12, **common),
            )
        return dict(
            stimulus=VoltageClampStimulusSeries(name=f"vcss_{number}", data=stimulus_values * 1e8, **common),
            response=VoltageClampSeries(name=f"vcs_{number}", data=response_values * 1e-8,
                                        capacitance_fast=1e-12, capacitance_slow=2e-12,
                                        resistance_comp_bandwidth=1e3, resistance_comp_correction=70.0,
                                        resistance_comp_prediction=70.0, whole_cell_capacitance_comp=1e-12,
                                        whole_cell_series_resistance_comp=1e7, **common),
        )

    recordings = [
        nwbfile.add_intracellular_recording(electrode=electrode, **sweep(kind, number), id=10 + number)
        for number, kind in enumerate(["current", "voltage", "current", "voltage"])
    ]
    izero = IZeroClampSeries(name="izero_4", data=rng.normal(-0.07, 0.001, n_samples), electrode=electrode,
                             rate=20_000.0, gain=1.0, sweep_number=np.uint64(4))
    recordings.append(nwbfile.add_intracellular_recording(electrode=electrode, response=izero, id=14))

    nwbfile.intracellular_recordings.add_column(name="quality", description="recording quality",
                                                data=[0.9, 0.8, 0.95, 0.7, 0.5])
    simultaneous = [nwbfile.add_icephys_simultaneous_recording(recordings=group)
                    for group in (recordings[0:2], recordings[2:4], recordings[4:])]
    sequential = [
        nwbfile.add_icephys_sequential_recording(simultaneous_recordings=simultaneous[:2],
                                                 stimulus_type="steps"),
        nwbfile.add_icephys_sequential_recording(simultaneous_recordings=simultaneous[2:],
                                                 stimulus_type="none"),
    ]
    repetitions = [nwbfile.add_icephys_repetition(sequential_recordings=[s]) for s in sequential]
    nwbfile.add_icephys_experimental_condition(repetitions=repetitions, id=7)
    nwbfile.icephys_experimental_conditions.add_column(name="tag", description="condition label",
                                                       data=["baseline"])
    write_nwbfile(nwbfile, path)


def build_ogen(path: str | os.PathLike) -> None:
    """Optogenetics: an OptogeneticStimulusSite on a device and an OptogeneticSeries on it."""
    rng = np.random.default_rng(5)
    nwbfile = new_nwbfile("ogen")
    device = nwbfile.create_device(name="laser", description="473 nm laser")
    site = nwbfile.create_ogen_site(name="site0", device=device, description="fiber tip",
                                    excitation_lambda=473.0, location="VTA")
    power = np.clip(rng.normal(0.01, 0.002, 500), 0, None)
    nwbfile.add_stimulus(OptogeneticSeries(name="OptogeneticSeries", data=power, site=site, rate=1_000.0,
                                           starting_time=1.0, description="pulsed light"))
    write_nwbfile(nwbfile, path)


def build_images(path: str | os.PathLike) -> None:
    """Still images: an Images container with grayscale, RGB and RGBA images and an explicit
    ImageReferences order, an IndexSeries into it, an ImageSeries with external files
    (format="external", starting frames) and one with in-file frames and timestamps."""
    rng = np.random.default_rng(6)
    nwbfile = new_nwbfile("images")
    gray = GrayscaleImage(name="gray", data=rng.integers(0, 255, (8, 10), dtype=np.uint8), resolution=2.0,
                          description="grayscale")
    rgb = RGBImage(name="rgb", data=rng.integers(0, 255, (8, 10, 3), dtype=np.uint8), description="colour")
    rgba = RGBAImage(name="rgba", data=rng.uniform(0, 1, (8, 10, 4)), description="colour with alpha")
    images = Images(name="stimulus_images", images=[gray, rgb, rgba], description="stimulus set",
                    order_of_images=ImageReferences(name="order_of_images", data=[rgba, gray, rgb]))
    nwbfile.add_stimulus_template(images)
    nwbfile.add_stimulus(IndexSeries(name="presented_images", data=np.array([0, 2, 1, 1, 0], dtype=np.uint32),
                                     unit="N/A", indexed_images=images, timestamps=[0.0, 0.5, 1.0, 1.5, 2.0]))
    nwbfile.add_acquisition(ImageSeries(
        name="behavior_video", external_file=["video_part1.mp4", "video_part2.mp4"], format="external",
        starting_frame=[0, 300], num_samples=450, rate=30.0, description="external video files",
    ))
    nwbfile.add_acquisition(ImageSeries(
        name="frames_in_file", data=rng.integers(0, 255, (4, 6, 5), dtype=np.uint8), unit="n.a.",
        timestamps=[0.0, 0.1, 0.25, 0.3], format="raw", dimension=[6, 5],
    ))
    write_nwbfile(nwbfile, path)


def build_behavior(path: str | os.PathLike) -> None:
    """Position with SpatialSeries (one sharing the other's timestamps through a link) and a
    CompassDirection in a "behavior" processing module."""
    rng = np.random.default_rng(7)
    nwbfile = new_nwbfile("behavior")
    timestamps = np.cumsum(rng.uniform(0.01, 0.03, 150))
    body = SpatialSeries(name="body", data=np.cumsum(rng.normal(0, 1, (150, 2)), axis=0),
                         timestamps=timestamps, reference_frame="arena corner (0, 0)", unit="cm")
    head = SpatialSeries(name="head", data=np.cumsum(rng.normal(0, 1, (150, 2)), axis=0), timestamps=body,
                         reference_frame="arena corner (0, 0)", unit="cm")
    behavior = nwbfile.create_processing_module(name="behavior", description="tracked behaviour")
    behavior.add(Position(spatial_series=[body, head]))
    behavior.add(CompassDirection(spatial_series=SpatialSeries(
        name="heading", data=rng.uniform(-np.pi, np.pi, 150), timestamps=body, reference_frame="north",
        unit="radians")))
    write_nwbfile(nwbfile, path)


def build_timeseries_storage(path: str | os.PathLike) -> None:
    """TimeSeries storage variants: explicit timestamps instead of a rate, gzip+shuffle chunked
    data, a big contiguous dataset (several virtual chunks once translated), a single-sample
    series and control arrays."""
    rng = np.random.default_rng(8)
    nwbfile = new_nwbfile("timeseries-storage")
    nwbfile.add_acquisition(TimeSeries(
        name="irregular", data=rng.normal(0, 1, 300), unit="V",
        timestamps=np.sort(rng.uniform(0, 10, 300)), comments="irregularly sampled", description="timestamps",
        control=rng.integers(0, 2, 300).astype(np.uint8), control_description=["off", "on"],
    ))
    nwbfile.add_acquisition(TimeSeries(
        name="compressed", unit="mV", rate=2_000.0, offset=-0.5, resolution=0.01, continuity="continuous",
        data=H5DataIO(rng.normal(0, 1, (4_000, 3)).astype(np.float32), compression="gzip", compression_opts=4,
                      shuffle=True, chunks=(1_000, 3)),
    ))
    big = rng.integers(-1_000, 1_000, BIG_CONTIGUOUS_SHAPE, dtype=np.int16)
    nwbfile.add_acquisition(TimeSeries(name="big_contiguous", data=big, unit="a.u.", rate=30_000.0,
                                       conversion=2.5e-6))
    nwbfile.add_acquisition(TimeSeries(name="single_sample", data=[42.0], unit="s", timestamps=[3.0]))
    write_nwbfile(nwbfile, path)


def build_scratch(path: str | os.PathLike) -> None:
    """Scratch space: arrays (numeric and strings), a DataFrame stored as a DynamicTable and a
    container (a TimeSeries)."""
    rng = np.random.default_rng(9)
    nwbfile = new_nwbfile("scratch")
    nwbfile.add_scratch(rng.normal(0, 1, (5, 4)), name="matrix", description="a random matrix")
    nwbfile.add_scratch(np.array(["alpha", "beta", "gamma"]), name="words", description="strings")
    nwbfile.add_scratch(pd.DataFrame({"value": [1.5, 2.5, 3.5], "label": ["a", "b", "c"]}), name="table",
                        description="a small table")
    nwbfile.add_scratch(TimeSeries(name="scratch_series", data=np.arange(20, dtype=np.int32), unit="a.u.",
                                   rate=10.0))
    write_nwbfile(nwbfile, path)


def build_extension(path: str | os.PathLike) -> None:
    """A tiny extension namespace (a LabMetaData subtype with a text attribute, a float dataset
    and a scalar integer dataset) cached in the file. The namespace is loaded into a copy of
    pynwb's type map (the equivalent of ``load_namespaces`` + ``get_class`` without touching the
    global one), so reading the file relies on the cached spec alone."""
    with tempfile.TemporaryDirectory() as spec_folder:
        namespace_path = write_extension_spec(spec_folder)
        type_map = pynwb.get_type_map()  # a copy: the extension does not leak into pynwb's global type map
        type_map.load_namespaces(namespace_path)
        metadata_class = type_map.get_dt_container_cls(EXTENSION_TYPE, EXTENSION_NAMESPACE)
        nwbfile = new_nwbfile("extension")
        nwbfile.add_lab_meta_data(metadata_class(
            name="rig_metadata", rig_name="rig #3", calibration=np.array([1.0, 0.98, 1.02]),
            serial_number=1234,
        ))
        write_nwbfile(nwbfile, path, manager=BuildManager(type_map))


def write_extension_spec(folder: str | os.PathLike) -> str:
    """Write the extension's namespace and spec files into ``folder``; returns the namespace path."""
    namespace = NWBNamespaceBuilder(doc="lindi-core test extension", name=EXTENSION_NAMESPACE,
                                    version="0.1.0", author=["lindi-core"],
                                    contact=["lindi-core@example.org"])
    namespace.include_type("LabMetaData", namespace="core")
    metadata_type = NWBGroupSpec(
        neurodata_type_def=EXTENSION_TYPE, neurodata_type_inc="LabMetaData", doc="rig metadata",
        attributes=[NWBAttributeSpec(name="rig_name", doc="name of the rig", dtype="text")],
        datasets=[
            NWBDatasetSpec(name="calibration", doc="per-channel gains", dtype="float64", shape=[None]),
            NWBDatasetSpec(name="serial_number", doc="amplifier serial number", dtype="int32"),
        ],
    )
    export_spec(namespace, [metadata_type], os.fspath(folder))
    return os.path.join(os.fspath(folder), f"{EXTENSION_NAMESPACE}.namespace.yaml")


BUILDERS: dict[str, Callable[[str | os.PathLike], None]] = {
    "ecephys": build_ecephys,
    "intervals": build_intervals,
    "session_metadata": build_session_metadata,
    "ophys": build_ophys,
    "icephys": build_icephys,
    "ogen": build_ogen,
    "images": build_images,
    "behavior": build_behavior,
    "timeseries_storage": build_timeseries_storage,
    "scratch": build_scratch,
    "extension": build_extension,
}


def build_all(folder: str | os.PathLike) -> dict[str, Path]:
    """Write every builder's file as ``<folder>/<name>.nwb``; returns name -> path."""
    paths = {}
    for name, build in BUILDERS.items():
        paths[name] = Path(folder) / f"{name}.nwb"
        build(paths[name])
    return paths
