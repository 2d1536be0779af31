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
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

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
    import h5py
    import numpy as np

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"chunks-{n_chunks}.h5"
    if path.exists():
        return path
    tmp = path.with_suffix(".h5.tmp")
    n = n_chunks * CHUNK_ELEMENTS
    slab = 1 << 22  # elements per write: 262,144 chunks
    t0 = time.perf_counter()
    with h5py.File(tmp, "w") as f:
        dset = f.create_dataset("data", shape=(n,), dtype="int32", chunks=(CHUNK_ELEMENTS,))
        for start in range(0, n, slab):
            stop = min(n, start + slab)
            dset[start:stop] = np.arange(start, stop, dtype=np.int32)
    os.replace(tmp, path)
    print(f"generated {path} ({path.stat().st_size:,} bytes) in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return path


def warm_page_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# -- the child programs -------------------------------------------------------------------
# Each prints one JSON line: seconds (the timed work), peak_rss_mb (VmHWM right after the
# work), rss_before_mb (resident size after imports, before the work), output_bytes, refs
# (chunk references in the output, counted after the measurement).
CHILD_PRELUDE = r"""
import json, os, resource, sys, time
def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None
def _peak_mb():
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across
    # fork + exec on Linux.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _count_list_refs(path):
    with open(path, "rb") as f:
        obj = json.load(f)
    return sum(1 for v in obj["refs"].values() if isinstance(v, list))
src, out = sys.argv[1], sys.argv[2]
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
import lindi_core
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
    "lindi-0.4": CHILD_PRELUDE + r"""
import lindi
rss0 = _rss_mb()
t0 = time.perf_counter()
opts = lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=None)
store = lindi.LindiH5ZarrStore.from_file(src, url=src, opts=opts)
store.write_reference_file_system(out)
store.close()
t1 = time.perf_counter()
peak = _peak_mb()
print(json.dumps({"seconds": t1 - t0, "peak_rss_mb": peak, "rss_before_mb": rss0,
                  "output_bytes": os.path.getsize(out), "refs": _count_list_refs(out)}))
""",
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
DESCRIPTION = {
    "chunk_iter": "h5py dset.id.chunk_iter(list.append) alone (physical reference)",
    "chunk_iter-noop": "h5py dset.id.chunk_iter(lambda info: None): the walk with no work kept (stricter floor, "
                       "information only)",
    "lindi-core": "lindi_core.translate(path, progress=False) + jsonio.write_atomic(rfs, out)",
    "lindi-0.4": "lindi 0.4.6 LindiH5ZarrStore.from_file(path, url=path, opts=LindiH5ZarrStoreOpts("
                 "num_dataset_chunks_threshold=None)).write_reference_file_system(out)",
    "kerchunk": "kerchunk.hdf.SingleHdf5ToZarr(path, inline_threshold=0).translate() + json.dump(refs, f)",
}


def tool_python(tool: str) -> str:
    if tool == "lindi-0.4":
        return str(peers.ensure_venv("lindi"))
    if tool == "kerchunk":
        return str(peers.ensure_venv("kerchunk"))
    return sys.executable


def run_once(tool: str, python: str, src: Path, timeout: float, env: dict | None = None) -> dict:
    out = OUT_DIR / OUTPUT_NAME[tool] if OUTPUT_NAME[tool] else OUT_DIR / "unused"
    if out.exists():
        out.unlink()
    t0 = time.perf_counter()
    result = peers.run_json(python, CHILD_CODE[tool], [str(src), str(out)], timeout=timeout,
                            env={"TQDM_DISABLE": "1", **(env or {})})
    result["process_seconds"] = time.perf_counter() - t0
    return result


# -- statistics and report ----------------------------------------------------------------
def summarize(runs: list[dict], key: str) -> dict | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def compute_ratios(tools: dict, stat: str = "median") -> dict:
    """The benchmark's ratios from one statistic (``median`` or ``min``) of each tool."""

    def get(tool: str, key: str = "seconds"):
        s = tools.get(tool, {}).get(key)
        return s[stat] if s else None

    core_t = get("lindi-core")
    return {
        "lindi_core_time_over_chunk_iter": ratio(core_t, get("chunk_iter")),
        "lindi_core_time_over_chunk_iter_noop": ratio(core_t, get("chunk_iter-noop")),
        "lindi_0_4_time_over_lindi_core": ratio(get("lindi-0.4"), core_t),
        "kerchunk_time_over_lindi_core": ratio(get("kerchunk"), core_t),
        "lindi_core_size_over_lindi_0_4": ratio(get("lindi-core", "output_bytes"),
                                                get("lindi-0.4", "output_bytes")),
        "lindi_core_size_over_kerchunk": ratio(get("lindi-core", "output_bytes"),
                                               get("kerchunk", "output_bytes")),
    }


def targets_verdict(ratios: dict) -> dict:
    def check(value, ok):
        return None if value is None else bool(ok(value))

    return {
        "time_within_1.5x_of_chunk_iter": check(ratios["lindi_core_time_over_chunk_iter"],
                                                lambda v: v <= TARGETS["time_vs_chunk_iter_max"]),
        "at_least_3x_faster_than_lindi_0_4": check(ratios["lindi_0_4_time_over_lindi_core"],
                                                   lambda v: v >= TARGETS["peer_speedup_min"]),
        "at_least_3x_faster_than_kerchunk": check(ratios["kerchunk_time_over_lindi_core"],
                                                  lambda v: v >= TARGETS["peer_speedup_min"]),
        "output_no_larger_than_lindi_0_4": check(ratios["lindi_core_size_over_lindi_0_4"],
                                                 lambda v: v <= TARGETS["size_vs_lindi_max"]),
    }


def fmt_stat(s: dict | None, unit: str = "s", digits: int = 2) -> str:
    if not s:
        return "-"
    if unit == "s":
        return f"{s['median']:.{digits}f} s ({s['min']:.{digits}f}-{s['max']:.{digits}f})"
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

    def rf(v):
        return "n/a" if v is None else f"{v:.2f}"

    def ok(v):
        return "n/a" if v is None else ("met" if v else "not met")

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
        lines.append(f"| {label} | {rf(med[key])} | {rf(mins[key])} | {target} | "
                     f"{ok(verdict[vkey]) if vkey else '-'} |")
    return "\n".join(lines)


# -- machine facts -------------------------------------------------------------------------
def machine_facts() -> dict:
    cpu = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "mem_total_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


def lindi_core_revision() -> dict:
    """The commit of the lindi-core tree measured, and whether its package had local changes."""
    root = BENCH_DIR.parent

    def git(*cmd):
        r = subprocess.run(["git", "-C", str(root), *cmd], capture_output=True, text=True)
        return r.stdout.rstrip("\n") if r.returncode == 0 else None

    status = git("status", "--porcelain", "--", "lindi_core")
    return {"commit": git("rev-parse", "HEAD"), "lindi_core_uncommitted_changes": bool(status),
            "changed_files": status.splitlines() if status else []}


def lindi_core_under_test(commit: str | None) -> tuple[dict[str, str], dict]:
    """(environment for the lindi-core subprocesses, description of the revision measured):
    a git snapshot of ``commit`` first on PYTHONPATH, or the working tree."""
    if not commit:
        return {}, {**lindi_core_revision(), "source": "working tree"}
    sha, snapshot = snapshot_lindi_core(commit)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(snapshot), os.environ.get("PYTHONPATH")]))}
    return env, {"commit": sha, "source": f"git snapshot {snapshot.relative_to(BENCH_DIR.parent)}"}


def write_results(result: dict, out_path: Path, commit: str | None, revision_at_start: dict, text: str) -> None:
    """Save ``result`` as JSON (flagging a working tree that changed during the run) and print
    ``text`` (the table) and where the results went."""
    if not commit and {**lindi_core_revision(), "source": "working tree"} != revision_at_start:
        result["lindi_core_revision"]["warning"] = "the lindi-core tree changed during the run"
        print("WARNING: the lindi-core tree changed during the run", file=sys.stderr)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    print(f"\nresults written to {out_path}")


def snapshot_lindi_core(rev: str) -> tuple[str, Path]:
    """The ``lindi_core`` package of git revision ``rev``, extracted once under
    ``.cache/src/<commit>``; returns (commit, the folder to put on PYTHONPATH)."""
    root = BENCH_DIR.parent
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", rev + "^{commit}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    dest = peers.CACHE_DIR / "src" / commit
    if not (dest / "lindi_core" / "__init__.py").exists():
        tmp = dest.with_name(commit + ".tmp")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(root), "archive", commit, "lindi_core"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        os.replace(tmp, dest)
    return commit, dest


def environment_versions(tools: list[str]) -> dict:
    envs = {}
    if {"chunk_iter", "chunk_iter-noop", "lindi-core"} & set(tools):
        envs["lindi-core (machine Python)"] = peers.versions(
            sys.executable, ["lindi-core", "zarr", "h5py", "numpy", "numcodecs", "orjson"])
    if "lindi-0.4" in tools:
        envs["lindi venv"] = peers.versions(peers.ensure_venv("lindi"), peers.PEERS["lindi"].version_modules)
    if "kerchunk" in tools:
        envs["kerchunk venv"] = peers.versions(peers.ensure_venv("kerchunk"),
                                               peers.PEERS["kerchunk"].version_modules)
    return envs


# -- profile ---------------------------------------------------------------------------------
PROFILE_CODE = r"""
import cProfile, io, json, pstats, sys, time
import lindi_core
from lindi_core.format.jsonio import write_atomic
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
stats = pstats.Stats(prof, stream=buf)
stats.sort_stats("cumulative").print_stats(35)
stats.sort_stats("tottime").print_stats(20)
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
    parser.add_argument("--out", type=Path, help="results JSON path")
    parser.add_argument("--commit", metavar="REV",
                        help="measure lindi-core as committed at git revision REV (extracted under "
                             ".cache/src/ and put first on PYTHONPATH) instead of the working tree")
    args = parser.parse_args(argv)

    n_chunks = args.chunks or (QUICK_CHUNKS if args.quick else DEFAULT_CHUNKS)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {sorted(unknown)}")
    out_path = args.out or RESULTS_DIR / ("translate.json" if n_chunks == DEFAULT_CHUNKS and not args.quick
                                          else f"translate-{n_chunks}.json")

    core_env, revision_at_start = lindi_core_under_test(args.commit)
    load_at_start = os.getloadavg()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    src = make_input(n_chunks)
    warm_page_cache(src)
    pythons = {}
    errors: dict[str, str] = {}
    for tool in tools:
        try:
            pythons[tool] = tool_python(tool)
        except Exception as exc:  # a venv that cannot be built is a failed peer, not a crash
            errors[tool] = f"environment setup failed: {exc}"

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
            for key in ("seconds", "translate_seconds", "write_seconds", "peak_rss_mb", "rss_before_mb",
                        "output_bytes", "refs", "process_seconds"):
                s = summarize(runs[tool], key)
                if s:
                    entry[key] = s
        tool_results[tool] = entry

    ratios = compute_ratios(tool_results)
    ratios_of_min = compute_ratios(tool_results, "min")
    result = {
        "benchmark": "translate",
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/translate_bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
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
        "machine": {**machine_facts(), "loadavg_1_5_15_at_start": load_at_start,
                    "loadavg_1_5_15_at_end": os.getloadavg()},
        "environments": environment_versions(tools),
        "lindi_core_revision": revision_at_start,
        "tools": tool_results,
        "ratios": ratios,
        "ratios_of_min": ratios_of_min,
        "targets": targets_verdict(ratios),
    }
    if args.profile:
        result["profile_report"] = str(run_profile(src, n_chunks, core_env).relative_to(BENCH_DIR.parent))

    if not args.commit and {**lindi_core_revision(), "source": "working tree"} != revision_at_start:
        result["lindi_core_revision"]["warning"] = "the lindi-core tree changed during the run"
        print("WARNING: the lindi-core tree changed during the run", file=sys.stderr)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nresults written to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
