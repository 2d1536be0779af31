"""zarr-road benchmark: reading a remote reference file through zarr and dask as through the facade.

    python benchmarks/zarr_road_bench.py            # 10,000 chunks of 64 bytes, 20 ms latency, 5 runs
    python benchmarks/zarr_road_bench.py --quick    # the same, 3 runs
    python benchmarks/zarr_road_bench.py [--chunks N] [--latency S] [--reps R] [--commit REV]

The input is an HDF5 file holding one float64 dataset of ``--chunks`` chunks of 8 items (64
bytes each, no filters), served by ``lindi_core.testing.range_server.RangeServer`` on 127.0.0.1 with
``--latency`` seconds added to every request, and translated by lindi-core (by URL, so its chunk
references point at the server). Each run is a fresh subprocess that opens the reference file
from disk (no request) and reads the whole dataset one way:

* ``facade``: ``LindiH5pyFile.from_lindi_file(path)["x"][...]``;
* ``zarr``: ``zarr.open_array(ReferenceStore.from_file(path), path="x", mode="r")[...]``;
* ``dask``: ``dask.array.from_zarr(that array, chunks=<the whole selection>)`` computed with the
  threaded scheduler. (With ``from_zarr``'s default chunks, one dask task per 64-byte zarr
  chunk, each task is its own zarr read and so its own request: that is dask's choice of work,
  not something a store can merge.)

Reported per road: the read's wall time (median, min-max) and the server's requests, after
checking the values equal h5py's of the local file. Targets (issue 14): zarr and dask in at most
2 requests and under 1.5 s, and within 1.2x of the facade's time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402
import peers  # noqa: E402

BENCH_DIR = peers.BENCH_DIR
DATA_DIR = peers.CACHE_DIR / "data" / "zarr-road"
RESULTS_DIR = BENCH_DIR / "results"
ROADS = ("facade", "zarr", "dask")
CHUNK_ITEMS = 8  # float64: 64-byte chunks
DEFAULT_CHUNKS = 10_000
DEFAULT_REPS, QUICK_REPS = 5, 3
DEFAULT_LATENCY = 0.02
TARGET_REQUESTS = 2
TARGET_SECONDS = 1.5
TARGET_RATIO_TO_FACADE = 1.2


def make_input(chunks: int) -> Path:
    """The HDF5 file of ``chunks`` 64-byte chunks (written once, atomically)."""
    import h5py
    import numpy as np

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"small-chunks-{chunks}.h5"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with h5py.File(tmp, "w") as f:
            f.create_dataset("x", data=np.linspace(-1.0, 1.0, chunks * CHUNK_ITEMS), chunks=(CHUNK_ITEMS,))
        os.replace(tmp, path)
    return path


# -- the measured work (a fresh subprocess per run) -------------------------------------------
CHILD_CODE = r"""
import json, sys, time
import h5py
import numpy as np
road, reference, source = sys.argv[1:4]
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
if road == "facade":
    f = lindi_core.LindiH5pyFile.from_lindi_file(reference)
    read = lambda: f["x"][...]
else:
    import zarr
    array = zarr.open_array(lindi_core.ReferenceStore.from_file(reference), path="x", mode="r", zarr_format=2)
    if road == "zarr":
        read = lambda: array[...]
    else:
        import dask
        import dask.array as da
        lazy = da.from_zarr(array, chunks=array.shape)
        def read():
            with dask.config.set(scheduler="threads"):
                return lazy.compute()
t0 = time.perf_counter()
values = read()
seconds = time.perf_counter() - t0
with h5py.File(source, "r") as truth:
    same = bool(np.array_equal(np.asarray(values), truth["x"][...]))
print(json.dumps({"seconds": seconds, "same_as_h5py": same}))
"""


def targets(cases: dict) -> list[dict]:
    out = []
    facade = bench_common.summary_stat(cases, "facade")
    facade_min = bench_common.summary_stat(cases, "facade", which="min")
    for road in ("zarr", "dask"):
        c = cases.get(road) or {}
        if c.get("error"):
            continue
        seconds = c["seconds"]["median"]
        out.append({"target": f"{road}: at most {TARGET_REQUESTS} requests",
                    "measured": f"max {c['requests']['max']} over all runs (facade: max "
                                f"{cases.get('facade', {}).get('requests', {}).get('max', 'n/a')})",
                    "met": c["requests"]["max"] <= TARGET_REQUESTS})
        out.append({"target": f"{road}: under {TARGET_SECONDS} s", "measured": f"{seconds:.2f} s (median)",
                    "met": seconds < TARGET_SECONDS})
        ratio = bench_common.ratio(seconds, facade)
        out.append({"target": f"{road}: within {TARGET_RATIO_TO_FACADE}x of the facade's time",
                    "measured": f"{road} / facade = {bench_common.format_ratio(ratio)} (minimums "
                                f"{bench_common.format_ratio(bench_common.ratio(c['seconds']['min'], facade_min))})",
                    "met": bench_common.target_met(ratio, lambda r: r <= TARGET_RATIO_TO_FACADE)})
        out.append({"target": f"{road}: values equal h5py's", "measured": f"{c['same_as_h5py']}",
                    "met": c["same_as_h5py"]})
    return out


def table(result: dict) -> str:
    lines = ["| road | time (median, min-max) | requests (median, min-max) | values equal h5py's |",
             "| --- | --- | --- | --- |"]
    for road, c in result["cases"].items():
        if c.get("error"):
            lines.append(f"| {road} | error: {c['error'][:120]} | | |")
            continue
        r = c["requests"]
        lines.append(f"| {road} | {bench_common.format_seconds(c['seconds'])} | "
                     f"{r['median']:.0f} ({r['min']}-{r['max']}) | {c['same_as_h5py']} |")
    lines += ["", *bench_common.targets_table(result["targets"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS, help="64-byte chunks of the dataset")
    parser.add_argument("--reps", type=int, help="runs per road")
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY, help="seconds added to each request")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for one run")
    bench_common.add_out_and_commit_options(parser, "measure lindi-core as committed at REV")
    args = parser.parse_args(argv)
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    out_path = args.out or RESULTS_DIR / ("zarr-road-quick.json" if args.quick else "zarr-road.json")
    core_env, revision = bench_common.lindi_core_under_test(args.commit)
    load_at_start = os.getloadavg()

    from lindi_core.testing.range_server import RangeServer

    source = make_input(args.chunks)
    reference = DATA_DIR / (source.name + ".lindi.json")
    runs: dict[str, list[dict]] = {road: [] for road in ROADS}
    requests: dict[str, list[dict]] = {road: [] for road in ROADS}
    errors: dict[str, str] = {}
    with RangeServer(DATA_DIR, latency=0.0) as server:
        bench_common.translate_served_file(server, source.name, reference, core_env, args.timeout)
        server.latency = args.latency
        for _ in range(reps):
            for road in ROADS:  # interleaved, so that a change of the machine's load hits every road
                if road in errors:
                    continue
                before = server.stats.requests
                try:
                    run = peers.run_json(sys.executable, CHILD_CODE, [road, str(reference), str(source)],
                                         env={"TQDM_DISABLE": "1", **core_env}, timeout=args.timeout)
                except peers.PeerError as exc:
                    errors[road] = str(exc)
                    continue
                runs[road].append(run)
                requests[road].append({"requests": server.stats.requests - before})
    cases: dict[str, dict] = {}
    for road in ROADS:
        if road in errors:
            cases[road] = {"error": errors[road]}
            continue
        cases[road] = {"seconds": bench_common.summarize(runs[road], "seconds"),
                       "requests": bench_common.summarize(requests[road], "requests"),
                       "same_as_h5py": all(r["same_as_h5py"] for r in runs[road]),
                       "runs": [{**r, **q} for r, q in zip(runs[road], requests[road])]}
    result = {
        **bench_common.result_header("zarr-road", "zarr_road_bench.py", argv),
        "machine": bench_common.machine_facts_and_load(load_at_start),
        "lindi_core_revision": revision,
        "environments": {"machine Python (every road, the server)": peers.versions(
            sys.executable, ["lindi-core", "zarr", "dask", "h5py", "numpy", "numcodecs", "aiohttp"])},
        "config": {"chunks": args.chunks, "chunk_bytes": CHUNK_ITEMS * 8, "reps": reps,
                   "latency_seconds": args.latency},
        "cases": cases,
        "ratios": {f"{road}_over_facade": bench_common.ratio(bench_common.summary_stat(cases, road),
                                                             bench_common.summary_stat(cases, "facade"))
                   for road in ("zarr", "dask")},
        "targets": targets(cases),
    }
    bench_common.write_results(result, out_path, args.commit, revision, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
