"""Load benchmark: open a reference file holding 1,000,000 chunk references.

    python benchmarks/load_bench.py                # 5 repetitions per case
    python benchmarks/load_bench.py --quick        # 2 repetitions per case
    python benchmarks/load_bench.py --reps R [--tools a,b] [--files x,y] [--profile] [--commit REV]

The reference files describe ``benchmarks/.cache/data/chunks-1000000.h5`` (made by
``translate_bench.py``: one int32 dataset, 1,000,000 chunks of 64 bytes) and live in
``benchmarks/.cache/data/load/``:

* ``lindi-0.4``: written by LINDI 0.4's own translator (``LindiH5ZarrStore.from_file(path,
  url=path, opts=LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=None))
  .write_reference_file_system(out)``, which writes ``json.dump(indent=2, sort_keys=True)``);
  made once and cached;
* ``lindi-0.4-compact``: the same JSON object re-dumped without whitespace
  (``json.dump(obj, separators=(",", ":"))``, key order kept); made once and cached;
* ``lindi-core``: written by ``lindi_core.translate_to_file(path, out, chunk_table="json")``
  (JSON refs, the form every peer here reads: this benchmark compares loading JSON; binary chunk
  tables, spec §13, are measured apart); made anew on every invocation (with the lindi-core under
  test).

Tools, each in a fresh subprocess per run (imports excluded from the time; ``rss_before`` is the
resident size after the imports, ``peak`` is ``VmHWM``):

* ``lindi-core``: ``lindi_core.LindiH5pyFile.from_lindi_file(path)``; then, timed apart, one chunk
  read (``f["data"][0:16]``, checked against the expected values);
* ``ujson``: ``ujson.load(open(path, "rb"))``;
* ``orjson``: ``orjson.loads(open(path, "rb").read())``;
* ``lindi-0.4``: ``lindi.LindiH5pyFile.from_lindi_file(path)`` in LINDI's venv, then the same
  chunk read.

Results: a table on stdout and JSON in ``benchmarks/results/load.json`` (``--quick``:
``load-quick.json``). ``--profile`` also writes a cProfile report of lindi-core loading each
file to ``benchmarks/results/load-profile.txt``.
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
from translate_bench import make_input  # noqa: E402

BENCH_DIR = peers.BENCH_DIR
LOAD_DIR = peers.CACHE_DIR / "data" / "load"
RESULTS_DIR = BENCH_DIR / "results"
N_CHUNKS = 1_000_000
DEFAULT_REPS = 5
QUICK_REPS = 2
RUN_TIMEOUT = 600.0

FILES = ["lindi-0.4", "lindi-0.4-compact", "lindi-core"]
FILE_NAME = {
    "lindi-0.4": f"chunks-{N_CHUNKS}.lindi-0.4.lindi.json",
    "lindi-0.4-compact": f"chunks-{N_CHUNKS}.lindi-0.4-compact.lindi.json",
    "lindi-core": f"chunks-{N_CHUNKS}.lindi-core.lindi.json",
}
FILE_DESCRIPTION = {
    "lindi-0.4": "written by LINDI 0.4.6's translator (json.dump indent=2, sort_keys=True)",
    "lindi-0.4-compact": "LINDI 0.4.6's JSON object re-dumped with json.dump(separators=(',', ':'))",
    "lindi-core": "written by lindi_core.translate_to_file(chunk_table='json') (one ref per line, URL templates)",
}
TOOLS = ["lindi-core", "ujson", "orjson", "lindi-0.4"]
VENV = {"lindi-0.4": "lindi"}  # the peers' tools: their venvs
TOOL_DESCRIPTION = {
    "lindi-core": "lindi_core.LindiH5pyFile.from_lindi_file(path); then f['data'][0:16] timed apart",
    "ujson": "ujson.load(open(path, 'rb'))",
    "orjson": "orjson.loads(open(path, 'rb').read())",
    "lindi-0.4": "lindi.LindiH5pyFile.from_lindi_file(path) (LINDI 0.4.6 venv); then f['data'][0:16] timed apart",
}
TARGETS = {"seconds_max": 1.0, "peak_rss_mb_max": 300.0}
ISSUE_FIGURES = {"lindi-0.4": {"seconds": 3.2, "peak_rss_mb": 410}, "ujson": {"seconds": 2.0, "peak_rss_mb": 365},
                 "file_bytes": 37.7e6}

# -- the child programs -------------------------------------------------------------------
CHILD_PRELUDE = r"""
import json, os, sys, time
""" + bench_common.STATUS_MB_SOURCE + r"""
path = sys.argv[1]
"""
_H5PY_LIKE = r"""
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
f = MODULE.LindiH5pyFile.from_lindi_file(path)
t1 = time.perf_counter()
peak = _status_mb("VmHWM")
rss_loaded = _status_mb("VmRSS")
x = f["data"][0:16]
t2 = time.perf_counter()
import numpy as np
ok = bool(np.array_equal(x, np.arange(16, dtype=np.int32)))
shape = list(f["data"].shape)
print(json.dumps({"seconds": t1 - t0, "chunk_read_seconds": t2 - t1, "peak_rss_mb": peak, "rss_before_mb": rss0,
                  "rss_after_mb": rss_loaded, "peak_rss_after_read_mb": _status_mb("VmHWM"), "chunk_ok": ok,
                  "shape": shape, "module_file": MODULE.__file__}))
"""


def _json_parser_code(module: str, load_call: str) -> str:
    """The child program that loads the file with JSON parser ``module``; ``load_call`` is the
    source of the call, reading from the open binary file ``fh``."""
    return CHILD_PRELUDE + f"""
import {module}
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
with open(path, "rb") as fh:
    obj = {load_call}
""" + r"""t1 = time.perf_counter()
peak = _status_mb("VmHWM")
rss_loaded = _status_mb("VmRSS")
refs = sum(1 for v in obj["refs"].values() if isinstance(v, list))
print(json.dumps({"seconds": t1 - t0, "peak_rss_mb": peak, "rss_before_mb": rss0, "rss_after_mb": rss_loaded,
                  "refs": refs}))
"""


CHILD_CODE = {
    "lindi-core": CHILD_PRELUDE + "import lindi_core as MODULE\n"
                  # the modules lindi_core loads lazily, imported before the timed code as LINDI's are
                  "[getattr(MODULE, _n) for _n in getattr(MODULE, '__all__', ())]\n" + _H5PY_LIKE,
    "lindi-0.4": CHILD_PRELUDE + "import lindi as MODULE\n" + _H5PY_LIKE,
    "ujson": _json_parser_code("ujson", "ujson.load(fh)"),
    "orjson": _json_parser_code("orjson", "orjson.loads(fh.read())"),
}

LINDI_TRANSLATE_CODE = r"""
import json, os, sys, time
import lindi
src, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
opts = lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=None)
store = lindi.LindiH5ZarrStore.from_file(src, url=src, opts=opts)
store.write_reference_file_system(out)
store.close()
print(json.dumps({"seconds": time.perf_counter() - t0, "output_bytes": os.path.getsize(out)}))
"""
COMPACT_CODE = r"""
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
with open(src) as f:
    obj = json.load(f)
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(obj, f, separators=(",", ":"))
os.replace(tmp, out)
print(json.dumps({"output_bytes": os.path.getsize(out)}))
"""
PROFILE_CODE = r"""
import cProfile, io, json, sys, time
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
""" + bench_common.PROFILE_STATS_SOURCE + r"""
report = sys.argv[1]
with open(report, "w") as out:
    for path in sys.argv[2:]:
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        f = lindi_core.LindiH5pyFile.from_lindi_file(path)
        prof.disable()
        t1 = time.perf_counter()
        buf = io.StringIO()
        _print_profile(prof, buf, 25, 25)
        out.write(f"# cProfile of lindi_core.LindiH5pyFile.from_lindi_file({path})\n")
        out.write(f"# {t1 - t0:.3f} s under the profiler\n\n")
        out.write(buf.getvalue() + "\n\n")
        del f
print(json.dumps({}))
"""


# -- inputs -----------------------------------------------------------------------------------
def prepare_files(h5: Path, files: list[str], core_env: dict, timeout: float) -> tuple[dict, dict]:
    LOAD_DIR.mkdir(parents=True, exist_ok=True)
    info: dict = {}
    errors: dict = {}
    lindi_file = LOAD_DIR / FILE_NAME["lindi-0.4"]
    if {"lindi-0.4", "lindi-0.4-compact"} & set(files):
        if lindi_file.exists():
            info["lindi-0.4"] = {"made": "cached"}
        else:
            print("translating with LINDI 0.4 ...", file=sys.stderr, flush=True)
            try:
                info["lindi-0.4"] = peers.run_json(peers.ensure_venv("lindi"), LINDI_TRANSLATE_CODE,
                                                   [str(h5), str(lindi_file)], timeout=timeout,
                                                   env={"TQDM_DISABLE": "1"})
            except peers.PeerError as exc:
                errors["lindi-0.4"] = errors["lindi-0.4-compact"] = f"LINDI translation failed: {exc}"
    compact = LOAD_DIR / FILE_NAME["lindi-0.4-compact"]
    if "lindi-0.4-compact" in files and "lindi-0.4-compact" not in errors:
        if compact.exists():
            info["lindi-0.4-compact"] = {"made": "cached"}
        else:
            info["lindi-0.4-compact"] = peers.run_json(sys.executable, COMPACT_CODE, [str(lindi_file), str(compact)],
                                                       timeout=timeout)
    if "lindi-core" in files:
        out = LOAD_DIR / FILE_NAME["lindi-core"]
        out.unlink(missing_ok=True)
        print("translating with lindi-core ...", file=sys.stderr, flush=True)
        try:
            info["lindi-core"] = peers.run_json(sys.executable, bench_common.CORE_TRANSLATE_CODE,
                                                [str(h5), str(out), "json"], timeout=timeout,
                                                env={"TQDM_DISABLE": "1", **core_env})
        except peers.PeerError as exc:
            errors["lindi-core"] = f"lindi-core translation failed: {exc}"
    for name in files:
        path = LOAD_DIR / FILE_NAME[name]
        if name not in errors and path.exists():
            info.setdefault(name, {})
            info[name].update({"path": str(path.relative_to(BENCH_DIR.parent)), "bytes": path.stat().st_size,
                               "what": FILE_DESCRIPTION[name]})
    return info, errors


# -- statistics and report ----------------------------------------------------------------
def case_key(tool: str, file: str) -> str:
    return f"{tool} @ {file}"


def summarize_case(runs: list[dict]) -> dict:
    for r in runs:
        if r.get("peak_rss_mb") is not None and r.get("rss_before_mb") is not None:
            r["peak_increase_mb"] = r["peak_rss_mb"] - r["rss_before_mb"]
    return bench_common.summarize_fields(runs, (
        "seconds", "chunk_read_seconds", "peak_rss_mb", "rss_before_mb", "peak_increase_mb", "rss_after_mb",
        "peak_rss_after_read_mb", "process_seconds", "refs"))


def targets_verdict(cases: dict, files: list[str]) -> dict:
    verdict = {}
    for file in files:
        c = cases.get(case_key("lindi-core", file))
        if not c or c.get("error"):
            verdict[file] = None
            continue
        verdict[file] = {
            "seconds_median": c["seconds"]["median"],
            "under_1_s": c["seconds"]["median"] < TARGETS["seconds_max"],
            "peak_rss_mb_median": c["peak_rss_mb"]["median"],
            "under_300_MB_total_peak": c["peak_rss_mb"]["median"] < TARGETS["peak_rss_mb_max"],
            "peak_increase_mb_median": c["peak_increase_mb"]["median"],
            "under_300_MB_increase": c["peak_increase_mb"]["median"] < TARGETS["peak_rss_mb_max"],
        }
    return verdict


def table(result: dict) -> str:
    reps = result["config"]["reps"]
    lines = [f"| tool | file | load time, median (min-max) of {reps} | peak RSS | RSS before | increase | "
             "chunk read |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for file in result["config"]["files"]:
        for tool in result["config"]["tools"]:
            c = result["cases"].get(case_key(tool, file))
            if c is None:
                continue
            if c.get("error"):
                lines.append(f"| {tool} | {file} | FAILED: {c['error'].splitlines()[0][:120]} | - | - | - | - |")
                continue
            s = c["seconds"]
            chunk = c.get("chunk_read_seconds")
            lines.append(f"| {tool} | {file} | {bench_common.format_seconds(s)} | "
                         f"{c['peak_rss_mb']['median']:.0f} MB | {c['rss_before_mb']['median']:.0f} MB | "
                         f"{c['peak_increase_mb']['median']:.0f} MB | "
                         f"{'-' if not chunk else '%.1f ms' % (chunk['median'] * 1000)} |")
    lines += ["", "| lindi-core target | file | measured (median) | verdict |", "| --- | --- | --- | --- |"]
    for file, v in result["targets"].items():
        if not v:
            continue
        lines.append(f"| load under 1 s | {file} | {v['seconds_median']:.2f} s | "
                     f"{bench_common.format_verdict(v['under_1_s'])} |")
        lines.append(f"| peak RSS under 300 MB (total) | {file} | {v['peak_rss_mb_median']:.0f} MB | "
                     f"{bench_common.format_verdict(v['under_300_MB_total_peak'])} |")
        lines.append(f"| peak RSS increase under 300 MB | {file} | {v['peak_increase_mb_median']:.0f} MB | "
                     f"{bench_common.format_verdict(v['under_300_MB_increase'])} |")
    return "\n".join(lines)


def environment_versions(tools: list[str]) -> dict:
    envs = {"machine Python (lindi-core, ujson, orjson)": peers.versions(
        sys.executable, ["lindi-core", "zarr", "h5py", "numpy", "numcodecs", "orjson", "ujson"])}
    return {**envs, **peers.venv_versions(tools, VENV)}


# -- main ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPS} repetitions instead of {DEFAULT_REPS}")
    parser.add_argument("--reps", type=int, help=f"repetitions per case (default {DEFAULT_REPS})")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    parser.add_argument("--files", default=",".join(FILES), help="comma-separated subset of " + ",".join(FILES))
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT, help="seconds allowed for one run")
    parser.add_argument("--profile", action="store_true", help="also cProfile lindi-core's load of each file")
    bench_common.add_out_and_commit_options(parser)
    args = parser.parse_args(argv)

    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    tools = bench_common.names_option(parser, args.tools, TOOLS, "tools")
    files = bench_common.names_option(parser, args.files, FILES, "files")
    out_path = args.out or RESULTS_DIR / ("load-quick.json" if args.quick else "load.json")

    core_env, revision_at_start = bench_common.lindi_core_under_test(args.commit)
    load_at_start = os.getloadavg()

    h5 = make_input(N_CHUNKS)
    file_info, errors = prepare_files(h5, files, core_env, args.timeout)
    bench_common.warm_page_cache(h5)
    for name in files:
        if name not in errors:
            bench_common.warm_page_cache(LOAD_DIR / FILE_NAME[name])
    pythons, setup_errors = peers.pythons_for(tools, VENV)
    for tool, error in setup_errors.items():
        for file in files:
            errors[case_key(tool, file)] = error

    cases = [(tool, file) for file in files for tool in tools]
    runs: dict[str, list[dict]] = {case_key(t, f): [] for t, f in cases}
    for rep in range(reps):
        for tool, file in cases:
            key = case_key(tool, file)
            if key in errors or file in errors:
                errors.setdefault(key, errors.get(file, ""))
                continue
            env = {"TQDM_DISABLE": "1", **(core_env if tool == "lindi-core" else {})}
            print(f"[rep {rep + 1}/{reps}] {key} ...", end=" ", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                r = peers.run_json(pythons[tool], CHILD_CODE[tool], [str(LOAD_DIR / FILE_NAME[file])],
                                   timeout=args.timeout, env=env)
            except peers.PeerError as exc:
                errors[key] = str(exc)
                print(f"FAILED: {str(exc).splitlines()[-1][:200]}", file=sys.stderr)
                continue
            r["process_seconds"] = time.perf_counter() - t0
            if r.get("chunk_ok") is False:
                errors[key] = "the chunk read returned wrong values"
            runs[key].append(r)
            print(f"{r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB (before {r['rss_before_mb']:.0f} MB)",
                  file=sys.stderr)

    case_results = {}
    for tool, file in cases:
        key = case_key(tool, file)
        entry: dict = {"tool": tool, "file": file, "what": TOOL_DESCRIPTION[tool], "runs": runs[key]}
        if key in errors:
            entry["error"] = errors[key]
            entry["completed_runs"] = len(runs[key])
        else:
            entry.update(summarize_case(runs[key]))
        case_results[key] = entry

    result = {
        **bench_common.result_header("load", "load_bench.py", argv),
        "config": {
            "chunks": N_CHUNKS,
            "hdf5_input": str(h5.relative_to(BENCH_DIR.parent)),
            "files": files,
            "file_info": file_info,
            "tools": tools,
            "reps": reps,
            "timeout_seconds": args.timeout,
            "timing": "in the child, around the load only (imports excluded); fresh process per run; "
                      "reference files read from the page cache",
        },
        "issue_reference_figures": ISSUE_FIGURES,
        "machine": bench_common.machine_facts_and_load(load_at_start),
        "environments": environment_versions(tools),
        "lindi_core_revision": revision_at_start,
        "cases": case_results,
        "targets": targets_verdict(case_results, files) if "lindi-core" in tools else {},
    }
    if args.profile and "lindi-core" in tools:
        report = RESULTS_DIR / "load-profile.txt"
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        peers.run_json(sys.executable, PROFILE_CODE,
                       [str(report)] + [str(LOAD_DIR / FILE_NAME[f]) for f in files if f not in errors],
                       timeout=args.timeout, env={"TQDM_DISABLE": "1", **core_env})
        result["profile_report"] = str(report.relative_to(BENCH_DIR.parent))
    bench_common.write_results(result, out_path, args.commit, revision_at_start, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
