"""Open benchmark: open a metadata-heavy NWB file over HTTP and read it with pynwb.

    python benchmarks/open_bench.py                 # 11 repetitions per case (+1 warm-up)
    python benchmarks/open_bench.py --quick         # 3 repetitions per case
    python benchmarks/open_bench.py --reps R [--cases a,b] [--latency S] [--profile] [--commit REV]

The input is a metadata-heavy NWB file written once with pynwb (cached under
``benchmarks/.cache/data/open/``): 30 processing modules holding 240 TimeSeries and 60
SpatialSeries (small data), a Units table of 500 units with ragged spike times and extra
columns, 384 electrodes with extra columns, 300 trials with extra columns, epochs and a
subject. That folder is served by ``lindi_core.testing.range_server.RangeServer`` on 127.0.0.1 with
injected latency (50 ms per request by default) from a thread of this (parent) process; the
server counts requests and bytes sent.

Cases (every run is a fresh subprocess that times only the work, imports excluded):

* ``local-h5py``: ``pynwb.NWBHDF5IO(path, "r").read()`` + ``str(nwb)`` on the local file
  (the physical reference);
* ``lindi-core``: ``lindi_core.LindiH5pyFile.from_lindi_file(url)`` + pynwb read + ``str``;
  the ``.lindi.json`` is made beforehand by ``lindi_core.translate_to_file(url_of_nwb, ...)``;
* ``lindi-0.4``: the same with LINDI 0.4's ``lindi.LindiH5pyFile`` and LINDI's own
  ``.lindi.json`` (``LindiH5ZarrStore.from_file(path, url=url_of_nwb)``, default options);
* ``remfile``: ``h5py.File(remfile.File(url_of_nwb), "r")`` + pynwb read + ``str``.

Both reference files are translated anew on every invocation (their chunk URLs hold the
server's port), with the server's latency set to 0 while translating. Repetitions are
interleaved across cases after one warm-up run of each. Results: a table on stdout and JSON in
``benchmarks/results/open.json`` (``--quick``: ``open-quick.json``); ``--profile`` (or a
missed time target) also writes a cProfile report of the lindi-core case to
``benchmarks/results/open-profile.txt``.
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

BENCH_DIR = peers.BENCH_DIR
DATA_DIR = peers.CACHE_DIR / "data" / "open"
RESULTS_DIR = BENCH_DIR / "results"
NWB_NAME = "metadata-heavy-v1.nwb"
CORE_JSON = "metadata-heavy.lindi-core.lindi.json"
LINDI_JSON = "metadata-heavy.lindi-0.4.lindi.json"  # LINDI insists on the .lindi.json suffix
DEFAULT_REPS = 11
QUICK_REPS = 3
DEFAULT_LATENCY = 0.05
RUN_TIMEOUT = 300.0

TARGETS = {
    "max_requests": 2,  # lindi-core HTTP requests (every run)
    "time_vs_local_max": 1.2,  # lindi-core time / local h5py time
    "time_vs_lindi_max": 1.0,  # lindi-core time / LINDI 0.4 time ("no worse than LINDI")
}
# Reference figures quoted in the project issue (measured elsewhere, on a 13 MB file).
ISSUE_FIGURES = {
    "local-h5py": {"seconds": 0.72},
    "lindi-0.4": {"seconds": 0.85, "requests": 2},
    "remfile": {"seconds": 3.65, "requests": 49},
}


# -- input ------------------------------------------------------------------------------
def write_metadata_heavy_nwb(path: Path, *, n_modules: int = 30, series_per_module: int = 10,
                             n_units: int = 500, n_electrodes: int = 384, n_trials: int = 300,
                             n_samples: int = 2000, seed: int = 0) -> Path:
    """Write the benchmark's NWB file with pynwb (atomically)."""
    import numpy as np
    import pynwb
    from pynwb import TimeSeries
    from pynwb.behavior import Position, SpatialSeries
    from pynwb.file import Subject

    rng = np.random.default_rng(seed)
    nwb = pynwb.NWBFile(
        session_description="metadata-heavy benchmark session", identifier="lindi-core-open-bench",
        session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        experimenter=["Doe, Jane", "Roe, Richard"], lab="benchmark lab", institution="nowhere",
        experiment_description="synthetic file with many small objects", session_id="session-1",
        keywords=["benchmark", "metadata", "lindi"],
        subject=Subject(subject_id="mouse-1", species="Mus musculus", sex="F", age="P90D",
                        description="synthetic subject"),
    )
    device = nwb.create_device(name="probe", description="4-shank probe", manufacturer="nobody")
    groups = [nwb.create_electrode_group(name=f"shank{i}", description=f"shank {i}", location="CA1",
                                         device=device) for i in range(4)]
    for col, desc in (("channel_name", "name of the channel"), ("shank_col", "column on the shank"),
                      ("impedance_ohm", "impedance"), ("brain_area", "brain area"), ("is_bad", "flagged bad")):
        nwb.add_electrode_column(name=col, description=desc)
    areas = ["CA1", "CA3", "DG", "EC"]
    for i in range(n_electrodes):
        nwb.add_electrode(group=groups[i % 4], location=areas[i % 4], x=float(i), y=float(i % 2), z=0.0,
                          filtering="none", imp=float(rng.uniform(1e5, 1e6)), rel_x=float(i % 2) * 16,
                          rel_y=float(i // 2) * 20, channel_name=f"ch{i:03d}", shank_col=i % 2,
                          impedance_ohm=float(rng.uniform(1e5, 1e6)), brain_area=areas[i % 4],
                          is_bad=bool(i % 17 == 0))
    for col, desc in (("quality", "curation label"), ("depth", "depth (um)"), ("amplitude", "mean amplitude (uV)"),
                      ("firing_rate", "Hz"), ("isi_violation", "fraction")):
        nwb.add_unit_column(name=col, description=desc)
    for u in range(n_units):
        n = int(rng.integers(200, 1800))
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, 3600, n)), electrodes=[u % n_electrodes],
                     electrode_group=groups[u % 4], obs_intervals=[[0.0, 1800.0], [1900.0, 3600.0]],
                     quality=["good", "mua", "noise"][u % 3], depth=float(rng.uniform(0, 4000)),
                     amplitude=float(rng.uniform(20, 300)), firing_rate=n / 3600,
                     isi_violation=float(rng.uniform(0, 0.1)))
    for col, desc in (("condition", "stimulus condition"), ("correct", "correct response"),
                      ("reaction_time", "seconds"), ("stim_id", "stimulus id"), ("response", "response side")):
        nwb.add_trial_column(name=col, description=desc)
    for t in range(n_trials):
        nwb.add_trial(start_time=10.0 * t, stop_time=10.0 * t + 5, condition=["A", "B", "C"][t % 3],
                      correct=bool(t % 4), reaction_time=float(rng.uniform(0.2, 1.5)), stim_id=t % 12,
                      response=["left", "right"][t % 2])
    nwb.add_epoch(start_time=0.0, stop_time=1800.0, tags=["first"])
    nwb.add_epoch(start_time=1900.0, stop_time=3600.0, tags=["second"])
    for m in range(n_modules):
        mod = nwb.create_processing_module(name=f"module_{m:02d}", description=f"processing module {m}")
        for s in range(series_per_module - 2):
            kw = dict(name=f"series_{s:02d}", data=rng.normal(0, 1, n_samples).astype(np.float32), unit="a.u.",
                      description=f"series {s} of module {m}", comments="synthetic", conversion=1.0,
                      resolution=0.001, offset=0.0)
            if s % 2:
                kw["timestamps"] = np.cumsum(rng.uniform(0.009, 0.011, n_samples))
            else:
                kw.update(rate=100.0, starting_time=float(m))
            mod.add(TimeSeries(**kw))
        pos = Position(name="Position")
        for s in range(2):
            pos.add_spatial_series(SpatialSeries(
                name=f"position_{s}", data=rng.normal(0, 1, (n_samples, 2)).astype(np.float32),
                reference_frame="top-left corner", rate=50.0, description="xy position", unit="meters"))
        mod.add(pos)
    tmp = path.with_name(path.stem + ".tmp.nwb")
    with pynwb.NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwb)
    os.replace(tmp, path)
    return path


def make_input() -> Path:
    return bench_common.cached_input(DATA_DIR / NWB_NAME, write_metadata_heavy_nwb)


def describe_input(path: Path) -> dict:
    """Object and attribute counts of the HDF5 file (h5py walk)."""
    import h5py

    counts = {"groups": 1, "datasets": 0, "attributes": 0}

    def visit(name, obj):
        counts["groups" if isinstance(obj, h5py.Group) else "datasets"] += 1
        counts["attributes"] += len(obj.attrs)

    with h5py.File(path, "r") as f:
        counts["attributes"] += len(f.attrs)
        f.visititems(visit)
    return counts


# -- the child programs -------------------------------------------------------------------
# Each prints one JSON line: seconds (open .. str(nwb) done), peak_rss_mb (VmHWM right after),
# rss_before_mb (after imports, before the work) and a summary of what was read, taken from
# containers already in memory (no further I/O).
CHILD_PRELUDE = r"""
import json, os, sys, time
""" + bench_common.STATUS_MB_SOURCE + r"""
def _summary(nwb, text):
    return {"modules": len(nwb.processing),
            "interfaces": sum(len(m.data_interfaces) for m in nwb.processing.values()),
            "unit_columns": len(nwb.units.colnames), "electrode_columns": len(nwb.electrodes.colnames),
            "trial_columns": len(nwb.trials.colnames), "str_chars": len(text)}
target = sys.argv[1]
import warnings
warnings.simplefilter("ignore")
"""


def _remote_case_code(imports: str, open_file: str, extra_fields: str = "") -> str:
    """The child program of a case that opens ``target`` with ``open_file`` (source binding ``f``,
    run after ``imports``; timed apart as open_seconds), then reads ``f`` with pynwb and renders it;
    ``extra_fields`` (source) adds fields to the JSON line."""
    return CHILD_PRELUDE + imports + r"""
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
""" + open_file + r"""
t_open = time.perf_counter() - t0
io = pynwb.NWBHDF5IO(file=f, mode="r")
nwb = io.read()
text = str(nwb)
seconds = time.perf_counter() - t0
peak = _status_mb("VmHWM")
print(json.dumps({"seconds": seconds, "open_seconds": t_open, "peak_rss_mb": peak, "rss_before_mb": rss0,
                  "summary": _summary(nwb, text)""" + extra_fields + r"""}))
"""


CHILD_CODE = {
    "local-h5py": CHILD_PRELUDE + r"""
import h5py, pynwb
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
io = pynwb.NWBHDF5IO(target, "r")
nwb = io.read()
text = str(nwb)
seconds = time.perf_counter() - t0
peak = _status_mb("VmHWM")
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": rss0, "summary": _summary(nwb, text)}))
io.close()
""",
    "lindi-core": _remote_case_code(
        "import lindi_core, pynwb\n"  # and the modules lindi_core loads lazily, before the timed code
        "[getattr(lindi_core, _n) for _n in getattr(lindi_core, '__all__', ())]",
        "f = lindi_core.LindiH5pyFile.from_lindi_file(target)",
        ', "module_file": lindi_core.__file__'),
    "lindi-0.4": _remote_case_code("import lindi, pynwb", "f = lindi.LindiH5pyFile.from_lindi_file(target)"),
    "remfile": _remote_case_code("import h5py, pynwb, remfile", 'rf = remfile.File(target)\nf = h5py.File(rf, "r")'),
}

CASES = ["local-h5py", "lindi-core", "lindi-0.4", "remfile"]
DESCRIPTION = {
    "local-h5py": 'pynwb.NWBHDF5IO(path, "r"); io.read(); str(nwb) on the local file (physical reference)',
    "lindi-core": 'lindi_core.LindiH5pyFile.from_lindi_file(url); pynwb.NWBHDF5IO(file=f, mode="r").read(); '
                  "str(nwb)",
    "lindi-0.4": 'lindi.LindiH5pyFile.from_lindi_file(url); pynwb.NWBHDF5IO(file=f, mode="r").read(); str(nwb)',
    "remfile": 'h5py.File(remfile.File(url), "r"); pynwb.NWBHDF5IO(file=h5f, mode="r").read(); str(nwb)',
}
VENV = {"lindi-0.4": "lindi", "remfile": "remfile"}

# Reference files, made before the runs (server latency 0); lindi-core's by bench_common.translate_served_file.
LINDI_TRANSLATE_CODE = r"""
import json, os, sys, time
import lindi
path, url, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
store = lindi.LindiH5ZarrStore.from_file(path, url=url)  # default LindiH5ZarrStoreOpts
store.write_reference_file_system(out)
store.close()
print(json.dumps({"seconds": time.perf_counter() - t0, "output_bytes": os.path.getsize(out)}))
"""

PROFILE_CODE = r"""
import cProfile, io as _io, json, sys, time, warnings
warnings.simplefilter("ignore")
import pynwb
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
""" + bench_common.PROFILE_STATS_SOURCE + r"""
url, report, latency = sys.argv[1], sys.argv[2], sys.argv[3]
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
f = lindi_core.LindiH5pyFile.from_lindi_file(url)
t1 = time.perf_counter()
io = pynwb.NWBHDF5IO(file=f, mode="r")
nwb = io.read()
text = str(nwb)
prof.disable()
t2 = time.perf_counter()
buf = _io.StringIO()
stats = _print_profile(prof, buf, 25, 25)
buf.write("\n# restricted to functions in lindi_core/, by cumulative time\n")
stats.sort_stats("cumulative").print_stats(r"lindi_core/", 25)
with open(report, "w") as out:
    out.write(f"# cProfile of the lindi-core case of open_bench.py: LindiH5pyFile.from_lindi_file({url})\n")
    out.write(f"# + pynwb.NWBHDF5IO(file=f, mode='r').read() + str(nwb); server latency {latency} s per request\n")
    out.write(f"# under the profiler: from_lindi_file {t1 - t0:.3f} s, pynwb read + str {t2 - t1:.3f} s, "
              f"total {t2 - t0:.3f} s\n\n")
    out.write(buf.getvalue())
print(json.dumps({"seconds": t2 - t0, "open_seconds": t1 - t0}))
"""


# -- runs ---------------------------------------------------------------------------------
def run_case(case: str, python: str, target: str, server, timeout: float, env: dict | None) -> dict:
    server.stats.reset()
    t0 = time.perf_counter()
    result = peers.run_json(python, CHILD_CODE[case], [target], timeout=timeout, env=env)
    result["process_seconds"] = time.perf_counter() - t0
    result["requests"] = server.stats.requests
    result["bytes_sent"] = server.stats.bytes_sent
    result["paths"] = sorted(set(server.stats.paths))
    return result


def prepare_reference_files(server, nwb_path: Path, cases: list[str], pythons: dict, core_env: dict,
                            timeout: float) -> tuple[dict, dict]:
    """Translate the served NWB file with lindi-core and with LINDI 0.4 (latency 0 meanwhile)."""
    info: dict = {}
    errors: dict = {}
    url = server.url_for(NWB_NAME)
    with bench_common.without_latency(server):
        if "lindi-core" in cases:
            try:
                r, requests = bench_common.translate_served_file(server, NWB_NAME, DATA_DIR / CORE_JSON, core_env,
                                                                 timeout)
                info["lindi-core"] = {**r, "what": "lindi_core.translate_to_file(url_of_nwb, out, progress=False)",
                                      "requests_at_zero_latency": requests}
            except peers.PeerError as exc:
                errors["lindi-core"] = f"translation failed: {exc}"
        if "lindi-0.4" in cases and "lindi-0.4" in pythons:
            out = DATA_DIR / LINDI_JSON
            out.unlink(missing_ok=True)
            try:
                r = peers.run_json(pythons["lindi-0.4"], LINDI_TRANSLATE_CODE, [str(nwb_path), url, str(out)],
                                   timeout=timeout, env={"TQDM_DISABLE": "1"})
                info["lindi-0.4"] = {**r, "what": "lindi.LindiH5ZarrStore.from_file(local_path, url=url_of_nwb)"
                                                  ".write_reference_file_system(out), default options"}
            except peers.PeerError as exc:
                errors["lindi-0.4"] = f"translation failed: {exc}"
    return info, errors


def target_of(case: str, server, nwb_path: Path) -> str:
    return {"local-h5py": str(nwb_path), "lindi-core": server.url_for(CORE_JSON),
            "lindi-0.4": server.url_for(LINDI_JSON), "remfile": server.url_for(NWB_NAME)}[case]


# -- report ---------------------------------------------------------------------------------
def compute_ratios(cases: dict, stat: str = "median") -> dict:
    def get(case: str):
        return bench_common.summary_stat(cases, case, "seconds", stat)

    core = get("lindi-core")
    return {
        "lindi_core_time_over_local_h5py": bench_common.ratio(core, get("local-h5py")),
        "lindi_core_time_over_lindi_0_4": bench_common.ratio(core, get("lindi-0.4")),
        "remfile_time_over_lindi_core": bench_common.ratio(get("remfile"), core),
        "lindi_0_4_time_over_local_h5py": bench_common.ratio(get("lindi-0.4"), get("local-h5py")),
    }


def targets_verdict(cases: dict, ratios: dict) -> dict:
    core_req = cases.get("lindi-core", {}).get("requests")
    lindi_req = cases.get("lindi-0.4", {}).get("requests")
    return {
        "at_most_2_requests": bench_common.target_met(core_req and core_req["max"],
                                                      lambda v: v <= TARGETS["max_requests"]),
        "time_within_1.2x_of_local_h5py": bench_common.target_met(ratios["lindi_core_time_over_local_h5py"],
                                                                  lambda v: v <= TARGETS["time_vs_local_max"]),
        "time_no_worse_than_lindi_0_4": bench_common.target_met(ratios["lindi_core_time_over_lindi_0_4"],
                                                                lambda v: v <= TARGETS["time_vs_lindi_max"]),
        "requests_no_more_than_lindi_0_4": (None if not (core_req and lindi_req)
                                            else core_req["max"] <= lindi_req["min"]),
    }


def table(result: dict) -> str:
    reps = result["config"]["reps"]
    lines = [f"| case | time, median (min-max) of {reps} | requests | bytes sent | peak RSS | RSS before |",
             "| --- | --- | --- | --- | --- | --- |"]
    for case in result["config"]["cases"]:
        r = result["cases"][case]
        if r.get("error"):
            lines.append(f"| {case} | FAILED: {r['error'].splitlines()[0][:120]} | - | - | - | - |")
            continue
        s = r["seconds"]
        req = r["requests"]
        req_text = f"{req['median']:.0f}" if req["min"] == req["max"] else f"{req['median']:.0f} ({req['min']}-{req['max']})"
        lines.append(f"| {case} | {s['median']:.3f} s ({s['min']:.3f}-{s['max']:.3f}) | {req_text} | "
                     f"{r['bytes_sent']['median']:,.0f} | {r['peak_rss_mb']['median']:.0f} MB | "
                     f"{r['rss_before_mb']['median']:.0f} MB |")
    med, mins, verdict = result["ratios"], result["ratios_of_min"], result["targets"]

    def of_medians_and_minimums(key: str) -> str:
        return f"{bench_common.format_ratio(med[key])} | {bench_common.format_ratio(mins[key])}"

    core_req = result["cases"].get("lindi-core", {}).get("requests")
    lines += ["", "| target | measured | of minimums | verdict |", "| --- | --- | --- | --- |"]
    if core_req:
        lines.append(f"| lindi-core at most 2 HTTP requests | max {core_req['max']} over all runs | - | "
                     f"{bench_common.format_verdict(verdict['at_most_2_requests'])} |")
    lines.append(f"| lindi-core time within 1.2x of local h5py | "
                 f"{of_medians_and_minimums('lindi_core_time_over_local_h5py')} | "
                 f"{bench_common.format_verdict(verdict['time_within_1.2x_of_local_h5py'])} |")
    lines.append(f"| lindi-core time no worse than LINDI 0.4 (ratio <= 1) | "
                 f"{of_medians_and_minimums('lindi_core_time_over_lindi_0_4')} | "
                 f"{bench_common.format_verdict(verdict['time_no_worse_than_lindi_0_4'])} |")
    lines.append(f"| lindi-core requests no more than LINDI 0.4's | - | - | "
                 f"{bench_common.format_verdict(verdict['requests_no_more_than_lindi_0_4'])} |")
    lines.append(f"| (info) remfile time / lindi-core time | {of_medians_and_minimums('remfile_time_over_lindi_core')} "
                 "| - |")
    return "\n".join(lines)


def environment_versions(cases: list[str]) -> dict:
    envs = {"machine Python (local-h5py, lindi-core, server)": peers.versions(
        sys.executable, ["lindi-core", "pynwb", "hdmf", "h5py", "zarr", "numpy", "numcodecs", "orjson", "aiohttp"])}
    return {**envs, **peers.venv_versions(cases, VENV)}


# -- main ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPS} repetitions instead of {DEFAULT_REPS}")
    parser.add_argument("--reps", type=int, help=f"repetitions per case (default {DEFAULT_REPS})")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ",".join(CASES))
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY,
                        help=f"seconds of latency the server adds to each request (default {DEFAULT_LATENCY})")
    bench_common.add_bandwidth_option(parser)
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT, help="seconds allowed for one run")
    parser.add_argument("--profile", action="store_true",
                        help="always write the cProfile report of the lindi-core case (it is written anyway "
                             "when a time target is missed)")
    bench_common.add_out_and_commit_options(parser)
    args = parser.parse_args(argv)

    from lindi_core.testing.range_server import RangeServer

    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    cases = bench_common.names_option(parser, args.cases, CASES, "cases")
    out_path = args.out or RESULTS_DIR / ("open-quick.json" if args.quick else "open.json")

    core_env, revision_at_start = bench_common.lindi_core_under_test(args.commit)
    load_at_start = os.getloadavg()

    nwb_path = make_input()
    bench_common.warm_page_cache(nwb_path)
    pythons, errors = peers.pythons_for(cases, VENV)

    runs: dict[str, list[dict]] = {c: [] for c in cases}
    warmups: dict[str, dict] = {}
    with RangeServer(DATA_DIR, latency=args.latency, bandwidth=args.bandwidth) as server:
        translations, translate_errors = prepare_reference_files(server, nwb_path, cases, pythons, core_env,
                                                                 args.timeout)
        errors.update(translate_errors)
        for rep in range(-1, reps):
            label = "warm-up" if rep < 0 else f"rep {rep + 1}/{reps}"
            for case in cases:
                if case in errors:
                    continue
                env = {"TQDM_DISABLE": "1", **(core_env if case == "lindi-core" else {})}
                print(f"[{label}] {case} ...", end=" ", file=sys.stderr, flush=True)
                try:
                    r = run_case(case, pythons[case], target_of(case, server, nwb_path), server, args.timeout, env)
                except peers.PeerError as exc:
                    errors[case] = str(exc)
                    print(f"FAILED: {str(exc).splitlines()[0]}", file=sys.stderr)
                    continue
                (runs[case].append(r) if rep >= 0 else warmups.__setitem__(case, r))
                print(f"{r['seconds']:.3f} s, {r['requests']} requests, {r['bytes_sent']:,} bytes, "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)

        case_results = {}
        for case in cases:
            entry: dict = {"what": DESCRIPTION[case], "target": target_of(case, server, nwb_path).replace(
                server.url, "http://127.0.0.1:<port>"), "warmup": warmups.get(case), "runs": runs[case]}
            if case in errors:
                entry["error"] = errors[case]
                entry["completed_runs"] = len(runs[case])
            else:
                entry.update(bench_common.summarize_fields(runs[case], (
                    "seconds", "open_seconds", "requests", "bytes_sent", "peak_rss_mb", "rss_before_mb",
                    "process_seconds")))
                entry["summary"] = runs[case][0]["summary"] if runs[case] else None
            case_results[case] = entry

        ratios = compute_ratios(case_results)
        verdict = targets_verdict(case_results, ratios)
        profile_report = None
        time_missed = verdict["time_within_1.2x_of_local_h5py"] is False or \
            verdict["time_no_worse_than_lindi_0_4"] is False
        if "lindi-core" in cases and "lindi-core" not in errors and (args.profile or time_missed):
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            report = RESULTS_DIR / "open-profile.txt"
            peers.run_json(sys.executable, PROFILE_CODE, [server.url_for(CORE_JSON), str(report), args.latency],
                           timeout=args.timeout, env={"TQDM_DISABLE": "1", **core_env})
            profile_report = str(report.relative_to(BENCH_DIR.parent))

    served = {name: (DATA_DIR / name).stat().st_size for name in (NWB_NAME, CORE_JSON, LINDI_JSON)
              if (DATA_DIR / name).exists()}
    result = {
        **bench_common.result_header("open", "open_bench.py", argv),
        "config": {
            "input": str(nwb_path.relative_to(BENCH_DIR.parent)),
            "input_bytes": nwb_path.stat().st_size,
            "input_objects": describe_input(nwb_path),
            "input_contents": "30 processing modules (240 TimeSeries, 30 Position with 60 SpatialSeries, "
                              "2000 samples each), Units 500 rows (ragged spike_times, obs_intervals, 5 extra "
                              "columns), electrodes 384 rows (5 extra columns), trials 300 rows (5 extra columns), "
                              "2 epochs, subject; pynwb defaults (contiguous, uncompressed)",
            "served_bytes": served,
            "latency_seconds_per_request": args.latency,
            "bandwidth_bytes_per_second_per_response": args.bandwidth,
            "server": "lindi_core.testing.range_server.RangeServer on 127.0.0.1, in the parent process",
            "reps": reps,
            "warmup_runs": 1,
            "cases": cases,
            "timeout_seconds": args.timeout,
            "timing": "in the child, open .. str(nwb) done (imports excluded); fresh process per run; "
                      "requests and bytes counted by the server over the whole child process",
        },
        "translations": translations,
        "issue_reference_figures": ISSUE_FIGURES,
        "machine": bench_common.machine_facts_and_load(load_at_start),
        "environments": environment_versions(cases),
        "lindi_core_revision": revision_at_start,
        "cases": case_results,
        "ratios": ratios,
        "ratios_of_min": compute_ratios(case_results, "min"),
        "targets": verdict,
        "profile_report": profile_report,
    }
    bench_common.write_results(result, out_path, args.commit, revision_at_start, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
