"""Translation benchmark: lindi-core against h5py's chunk index walk, LINDI 0.4 and kerchunk.

    python benchmarks/translate_bench.py            # 1,000,000 chunks, 5 repetitions
    python benchmarks/translate_bench.py --quick    # 100,000 chunks
    python benchmarks/translate_bench.py --chunks N --reps R [--tools a,b] [--profile] [--commit REV]

The input is one uncompressed int32 dataset of shape (N*16,) with chunks of (16,) (64 bytes
each, all allocated), written by h5py with default file settings (so a version-1 B-tree chunk
index), cached under ``benchmarks/.cache/data/``.

Every repetition of every tool runs in its own fresh subprocess, which times only the work
itself (file open to output written; interpreter start-up and imports excluded) and reports its
own peak RSS (``VmHWM`` of /proc/self/status, taken before any result checking). Repetitions
are interleaved across tools. The peers run in their own venvs (see ``peers.py``).
``--commit REV`` measures lindi-core as committed at REV (a ``git archive`` snapshot) instead
of the working tree; ``--profile`` also writes a cProfile report of lindi-core's translation.

Results: a table on stdout and JSON in ``benchmarks/results/translate.json`` (``--quick`` and
``--chunks`` runs go to ``translate-<N>.json`` so they never overwrite the full run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402
import peers  # noqa: E402

# still importable from here, where benchmark scripts imported them before bench_common existed

BENCH_DIR = peers.BENCH_DIR
DATA_DIR = peers.CACHE_DIR / "data"
OUT_DIR = peers.CACHE_DIR / "out"
RESULTS_DIR = BENCH_DIR / "results"
CHUNK_ELEMENTS = 16
DEFAULT_CHUNKS = 1_000_000
QUICK_CHUNKS = 100_000
PEER_TIMEOUT = 15 * 60  # seconds, for one run of one tool

TARGETS = {
    "time_vs_chunk_iter_max": 1.5,  # lindi-core time / chunk_iter time
    "peer_speedup_min": 3.0,  # peer time / lindi-core time, for each peer
    "size_vs_lindi_max": 1.0,  # lindi-core output bytes / LINDI output bytes
}


# -- input ------------------------------------------------------------------------------
def make_input(n_chunks: int) -> Path:
    """The cached input file with ``n_chunks`` chunks (written once, atomically)."""
    return bench_common.cached_input(DATA_DIR / f"chunks-{n_chunks}.h5",
                                     lambda path: write_input(path, n_chunks))


def write_input(path: Path, n_chunks: int) -> None:
    import h5py
    import numpy as np

    tmp = path.with_suffix(".h5.tmp")
    n = n_chunks * CHUNK_ELEMENTS
    slab = 1 << 22  # elements per write: 262,144 chunks
    with h5py.File(tmp, "w") as f:
        dset = f.create_dataset("data", shape=(n,), dtype="int32", chunks=(CHUNK_ELEMENTS,))
        for start in range(0, n, slab):
            stop = min(n, start + slab)
            dset[start:stop] = np.arange(start, stop, dtype=np.int32)
    os.replace(tmp, path)


# -- the child programs -------------------------------------------------------------------
# Each prints one JSON line: seconds (the timed work), peak_rss_mb (VmHWM right after the
# work), rss_before_mb (resident size after imports, before the work), output_bytes, refs
# (chunk references in the output, counted after the measurement).
CHILD_PRELUDE = r"""
import json, os, resource, sys, time
""" + bench_common.STATUS_MB_SOURCE + r"""
def _rss_mb():
    return _status_mb("VmRSS")
def _peak_mb():
    # ru_maxrss only where /proc has no VmHWM (it may hold the parent's peak)
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _count_list_refs(path):
    with open(path, "rb") as f:
        obj = json.load(f)
    return sum(1 for v in obj["refs"].values() if isinstance(v, list))
src, out = sys.argv[1], sys.argv[2]
"""


def lindi_0_4_code(opts: str | None = None) -> str:
    """The child program of LINDI 0.4's translation; ``opts`` is the source of its
    ``LindiH5ZarrStoreOpts`` (None: LINDI's default options)."""
    from_file_args = "src, url=src" + (f", opts={opts}" if opts else "")
    return CHILD_PRELUDE + r"""
import lindi
rss0 = _rss_mb()
t0 = time.perf_counter()
store = lindi.LindiH5ZarrStore.from_file(""" + from_file_args + r""")
store.write_reference_file_system(out)
store.close()
t1 = time.perf_counter()
peak = _peak_mb()
print(json.dumps({"seconds": t1 - t0, "peak_rss_mb": peak, "rss_before_mb": rss0,
                  "output_bytes": os.path.getsize(out), "refs": _count_list_refs(out)}))
"""


CHILD_CODE = {
    "chunk_iter": CHILD_PRELUDE + r"""
import h5py
with h5py.File(src, "r") as f:
    dsid = f["data"].id
    rss0 = _rss_mb()
    found = []
    t0 = time.perf_counter()
    dsid.chunk_iter(found.append)
    seconds = time.perf_counter() - t0
    peak = _peak_mb()
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": rss0,
                  "output_bytes": None, "refs": len(found)}))
""",
    "chunk_iter-noop": CHILD_PRELUDE + r"""
import h5py
with h5py.File(src, "r") as f:
    dsid = f["data"].id
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    dsid.chunk_iter(lambda info: None)
    seconds = time.perf_counter() - t0
    peak = _peak_mb()
    count = dsid.get_num_chunks()
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": rss0,
                  "output_bytes": None, "refs": count}))
""",
    "lindi-core": CHILD_PRELUDE + r"""
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
from lindi_core.format.jsonio import write_atomic
rss0 = _rss_mb()
t0 = time.perf_counter()
rfs = lindi_core.translate(src, progress=False)
t1 = time.perf_counter()
write_atomic(rfs, out)
t2 = time.perf_counter()
peak = _peak_mb()
del rfs
print(json.dumps({"seconds": t2 - t0, "translate_seconds": t1 - t0, "write_seconds": t2 - t1,
                  "peak_rss_mb": peak, "rss_before_mb": rss0, "module_file": lindi_core.__file__,
                  "output_bytes": os.path.getsize(out), "refs": _count_list_refs(out)}))
""",
    "lindi-0.4": lindi_0_4_code("lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=None)"),
    "kerchunk": CHILD_PRELUDE + r"""
from kerchunk.hdf import SingleHdf5ToZarr
rss0 = _rss_mb()
t0 = time.perf_counter()
h5chunks = SingleHdf5ToZarr(src, inline_threshold=0)
refs = h5chunks.translate()
with open(out, "w") as f:
    json.dump(refs, f)
h5chunks.close()
t1 = time.perf_counter()
peak = _peak_mb()
del refs
print(json.dumps({"seconds": t1 - t0, "peak_rss_mb": peak, "rss_before_mb": rss0,
                  "output_bytes": os.path.getsize(out), "refs": _count_list_refs(out)}))
""",
}

TOOLS = ["chunk_iter", "chunk_iter-noop", "lindi-core", "lindi-0.4", "kerchunk"]
OUTPUT_NAME = {
    "chunk_iter": None,
    "chunk_iter-noop": None,
    "lindi-core": "lindi-core.lindi.json",
    "lindi-0.4": "lindi-0.4.lindi.json",  # LINDI insists on the .lindi.json suffix
    "kerchunk": "kerchunk.json",
}
VENV = {"lindi-0.4": "lindi", "kerchunk": "kerchunk"}  # the peers' tools: their venvs
DESCRIPTION = {
    "chunk_iter": "h5py dset.id.chunk_iter(list.append) alone (physical reference)",
    "chunk_iter-noop": "h5py dset.id.chunk_iter(lambda info: None): the walk with no work kept (stricter floor, "
                       "information only)",
    "lindi-core": "lindi_core.translate(path, progress=False) + jsonio.write_atomic(rfs, out)",
    "lindi-0.4": "lindi 0.4.6 LindiH5ZarrStore.from_file(path, url=path, opts=LindiH5ZarrStoreOpts("
                 "num_dataset_chunks_threshold=None)).write_reference_file_system(out)",
    "kerchunk": "kerchunk.hdf.SingleHdf5ToZarr(path, inline_threshold=0).translate() + json.dump(refs, f)",
}


def run_once(tool: str, python: str, src: Path, timeout: float, env: dict | None = None) -> dict:
    out = OUT_DIR / OUTPUT_NAME[tool] if OUTPUT_NAME[tool] else OUT_DIR / "unused"
    if out.exists():
        out.unlink()
    t0 = time.perf_counter()
    result = peers.run_json(python, CHILD_CODE[tool], [str(src), str(out)], timeout=timeout,
                            env={"TQDM_DISABLE": "1", **(env or {})})
    result["process_seconds"] = time.perf_counter() - t0
    return result


def compute_ratios(tools: dict, stat: str = "median") -> dict:
    """The benchmark's ratios from one statistic (``median`` or ``min``) of each tool."""

    def get(tool: str, key: str = "seconds"):
        return bench_common.summary_stat(tools, tool, key, stat)

    core_t = get("lindi-core")
    return {
        "lindi_core_time_over_chunk_iter": bench_common.ratio(core_t, get("chunk_iter")),
        "lindi_core_time_over_chunk_iter_noop": bench_common.ratio(core_t, get("chunk_iter-noop")),
        "lindi_0_4_time_over_lindi_core": bench_common.ratio(get("lindi-0.4"), core_t),
        "kerchunk_time_over_lindi_core": bench_common.ratio(get("kerchunk"), core_t),
        "lindi_core_size_over_lindi_0_4": bench_common.ratio(get("lindi-core", "output_bytes"),
                                                             get("lindi-0.4", "output_bytes")),
        "lindi_core_size_over_kerchunk": bench_common.ratio(get("lindi-core", "output_bytes"),
                                                            get("kerchunk", "output_bytes")),
    }


def targets_verdict(ratios: dict) -> dict:
    return {
        "time_within_1.5x_of_chunk_iter": bench_common.target_met(
            ratios["lindi_core_time_over_chunk_iter"], lambda v: v <= TARGETS["time_vs_chunk_iter_max"]),
        "at_least_3x_faster_than_lindi_0_4": bench_common.target_met(
            ratios["lindi_0_4_time_over_lindi_core"], lambda v: v >= TARGETS["peer_speedup_min"]),
        "at_least_3x_faster_than_kerchunk": bench_common.target_met(
            ratios["kerchunk_time_over_lindi_core"], lambda v: v >= TARGETS["peer_speedup_min"]),
        "output_no_larger_than_lindi_0_4": bench_common.target_met(
            ratios["lindi_core_size_over_lindi_0_4"], lambda v: v <= TARGETS["size_vs_lindi_max"]),
    }


def fmt_stat(s: dict | None, unit: str = "s", digits: int = 2) -> str:
    if not s:
        return "-"
    if unit == "s":
        return bench_common.format_seconds(s, digits)
    if unit == "MB":
        return f"{s['median']:.0f} MB"
    return str(s)


def table(result: dict) -> str:
    lines = [
        f"| tool | time, median (min-max) of {result['config']['reps']} | peak RSS | output bytes | chunk refs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for tool in result["config"]["tools"]:
        r = result["tools"][tool]
        if r.get("error"):
            lines.append(f"| {tool} | FAILED: {r['error'].splitlines()[0][:120]} | - | - | - |")
            continue
        size = r["output_bytes"]["median"] if r.get("output_bytes") else None
        refs = r["refs"]["median"] if r.get("refs") else None
        time_text = fmt_stat(r["seconds"])
        if r.get("translate_seconds"):
            time_text += (f" [translate {r['translate_seconds']['median']:.2f} s"
                          f" + write {r['write_seconds']['median']:.2f} s]")
        lines.append(f"| {tool} | {time_text} | {fmt_stat(r['peak_rss_mb'], 'MB')} | "
                     f"{'-' if size is None else f'{size:,.0f}'} | {'-' if refs is None else f'{refs:,.0f}'} |")
    med, mins, verdict = result["ratios"], result["ratios_of_min"], result["targets"]
    rows = [
        ("lindi-core time / chunk_iter time", "lindi_core_time_over_chunk_iter", "<= 1.5",
         "time_within_1.5x_of_chunk_iter"),
        ("LINDI 0.4 time / lindi-core time", "lindi_0_4_time_over_lindi_core", ">= 3",
         "at_least_3x_faster_than_lindi_0_4"),
        ("kerchunk time / lindi-core time", "kerchunk_time_over_lindi_core", ">= 3",
         "at_least_3x_faster_than_kerchunk"),
        ("lindi-core output / LINDI 0.4 output", "lindi_core_size_over_lindi_0_4", "<= 1.0",
         "output_no_larger_than_lindi_0_4"),
        ("lindi-core output / kerchunk output", "lindi_core_size_over_kerchunk", "-", None),
        ("(info) lindi-core time / chunk_iter no-op time", "lindi_core_time_over_chunk_iter_noop", "-", None),
    ]
    lines += ["", "| ratio | of medians | of minimums | target | verdict (medians) |",
              "| --- | --- | --- | --- | --- |"]
    for label, key, target, vkey in rows:
        if med.get(key) is None and mins.get(key) is None:
            continue
        lines.append(f"| {label} | {bench_common.format_ratio(med[key])} | "
                     f"{bench_common.format_ratio(mins[key])} | {target} | "
                     f"{bench_common.format_verdict(verdict[vkey]) if vkey else '-'} |")
    return "\n".join(lines)


def environment_versions(tools: list[str]) -> dict:
    envs = {}
    if {"chunk_iter", "chunk_iter-noop", "lindi-core"} & set(tools):
        envs["lindi-core (machine Python)"] = peers.versions(
            sys.executable, ["lindi-core", "zarr", "h5py", "numpy", "numcodecs", "orjson"])
    return {**envs, **peers.venv_versions(tools, VENV)}


# -- profile ---------------------------------------------------------------------------------
PROFILE_CODE = r"""
import cProfile, io, json, sys, time
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
from lindi_core.format.jsonio import write_atomic
""" + bench_common.PROFILE_STATS_SOURCE + r"""
src, out, report = sys.argv[1], sys.argv[2], sys.argv[3]
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
rfs = lindi_core.translate(src, progress=False)
t1 = time.perf_counter()
write_atomic(rfs, out)
prof.disable()
t2 = time.perf_counter()
buf = io.StringIO()
_print_profile(prof, buf, 35, 20)
with open(report, "w") as f:
    f.write(f"# cProfile of lindi_core.translate + write_atomic on {src}\n")
    f.write(f"# translate {t1 - t0:.2f} s, write {t2 - t1:.2f} s (under the profiler)\n\n")
    f.write(buf.getvalue())
print(json.dumps({"translate_seconds": t1 - t0, "write_seconds": t2 - t1}))
"""


def run_profile(src: Path, n_chunks: int, env: dict | None = None) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    report = RESULTS_DIR / f"translate-profile-{n_chunks}.txt"
    peers.run_json(sys.executable, PROFILE_CODE, [str(src), str(OUT_DIR / "profile.lindi.json"), str(report)],
                   timeout=PEER_TIMEOUT, env={"TQDM_DISABLE": "1", **(env or {})})
    return report


# -- main ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CHUNKS:,} chunks instead of {DEFAULT_CHUNKS:,}")
    parser.add_argument("--chunks", type=int, help="number of chunks of the input dataset")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per tool (default 5)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=PEER_TIMEOUT, help="seconds allowed for one run")
    parser.add_argument("--profile", action="store_true", help="also cProfile lindi-core's translate")
    bench_common.add_out_and_commit_options(parser)
    args = parser.parse_args(argv)

    n_chunks = args.chunks or (QUICK_CHUNKS if args.quick else DEFAULT_CHUNKS)
    tools = bench_common.names_option(parser, args.tools, TOOLS, "tools")
    out_path = args.out or RESULTS_DIR / ("translate.json" if n_chunks == DEFAULT_CHUNKS and not args.quick
                                          else f"translate-{n_chunks}.json")

    core_env, revision_at_start = bench_common.lindi_core_under_test(args.commit)
    load_at_start = os.getloadavg()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    src = make_input(n_chunks)
    bench_common.warm_page_cache(src)
    pythons, errors = peers.pythons_for(tools, VENV)

    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for rep in range(args.reps):
        for tool in tools:
            if tool in errors:
                continue
            print(f"[rep {rep + 1}/{args.reps}] {tool} ...", end=" ", file=sys.stderr, flush=True)
            try:
                r = run_once(tool, pythons[tool], src, args.timeout,
                             core_env if pythons[tool] == sys.executable else None)
            except peers.PeerError as exc:
                errors[tool] = str(exc)
                print(f"FAILED: {str(exc).splitlines()[0]}", file=sys.stderr)
                continue
            runs[tool].append(r)
            print(f"{r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)

    tool_results = {}
    for tool in tools:
        entry: dict = {"what": DESCRIPTION[tool], "runs": runs[tool]}
        if tool in errors:
            entry["error"] = errors[tool]
            entry["completed_runs"] = len(runs[tool])
        if tool not in errors:
            entry.update(bench_common.summarize_fields(runs[tool], (
                "seconds", "translate_seconds", "write_seconds", "peak_rss_mb", "rss_before_mb", "output_bytes",
                "refs", "process_seconds")))
        tool_results[tool] = entry

    ratios = compute_ratios(tool_results)
    ratios_of_min = compute_ratios(tool_results, "min")
    result = {
        **bench_common.result_header("translate", "translate_bench.py", argv),
        "config": {
            "chunks": n_chunks,
            "dataset": f"int32, shape ({n_chunks * CHUNK_ELEMENTS},), chunks ({CHUNK_ELEMENTS},), "
                       "uncompressed, all chunks allocated, h5py default file settings (v1 B-tree index)",
            "input_bytes": src.stat().st_size,
            "reps": args.reps,
            "tools": tools,
            "timeout_seconds": args.timeout,
            "timing": "in the child, around the work only (open .. output written); fresh process per run",
        },
        "machine": bench_common.machine_facts_and_load(load_at_start),
        "environments": environment_versions(tools),
        "lindi_core_revision": revision_at_start,
        "tools": tool_results,
        "ratios": ratios,
        "ratios_of_min": ratios_of_min,
        "targets": targets_verdict(ratios),
    }
    if args.profile:
        result["profile_report"] = str(run_profile(src, n_chunks, core_env).relative_to(BENCH_DIR.parent))
    bench_common.write_results(result, out_path, args.commit, revision_at_start, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
