"""Helpers shared by the benchmark scripts: the lindi-core under test, machine facts, statistics of
repeated runs, the options every script takes, and the results file.

Only the benchmark scripts (the parents, in the machine Python) import this module. The child
processes, some of which run in the peers' venvs, get their code as source text (``python -c``);
the ``*_SOURCE`` and ``*_CODE`` strings here are such text and use the standard library only
(``CORE_TRANSLATE_CODE`` also lindi_core, as it runs in the machine Python).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import peers

BENCH_DIR = peers.BENCH_DIR

COMMIT_HELP = ("measure lindi-core as committed at git revision REV (extracted under "
               ".cache/src/ and put first on PYTHONPATH) instead of the working tree")


# -- child program pieces ------------------------------------------------------------------
# Peak RSS is VmHWM, which belongs to the child's own process image (ru_maxrss would carry the
# parent's peak across fork + exec on Linux).
STATUS_MB_SOURCE = r"""
def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None
"""

# The profiler children's report of profile ``prof`` on ``stream``: the top functions by cumulative
# time, then by own time; returns the Stats for further listings.
PROFILE_STATS_SOURCE = r"""
def _print_profile(prof, stream, n_cumulative, n_tottime):
    import pstats
    stats = pstats.Stats(prof, stream=stream)
    stats.sort_stats("cumulative").print_stats(n_cumulative)
    stats.sort_stats("tottime").print_stats(n_tottime)
    return stats
"""

# lindi-core's reference file of an HDF5 file or URL (argv: source, output path), made before
# the measured runs.
CORE_TRANSLATE_CODE = r"""
import json, os, sys, time
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
src, out = sys.argv[1], sys.argv[2]
kwargs = {}
if len(sys.argv) > 3 and "chunk_table" in lindi_core.ChunkOptions.__dataclass_fields__:
    kwargs["chunk_table"] = sys.argv[3]  # (a lindi-core from before binary chunk tables writes JSON refs only)
t0 = time.perf_counter()
lindi_core.translate_to_file(src, out, progress=False, **kwargs)
print(json.dumps({"seconds": time.perf_counter() - t0, "output_bytes": os.path.getsize(out)}))
"""


# -- inputs and reference files ----------------------------------------------------------------
def cached_input(path: Path, write: Callable[[Path], object]) -> Path:
    """``path``, written by ``write(path)`` first if it does not exist yet (reported on stderr)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t0 = time.perf_counter()
        write(path)
        print(f"generated {path} ({path.stat().st_size:,} bytes) in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
    return path


def warm_page_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


@contextlib.contextmanager
def without_latency(server):
    """``server`` (a RangeServer) adds no latency inside the block: reference files are made at
    full speed, only the measured runs wait."""
    saved, server.latency = server.latency, 0.0
    try:
        yield server
    finally:
        server.latency = saved


def translate_served_file(server, name: str, out: Path, core_env: dict, timeout: float) -> tuple[dict, int]:
    """Make lindi-core's reference file of the file ``name`` served by ``server`` anew at ``out``, in
    a subprocess with ``core_env``: (what CORE_TRANSLATE_CODE printed, the requests it made).
    Raises :class:`peers.PeerError` when it fails."""
    out.unlink(missing_ok=True)
    server.stats.reset()
    result = peers.run_json(sys.executable, CORE_TRANSLATE_CODE, [server.url_for(name), str(out)], timeout=timeout,
                            env={"TQDM_DISABLE": "1", **core_env})
    return result, server.stats.requests


# -- statistics ------------------------------------------------------------------------------
def summarize(runs: list[dict], key: str) -> dict | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize_fields(runs: list[dict], keys: Iterable[str]) -> dict:
    """:func:`summarize` of each of ``keys`` that some run has, in the order of ``keys``."""
    out = {}
    for key in keys:
        s = summarize(runs, key)
        if s:
            out[key] = s
    return out


def summary_stat(entries: dict, name: str, field: str = "seconds", which: str = "median") -> float | None:
    """Statistic ``which`` of ``field`` of ``entries[name]``, None where it was not measured."""
    s = entries.get(name, {}).get(field)
    return s[which] if s else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def target_met(value, condition: Callable) -> bool | None:
    """Whether ``value`` meets ``condition``; None where there is no value to judge."""
    return None if value is None else bool(condition(value))


def format_ratio(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def format_verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "not met")


def format_seconds(s: dict, digits: int = 2) -> str:
    """A summary of seconds as ``median s (min-max)``."""
    return f"{s['median']:.{digits}f} s ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def targets_table(targets: list[dict]) -> list[str]:
    """The lines of a table of targets, each given as ``{"target", "measured", "met"}``."""
    return ["| target | measured | verdict |", "| --- | --- | --- |"] + [
        f"| {t['target']} | {t['measured']} | {format_verdict(t['met'])} |" for t in targets]


# -- the machine and the lindi-core under test ---------------------------------------------------
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


def machine_facts_and_load(load_at_start: tuple[float, float, float]) -> dict:
    """:func:`machine_facts` with the load averages at the start of the run and now (its end)."""
    return {**machine_facts(), "loadavg_1_5_15_at_start": load_at_start, "loadavg_1_5_15_at_end": os.getloadavg()}


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


# -- command line ---------------------------------------------------------------------------------
def add_out_and_commit_options(parser: argparse.ArgumentParser, commit_help: str = COMMIT_HELP) -> None:
    parser.add_argument("--out", type=Path, help="results JSON path")
    parser.add_argument("--commit", metavar="REV", help=commit_help)


def add_bandwidth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bandwidth", type=float, metavar="BYTES_PER_S",
                        help="cap each of the server's responses at this many bytes per second (default: no cap)")


def names_option(parser: argparse.ArgumentParser, text: str, known: list[str], what: str) -> list[str]:
    """The comma-separated names of ``text``; a name not in ``known`` is a usage error."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = set(names) - set(known)
    if unknown:
        parser.error(f"unknown {what}: {sorted(unknown)}")
    return names


# -- results ------------------------------------------------------------------------------------
def result_header(benchmark: str, script: str, argv: list[str] | None) -> dict:
    """The first fields of every results JSON: the benchmark, the date and the command line
    (``argv``, or this process's arguments when None) of ``script`` (a file name)."""
    return {
        "benchmark": benchmark,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": f"python benchmarks/{script} " + " ".join(sys.argv[1:] if argv is None else argv),
    }


def write_results(result: dict, out_path: Path, commit: str | None, revision_at_start: dict, text: str) -> None:
    """Save ``result`` as JSON (flagging a working tree that changed during the run) and print
    ``text`` (the table) and where the results went."""
    if not commit and {**lindi_core_revision(), "source": "working tree"} != revision_at_start:
        result["lindi_core_revision"]["warning"] = "the lindi-core tree changed during the run"
        print("WARNING: the lindi-core tree changed during the run", file=sys.stderr)
    save_results(result, out_path, text)


def save_results(result: dict, out_path: Path, text: str) -> None:
    """Save ``result`` as JSON and print ``text`` (the table) and where the results went."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    print(f"\nresults written to {out_path}")
