"""Reliability runs: fuzz, fault soak, kills, concurrency and stalls, with their figures.

    python benchmarks/reliability.py               # every run at full size (about 12 min here)
    python benchmarks/reliability.py --quick       # smaller counts (about 2 min)
    python benchmarks/reliability.py --only fuzz,soak

Each run counts what it tried and what went wrong; every failure count must be 0. The figures go
to ``benchmarks/results/reliability[-quick].json`` and into the section of ``RELIABILITY.md``
between ``<!-- BEGIN reliability.py (<mode>) -->`` and ``<!-- END reliability.py (<mode>) -->``.

* ``fuzz``: hostile reference files (tests/hostile.py: a varied file's reference file mutated
  value by value and byte by byte), each opened and read whole in a child process: how many
  escaped as something other than a lindi-core error, the slowest case, the child's peak memory.
* ``fuzz-hdf5``: hostile HDF5 files (tests/hostile_hdf5.py) translated locally, in memory and over
  HTTP, then read: escapes, crashes (libhdf5 killing the process) and hangs.
* ``fuzz-tar``: hostile ``.lindi.tar`` containers (tests/hostile_tar.py) opened and read whole.
* ``soak``: random slices read through the facade from a loopback server injecting every fault
  it knows (5xx, bodies cut short, connections reset, Range ignored, wrong answers to ranges,
  error pages with status 200), compared element by element with h5py reading the same file,
  with and without a local cache.
* ``kill``: a writer editing a ``.lindi.json`` and a ``.lindi.tar`` in a loop, killed with SIGKILL
  at random moments; after each kill the file must hold exactly one committed state, be listable
  by ``tarfile`` (containers) and leave no temporaries once reopened.
* ``storm``: processes with threads reading through one shared LocalCache directory while some
  of the processes are killed; every value read is checked.
* ``stall``: a server that accepts connections and never answers, and one that trickles its
  answer, read with the default deadline: how long until the clear error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "RELIABILITY.md"
sys.path.insert(0, str(ROOT))


def _child(program: str, *, timeout: float) -> dict:
    """Run ``program`` in a fresh Python (the project first on the path); it prints one JSON
    object as its last line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(program)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


PEAK_MB = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
"""


# -- fuzz --------------------------------------------------------------------------------------
def run_fuzz(cases: int, work: str) -> dict:
    program = PEAK_MB + f"""
import collections, json, random, time, traceback, warnings
from tests import hostile
warnings.simplefilter("ignore")
hostile.seed_h5({work + "/seed.h5"!r})
seed_doc = hostile.seed_document({work + "/seed.h5"!r})
escapes, outcomes, slowest = collections.Counter(), collections.Counter(), (0.0, None)
for seed in range({cases}):
    case = hostile.hostile_case(random.Random(seed), seed_doc)
    started = time.perf_counter()
    for road, exercise, acceptable in (("facade", hostile.exercise, hostile.acceptable),
                                       ("zarr", hostile.exercise_through_zarr, hostile.acceptable_through_zarr)):
        try:
            exercise(case, {work!r})
            outcomes[road + " read"] += 1
        except Exception as error:
            if acceptable(error):
                outcomes[road + " " + type(error).__name__] += 1
            else:
                frame = traceback.extract_tb(error.__traceback__)[-1]
                escapes[f"{{road}}: {{type(error).__name__}} at {{frame.filename.rsplit('/', 1)[-1]}}:{{frame.lineno}} (seed {{seed}})"] += 1
    elapsed = time.perf_counter() - started
    if elapsed > slowest[0]:
        slowest = (elapsed, seed)
print(json.dumps({{"cases": {cases}, "roads": 2, "escaped": sum(escapes.values()), "escape_kinds": dict(escapes),
                  "outcomes": dict(outcomes), "slowest_case_s": round(slowest[0], 3),
                  "slowest_seed": slowest[1], "peak_mb": peak_mb()}}))
"""
    return _child(program, timeout=3000)


# -- kill --------------------------------------------------------------------------------------
KILL_WRITER = """
import sys
import numpy as np
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
path, start = sys.argv[1], int(sys.argv[2])
for version in range(start, start + 1000):
    with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="r+") as f:
        f.attrs["version"] = version
        f["data"][:] = np.full(f["data"].shape, version, dtype=f["data"].dtype)
        if version % 3 == 0:  # chunks rewritten and datasets added and removed as well
            name = f"extra{version % 2}"
            if name in f:
                del f[name]
            f.create_dataset(name, data=np.arange(3000) + version, chunks=(500,))
    print(version, flush=True)
"""


def _committed_state(path: str) -> int:
    """The version a reference file holds, checked whole: its attribute and every value of its
    dataset must agree."""
    import numpy as np

    import lindi_core

    with lindi_core.LindiH5pyFile.from_lindi_file(path) as f:
        version = int(f.attrs["version"])
        data = f["data"][...]
        if not np.all(data == version):
            raise AssertionError(f"version {version} with data {np.unique(data)[:5]}")
        for name in ("extra0", "extra1"):
            if name in f:
                extra = f[name][...]
                if not np.array_equal(extra - extra[0], np.arange(3000)):
                    raise AssertionError(f"{name} torn")
        return version


def run_kill(kills: int, work: str) -> dict:
    import tarfile

    import numpy as np

    import lindi_core

    figures = {}
    rng = random.Random(0)
    for extension in (".lindi.json", ".lindi.tar"):
        folder = os.path.join(work, extension.strip("."))  # one folder each: all it holds is counted
        os.makedirs(folder)
        path = os.path.join(folder, "edited" + extension)
        with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="w") as f:
            f.attrs["version"] = 0
            f.create_dataset("data", data=np.zeros(4000, dtype="<i4"), chunks=(1000,))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        version, mixed, unlistable, leftovers, delays = 0, 0, 0, 0, []
        for _ in range(kills):
            child = subprocess.Popen([sys.executable, "-c", KILL_WRITER, path, str(version + 1)], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            delay = rng.uniform(0.3, 2.5)
            delays.append(delay)
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
            printed = [int(line) for line in child.communicate()[0].split()]
            child.wait()
            last = printed[-1] if printed else version
            try:
                found = _committed_state(path)
                if found not in (last, last + 1):  # a commit may land between its close and its print
                    raise AssertionError(f"version {found} after {last} was reported")
                version = found
            except Exception as error:  # noqa: BLE001 - every failure is counted and shown
                mixed += 1
                print(f"kill: {extension}: {error}", file=sys.stderr)
                break
            if extension == ".lindi.tar":
                try:
                    with tarfile.open(path) as archive:
                        archive.getmembers()
                except tarfile.TarError:
                    unlistable += 1
        # The next writer cleans what a killed one left; then nothing but the file and its lock.
        with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="r+"):
            pass
        expected = {os.path.basename(path), f".{os.path.basename(path)}.lock"}
        left = [name for name in os.listdir(folder) if name not in expected]
        if left:
            print(f"kill: {extension}: left behind: {left}", file=sys.stderr)
        leftovers = len(left)
        figures[extension] = {"kills": kills, "versions_committed": version, "mixed_states": mixed,
                              "unlistable_tars": unlistable, "temporaries_left": leftovers}
    return {"kills": 2 * kills,
            "mixed_states": sum(f["mixed_states"] for f in figures.values()),
            "unlistable_tars": figures[".lindi.tar"]["unlistable_tars"],
            "temporaries_left": sum(f["temporaries_left"] for f in figures.values()),
            "per_format": {ext: f"{f['kills']} kills, {f['versions_committed']} commits"
                           for ext, f in figures.items()}}


# -- soak --------------------------------------------------------------------------------------
HOSTILE_KINDS = ["page_200_times", "shifted_range_times", "superset_range_times", "wrong_total_times",
                 "endless_times", "endless_whole_times"]


def _soak_file(path: str) -> None:
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("gzip", data=rng.integers(-2**15, 2**15, (4000, 64), dtype="<i2"), chunks=(250, 16),
                         compression="gzip", shuffle=True)
        f.create_dataset("plain", data=rng.random(300_000))  # contiguous: cut into virtual chunks
        f.create_dataset("small", data=rng.random((50, 40)), chunks=(7, 9))


def run_soak(reads: int, work: str) -> dict:
    """Random slices through the facade from a server injecting every fault it knows, compared
    element by element with h5py reading the same file; half of the reads go through a cache."""
    import h5py
    import numpy as np

    import lindi_core
    from lindi_core.errors import LindiError
    from lindi_core.testing.range_server import RangeServer, ServerFaults

    h5 = os.path.join(work, "soak.h5")
    _soak_file(h5)
    with h5py.File(h5, "r") as f:
        truth = {name: f[name][...] for name in f}
    rng = random.Random(1)
    faults = ServerFaults(error_rate=0.1, truncate_rate=0.1, reset_rate=0.1, seed=1)
    figures = {"reads": 0, "wrong_values": 0, "errors": 0, "longest_read_s": 0.0}
    with RangeServer(work, faults=faults) as server:
        reference = os.path.join(work, "soak.lindi.json")
        lindi_core.translate_to_file(h5, reference, ref_url=server.url_for("soak.h5"), progress=False)
        for cached in (False, True):
            cache = lindi_core.LocalCache(os.path.join(work, "cache")) if cached else None
            for _ in range(reads // 20):  # a file opened anew every ten reads: little kept in memory
                f = lindi_core.LindiH5pyFile.from_lindi_file(reference, local_cache=cache)
                for _ in range(10):
                    if sum(server.stats.injected.get(k, 0) for k in HOSTILE_KINDS) == \
                            sum(getattr(server.faults, k) for k in HOSTILE_KINDS) and rng.random() < 0.3:
                        kind = rng.choice(HOSTILE_KINDS)
                        setattr(server.faults, kind, getattr(server.faults, kind) + 1)
                    name = rng.choice(sorted(truth))
                    expected = truth[name]
                    selection = tuple(slice(a, a + rng.randint(1, n - a)) for n in expected.shape
                                      for a in [rng.randrange(n)])
                    started = time.perf_counter()
                    figures["reads"] += 1
                    try:
                        got = f[name][selection]
                    except LindiError as error:
                        figures["errors"] += 1
                        print(f"soak: error (allowed; wrong values are not): {error}", file=sys.stderr)
                        continue
                    finally:
                        figures["longest_read_s"] = max(figures["longest_read_s"],
                                                        round(time.perf_counter() - started, 3))
                    figures["wrong_values"] += int(np.count_nonzero(got != expected[selection]))
                f.close()
            if cache is not None:
                cache.close()
        figures["faults_injected"] = sum(server.stats.injected.values())
        figures["faults_by_kind"] = dict(sorted(server.stats.injected.items()))
        figures["server_requests"] = server.stats.requests
    return figures


# -- storm -------------------------------------------------------------------------------------
STORM_READER = """
import random, sys, threading
import numpy as np
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
reference, cache_dir, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
expected = np.arange(2_000_000, dtype="<i8")
cache = lindi_core.LocalCache(cache_dir)
wrong = []
reads = [0]

def reader(index):
    rng = random.Random(seed * 100 + index)
    with lindi_core.LindiH5pyFile.from_lindi_file(reference, local_cache=cache) as f:
        for _ in range(150):
            start = rng.randrange(2_000_000 - 1)
            stop = min(2_000_000, start + rng.randint(1, 40_000))
            got = f["x"][start:stop]
            reads[0] += 1
            if not np.array_equal(got, expected[start:stop]):
                wrong.append((start, stop))

threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(reads[0], len(wrong), flush=True)
"""


def run_storm(rounds: int, work: str) -> dict:
    """Processes of four threads each reading through one LocalCache directory, some killed
    mid-read; every value checked, and the cache must go on serving the right bytes."""
    import h5py
    import numpy as np

    import lindi_core
    from lindi_core.testing.range_server import RangeServer

    h5 = os.path.join(work, "storm.h5")
    with h5py.File(h5, "w") as f:
        f.create_dataset("x", data=np.arange(2_000_000, dtype="<i8"), chunks=(10_000,), compression="gzip")
    cache_dir = os.path.join(work, "cache")
    figures = {"processes": 0, "killed": 0, "reads": 0, "wrong_reads": 0, "failed_processes": 0}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(2)
    with RangeServer(work) as server:
        reference = os.path.join(work, "storm.lindi.json")
        lindi_core.translate_to_file(h5, reference, ref_url=server.url_for("storm.h5"), progress=False)
        for round_number in range(rounds):
            children = [subprocess.Popen([sys.executable, "-c", STORM_READER, reference, cache_dir,
                                          str(round_number * 10 + i)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True) for i in range(4)]
            figures["processes"] += len(children)
            victims = rng.sample(children, 2)
            time.sleep(rng.uniform(0.5, 2.0))
            for child in victims:
                child.send_signal(signal.SIGKILL)
            for child in children:
                out, err = child.communicate(timeout=600)
                if child in victims and child.returncode == -signal.SIGKILL:
                    figures["killed"] += 1
                    continue
                if child.returncode != 0:
                    figures["failed_processes"] += 1
                    print(f"storm: a reader failed (exit {child.returncode}):\n{err[-2000:]}", file=sys.stderr)
                    continue
                reads, wrong = map(int, out.split())
                figures["reads"] += reads
                figures["wrong_reads"] += wrong
    return figures


# -- stall -------------------------------------------------------------------------------------
def run_stall(_count: int, work: str) -> dict:
    """How long the default deadline lets a silent and a trickling server hold a read."""
    import asyncio
    import socket
    import threading

    from lindi_core.errors import ByteSourceError
    from lindi_core.io.http_source import HttpSource
    from lindi_core.io.sync_http import SyncHttp
    from lindi_core.testing.range_server import RangeServer, ServerFaults

    silent = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def accept_and_say_nothing() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except TimeoutError:
                continue

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    with open(os.path.join(work, "f.bin"), "wb") as out:
        out.write(os.urandom(100_000))
    figures = {}
    try:
        with RangeServer(work, faults=ServerFaults(trickle=2.0)) as trickling:
            targets = {"silent": f"http://127.0.0.1:{silent.getsockname()[1]}/f.bin",
                       "trickling": trickling.url_for("f.bin")}

            def attempt(name: str, url: str, engine: str) -> None:
                started = time.perf_counter()
                try:
                    if engine == "async":
                        async def read() -> bytes:
                            source = HttpSource()
                            try:
                                return await source.read(url, 0, 1000)
                            finally:
                                await source.close()
                        asyncio.run(read())
                    else:
                        http = SyncHttp()
                        try:
                            http.read(url, 0, 1000)
                        finally:
                            http.close()
                    outcome = "read (unexpected)"
                except ByteSourceError as error:
                    outcome = "timed out" if "timed out" in str(error) else f"error: {error}"
                figures[f"{name}_{engine}_s"] = round(time.perf_counter() - started, 1)
                figures[f"{name}_{engine}"] = outcome

            # The four stalls at once: each waits out the same default deadline.
            runs = [threading.Thread(target=attempt, args=(name, url, engine))
                    for name, url in targets.items() for engine in ("async", "blocking")]
            for run in runs:
                run.start()
            for run in runs:
                run.join()
    finally:
        stop.set()
        silent.close()
        for connection in accepted:
            connection.close()
    figures["longest_stall_s"] = max(v for k, v in figures.items() if k.endswith("_s"))
    return figures


# -- hostile HDF5 files and containers ----------------------------------------------------------
def _summary(counts: dict) -> dict:
    """The runners' counts as figures: escapes by kind with a reproducing seed, crashes, hangs."""
    return {"cases": counts["cases"], "over_http": counts.get("http_cases", 0), "translated_or_read": counts["ok"],
            "lindi_errors": counts["errors"], "escaped": sum(e["count"] for e in counts["escapes"].values()),
            "crashes": len(counts.get("crashes", [])), "hangs": len(counts.get("hangs", [])),
            "slowest_case_s": round(counts["slowest_seconds"], 3), "peak_mb": counts["peak_mb"],
            "escape_kinds": {kind: f"{e['count']} (seed {e['seed']})" for kind, e in counts["escapes"].items()},
            "crashed_seeds": {str(c["seed"]): c["returncode"] for c in counts.get("crashes", [])}}


def run_fuzz_hdf5(cases: int, work: str) -> dict:
    """Hostile HDF5 files (tests/hostile_hdf5.py: varied h5py files with bytes of their metadata
    flipped, overwritten or cut), translated locally, in memory and over HTTP, then read."""
    from tests.hostile_hdf5 import run_hostile_hdf5

    return _summary(run_hostile_hdf5(cases, first_seed=100_000, http_every=6, work_dir=work))


def run_fuzz_tar(cases: int, work: str) -> dict:
    """Hostile .lindi.tar containers (tests/hostile_tar.py), opened locally and over HTTP and read whole."""
    from tests.hostile_tar import run_hostile_tar

    return _summary(run_hostile_tar(cases, first_seed=100_000, http_every=5, work_dir=work))


RUNS = {"fuzz": run_fuzz, "fuzz-hdf5": run_fuzz_hdf5, "fuzz-tar": run_fuzz_tar, "soak": run_soak, "kill": run_kill,
        "storm": run_storm, "stall": run_stall}
FULL = {"fuzz": 3000, "fuzz-hdf5": 10000, "fuzz-tar": 5000, "soak": 2000, "kill": 100, "storm": 6, "stall": 1}
QUICK = {"fuzz": 400, "fuzz-hdf5": 500, "fuzz-tar": 500, "soak": 300, "kill": 15, "storm": 2, "stall": 1}


def write_doc(mode: str, results: dict) -> None:
    """The section of RELIABILITY.md for ``mode``: every run recorded so far, with its own date,
    commit and command."""
    begin, end = f"<!-- BEGIN reliability.py ({mode}) -->", f"<!-- END reliability.py ({mode}) -->"
    lines = [begin, "", f"Recorded by `python benchmarks/reliability.py{' --quick' if mode == 'quick' else ''}` "
             f"({results['machine']}); each run with the commit and date it was measured at.", ""]
    for name in RUNS:
        run = results["runs"].get(name)
        if run is None:
            continue
        figures = run["figures"]
        plain = ", ".join(f"{k} {v}" for k, v in figures.items() if not isinstance(v, dict))
        lines.append(f"**{name}** ({run['date']}, {run['commit']}, `{run['command']}`): {plain}")
        for k, v in figures.items():
            if isinstance(v, dict) and v:
                lines.append(f"  {k}: " + ", ".join(f"{kk} {vv}" for kk, vv in v.items()))
        lines.append("")
    lines.append(end)
    text = DOC.read_text() if DOC.exists() else "# Reliability\n\n"
    block = "\n".join(lines)
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--only", default=",".join(RUNS), help="comma-separated runs: " + ", ".join(RUNS))
    args = parser.parse_args()
    counts = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    out = RESULTS / f"reliability{'-quick' if args.quick else ''}.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    results = {"machine": f"{os.cpu_count()} cores", "runs": results.get("runs", {})}
    for name in args.only.split(","):
        with tempfile.TemporaryDirectory() as work:
            started = time.perf_counter()
            figures = RUNS[name](counts[name], work)
            figures["seconds"] = round(time.perf_counter() - started, 1)
        results["runs"][name] = {
            "figures": figures, "commit": commit,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": f"python benchmarks/reliability.py{' --quick' if args.quick else ''} --only {name}"}
        print(name, json.dumps(figures), flush=True)
        RESULTS.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        write_doc(mode, results)


if __name__ == "__main__":
    main()
