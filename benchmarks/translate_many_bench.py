"""translate-many benchmark: many remote files translated on dask.distributed against one by one.

    python benchmarks/translate_many_bench.py            # 200 files, 50 ms latency, 2 runs per case
    python benchmarks/translate_many_bench.py --quick    # 40 files, 1 run per case
    python benchmarks/translate_many_bench.py [--files N] [--latency S] [--reps R] [--commit REV]

The inputs are ``--files`` small NWB files written once by ``lindi_core.samples.write_sample_nwb``
(each its own seed: an ElectricalSeries, an LFP, a subject, electrodes; about 0.3 MB each),
served by ``lindi_core.testing.range_server.RangeServer`` on 127.0.0.1 with ``--latency`` seconds
added to every request. Each run is a fresh subprocess that translates every file by URL into a
fresh output folder, one way:

* ``sequential``: ``translate_to_file(url, out)`` for one file after another, each timed: the sum
  of those times is the single-file translation time every other case is compared with;
* ``workers-1``, ``workers-2``: ``lindi_core.translate_many(urls, outdir, scheduler=...)`` on a
  dask ``LocalCluster`` of 1 or 2 worker processes (one thread each), started in the same
  subprocess before the clock starts; its start-up time is reported apart.

Reported per case: wall time (without the cluster's start-up), files per second, the ratio of
the wall time to the sequential sum (below 1: faster than one by one), the cluster's start-up
time, and the server's requests and bytes sent per file (translate-many also asks each source's
version before and after translating it, so it makes more requests). Every output is checked to
hold the same references as the sequential one's.

On a 2-core machine two workers cannot be more than 2x faster, and they share the cores with
the server and the scheduler: at 50 ms latency a file's translation mostly waits on the network,
which is what a second worker overlaps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402
import peers  # noqa: E402

BENCH_DIR = peers.BENCH_DIR
DATA_DIR = peers.CACHE_DIR / "data" / "translate-many"
OUT_DIR = peers.CACHE_DIR / "out" / "translate-many"
RESULTS_DIR = BENCH_DIR / "results"
CASES = ("sequential", "workers-1", "workers-2")
DEFAULT_FILES, QUICK_FILES = 200, 40
DEFAULT_REPS, QUICK_REPS = 2, 1
DEFAULT_LATENCY = 0.05


def make_inputs(count: int) -> list[str]:
    """The names (under DATA_DIR) of ``count`` sample NWB files, written once each, atomically."""
    from lindi_core.samples import write_sample_nwb

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"sub-{i:03d}_ses-1.nwb"
        path = DATA_DIR / name
        if not path.exists():
            tmp = DATA_DIR / (name.removesuffix(".nwb") + ".tmp.nwb")
            write_sample_nwb(tmp, n_samples=6000, n_channels=8, seed=i)
            os.replace(tmp, path)
        names.append(name)
    return names


# -- the measured work (a fresh subprocess per run) -------------------------------------------
# argv: case, output folder, then the URLs. Prints the wall time and, for the sequential case,
# each file's time.
CHILD_CODE = r"""
import json, os, sys, time
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
case, outdir, urls = sys.argv[1], sys.argv[2], sys.argv[3:]
names = [url.rsplit("/", 1)[1] for url in urls]
result = {}
if case == "sequential":
    each = []
    t0 = time.perf_counter()
    for url, name in zip(urls, names):
        t = time.perf_counter()
        lindi_core.translate_to_file(url, os.path.join(outdir, name + ".lindi.json"), progress=False)
        each.append(time.perf_counter() - t)
    result["seconds"] = time.perf_counter() - t0
    result["sum_of_file_seconds"] = sum(each)
else:
    from distributed import LocalCluster
    workers = int(case.split("-")[1])
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    result["cluster_start_seconds"] = time.perf_counter() - t
    try:
        t0 = time.perf_counter()
        summary = lindi_core.translate_many(urls, outdir, scheduler=cluster.scheduler_address, progress=False)
        result["seconds"] = time.perf_counter() - t0
    finally:
        cluster.close()
    result["failed"] = [f"{o.name}: {o.reason}" for o in summary.failed]
    result["done"] = len(summary.done)
print(json.dumps(result))
"""

# argv: the sequential case's output folder, another case's. Prints whether every reference file
# holds the same references (generationMetadata aside: translate-many records the source's version).
SAME_REFS_CODE = r"""
import json, os, sys
import orjson
a, b = sys.argv[1:3]
names = sorted(n for n in os.listdir(a) if n.endswith(".lindi.json"))
differ = []
for n in names:
    try:
        with open(os.path.join(a, n), "rb") as fa, open(os.path.join(b, n), "rb") as fb:
            if orjson.loads(fa.read())["refs"] != orjson.loads(fb.read())["refs"]:
                differ.append(n)
    except FileNotFoundError:
        differ.append(n)
print(json.dumps({"compared": len(names), "differ": differ}))
"""


def run_case(case: str, server, names: list[str], core_env: dict, timeout: float) -> dict:
    """One run of ``case`` over every file: the child's figures and the server's counters."""
    outdir = OUT_DIR / case
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    requests, sent = server.stats.requests, server.stats.bytes_sent
    run = peers.run_json(sys.executable, CHILD_CODE, [case, str(outdir), *(server.url_for(n) for n in names)],
                         env={"TQDM_DISABLE": "1", **core_env}, timeout=timeout)
    if run.get("failed"):
        raise peers.PeerError(f"{len(run['failed'])} files failed, e.g. {run['failed'][0]}")
    n = len(names)
    return {**run, "files_per_second": n / run["seconds"],
            "requests_per_file": (server.stats.requests - requests) / n,
            "bytes_per_file": (server.stats.bytes_sent - sent) / n}


def table(result: dict) -> str:
    lines = ["| case | wall time (median, min-max) | files/s | wall / sum of single-file times | "
             "cluster start-up | requests per file | bytes per file | outputs equal sequential's |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for case, c in result["cases"].items():
        if c.get("error"):
            lines.append(f"| {case} | error: {c['error'].splitlines()[-1][:120]} | | | | | | |")
            continue
        start = c.get("cluster_start_seconds")
        start_text = f"{start['median']:.1f} s" if start else "-"
        lines.append(f"| {case} | {bench_common.format_seconds(c['seconds'])} | "
                     f"{c['files_per_second']['median']:.2f} | "
                     f"{bench_common.format_ratio(result['ratios'].get(case))} | "
                     f"{start_text} | {c['requests_per_file']['median']:.1f} | "
                     f"{c['bytes_per_file']['median']:,.0f} | {c.get('same_refs_as_sequential', '-')} |")
    lines += ["", *bench_common.targets_table(result["targets"])]
    return "\n".join(lines)


def targets(cases: dict, ratios: dict) -> list[dict]:
    """Not a speed promise (2 shared cores): that the batch is correct, and how far from the
    ideal 2x two workers come."""
    out = []
    for case in ("workers-1", "workers-2"):
        c = cases.get(case) or {}
        if c.get("error") or not c:
            continue
        out.append({"target": f"{case}: every output holds the same references as the sequential one's",
                    "measured": f"{c['same_refs_as_sequential']}", "met": c["same_refs_as_sequential"]})
    one, two = cases.get("workers-1") or {}, cases.get("workers-2") or {}
    if one.get("seconds") and two.get("seconds"):
        speedup = one["seconds"]["median"] / two["seconds"]["median"]
        out.append({"target": "workers-2: faster than workers-1 (ideal: 2x)",
                    "measured": f"workers-1 / workers-2 = {speedup:.2f}", "met": speedup > 1.0})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FILES} files, {QUICK_REPS} run per case")
    parser.add_argument("--files", type=int, help=f"files to translate (default {DEFAULT_FILES})")
    parser.add_argument("--reps", type=int, help="runs per case")
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY, help="seconds added to each request")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed for one run")
    bench_common.add_out_and_commit_options(parser, "measure lindi-core as committed at REV")
    args = parser.parse_args(argv)
    files = args.files or (QUICK_FILES if args.quick else DEFAULT_FILES)
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    out_path = args.out or RESULTS_DIR / ("translate-many-quick.json" if args.quick else "translate-many.json")
    core_env, revision = bench_common.lindi_core_under_test(args.commit)

    from lindi_core.testing.range_server import RangeServer

    names = make_inputs(files)
    load_at_start = os.getloadavg()
    runs: dict[str, list[dict]] = {case: [] for case in CASES}
    errors: dict[str, str] = {}
    same: dict[str, bool] = {}
    with RangeServer(DATA_DIR, latency=args.latency) as server:
        for _ in range(reps):
            for case in CASES:  # interleaved, so that a change of the machine's load hits every case
                if case in errors:
                    continue
                try:
                    runs[case].append(run_case(case, server, names, core_env, args.timeout))
                    if case != "sequential":
                        check = peers.run_json(sys.executable, SAME_REFS_CODE,
                                               [str(OUT_DIR / "sequential"), str(OUT_DIR / case)], timeout=600)
                        same[case] = same.get(case, True) and check["compared"] == files and not check["differ"]
                except peers.PeerError as exc:
                    errors[case] = str(exc)
    cases: dict[str, dict] = {}
    for case in CASES:
        if case in errors:
            cases[case] = {"error": errors[case]}
            continue
        cases[case] = {**bench_common.summarize_fields(runs[case], (
            "seconds", "files_per_second", "requests_per_file", "bytes_per_file", "cluster_start_seconds",
            "sum_of_file_seconds")), "runs": runs[case]}
        if case in same:
            cases[case]["same_refs_as_sequential"] = same[case]
    single = bench_common.summary_stat(cases, "sequential", "sum_of_file_seconds")
    ratios = {case: bench_common.ratio(bench_common.summary_stat(cases, case), single) for case in CASES}
    result = {
        **bench_common.result_header("translate-many", "translate_many_bench.py", argv),
        "machine": bench_common.machine_facts_and_load(load_at_start),
        "lindi_core_revision": revision,
        "environments": {"machine Python (every case, the server)": peers.versions(
            sys.executable, ["lindi-core", "dask", "distributed", "h5py", "aiohttp"])},
        "config": {"files": files, "reps": reps, "latency_seconds": args.latency,
                   "input_bytes": sum((DATA_DIR / n).stat().st_size for n in names)},
        "cases": cases,
        "ratios": ratios,
        "targets": targets(cases, ratios),
    }
    bench_common.write_results(result, out_path, args.commit, revision, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
