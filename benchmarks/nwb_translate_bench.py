"""Translating a large NWB file, locally and over HTTP: lindi-core against LINDI 0.4 and kerchunk.

    python benchmarks/nwb_translate_bench.py            # ~2 GB NWB file, 3 repetitions
    python benchmarks/nwb_translate_bench.py --quick    # ~200 MB, 1 repetition
    python benchmarks/nwb_translate_bench.py [--scale F] [--reps R] [--latencies 0,0.05] [--tools a,b] [--commit REV]

The input is written once by pynwb (cached under ``benchmarks/.cache/data/nwb-translate/``): a
384-channel int16 ElectricalSeries in 2 MiB chunks (most of the bytes), a gzip-compressed LFP, a
TwoPhotonSeries chunked per frame, units with ragged spike times and electrodes, trials, and
processing modules of small series, so metadata (object headers, B-tree nodes, attributes) is
spread through the file between large data blocks, as in files from acquisition systems.

Cases: ``local`` (a path), and ``http-<ms>`` for each latency of ``--latencies`` (default 0 and
50 ms): the file served by ``lindi_core.testing.range_server.RangeServer`` on 127.0.0.1. Every run is
a fresh subprocess (the child code of ``translate_bench.py``: it times the work only and
reports its peak RSS); for HTTP cases the server's request and byte counters are read around
each run. Tools: lindi-core (``lindi_core.translate``), LINDI 0.4.6 with chunk references for
every dataset (``num_dataset_chunks_threshold=None``, its documented setting for that) and with
its default settings (datasets of more than 1000 chunks left as links to the HDF5 file), and
kerchunk 0.2.10 (``SingleHdf5ToZarr``, fsspec HTTP for URLs).

Results: a table on stdout, JSON in ``benchmarks/results/nwb-translate[-quick].json``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402
import peers  # noqa: E402
from translate_bench import CHILD_CODE, VENV, environment_versions, lindi_0_4_code  # noqa: E402

BENCH_DIR = peers.BENCH_DIR
DATA_DIR = peers.CACHE_DIR / "data" / "nwb-translate"
OUT_DIR = peers.CACHE_DIR / "out" / "nwb-translate"
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_REPS, QUICK_REPS = 3, 1
QUICK_SCALE = 0.1
TOOLS = ["lindi-core", "lindi-0.4", "lindi-0.4-default", "kerchunk"]
TOOL_CODE = {
    "lindi-core": CHILD_CODE["lindi-core"],
    "lindi-0.4": CHILD_CODE["lindi-0.4"],
    "lindi-0.4-default": lindi_0_4_code(),
    "kerchunk": CHILD_CODE["kerchunk"],
}
OUTPUT_NAME = {"lindi-core": "lindi-core.lindi.json", "lindi-0.4": "lindi-0.4.lindi.json",
               "lindi-0.4-default": "lindi-0.4-default.lindi.json", "kerchunk": "kerchunk.json"}
TARGET_SPEEDUP = 3.0  # issue 2's translation target, checked here on a realistic file too


# -- input ------------------------------------------------------------------------------------
def make_input(scale: float) -> Path:
    """The NWB file at ``scale`` (1.0: about 2 GB), written once with pynwb."""
    import numpy as np
    import pynwb
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb.ecephys import LFP, ElectricalSeries
    from pynwb.ophys import ImageSegmentation, OpticalChannel, TwoPhotonSeries

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"session-scale{scale:g}.nwb"
    if path.exists():
        return path
    rng = np.random.default_rng(7)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    nwb = pynwb.NWBFile(session_description="translate benchmark", identifier=f"nwb-translate-{scale:g}",
                        session_start_time=start)
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank0", description="shank", location="CA1", device=device)
    channels = 384
    for i in range(channels):
        nwb.add_electrode(x=float(i), y=0.0, z=0.0, imp=1.0, location="CA1", filtering="none", group=group)
    region = nwb.create_electrode_table_region(list(range(channels)), "all electrodes")
    rows = int(scale * 1.5e9) // (channels * 2)
    raw = rng.integers(-500, 500, size=(rows, channels), dtype=np.int16)
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", electrodes=region, rate=30000.0,
                                         data=H5DataIO(raw, chunks=(2730, channels))))
    ecephys = nwb.create_processing_module(name="ecephys", description="LFP")
    lfp_rows = rows // 12
    lfp = np.cumsum(rng.integers(-3, 4, size=(lfp_rows, channels), dtype=np.int16), axis=0, dtype=np.int16)
    ecephys.add(LFP(electrical_series=ElectricalSeries(
        name="LFP", electrodes=region, rate=2500.0,
        data=H5DataIO(lfp, chunks=(4096, 64), compression="gzip"))))
    frames = max(4, int(scale * 400))
    imaging_plane = nwb.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="green", description="green", emission_lambda=510.0),
        description="plane", device=device, excitation_lambda=920.0, imaging_rate=30.0, indicator="GCaMP",
        location="V1")
    movie = rng.integers(0, 4096, size=(frames, 512, 512), dtype=np.uint16)
    nwb.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", imaging_plane=imaging_plane, rate=30.0, unit="n.a.",
                                        data=H5DataIO(movie, chunks=(1, 512, 512))))
    ophys = nwb.create_processing_module(name="ophys", description="segmentation")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    planes = segmentation.create_plane_segmentation(name="rois", description="rois", imaging_plane=imaging_plane)
    for _ in range(50):
        planes.add_roi(pixel_mask=[(int(x), int(y), 1.0) for x, y in rng.integers(0, 512, size=(20, 2))])
    for unit in range(300):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, rows / 30000.0, size=int(rng.integers(100, 2000)))),
                     electrodes=[int(unit % channels)])
    for trial in range(500):
        nwb.add_trial(start_time=trial * 2.0, stop_time=trial * 2.0 + 1.5)
    for m in range(10):
        module = nwb.create_processing_module(name=f"behavior_{m}", description=f"module {m}")
        for s in range(10):
            module.add(pynwb.TimeSeries(name=f"series_{s}", data=rng.normal(size=1000).astype(np.float32),
                                        unit="a.u.", rate=100.0, description=f"series {s} of module {m}"))
    tmp = path.with_name(path.stem + ".tmp.nwb")
    with pynwb.NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwb)
    os.replace(tmp, path)
    return path


# -- runs -------------------------------------------------------------------------------------
def run_once(tool: str, python: str, src: str, env: dict | None, timeout: float) -> dict:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / OUTPUT_NAME[tool]
    if out.exists():
        out.unlink()
    return peers.run_json(python, TOOL_CODE[tool], [src, str(out)], timeout=timeout,
                          env={"TQDM_DISABLE": "1", **(env or {})})


def table(result: dict) -> str:
    lines = ["| case | tool | time, median (min-max) | requests | bytes fetched | output bytes | chunk refs | "
             "peak RSS |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for case, tools in result["cases"].items():
        for tool, e in tools.items():
            if e.get("error"):
                lines.append(f"| {case} | {tool} | error: {e['error'].splitlines()[-1][:100]} | | | | | |")
                continue
            s = e["seconds"]
            req = e.get("requests")
            got = e.get("bytes_fetched")
            fetched = f"{got['median']:,.0f}" if got else "-"
            lines.append(f"| {case} | {tool} | {bench_common.format_seconds(s)} | "
                         f"{req['median'] if req else '-'} | {fetched} | "
                         f"{e['output_bytes']['median']:,.0f} | {e['refs']['median']:,.0f} | "
                         f"{e['peak_rss_mb']['median']:.0f} MB |")
    lines += ["", *bench_common.targets_table(result["targets"])]
    return "\n".join(lines)


def targets(cases: dict, input_bytes: int) -> list[dict]:
    out = []
    for case, tools in cases.items():
        core = (tools.get("lindi-core") or {}).get("seconds")
        for peer in ("lindi-0.4", "kerchunk"):
            other = (tools.get(peer) or {}).get("seconds")
            speedup = other["median"] / core["median"] if core and other else None
            out.append({"target": f"{case}: lindi-core at least {TARGET_SPEEDUP:g}x faster than {peer}",
                        "measured": "n/a" if speedup is None else f"{peer} / lindi-core = {speedup:.2f}",
                        "met": None if speedup is None else speedup >= TARGET_SPEEDUP})
        if case != "local":
            fetched = (tools.get("lindi-core") or {}).get("bytes_fetched")
            if fetched:
                out.append({"target": f"{case}: lindi-core reads metadata, not data (bytes fetched < 5% of the file)",
                            "measured": f"{fetched['median'] / input_bytes:.2%} of {input_bytes:,} bytes",
                            "met": fetched["median"] / input_bytes < 0.05})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"scale {QUICK_SCALE}, {QUICK_REPS} repetition")
    parser.add_argument("--scale", type=float, help="size of the NWB file (1.0: about 2 GB)")
    parser.add_argument("--reps", type=int, help="repetitions per case and tool")
    parser.add_argument("--latencies", default="0,0.05", help="seconds of latency of the HTTP cases")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds allowed for one run; a tool that runs out of time is not run again")
    bench_common.add_out_and_commit_options(parser, "measure lindi-core as committed at REV")
    args = parser.parse_args(argv)
    scale = args.scale or (QUICK_SCALE if args.quick else 1.0)
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    tools = [t for t in args.tools.split(",") if t]
    latencies = [float(x) for x in args.latencies.split(",") if x]
    out_path = args.out or RESULTS_DIR / ("nwb-translate-quick.json" if args.quick else "nwb-translate.json")
    core_env, revision = bench_common.lindi_core_under_test(args.commit)

    from lindi_core.testing.range_server import RangeServer

    t0 = time.perf_counter()
    source = make_input(scale)
    print(f"input {source} ({source.stat().st_size:,} bytes, ready in {time.perf_counter() - t0:.0f} s)",
          file=sys.stderr)
    pythons = {tool: peers.python_for(tool.removesuffix("-default"), VENV) for tool in tools}
    cases: dict[str, dict] = {}
    timed_out: dict[str, str] = {}  # a tool that hung once (kerchunk does on this file) is not rerun
    with RangeServer(DATA_DIR) as server:
        plan = [("local", str(source), None)] + [(f"http-{latency * 1000:g}ms", f"{server.url}/{source.name}", latency)
                                                  for latency in latencies]
        for case, src, latency in plan:
            if latency is not None:
                server.latency = latency
            runs: dict[str, list] = {tool: [] for tool in tools}
            errors: dict[str, str] = {tool: f"not run: {why}" for tool, why in timed_out.items() if tool in tools}
            for rep in range(reps):
                for tool in tools:
                    if tool in errors:
                        continue
                    before = (server.stats.requests, server.stats.bytes_sent)
                    try:
                        r = run_once(tool, pythons[tool], src, core_env if tool == "lindi-core" else None,
                                     args.timeout)
                    except peers.PeerError as exc:
                        errors[tool] = str(exc)
                        if "timed out" in str(exc):
                            timed_out[tool] = f"{exc} in case {case}"
                        continue
                    if latency is not None:
                        r["requests"] = server.stats.requests - before[0]
                        r["bytes_fetched"] = server.stats.bytes_sent - before[1]
                    runs[tool].append(r)
                    print(f"[{case} rep {rep + 1}] {tool}: {r['seconds']:.2f} s", file=sys.stderr, flush=True)
            cases[case] = {}
            for tool in tools:
                entry: dict = {"runs": runs[tool]}
                if tool in errors:
                    entry["error"] = errors[tool]
                else:
                    entry.update(bench_common.summarize_fields(runs[tool], (
                        "seconds", "peak_rss_mb", "output_bytes", "refs", "requests", "bytes_fetched")))
                cases[case][tool] = entry
    result = {
        **bench_common.result_header("nwb-translate", "nwb_translate_bench.py", argv),
        "machine": bench_common.machine_facts(),
        "environments": environment_versions(["lindi-core"] + [t.removesuffix("-default") for t in tools]),
        "lindi_core_revision": revision,
        "config": {"scale": scale, "reps": reps, "latencies_seconds": latencies, "tools": tools,
                   "input_bytes": source.stat().st_size},
        "cases": cases,
        "targets": targets(cases, source.stat().st_size),
    }
    bench_common.write_results(result, out_path, args.commit, revision, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
