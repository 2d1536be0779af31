"""Run every benchmark, then write one summary (README section + plots).

    python benchmarks/run.py                 # every benchmark in full mode (about 25-30 min here)
    python benchmarks/run.py --quick         # every benchmark's quick mode (under 3 min here)
    python benchmarks/run.py --only read,open --commit HEAD
    python benchmarks/run.py --no-run        # only rebuild the summary and plots from results/*.json

Each benchmark script (translate_bench.py, open_bench.py, load_bench.py, read_bench.py, ...) runs as a
subprocess with the same Python; its console output goes to ``results/run-<mode>-<bench>.log``.
Their results JSON are then collected, and:

* the section of ``benchmarks/README.md`` between ``<!-- BEGIN run.py summary (<mode>) -->`` and
  ``<!-- END run.py summary (<mode>) -->`` is replaced (added if missing) with the machine, date,
  versions, command, every target beside its measured figure (met / not met) and, per case, the
  speed ratios of lindi-core to each peer and to the physical reference;
* a bar chart per workload is written to ``results/<bench>[-quick].png`` (with matplotlib; without
  it the plots are skipped with a message);
* ``results/summary[-quick].json`` holds the same summary as data.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402
from bench_common import format_ratio, machine_facts, names_option, ratio  # noqa: E402

BENCH_DIR = peers.BENCH_DIR
RESULTS_DIR = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"

# name -> (script, args in full mode, args in quick mode (None: not run in quick mode), results JSON
# in full mode, in quick mode)
BENCHMARKS = {
    "translate": ("translate_bench.py", [], ["--quick", "--reps", "3"], "translate.json", "translate-100000.json"),
    "open": ("open_bench.py", [], ["--quick", "--reps", "2"], "open.json", "open-quick.json"),
    "load": ("load_bench.py", [], ["--quick", "--reps", "1"], "load.json", "load-quick.json"),
    "read": ("read_bench.py", [], ["--quick"], "read.json", "read-quick.json"),
    # the same two remote workloads without injected latency (the ones above add 50 ms a request)
    # (quick mode leaves this one out to stay under 3 minutes: None)
    "open-0ms": ("open_bench.py", ["--latency", "0", "--out", "benchmarks/results/open-0ms.json"], None,
                 "open-0ms.json", "open-0ms-quick.json"),
    "read-0ms": ("read_bench.py", ["--latency", "0", "--out", "benchmarks/results/read-0ms.json"],
                 ["--quick", "--latency", "0", "--out", "benchmarks/results/read-0ms-quick.json"],
                 "read-0ms.json", "read-0ms-quick.json"),
    "edit": ("edit_bench.py", [], ["--quick"], "edit.json", "edit-quick.json"),
    # kerchunk hangs on this file (see the README), so quick mode leaves it out to stay short
    "nwb-translate": ("nwb_translate_bench.py", [],
                      ["--quick", "--tools", "lindi-core,lindi-0.4,lindi-0.4-default", "--latencies", "0.05"],
                      "nwb-translate.json", "nwb-translate-quick.json"),
    # zarr.open_array and dask.array.from_zarr over a reference file, against the facade (issue 14)
    "zarr-road": ("zarr_road_bench.py", [], ["--quick"], "zarr-road.json", "zarr-road-quick.json"),
    # many remote files on dask.distributed (1 and 2 workers) against one by one (issue 15); quick: 40 files
    "translate-many": ("translate_many_bench.py", [], ["--quick"], "translate-many.json", "translate-many-quick.json"),
    # files of millions of chunks (issue 17): translate, open and whole read beside kerchunk's Parquet
    # references and LINDI 0.4's external array link; quick: the 1M-chunk file only (full: 1M, 3M, 10M)
    "scale": ("scale_bench.py", [], ["--quick"], "scale.json", "scale-quick.json"),
    # not timed: each tool reads the files the other writes (LINDI 0.4 in its venv)
    "interop": ("interop.py", [], ["--out", "benchmarks/results/interop-quick.json"], "interop.json",
                "interop-quick.json"),
}


def fmt_t(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.2f} s" if s >= 1 else f"{s * 1000:.0f} ms"


def verdict(v) -> str:
    return "n/a" if v is None else ("**met**" if v else "**not met**")


def med(entry: dict | None, field: str = "seconds", which: str = "median"):
    if not entry or entry.get("error") or not entry.get(field):
        return None
    return entry[field][which]


# -- per-benchmark summaries ------------------------------------------------------------
# Each returns {"targets": [(target, measured, verdict)], "ratio_header": [...], "ratio_rows": [[...]],
#               "plot": {case: {tool: (median, min, max)}}, "errors": [...]}


def _plot_entry(entry: dict | None):
    if not entry or entry.get("error") or not entry.get("seconds"):
        return None
    s = entry["seconds"]
    return (s["median"], s["min"], s["max"])


def ratio_target(r: dict, target: str, what: str, name: str, verdict_key: str, case: str | None = None) -> tuple:
    """(target, ``what = <ratio of medians> (minimums <ratio of minimums>)``, verdict) for a target
    judged on ratio ``name`` of results ``r`` (of ``case``, where the ratios are per case)."""
    medians, minimums = r["ratios"], r["ratios_of_min"]
    if case is not None:
        medians, minimums = medians[case], minimums[case]
    return (target, f"{what} = {format_ratio(medians.get(name))} (minimums {format_ratio(minimums.get(name))})",
            verdict(r["targets"].get(verdict_key)))


def _errors(entries: dict) -> list[str]:
    return [f"{name}: {e['error'].splitlines()[-1][:200]}" for name, e in entries.items() if e.get("error")]


def summary_translate(r: dict) -> dict:
    t, ra, v = r["tools"], r["ratios"], r["targets"]
    n = r["config"]["chunks"]
    targets = [
        ratio_target(r, "translate: lindi-core within 1.5x of `chunk_iter` alone", "lindi-core / chunk_iter",
                     "lindi_core_time_over_chunk_iter", "time_within_1.5x_of_chunk_iter"),
        ratio_target(r, "translate: at least 3x faster than LINDI 0.4", "LINDI / lindi-core",
                     "lindi_0_4_time_over_lindi_core", "at_least_3x_faster_than_lindi_0_4"),
        ratio_target(r, "translate: at least 3x faster than kerchunk", "kerchunk / lindi-core",
                     "kerchunk_time_over_lindi_core", "at_least_3x_faster_than_kerchunk"),
        ("translate: output no larger than LINDI's",
         f"lindi-core / LINDI bytes = {format_ratio(ra['lindi_core_size_over_lindi_0_4'])}",
         verdict(v.get("output_no_larger_than_lindi_0_4"))),
    ]
    core = med(t.get("lindi-core"))
    row = [f"translate {n:,} chunks", fmt_t(core), format_ratio(ratio(med(t.get("lindi-0.4")), core)),
           format_ratio(ratio(med(t.get("kerchunk")), core)), "-", "-", format_ratio(ratio(core, med(t.get("chunk_iter")))) + " (chunk_iter)"]
    return {"targets": targets, "ratio_rows": [row], "errors": _errors(t),
            "plot": {f"{n:,} chunks": {k: _plot_entry(e) for k, e in t.items()}}}


def summary_open(r: dict) -> dict:
    c, v = r["cases"], r["targets"]
    req = (c.get("lindi-core") or {}).get("requests")
    targets = [
        ("open: lindi-core needs at most 2 HTTP requests", f"max {req['max']} over all runs" if req else "n/a",
         verdict(v.get("at_most_2_requests"))),
        ratio_target(r, "open: lindi-core within 1.2x of pynwb on the local HDF5 file", "lindi-core / local",
                     "lindi_core_time_over_local_h5py", "time_within_1.2x_of_local_h5py"),
        ratio_target(r, "open: lindi-core no worse than LINDI 0.4", "lindi-core / LINDI",
                     "lindi_core_time_over_lindi_0_4", "time_no_worse_than_lindi_0_4"),
    ]
    core = med(c.get("lindi-core"))
    row = ["open NWB + pynwb read + str", fmt_t(core), format_ratio(ratio(med(c.get("lindi-0.4")), core)), "-",
           format_ratio(ratio(med(c.get("remfile")), core)), "-", format_ratio(ratio(core, med(c.get("local-h5py")))) + " (local h5py)"]
    return {"targets": targets, "ratio_rows": [row], "errors": _errors(c),
            "plot": {"open + read": {k: _plot_entry(e) for k, e in c.items()}}}


def summary_load(r: dict) -> dict:
    c, v = r["cases"], r["targets"]
    targets, rows, plot = [], [], {}
    for f in r["config"]["files"]:
        tv = v.get(f, {})
        targets.append((f"load ({f} file): under 1 s", fmt_t(tv.get("seconds_median")), verdict(tv.get("under_1_s"))))
        targets.append((f"load ({f} file): under 300 MB peak RSS",
                        f"{tv.get('peak_rss_mb_median', 0):.0f} MB total, {tv.get('peak_increase_mb_median', 0):.0f} MB "
                        f"over the pre-load baseline", verdict(tv.get("under_300_MB_total_peak"))))
        core = med(c.get(f"lindi-core @ {f}"))
        rows.append([f"load 1M refs ({f} file)", fmt_t(core), format_ratio(ratio(med(c.get(f"lindi-0.4 @ {f}")), core)), "-", "-",
                     f"ujson {format_ratio(ratio(med(c.get(f'ujson @ {f}')), core))}, orjson {format_ratio(ratio(med(c.get(f'orjson @ {f}')), core))}",
                     format_ratio(ratio(core, med(c.get(f"ujson @ {f}")))) + " (plain ujson.load)"])
        plot[f"{f} file"] = {k.split(" @ ")[0]: _plot_entry(e) for k, e in c.items() if k.endswith(f" @ {f}")}
    return {"targets": targets, "ratio_rows": rows, "errors": _errors(c), "plot": plot}


def summary_read(r: dict) -> dict:
    c, ra, v = r["cases"], r["ratios"], r["targets"]
    cases = r["config"]["cases"]
    targets, rows, plot = [], [], {}
    if "full_8x_faster_than_lindi_0_4" in v:
        targets.append(ratio_target(r, "read: lindi-core at least 8x faster than LINDI 0.4 on the 1,000,000-row read",
                                    "LINDI / lindi-core", "lindi-0.4_over_lindi_core",
                                    "full_8x_faster_than_lindi_0_4", "full"))
    if "full_no_slower_than_local_h5py" in v:
        targets.append(ratio_target(r, "read: lindi-core no slower than local single-threaded h5py on the "
                                    "1,000,000-row read", "lindi-core / local", "lindi_core_over_local_h5py",
                                    "full_no_slower_than_local_h5py", "full"))
    for case in cases:
        peers_txt = ", ".join(f"{p} {format_ratio(ra[case].get(f'{p}_over_lindi_core'))}" for p in ("lindi-0.4", "remfile", "kerchunk"))
        targets.append((f"read ({case}): lindi-core faster than every peer", f"peer / lindi-core: {peers_txt}",
                        verdict(v.get(f"{case}_faster_than_every_peer"))))
    for case in cases:
        req = (c.get(f"lindi-core-cache-2nd/{case}") or {}).get("requests")
        targets.append((f"read ({case}): warm-cache re-read makes zero requests",
                        f"max {req['max']} over all runs" if req else "n/a", verdict(v.get(f"{case}_warm_zero_requests"))))
        targets.append(ratio_target(r, f"read ({case}): warm-cache re-read at least as fast as local h5py",
                                    "warm / local", "warm_cache_over_local_h5py",
                                    f"{case}_warm_no_slower_than_local_h5py", case))
    for case in cases:
        core = med(c.get(f"lindi-core/{case}"))
        warm = med(c.get(f"lindi-core-cache-2nd/{case}"))
        local = med(c.get(f"local-h5py/{case}"))
        raw = med(c.get(f"raw-get/{case}"))
        rows.append([f"read {case}", fmt_t(core), format_ratio(ra[case].get("lindi-0.4_over_lindi_core")),
                     format_ratio(ra[case].get("kerchunk_over_lindi_core")), format_ratio(ra[case].get("remfile_over_lindi_core")), "-",
                     format_ratio(ratio(core, local)) + " (local h5py)"
                     + (f", {format_ratio(ratio(core, raw))} (raw GET of its ranges)" if raw else "")])
        rows.append([f"read {case}, warm cache (2nd process)", fmt_t(warm), "-", "-", "-", "-",
                     format_ratio(ratio(warm, local)) + " (local h5py)"])
        plot[case] = {k.split("/")[0]: _plot_entry(e) for k, e in c.items() if k.endswith(f"/{case}")}
    return {"targets": targets, "ratio_rows": rows, "errors": _errors(c), "plot": plot}


def summary_edit(r: dict) -> dict:
    targets = [(f"edit: {t['target']}", t["measured"], verdict(t["met"])) for t in r["targets"]]
    rows, plot = [], {}
    for case, c in r["cases"].items():
        if c.get("error"):
            continue
        moved = c["blob_bytes"] + c["reference_file_bytes"]
        rows.append([f"edit ({case}), {r['config']['file_mib']} MiB remote file", fmt_t(c["seconds"]["median"]), "-",
                     "-", "-", f"bytes moved {moved:,}",
                     f"{format_ratio(moved / r['input']['hdf5_bytes'])} (bytes of re-uploading the HDF5 file)"])
        plot[case] = {"lindi-core": (c["seconds"]["median"], c["seconds"]["min"], c["seconds"]["max"])}
    return {"targets": targets, "ratio_rows": rows, "errors": _errors(r["cases"]), "plot": plot}


def summary_nwb_translate(r: dict) -> dict:
    targets = [(f"translate NWB: {t['target']}", t["measured"], verdict(t["met"])) for t in r["targets"]]
    gib = r["config"]["input_bytes"] / 1024**3
    rows, plot, errors = [], {}, []
    for case, tools in r["cases"].items():
        core = med(tools.get("lindi-core"))
        fetched = (tools.get("lindi-core") or {}).get("bytes_fetched")
        reference = f"{fetched['median'] / r['config']['input_bytes']:.2%} of the file fetched" if fetched else "-"
        rows.append([f"translate {gib:.2f} GiB NWB file ({case})", fmt_t(core),
                     format_ratio(ratio(med(tools.get("lindi-0.4")), core)), format_ratio(ratio(med(tools.get("kerchunk")), core)), "-",
                     f"LINDI defaults {format_ratio(ratio(med(tools.get('lindi-0.4-default')), core))}", reference])
        plot[case] = {tool: _plot_entry(e) for tool, e in tools.items()}
        errors += [f"{case} {e}" for e in _errors(tools)]
    return {"targets": targets, "ratio_rows": rows, "errors": errors, "plot": plot}


def summary_zarr_road(r: dict) -> dict:
    targets = [(f"zarr road: {t['target']}", t["measured"], verdict(t["met"])) for t in r["targets"]]
    c, cfg = r["cases"], r["config"]
    facade = med(c.get("facade"))
    rows = []
    for road in ("zarr", "dask"):
        requests = (c.get(road) or {}).get("requests")
        rows.append([f"read {cfg['chunks']:,} chunks of {cfg['chunk_bytes']} B through {road} "
                     f"({cfg['latency_seconds'] * 1000:.0f} ms)", fmt_t(med(c.get(road))), "-", "-", "-",
                     f"requests {requests['max'] if requests else '-'}",
                     format_ratio(ratio(med(c.get(road)), facade)) + " (the facade)"])
    return {"targets": targets, "ratio_rows": rows, "errors": _errors(c),
            "plot": {f"{cfg['chunks']:,} chunks": {k: _plot_entry(e) for k, e in c.items()}}}


def summary_translate_many(r: dict) -> dict:
    targets = [(f"translate-many: {t['target']}", t["measured"], verdict(t["met"])) for t in r["targets"]]
    c, cfg = r["cases"], r["config"]
    rows = []
    for case, entry in c.items():
        if entry.get("error"):
            continue
        start = entry.get("cluster_start_seconds")
        rows.append([f"translate {cfg['files']} remote files ({cfg['latency_seconds'] * 1000:.0f} ms), {case}",
                     fmt_t(med(entry)), "-", "-", "-",
                     f"{med(entry, 'files_per_second'):.2f} files/s, {med(entry, 'requests_per_file'):.1f} requests "
                     f"and {med(entry, 'bytes_per_file'):,.0f} B per file"
                     + (f", cluster start-up {fmt_t(start['median'])} apart" if start else ""),
                     format_ratio(r["ratios"].get(case)) + " (sum of single-file translation times)"])
    return {"targets": targets, "ratio_rows": rows, "errors": _errors(c),
            "plot": {f"{cfg['files']} files": {k: _plot_entry(e) for k, e in c.items()}}}


def _scale_peer_cell(entries: dict, seconds: dict, tool: str) -> str:
    """A peer's cell of the whole read: its time / lindi-core's, its own time where lindi-core has
    none to divide by, or why it has none."""
    entry = entries.get(tool) or {}
    if entry.get("error"):
        return entry["error"].splitlines()[-1][:100]
    if seconds.get("lindi-core") is None:
        return f"{fmt_t(seconds[tool])} (its time)" if seconds.get(tool) else "-"
    return format_ratio(ratio(seconds.get(tool), seconds["lindi-core"]))


def summary_scale(r: dict) -> dict:
    targets = [(f"scale: {t['target']}", t["measured"], verdict(t["met"])) for t in r["targets"]]
    rows, plot, errors = [], {}, []

    def failed(entry: dict | None) -> str | None:
        return entry["error"].splitlines()[-1][:100] if entry and entry.get("error") else None

    for key, s in r["sizes"].items():
        n = int(key)
        t, o = s["translate"], s["open"]
        core = med(t.get("lindi-core"))
        peak = med(t.get("lindi-core"), "peak_rss_mb")
        bpc = med(t.get("lindi-core"), "uncompressed_bytes_per_chunk")
        rows.append([f"translate {n:,} chunks (scale)", fmt_t(core), format_ratio(ratio(med(t.get("lindi-0.4")), core))
                     + " (external array link)", format_ratio(ratio(med(t.get("kerchunk-parquet")), core)) + " (Parquet)", "-",
                     f"peak RSS {peak:.0f} MB, {bpc:.2f} B/chunk before compression" if peak and bpc else "-",
                     format_ratio(ratio(core, med(t.get("chunk_iter")))) + " (chunk_iter)"])
        open_t = {tool: e.get("open_seconds") for tool, e in o.items() if not e.get("error")}
        c = o.get("lindi-core") or {}
        rows.append([f"open {n:,}-chunk file over HTTP (50 ms)", failed(c) or fmt_t(open_t.get("lindi-core")),
                     format_ratio(ratio(open_t.get("lindi-0.4"), open_t.get("lindi-core"))),
                     format_ratio(ratio(open_t.get("kerchunk-parquet"), open_t.get("lindi-core"))), "-",
                     f"requests: open {c['open_requests']}, first read +{c['small_read_requests']}" if "open_requests" in c
                     else "-", "-"])
        plot[f"translate {n:,}"] = {tool: _plot_entry(e) for tool, e in t.items()}
        plot[f"open {n:,} (50 ms)"] = {tool: (v, v, v) for tool, v in open_t.items()}
        errors += [f"{n:,} chunks translate {e}" for e in _errors(t)]
        errors += [f"{n:,} chunks open {e}" for e in _errors(o)]
        if "whole_read" in s:
            w = s["whole_read"]
            secs = {tool: e.get("seconds") for tool, e in w.items() if not e.get("error")}
            c = w.get("lindi-core") or {}
            rows.append([f"read whole {n:,}-chunk dataset over HTTP (20 ms)", failed(c) or fmt_t(secs.get("lindi-core")),
                         _scale_peer_cell(w, secs, "lindi-0.4"), _scale_peer_cell(w, secs, "kerchunk-parquet"), "-",
                         f"requests {c['requests']:,}" if "requests" in c else
                         f"{c['requests_until_stopped']:,} requests when stopped" if "requests_until_stopped" in c else "-",
                         format_ratio(ratio(secs.get("lindi-core"), secs.get("raw-get"))) + " (raw GET of the span)"])
            plot[f"whole read {n:,} (20 ms)"] = {tool: (v, v, v) for tool, v in secs.items()}
            errors += [f"{n:,} chunks whole read {e}" for e in _errors(w)]
    return {"targets": targets, "ratio_rows": rows, "errors": errors, "plot": plot}


def summary_interop(r: dict) -> dict:
    targets = [(f"interop: {t['target']}", t["measured"], verdict(t["met"])) for t in r["targets"]]
    errors = [f"{c['check']}: {c['detail']}" for c in r["checks"] if not c["ok"]]
    return {"targets": targets, "ratio_rows": [], "errors": errors, "plot": {}}


def at_zero_latency(summarize):
    """A summarizer for a run without injected latency: its targets and rows say so."""
    def summary(r: dict) -> dict:
        s = summarize(r)
        s["targets"] = [(f"(0 ms latency) {t}", m, v) for t, m, v in s["targets"]]
        s["ratio_rows"] = [[f"{row[0]} (0 ms latency)", *row[1:]] for row in s["ratio_rows"]]
        return s
    return summary


SUMMARIZERS = {"translate": summary_translate, "open": summary_open, "load": summary_load, "read": summary_read,
               "open-0ms": at_zero_latency(summary_open), "read-0ms": at_zero_latency(summary_read),
               "edit": summary_edit, "nwb-translate": summary_nwb_translate, "zarr-road": summary_zarr_road,
               "translate-many": summary_translate_many, "scale": summary_scale,
               "interop": summary_interop}


# -- plots -------------------------------------------------------------------------------------
def write_plots(summaries: dict, suffix: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plots skipped (pip install matplotlib to get them)", file=sys.stderr)
        return []
    written = []
    for bench, s in summaries.items():
        groups = {g: {t: v for t, v in tools.items() if v} for g, tools in s["plot"].items()}
        groups = {g: tools for g, tools in groups.items() if tools}
        if not groups:
            continue
        fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), squeeze=False)
        for ax, (g, tools) in zip(axes[0], groups.items()):
            names = list(tools)
            medv = [tools[n][0] for n in names]
            lo = [tools[n][0] - tools[n][1] for n in names]
            hi = [tools[n][2] - tools[n][0] for n in names]
            colors = ["tab:green" if n == "lindi-core" else "tab:olive" if n.startswith("lindi-core") else
                      "tab:gray" if n in ("local-h5py", "chunk_iter", "chunk_iter-noop", "ujson", "orjson") else
                      "tab:red" for n in names]
            ax.bar(range(len(names)), medv, yerr=[lo, hi], color=colors, capsize=3)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
            ax.set_title(f"{bench}: {g}", fontsize=9)
            ax.set_ylabel("seconds (median, min-max)")
            if max(medv) / max(min(medv), 1e-9) > 30:
                ax.set_yscale("log")
        fig.tight_layout()
        path = RESULTS_DIR / f"{bench}{suffix}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path.relative_to(BENCH_DIR)))
    return written


# -- README section ---------------------------------------------------------------------------
def markers(mode: str) -> tuple[str, str]:
    return f"<!-- BEGIN run.py summary ({mode}) -->", f"<!-- END run.py summary ({mode}) -->"


def render(mode: str, command: str, runs: dict, results: dict, summaries: dict, plots: list[str]) -> str:
    m = machine_facts()
    lines = [f"### Summary of all benchmarks ({mode} mode), generated by `run.py`", "",
             "This section is generated; edit `run.py`, not the text between the markers.", "",
             f"* **Command:** `{command}`",
             f"* **Date:** {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
             f"* **Machine:** {m['nproc']} cores, `{m['cpu_model']}`, {m['mem_total_gib']} GiB RAM, {m['platform']}",
             f"* **Load average at the end:** {', '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    revs = {b: r.get("lindi_core_revision", {}) for b, r in results.items()}
    lines.append("* **lindi-core measured:** " + "; ".join(
        f"{b} {(rv.get('commit') or '?')[:10]} ({rv.get('source', '?')}"
        f"{', uncommitted changes' if rv.get('lindi_core_uncommitted_changes') else ''})" for b, rv in revs.items()))
    envs: dict = {}
    for r in results.values():
        for name, ver in r.get("environments", {}).items():
            label = "machine Python" if ("machine" in name or name.startswith("lindi-core")) else name
            envs.setdefault(label, {}).update({k: v for k, v in ver.items() if v})
    lines.append("* **Versions:** " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in ver.items()) for name, ver in envs.items()))
    lines += ["", "| benchmark | results | date of results | command | exit | wall time |", "| --- | --- | --- | --- | --- | --- |"]
    for b, info in runs.items():
        r = results.get(b, {})
        lines.append(f"| {b} | `results/{info['json']}` | {r.get('date_utc', 'missing')} | `{r.get('command', '-')}` | "
                     f"{info.get('returncode', '-')} | {fmt_t(info.get('wall_seconds'))} |")
    lines += ["", "**Targets** (ratios of medians; ratios of minimums in brackets):", "",
              "| target | measured | verdict |", "| --- | --- | --- |"]
    n_met = n_all = 0
    for s in summaries.values():
        for t, measured, v in s["targets"]:
            lines.append(f"| {t} | {measured} | {v} |")
            if v != "n/a":
                n_all += 1
                n_met += v == "**met**"
    lines += ["", f"{n_met} of {n_all} targets met.", "",
              "**Speed ratios per case.** The peer columns are peer time / lindi-core time (above 1: lindi-core "
              "is faster); the last column is lindi-core time / the physical reference's time (at most 1: "
              "lindi-core is at least as fast).", "",
              "| case | lindi-core time (median) | LINDI 0.4 / lindi-core | kerchunk / lindi-core | "
              "remfile / lindi-core | other / lindi-core | lindi-core / reference |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in summaries.values():
        for row in s["ratio_rows"]:
            lines.append("| " + " | ".join(row) + " |")
    errs = [f"{b}: {e}" for b, s in summaries.items() for e in s["errors"]]
    failed = [f"{b}: exit code {i['returncode']}" for b, i in runs.items() if i.get("returncode") not in (0, None)]
    missing = [f"{b}: no results JSON" for b in runs if b not in results]
    if errs or failed or missing:
        lines += ["", "**Failures:**", ""] + [f"* {e}" for e in failed + missing + errs]
    if plots:
        lines += ["", "Plots: " + ", ".join(f"`{p}`" for p in plots)]
    return "\n".join(lines)


def update_readme(mode: str, section: str) -> None:
    begin, end = markers(mode)
    text = README.read_text()
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        other_begin = markers("quick")[0]
        anchor = other_begin if mode == "full" and other_begin in text else "## Translation: `translate_bench.py`"
        intro = "" if "## Summary (`run.py`)" in text else (
            "## Summary (`run.py`)\n\n`python benchmarks/run.py` runs every benchmark below in full mode; "
            "`--quick` runs their quick modes (about 4 minutes here). It rewrites the sections between the "
            "markers below, and writes a plot per workload to `results/`.\n\n")
        if anchor in text:
            text = text.replace(anchor, intro + block + "\n\n" + anchor, 1)
        else:
            text = text + "\n\n" + intro + block + "\n"
    README.write_text(text)


# -- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(BENCHMARKS))
    parser.add_argument("--commit", metavar="REV", help="passed to every benchmark: measure lindi-core at REV")
    parser.add_argument("--no-run", action="store_true", help="do not run; summarize the existing results JSON")
    parser.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    default = [name for name, spec in BENCHMARKS.items() if not args.quick or spec[2] is not None]
    names = names_option(parser, args.only or ",".join(default), list(BENCHMARKS), "benchmarks")
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if args.commit and not args.no_run:
        # resolved once, so that every benchmark measures the same commit even if HEAD moves meanwhile
        args.commit = subprocess.run(["git", "-C", str(BENCH_DIR.parent), "rev-parse", "--verify",
                                      args.commit + "^{commit}"], capture_output=True, text=True,
                                     check=True).stdout.strip()
        print(f"measuring lindi-core at commit {args.commit}", flush=True)

    runs: dict = {}
    t_all = time.perf_counter()
    for name in names:
        script, full_args, quick_args, full_json, quick_json = BENCHMARKS[name]
        info: dict = {"json": quick_json if args.quick else full_json}
        runs[name] = info
        if args.no_run:
            continue
        if args.quick and quick_args is None:
            parser.error(f"{name} has no quick mode")
        cmd = [sys.executable, str(BENCH_DIR / script), *(quick_args if args.quick else full_args)]
        if args.commit:
            cmd += ["--commit", args.commit]
        log = RESULTS_DIR / f"run-{mode}-{name}.log"
        print(f"== {name}: {' '.join(cmd[1:])}  (log: {log.relative_to(BENCH_DIR)})", flush=True)
        t0 = time.perf_counter()
        with open(log, "w") as fh:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=str(BENCH_DIR.parent)).returncode
        info["returncode"] = rc
        info["wall_seconds"] = time.perf_counter() - t0
        print(f"   exit {rc}, {info['wall_seconds']:.1f} s", flush=True)
    total = time.perf_counter() - t_all

    results, summaries = {}, {}
    for name, info in runs.items():
        path = RESULTS_DIR / info["json"]
        if not path.exists():
            continue
        results[name] = json.loads(path.read_text())
        try:
            summaries[name] = SUMMARIZERS[name](results[name])
        except Exception as exc:  # a results file of an unexpected shape must not hide the others
            summaries[name] = {"targets": [], "ratio_rows": [], "plot": {},
                               "errors": [f"could not summarize: {exc!r}"]}
    plots = write_plots(summaries, "-quick" if args.quick else "")
    section = render(mode, command, runs, results, summaries, plots)
    if not args.no_run:
        section += f"\n\nTotal wall time of the run: {total:.0f} s."
    if not args.no_readme:
        update_readme(mode, section)
    (RESULTS_DIR / f"summary{'-quick' if args.quick else ''}.json").write_text(json.dumps(
        {"mode": mode, "command": command, "runs": runs, "total_seconds": total, "plots": plots,
         "summaries": {b: {k: v for k, v in s.items() if k != "plot"} for b, s in summaries.items()}}, indent=2) + "\n")
    print(section)
    return 0 if all(i.get("returncode", 0) == 0 for i in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
