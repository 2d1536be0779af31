"""Edit-and-save benchmark (workload 6): bytes moved to change a remote file.

    python benchmarks/edit_bench.py            # a 1 GiB remote file, a 100 MiB new dataset
    python benchmarks/edit_bench.py --quick    # 128 MiB file, 16 MiB new dataset
    python benchmarks/edit_bench.py [--file-mib N] [--new-mib M] [--latency S] [--reps R] [--commit REV]

The input is an NWB-like HDF5 file (an int16 recording in 1 MiB chunks, groups and attributes),
served by ``lindi_core.testing.range_server.RangeServer`` on 127.0.0.1 with injected latency, and
translated by lindi-core into a ``.lindi.json`` served beside it. Each repetition runs in a
fresh subprocess that opens that reference file **by URL** in ``r+`` with a staging area and:

1. ``attribute``: changes one attribute, writes the new reference file and uploads (nothing
   staged). The bytes that must move are the new reference file and nothing else.
2. ``dataset``: adds a ``--new-mib`` int16 dataset (a random walk, so gzip has something to
   do) with ``compression="gzip"`` and 1 MiB chunks, uploads the staged chunks with
   ``DirectoryUploader`` (consolidated into blobs) and writes the new reference file. The
   physical reference for the bytes is h5py writing the same array with the same chunks and
   gzip level into a local HDF5 file: the sum of its stored chunk sizes.

The alternative without reference files is re-uploading the edited HDF5 file: its size is
reported beside each case. Reported per case: wall time of the edit + save (+ upload), bytes
uploaded (blobs), bytes of the new reference file, HTTP requests and bytes fetched from the
server, and the targets of issue 6: (1) bytes uploaded = the new reference file only, (2) blob
bytes within 1% of the compressed new data.
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
DATA_DIR = peers.CACHE_DIR / "data" / "edit"
WORK_DIR = peers.CACHE_DIR / "out" / "edit"
RESULTS_DIR = BENCH_DIR / "results"
CHANNELS = 64
CHUNK_ROWS = 8192  # 8192 x 64 int16 = 1 MiB chunks
DEFAULT_FILE_MIB, QUICK_FILE_MIB = 1024, 128
DEFAULT_NEW_MIB, QUICK_NEW_MIB = 100, 16
DEFAULT_REPS, QUICK_REPS = 3, 2
DEFAULT_LATENCY = 0.05
GZIP_LEVEL = 4  # h5py's default gzip level, and what lindi-core uses for compression="gzip"
TARGET_DATASET_BYTES_TOLERANCE = 0.01


# -- input ------------------------------------------------------------------------------------
def make_input(file_mib: int) -> Path:
    """An NWB-like HDF5 file of about ``file_mib`` MiB (written once, atomically)."""
    import h5py
    import numpy as np

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"recording-{file_mib}mib.nwb"
    if path.exists():
        return path
    rows = file_mib * (1 << 20) // (CHANNELS * 2)
    tmp = path.with_suffix(".tmp")
    rng = np.random.default_rng(0)
    with h5py.File(tmp, "w") as f:
        f.attrs["session_description"] = "edit benchmark"
        f.attrs["identifier"] = "edit-bench"
        acq = f.create_group("acquisition/ElectricalSeries")
        acq.attrs["neurodata_type"] = "ElectricalSeries"
        data = acq.create_dataset("data", shape=(rows, CHANNELS), dtype="<i2", chunks=(CHUNK_ROWS, CHANNELS))
        block = rng.integers(-2000, 2000, size=(CHUNK_ROWS * 16, CHANNELS), dtype=np.int16)
        for start in range(0, rows, len(block)):
            stop = min(rows, start + len(block))
            data[start:stop] = block[: stop - start]
        data.attrs["unit"] = "volts"
        acq.create_dataset("timestamps", data=np.arange(rows // 1000, dtype="<f8") / 30.0)
        for i in range(20):
            g = f.create_group(f"processing/module_{i}")
            g.attrs["description"] = f"module {i}"
            g.create_dataset("values", data=rng.normal(size=100))
    os.replace(tmp, path)
    return path


def new_data(new_mib: int):
    """The dataset the ``dataset`` case adds: a random walk (compresses, but not to nothing)."""
    import numpy as np

    rows = new_mib * (1 << 20) // (CHANNELS * 2)
    steps = np.random.default_rng(1).integers(-3, 4, size=(rows, CHANNELS), dtype=np.int16)
    return np.cumsum(steps, axis=0, dtype=np.int16)


def compressed_size_with_h5py(new_mib: int) -> int:
    """Stored bytes of the new data when h5py writes it with the same chunks and gzip level."""
    import h5py

    data = new_data(new_mib)
    with h5py.File("edit-bench-reference.h5", "w", driver="core", backing_store=False) as f:
        d = f.create_dataset("x", data=data, chunks=(CHUNK_ROWS, CHANNELS), compression="gzip",
                             compression_opts=GZIP_LEVEL)
        return sum(d.id.get_chunk_info(i).size for i in range(d.id.get_num_chunks()))


# -- the measured work (a fresh subprocess per repetition) ------------------------------------
CHILD_CODE = r"""
import json, os, sys, time
import numpy as np
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
from lindi_core.write.uploaders import DirectoryUploader
case, url, work, new_mib, channels, chunk_rows, level = sys.argv[1:8]
new_mib, channels, chunk_rows, level = int(new_mib), int(channels), int(chunk_rows), int(level)
if case == "dataset":
    rows = new_mib * (1 << 20) // (channels * 2)
    steps = np.random.default_rng(1).integers(-3, 4, size=(rows, channels), dtype=np.int16)
    data = np.cumsum(steps, axis=0, dtype=np.int16)
os.makedirs(work, exist_ok=True)
out_ref = os.path.join(work, "edited.nwb.lindi.json")
blobs = os.path.join(work, "blobs")
t0 = time.perf_counter()
with lindi_core.StagingArea.create(base_dir=os.path.join(work, "staging")) as staging:
    f = lindi_core.LindiH5pyFile.from_lindi_file(url, mode="r+", staging_area=staging)
    if case == "attribute":
        f.attrs["session_description"] = "fixed"
    else:
        f.create_dataset("processing/new_results/data", data=data, chunks=(chunk_rows, channels),
                         compression="gzip", compression_opts=level)
    uploader = DirectoryUploader(blobs)
    report = f.upload(uploader)
    f.write_lindi_file(out_ref)
    f.close()
seconds = time.perf_counter() - t0
check = lindi_core.LindiH5pyFile.from_lindi_file(out_ref, allow_local=True)
if case == "attribute":
    assert check.attrs["session_description"] == "fixed"
else:
    assert np.array_equal(check["processing/new_results/data"][-5:], data[-5:])
print(json.dumps({"seconds": seconds, "blob_bytes": uploader.uploaded_bytes, "blobs": report.blobs,
                  "reference_file_bytes": os.path.getsize(out_ref)}))
"""


def run_once(case: str, url: str, work: Path, new_mib: int, env: dict, timeout: float) -> dict:
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return peers.run_json(sys.executable, CHILD_CODE,
                          [case, url, str(work), new_mib, CHANNELS, CHUNK_ROWS, GZIP_LEVEL],
                          env={"TQDM_DISABLE": "1", **env}, timeout=timeout)


def table(result: dict) -> str:
    lines = ["| case | time (median, min-max) | blob bytes uploaded | new reference file | requests | bytes "
             "fetched | re-uploading the HDF5 file instead |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for case, c in result["cases"].items():
        if c.get("error"):
            lines.append(f"| {case} | error: {c['error'][:120]} | | | | | |")
            continue
        s = c["seconds"]
        lines.append(f"| {case} | {bench_common.format_seconds(s)} | {c['blob_bytes']:,} | "
                     f"{c['reference_file_bytes']:,} | {c['requests']} | {c['bytes_fetched']:,} | "
                     f"{result['input']['hdf5_bytes']:,} |")
    lines += ["", *bench_common.targets_table(result["targets"])]
    return "\n".join(lines)


def targets(cases: dict, expected_dataset_bytes: int) -> list[dict]:
    out = []
    a = cases.get("attribute") or {}
    if not a.get("error"):
        out.append({"target": "attribute edit: bytes uploaded = the new reference file only",
                    "measured": f"{a['blob_bytes']:,} blob bytes + {a['reference_file_bytes']:,} reference-file bytes",
                    "met": a["blob_bytes"] == 0})
    d = cases.get("dataset") or {}
    if not d.get("error"):
        excess = d["blob_bytes"] / expected_dataset_bytes - 1
        out.append({"target": "new dataset: blob bytes within 1% of the compressed new data",
                    "measured": f"{d['blob_bytes']:,} uploaded vs {expected_dataset_bytes:,} stored by h5py "
                                f"({excess:+.2%})",
                    "met": abs(excess) <= TARGET_DATASET_BYTES_TOLERANCE})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repetitions")
    parser.add_argument("--file-mib", type=int, help="size of the remote HDF5 file in MiB")
    parser.add_argument("--new-mib", type=int, help="size of the added dataset in MiB")
    parser.add_argument("--reps", type=int, help="repetitions per case")
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY, help="seconds added to each request")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for one run")
    bench_common.add_out_and_commit_options(parser, "measure lindi-core as committed at REV")
    args = parser.parse_args(argv)
    file_mib = args.file_mib or (QUICK_FILE_MIB if args.quick else DEFAULT_FILE_MIB)
    new_mib = args.new_mib or (QUICK_NEW_MIB if args.quick else DEFAULT_NEW_MIB)
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    out_path = args.out or RESULTS_DIR / ("edit-quick.json" if args.quick else "edit.json")
    core_env, revision = bench_common.lindi_core_under_test(args.commit)

    from lindi_core.testing.range_server import RangeServer

    source = make_input(file_mib)
    expected = compressed_size_with_h5py(new_mib)
    reference_name = source.name + ".lindi.json"
    cases: dict[str, dict] = {}
    with RangeServer(DATA_DIR, latency=0.0) as server:
        translate = ("import lindi_core, sys; lindi_core.LindiH5pyFile.from_hdf5_file(sys.argv[1])"
                     ".write_lindi_file(sys.argv[2]); print('{}')")
        peers.run_json(sys.executable, translate, [f"{server.url}/{source.name}", str(DATA_DIR / reference_name)],
                       env=core_env, timeout=args.timeout)
        server.latency = args.latency
        for case in ("attribute", "dataset"):
            runs, requests, fetched = [], [], []
            try:
                for _ in range(reps):
                    before = (server.stats.requests, server.stats.bytes_sent)
                    runs.append(run_once(case, f"{server.url}/{reference_name}", WORK_DIR / case, new_mib, core_env,
                                         args.timeout))
                    requests.append(server.stats.requests - before[0])
                    fetched.append(server.stats.bytes_sent - before[1])
            except peers.PeerError as exc:
                cases[case] = {"error": str(exc)}
                continue
            cases[case] = {"seconds": bench_common.summarize(runs, "seconds"),
                           "blob_bytes": max(r["blob_bytes"] for r in runs),
                           "blobs": max(r["blobs"] for r in runs),
                           "reference_file_bytes": max(r["reference_file_bytes"] for r in runs),
                           "requests": max(requests), "bytes_fetched": max(fetched), "runs": runs}
    result = {
        **bench_common.result_header("edit", "edit_bench.py", argv),
        "machine": bench_common.machine_facts(),
        "lindi_core_revision": revision,
        "config": {"file_mib": file_mib, "new_mib": new_mib, "reps": reps, "latency_seconds": args.latency,
                   "chunk_bytes": CHUNK_ROWS * CHANNELS * 2, "gzip_level": GZIP_LEVEL},
        "input": {"hdf5_bytes": source.stat().st_size,
                  "reference_file_bytes": (DATA_DIR / reference_name).stat().st_size,
                  "new_data_bytes": new_mib << 20, "new_data_stored_by_h5py_bytes": expected},
        "cases": cases,
        "targets": targets(cases, expected),
    }
    bench_common.write_results(result, out_path, args.commit, revision, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
