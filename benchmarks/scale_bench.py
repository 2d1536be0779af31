"""Scale benchmark: files of millions of chunks (issue 17), lindi-core beside kerchunk's Parquet
references and LINDI 0.4's external array link, on the same files in the same run.

    python benchmarks/scale_bench.py             # 1M, 3M and 10M chunks, 3 translations per tool
    python benchmarks/scale_bench.py --quick     # 1M chunks only, 1 translation per tool
    python benchmarks/scale_bench.py --sizes 100000,300000 --reps 1 [--read-cap S] [--commit REV]

**Input.** Per size N, one dataset ``data``: int64, shape (8N,), chunks (8,) (64 bytes each, all
allocated, uncompressed), values ``arange(8N)``, written by h5py with default file settings
(version-1 B-tree chunk index), in slabs of 262,144 chunks (about 11 s per million chunks),
cached under ``benchmarks/.cache/data/scale/``.

**Tools.** Every measurement is a fresh subprocess; the peers run in their venvs (``peers.py``).
Every reference file names the HDF5 file by the URL it is served at (below), so the same files
are then opened over HTTP.

* ``chunk_iter``: ``h5py`` ``dset.id.chunk_iter(list.append)``: the index walk alone (the
  physical reference of the translation target);
* ``lindi-core``: ``lindi_core.translate_to_file(path, out.lindi.json, ref_url=url)``, default
  options (``chunk_table="auto"``); opened with ``LindiH5pyFile.from_lindi_file(url)``;
* ``kerchunk-parquet``: ``kerchunk.hdf.SingleHdf5ToZarr(open(path, "rb"), url=url,
  inline_threshold=0).translate()`` then ``kerchunk.df.refs_to_dataframe(refs, out.parq)``
  (Parquet, 100,000 refs per file); opened over HTTP by fsspec's ``reference`` filesystem, whose
  ``LazyReferenceMapper`` reads the Parquet files lazily, under zarr 3;
* ``lindi-0.4``: ``lindi.LindiH5ZarrStore.from_file(path, url=url)`` with LINDI's default options,
  which above 1,000 chunks writes an ``_EXTERNAL_ARRAY_LINK`` to the HDF5 file instead of chunk
  refs; opened with ``lindi.LindiH5pyFile.from_lindi_file(url)``, which then reads the HDF5
  file's own chunk index over HTTP.

**Measured.**

* translate (local file, page cache warm): time of the work (imports excluded), peak RSS
  (``VmHWM`` of the child, i.e. its own ``ru_maxrss``), bytes written, and for lindi-core the
  **reference bytes per chunk before compression**: the bytes of the reference output with every
  binary chunk table (spec section 13) counted at its decoded size (header + one fixed-size entry
  per chunk, as if stored uncompressed and not base64-encoded), divided by the chunk count. A
  JSON-refs output counts as its file size. Side files the output names (a table's ``ref``) count
  too.
* open over HTTP (``lindi_core.testing.range_server.RangeServer``, 50 ms a request): the time and
  requests to open the reference file and get the dataset, and (in another fresh process) the
  requests and time of a first read of 8 values from the middle of the dataset, beyond the open.
* whole read of the 1,000,000-chunk dataset over HTTP at 20 ms: ``data[:]`` after the open (time
  and requests of the read), against ``raw-get``: one GET of the byte span from the first chunk's
  offset to the end of the last (B-tree nodes in between included). A run past ``--read-cap``
  seconds is killed and recorded as "did not finish in N s"; each value read is checked against
  ``arange``.

Results: a table on stdout, JSON in ``benchmarks/results/scale.json`` (``--quick``:
``scale-quick.json``, other ``--sizes``: ``scale-<sizes>.json``) and, with matplotlib, a plot of
time and memory against the chunk count per tool (``results/scale-growth[-quick].png``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402
import peers  # noqa: E402

BENCH_DIR = peers.BENCH_DIR
DATA_DIR = peers.CACHE_DIR / "data" / "scale"  # served: the inputs, and the reference files under refs/
RESULTS_DIR = BENCH_DIR / "results"
CHUNK_ELEMENTS = 8
FULL_SIZES = (1_000_000, 3_000_000, 10_000_000)
QUICK_SIZES = (1_000_000,)
WHOLE_READ_SIZE = 1_000_000  # the whole-read case runs at this size only
OPEN_LATENCY, READ_LATENCY = 0.05, 0.02
SMALL_READ = 8  # values of the first small read

TARGETS = {
    "translate_over_chunk_iter_max": 1.5,
    "peak_rss_mb_at_10m_max": 300.0,
    "bytes_per_chunk_at_10m_max": 16.0,
    "open_seconds_max": 0.2,
    "open_requests_max": 2,
    "small_read_requests_max": 2,
    "whole_read_seconds_max": 2.0,
    "whole_read_over_raw_get_max": 1.5,
}

TRANSLATE_TOOLS = ("chunk_iter", "lindi-core", "kerchunk-parquet", "lindi-0.4")
OPEN_TOOLS = ("lindi-core", "kerchunk-parquet", "lindi-0.4")
READ_TOOLS = ("raw-get", "lindi-core", "kerchunk-parquet", "lindi-0.4")
VENV = {"kerchunk-parquet": "kerchunk", "lindi-0.4": "lindi"}
OUTPUT_NAME = {"lindi-core": "lindi-core.lindi.json", "kerchunk-parquet": "kerchunk.parq",
               "lindi-0.4": "lindi-0.4.lindi.json"}  # LINDI insists on the .lindi.json suffix


# -- input ------------------------------------------------------------------------------------
def input_name(n_chunks: int) -> str:
    return f"int64-chunks{CHUNK_ELEMENTS}-{n_chunks}.h5"


def make_input(n_chunks: int) -> Path:
    """The cached input of ``n_chunks`` chunks (written once, atomically)."""
    return bench_common.cached_input(DATA_DIR / input_name(n_chunks), lambda path: write_input(path, n_chunks))


def write_input(path: Path, n_chunks: int) -> None:
    import h5py
    import numpy as np

    tmp = path.with_suffix(".h5.tmp")
    n = n_chunks * CHUNK_ELEMENTS
    slab = 262_144 * CHUNK_ELEMENTS
    with h5py.File(tmp, "w") as f:
        dset = f.create_dataset("data", shape=(n,), dtype="int64", chunks=(CHUNK_ELEMENTS,))
        for start in range(0, n, slab):
            stop = min(n, start + slab)
            dset[start:stop] = np.arange(start, stop, dtype=np.int64)
    os.replace(tmp, path)


# The byte span of the chunks of ``data`` (first offset, end of the last), from h5py's own index.
SPAN_CODE = r"""
import json, sys
import h5py
lo, hi, n = [None], [0], [0]
def seen(info):
    n[0] += 1
    lo[0] = info.byte_offset if lo[0] is None else min(lo[0], info.byte_offset)
    hi[0] = max(hi[0], info.byte_offset + info.size)
with h5py.File(sys.argv[1], "r") as f:
    f["data"].id.chunk_iter(seen)
print(json.dumps({"offset": lo[0], "end": hi[0], "chunks": n[0]}))
"""


def chunk_span(src: Path) -> dict:
    """{offset, end, chunks} of the input's chunks, cached beside it."""
    cached = src.with_name(src.name + ".span.json")
    if cached.exists():
        return json.loads(cached.read_text())
    span = peers.run_json(sys.executable, SPAN_CODE, [str(src)], timeout=1800)
    cached.write_text(json.dumps(span))
    return span


# -- translation (local file) --------------------------------------------------------------------
# Every child stops itself (exit 3, saying why) once its resident memory passes the cap: a peer
# that needs more (kerchunk holds every ref as a Python object: about 2 GB at 3M chunks) fails
# as a result instead of pushing a shared machine out of memory.
MEMORY_WATCH_SOURCE = r"""
def _watch_memory(cap_mb):
    import threading
    def watch():
        while True:
            rss = _status_mb("VmRSS") or 0
            if rss > cap_mb:
                sys.stderr.write("stopped: resident memory %.0f MB passed the cap of %.0f MB\n" % (rss, cap_mb))
                sys.stderr.flush()
                os._exit(3)
            time.sleep(0.1)
    if cap_mb > 0:
        threading.Thread(target=watch, daemon=True).start()
"""

TRANSLATE_PRELUDE = r"""
import json, os, resource, sys, time
""" + bench_common.STATUS_MB_SOURCE + MEMORY_WATCH_SOURCE + r"""
def _peak_mb():
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
src, out, url = sys.argv[1], sys.argv[2], sys.argv[3]
_watch_memory(float(sys.argv[4]))
"""

TRANSLATE_CODE = {
    "chunk_iter": TRANSLATE_PRELUDE + r"""
import h5py
with h5py.File(src, "r") as f:
    dsid = f["data"].id
    rss0 = _status_mb("VmRSS")
    found = []
    t0 = time.perf_counter()
    dsid.chunk_iter(found.append)
    seconds = time.perf_counter() - t0
    peak = _peak_mb()
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": rss0, "chunks": len(found)}))
""",
    "lindi-core": TRANSLATE_PRELUDE + r"""
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
lindi_core.translate_to_file(src, out, ref_url=url, progress=False)
seconds = time.perf_counter() - t0
peak = _peak_mb()
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": rss0}))
""",
    "kerchunk-parquet": TRANSLATE_PRELUDE + r"""
from kerchunk.hdf import SingleHdf5ToZarr
from kerchunk.df import refs_to_dataframe
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
with open(src, "rb") as fh:
    refs = SingleHdf5ToZarr(fh, url=url, inline_threshold=0).translate()
t1 = time.perf_counter()
refs_to_dataframe(refs, out)
seconds = time.perf_counter() - t0
peak = _peak_mb()
print(json.dumps({"seconds": seconds, "translate_seconds": t1 - t0, "write_seconds": seconds - (t1 - t0),
                  "peak_rss_mb": peak, "rss_before_mb": rss0}))
""",
    "lindi-0.4": TRANSLATE_PRELUDE + r"""
import lindi
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
store = lindi.LindiH5ZarrStore.from_file(src, url=url)
store.write_reference_file_system(out)
store.close()
seconds = time.perf_counter() - t0
peak = _peak_mb()
with open(out) as f:
    external = "_EXTERNAL_ARRAY_LINK" in f.read()
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": rss0, "external_array_link": external}))
""",
}


# The last lines of every child: the result is printed and the output files closed, so the process
# ends at once, without the interpreter's finalization (with the memory watch thread alive, LINDI
# 0.4's objects crash it there: exit -11 after a correct result).
CHILD_EXIT_SOURCE = r"""
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""
TRANSLATE_CODE = {tool: code + CHILD_EXIT_SOURCE for tool, code in TRANSLATE_CODE.items()}


def tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- bytes per chunk of a lindi-core reference file, from the spec (section 13), not from lindi_core
def _table_header_and_entries(data: bytes) -> tuple[int, int]:
    """(bytes other than entries, uncompressed entries bytes) of an encoded binary chunk table,
    read from the layout spec section 13 gives (versions 1 and 2), not by lindi-core's code."""
    if data[:8] != b"LINDICT\n":
        raise ValueError("not a lindi chunk table (bad magic)")
    (version,) = struct.unpack_from("<H", data, 8)
    if version == 2:
        return _v2_header_and_entries(data)
    if version != 1:
        raise ValueError(f"chunk table version {version}: this measure knows versions 1 and 2")
    version, flags, ndim, url_bytes, offset_bytes, length_bytes, _reserved = struct.unpack_from("<HBBBBBB", data, 8)
    pos = 16
    grid = struct.unpack_from(f"<{ndim}Q", data, pos)
    pos += 16 * ndim  # grid shape, then chunk shape
    pos = _after_urls(data, pos)
    pos += 8  # entries size
    cells = 1
    for g in grid:
        cells *= g
    entry = url_bytes + offset_bytes + length_bytes + (4 if flags & 1 else 0)
    return pos, cells * entry


def _after_urls(data: bytes, pos: int) -> int:
    """The position after a table's URL table at ``pos`` (u32 count, then per URL a u32 length
    and its bytes; both versions)."""
    (n_urls,) = struct.unpack_from("<I", data, pos)
    pos += 4
    for _ in range(n_urls):
        (length,) = struct.unpack_from("<I", data, pos)
        pos += 4 + length
    return pos


def _v2_header_and_entries(data: bytes) -> tuple[int, int]:
    """Version 2: 16-byte prelude, zlib blocks, header, 24-byte trailer; a block of r rows
    inflates to r x (url + delta + length + mask width) bytes (its widths in the block index)."""
    header_start, header_size = struct.unpack_from("<QQ", data, len(data) - 24)
    pos = header_start
    _flags, ndim, _zero, rows_per_block = struct.unpack_from("<BBHI", data, pos)
    pos += 8
    grid = struct.unpack_from(f"<{ndim}Q", data, pos)
    pos += 16 * ndim  # grid shape, then chunk shape
    pos = _after_urls(data, pos)
    (n_blocks,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    cells = 1
    for g in grid:
        cells *= g
    entries = 0
    for i in range(n_blocks):
        widths = struct.unpack_from("<4B", data, pos + 16)
        pos += 20
        rows = min(rows_per_block, cells - i * rows_per_block)
        entries += rows * sum(widths)
    return 16 + header_size + 24, entries


def reference_bytes(out: Path, n_chunks: int) -> dict:
    """What a lindi-core ``.lindi.json`` holds: stored bytes (with any side files its tables name)
    and the bytes before compression (each binary table at its decoded size), also per chunk."""
    raw = out.read_bytes()
    stored = uncompressed = len(raw)
    refs = json.loads(raw).get("refs", {})
    tables = 0
    for key, value in refs.items():
        if not key.endswith("/.zchunktable") and key != ".zchunktable":
            continue
        tables += 1
        if isinstance(value, dict) and isinstance(value.get("data"), str):
            text = value["data"]
            table = base64.b64decode(text.removeprefix("base64:"))
            header, entries = _table_header_and_entries(table)
            uncompressed += header + entries - len(text)  # the base64 text replaced by the table decoded
        elif isinstance(value, dict) and isinstance(value.get("ref"), str):  # a table file beside it
            table = (out.parent / value["ref"]).read_bytes()
            header, entries = _table_header_and_entries(table)
            stored += len(table)
            uncompressed += header + entries
    return {"stored_bytes": stored, "uncompressed_bytes": uncompressed, "binary_tables": tables,
            "stored_bytes_per_chunk": stored / n_chunks, "uncompressed_bytes_per_chunk": uncompressed / n_chunks}


# -- opening and reading over HTTP ----------------------------------------------------------------
# argv: URL of the reference file, mode (open | small | whole), JSON extra ({start, stop, n}).
READ_PRELUDE = r"""
import json, os, sys, time
import numpy as np
""" + bench_common.STATUS_MB_SOURCE + MEMORY_WATCH_SOURCE + r"""
target, mode, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
_watch_memory(extra["memory_cap_mb"])
"""

OPENERS = {
    "lindi-core": r"""
import lindi_core; [getattr(lindi_core, _n) for _n in getattr(lindi_core, "__all__", ())]  # its lazily imported modules too, before any timing
def _open(t):
    return lindi_core.LindiH5pyFile.from_lindi_file(t)["data"]
""",
    "lindi-0.4": r"""
import lindi
def _open(t):
    return lindi.LindiH5pyFile.from_lindi_file(t)["data"]
""",
    "kerchunk-parquet": r"""
import fsspec, zarr
def _open(t):
    fs = fsspec.filesystem("reference", fo=t, target_protocol="http", remote_protocol="http",
                           remote_options={"asynchronous": True}, asynchronous=True)
    store = zarr.storage.FsspecStore(fs, read_only=True)
    return zarr.open_array(store, path="data", mode="r", zarr_format=2)
""",
    # the floor of the whole read: one GET of the chunks' whole byte span (B-tree nodes included),
    # not decoded; its "open" only makes the connection object (it connects on the GET)
    "raw-get": r"""
import http.client, urllib.parse
class _Span:
    def __init__(self, t):
        u = urllib.parse.urlsplit(t)
        self.path = u.path
        self.conn = http.client.HTTPConnection(u.hostname, u.port)
    def __getitem__(self, _):
        first, last = extra["span_offset"], extra["span_end"] - 1
        self.conn.request("GET", self.path, headers={"Range": "bytes=%d-%d" % (first, last)})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 206 or len(body) != last - first + 1:
            raise RuntimeError("bad answer %d, %d bytes" % (r.status, len(body)))
        return body
def _open(t):
    return _Span(t)
""",
}

READ_MEASURE = r"""
rss0 = _status_mb("VmRSS")
t0 = time.perf_counter()
d = _open(target)
t1 = time.perf_counter()
out = {"open_seconds": t1 - t0}
if mode == "small":
    t2 = time.perf_counter()
    values = np.asarray(d[extra["start"]:extra["stop"]])
    out["read_seconds"] = time.perf_counter() - t2
    out["correct"] = bool(np.array_equal(values, np.arange(extra["start"], extra["stop"], dtype=np.int64)))
elif mode == "whole":
    t2 = time.perf_counter()
    values = d[:]
    out["read_seconds"] = time.perf_counter() - t2
    if isinstance(values, bytes):
        out["correct"] = len(values) == extra["span_end"] - extra["span_offset"]
        out["bytes"] = len(values)
    else:
        values = np.asarray(values)
        out["correct"] = bool(values.shape == (extra["n"],) and (values == np.arange(extra["n"], dtype=np.int64)).all())
        out["bytes"] = int(values.nbytes)
out["peak_rss_mb"] = _status_mb("VmHWM")
out["rss_before_mb"] = rss0
print(json.dumps(out))
"""


def read_code(tool: str) -> str:
    return READ_PRELUDE + OPENERS[tool] + READ_MEASURE + CHILD_EXIT_SOURCE


def settle(server, limit: float = 10.0) -> None:
    """Wait (at most ``limit`` s) for the requests a killed run left in flight to end, so that
    they count for no later run."""
    deadline = time.monotonic() + limit
    while server.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)


def run_read(tool: str, python: str, server, url: str, mode: str, extra: dict, timeout: float,
             env: dict | None) -> dict:
    """One fresh process opening ``url`` (and reading, per ``mode``); the server's requests added."""
    settle(server)
    server.stats.reset()
    t0 = time.perf_counter()
    r = peers.run_json(python, read_code(tool), [url, mode, json.dumps(extra)], timeout=timeout,
                       env={"TQDM_DISABLE": "1", **(env or {})})
    r["process_seconds"] = time.perf_counter() - t0
    r["requests"] = server.stats.requests
    r["bytes_sent"] = server.stats.bytes_sent
    if r.get("correct") is False:
        raise peers.PeerError(f"{tool} read wrong values ({mode})")
    return r


# -- one size -------------------------------------------------------------------------------------
def measure_size(n: int, server, pythons: dict, setup_errors: dict, args, core_env: dict) -> dict:
    src = make_input(n)
    span = chunk_span(src)
    bench_common.warm_page_cache(src)
    url = server.url_for(src.name)
    refs_dir = DATA_DIR / "refs" / str(n)
    shutil.rmtree(refs_dir, ignore_errors=True)
    refs_dir.mkdir(parents=True)
    env_of = {t: (core_env if pythons.get(t) == sys.executable else None) for t in pythons}

    # translate, repetitions interleaved across tools; the last run's output stays for the reads
    runs: dict[str, list[dict]] = {t: [] for t in TRANSLATE_TOOLS}
    errors = {t: setup_errors[t] for t in TRANSLATE_TOOLS if t in setup_errors}
    for rep in range(args.reps):
        for tool in TRANSLATE_TOOLS:
            if tool in errors or (tool in VENV and rep >= args.peer_reps):
                continue
            out = refs_dir / OUTPUT_NAME.get(tool, "unused")
            if out.is_dir():
                shutil.rmtree(out)
            else:
                out.unlink(missing_ok=True)
            print(f"[{n:,} chunks, translate {rep + 1}] {tool} ...", end=" ", file=sys.stderr, flush=True)
            try:
                r = peers.run_json(pythons[tool], TRANSLATE_CODE[tool], [str(src), str(out), url, args.memory_cap],
                                   timeout=args.translate_cap, env={"TQDM_DISABLE": "1", **(env_of[tool] or {})})
            except peers.PeerError as exc:
                errors[tool] = _did_not_finish(exc, args.translate_cap)
                print(f"FAILED: {errors[tool].splitlines()[-1][:200]}", file=sys.stderr)
                continue
            if tool in OUTPUT_NAME:
                r["output_bytes"] = tree_bytes(out)
                r["output_bytes_per_chunk"] = r["output_bytes"] / n
            if tool == "lindi-core":
                try:
                    r.update(reference_bytes(out, n))
                    r["output_bytes"] = r["stored_bytes"]  # side files its tables name included
                    r["output_bytes_per_chunk"] = r["stored_bytes_per_chunk"]
                except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:  # a form this parser does not know
                    r["reference_bytes_error"] = f"could not measure the table: {exc!r}"
            runs[tool].append(r)
            print(f"{r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)
    translate = {}
    for tool in TRANSLATE_TOOLS:
        entry: dict = {"runs": runs[tool]}
        if tool in errors:
            entry["error"] = errors[tool]
        else:
            entry.update(bench_common.summarize_fields(runs[tool], (
                "seconds", "translate_seconds", "write_seconds", "peak_rss_mb", "rss_before_mb", "output_bytes",
                "output_bytes_per_chunk", "stored_bytes", "uncompressed_bytes", "uncompressed_bytes_per_chunk",
                "stored_bytes_per_chunk")))
            if runs[tool] and "external_array_link" in runs[tool][-1]:
                entry["external_array_link"] = runs[tool][-1]["external_array_link"]
        translate[tool] = entry

    # open, then (another process) open + first small read, at 50 ms
    middle = (n * CHUNK_ELEMENTS) // 2 + 3  # not chunk-aligned: two chunks
    small = {"start": middle, "stop": middle + SMALL_READ, "memory_cap_mb": args.memory_cap}
    opened: dict[str, dict] = {}
    server.latency = OPEN_LATENCY
    for tool in OPEN_TOOLS:
        if tool in errors:
            opened[tool] = {"error": f"no reference file: {errors[tool].splitlines()[-1][:200]}"}
            continue
        ref_url = server.url_for(f"refs/{n}/{OUTPUT_NAME[tool]}")
        try:
            o = run_read(tool, pythons[tool], server, ref_url, "open", small, args.open_cap, env_of[tool])
            s = run_read(tool, pythons[tool], server, ref_url, "small", small, args.open_cap, env_of[tool])
        except peers.PeerError as exc:
            opened[tool] = {"error": _did_not_finish(exc, args.open_cap)}
            print(f"[{n:,} chunks, open] {tool} FAILED: {opened[tool]['error'].splitlines()[-1][:200]}",
                  file=sys.stderr)
            continue
        opened[tool] = {"open_seconds": o["open_seconds"], "open_requests": o["requests"],
                        "open_bytes": o["bytes_sent"], "open_peak_rss_mb": o["peak_rss_mb"],
                        "small_read_seconds": s["read_seconds"], "small_read_requests": s["requests"] - o["requests"],
                        "open_seconds_in_read_process": s["open_seconds"], "small_read_total_requests": s["requests"]}
        print(f"[{n:,} chunks, open] {tool}: open {o['open_seconds']:.3f} s in {o['requests']} requests, first read "
              f"{s['read_seconds']:.3f} s in {s['requests'] - o['requests']} more", file=sys.stderr)

    result = {"input": {"file": src.name, "bytes": src.stat().st_size, "chunks": span["chunks"],
                        "span_offset": span["offset"], "span_bytes": span["end"] - span["offset"]},
              "translate": translate, "open": opened}

    if n == args.whole_read_at:
        server.latency = READ_LATENCY
        extra = {"n": n * CHUNK_ELEMENTS, "span_offset": span["offset"], "span_end": span["end"],
                 "memory_cap_mb": args.memory_cap}
        # Repetitions interleaved between lindi-core and the raw GET, the pair of the ratio (a page
        # fault here costs 4 ms to 150 ms per 64 MB: single runs of either move by tens of
        # percent); then the peers, each repeated the same way. The peers come last because a
        # run of theirs may fill memory to the cap (LINDI 0.4 reaches 6 GB): taking turns with
        # them, the lindi-core run right after LINDI 0.4's took 0.19 s and 0.21 s in two series
        # of five, the later ones 0.11-0.13 s. A tool that fails is not run again.
        whole: dict[str, dict] = {}
        reads: dict[str, list[dict]] = {tool: [] for tool in READ_TOOLS}
        pair = [tool for tool in READ_TOOLS if tool in ("raw-get", "lindi-core")]
        rounds = [pair] * args.read_reps + [[tool] for tool in READ_TOOLS if tool not in pair
                                            for _ in range(args.read_reps)]
        for tools in rounds:
            for tool in tools:
                if tool in whole:
                    continue
                if tool in errors or tool in setup_errors:
                    whole[tool] = {"error": f"no reference file: {(errors.get(tool) or setup_errors[tool]).splitlines()[-1][:200]}"}
                    continue
                target = server.url_for(src.name if tool == "raw-get" else f"refs/{n}/{OUTPUT_NAME[tool]}")
                print(f"[{n:,} chunks, whole read {len(reads[tool]) + 1} at {READ_LATENCY * 1000:.0f} ms] {tool} ...",
                      end=" ", file=sys.stderr, flush=True)
                try:
                    w = run_read(tool, pythons.get(tool, sys.executable), server, target, "whole", extra, args.read_cap,
                                 env_of.get(tool))
                except peers.PeerError as exc:
                    whole[tool] = {"error": _did_not_finish(exc, args.read_cap),
                                   "requests_until_stopped": server.stats.requests,
                                   "bytes_sent_until_stopped": server.stats.bytes_sent}
                    print(f"FAILED: {whole[tool]['error'].splitlines()[-1][:200]}", file=sys.stderr)
                    continue
                reads[tool].append({"seconds": w["read_seconds"], "open_seconds": w["open_seconds"],
                                    "requests": w["requests"], "bytes_sent": w["bytes_sent"], "bytes_read": w.get("bytes"),
                                    "peak_rss_mb": w["peak_rss_mb"]})
                print(f"{w['read_seconds']:.3f} s, {w['requests']} requests", file=sys.stderr)
        for tool, runs in reads.items():
            if tool not in whole and runs:
                median = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]  # a run that took place
                whole[tool] = {**median, "runs": [r["seconds"] for r in runs],
                               "min_seconds": min(r["seconds"] for r in runs),
                               "max_seconds": max(r["seconds"] for r in runs)}
        result["whole_read"] = whole
    server.latency = 0.0
    return result


def _did_not_finish(exc: Exception, cap: float) -> str:
    text = str(exc)
    return f"did not finish in {cap:g} s" if text.startswith("timed out") else text


# -- targets, table, plot ------------------------------------------------------------------------
def _stat(entry: dict | None, field: str, which: str = "median"):
    s = (entry or {}).get(field)
    return s[which] if isinstance(s, dict) else None


def evaluate_targets(sizes: dict) -> list[dict]:
    out = []
    r = bench_common.ratio
    for key, s in sizes.items():
        n = int(key)
        t = s["translate"]
        core, walk = t.get("lindi-core", {}), t.get("chunk_iter", {})
        rt, rt_min = r(_stat(core, "seconds"), _stat(walk, "seconds")), r(_stat(core, "seconds", "min"), _stat(walk, "seconds", "min"))
        out.append({"target": f"{n:,} chunks: translate within {TARGETS['translate_over_chunk_iter_max']}x of `chunk_iter` alone",
                    "measured": f"lindi-core / chunk_iter = {bench_common.format_ratio(rt)} (minimums "
                                f"{bench_common.format_ratio(rt_min)})" if rt else _why(core, walk),
                    "met": bench_common.target_met(rt, lambda v: v <= TARGETS["translate_over_chunk_iter_max"])})
        if n >= 10_000_000:
            peak = _stat(core, "peak_rss_mb")
            out.append({"target": f"{n:,} chunks: translate peak memory under {TARGETS['peak_rss_mb_at_10m_max']:.0f} MB",
                        "measured": f"{peak:.0f} MB" if peak else _why(core),
                        "met": bench_common.target_met(peak, lambda v: v < TARGETS["peak_rss_mb_at_10m_max"])})
            bpc = _stat(core, "uncompressed_bytes_per_chunk")
            out.append({"target": f"{n:,} chunks: reference output at most {TARGETS['bytes_per_chunk_at_10m_max']:.0f} B "
                                  "per chunk before compression",
                        "measured": f"{bpc:.2f} B/chunk ({_stat(core, 'stored_bytes_per_chunk'):.2f} as stored)" if bpc else _why(core),
                        "met": bench_common.target_met(bpc, lambda v: v <= TARGETS["bytes_per_chunk_at_10m_max"])})
        o = s["open"].get("lindi-core", {})
        ok = None if o.get("error") else (o["open_seconds"] < TARGETS["open_seconds_max"]
                                          and o["open_requests"] <= TARGETS["open_requests_max"])
        out.append({"target": f"{n:,} chunks: open over HTTP (50 ms) under {TARGETS['open_seconds_max']} s in at most "
                              f"{TARGETS['open_requests_max']} requests",
                    "measured": o.get("error") or f"{o['open_seconds']:.3f} s, {o['open_requests']} requests", "met": ok})
        ok = None if o.get("error") else o["small_read_requests"] <= TARGETS["small_read_requests_max"]
        out.append({"target": f"{n:,} chunks: first read of {SMALL_READ} values at most "
                              f"{TARGETS['small_read_requests_max']} more requests",
                    "measured": o.get("error") or f"{o['small_read_requests']} requests, {o['small_read_seconds']:.3f} s",
                    "met": ok})
        if "whole_read" in s:
            w = s["whole_read"]
            core_w, raw = w.get("lindi-core", {}), w.get("raw-get", {})
            if core_w.get("error"):
                measured = core_w["error"].splitlines()[-1][:200]
                if "requests_until_stopped" in core_w:
                    measured += f" ({core_w['requests_until_stopped']:,} requests by then)"
                met = False if "did not finish" in core_w["error"] else None
            else:
                rr = r(core_w["seconds"], raw.get("seconds"))
                measured = (f"{core_w['seconds']:.2f} s in {core_w['requests']:,} requests; raw GET "
                            f"{raw['seconds']:.2f} s, ratio {bench_common.format_ratio(rr)}") if rr else \
                           f"{core_w['seconds']:.2f} s in {core_w['requests']:,} requests; raw GET: {_why(raw)}"
                met = core_w["seconds"] < TARGETS["whole_read_seconds_max"] and (
                    rr is not None and rr <= TARGETS["whole_read_over_raw_get_max"])
            out.append({"target": f"{n:,} chunks: whole read over HTTP (20 ms) under {TARGETS['whole_read_seconds_max']} s "
                                  f"and at most {TARGETS['whole_read_over_raw_get_max']}x a raw GET of the same span",
                        "measured": measured, "met": met})
    return out


def _why(*entries: dict) -> str:
    for e in entries:
        if e and e.get("error"):
            return e["error"].splitlines()[-1][:200]
    return "n/a"


def _cell(entry: dict | None, text) -> str:
    if not entry:
        return "-"
    if entry.get("error"):
        return "FAILED: " + entry["error"].splitlines()[-1][:100]
    return text(entry)


def table(result: dict) -> str:
    lines = ["| chunks | tool | translate (median, min-max) | peak RSS | output bytes | bytes/chunk (stored; before "
             "compression) | open (50 ms) | first read of 8 values |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, s in result["sizes"].items():
        for tool in TRANSLATE_TOOLS:
            t, o = s["translate"].get(tool), s["open"].get(tool)
            bpc = "-"
            if t and not t.get("error") and t.get("output_bytes_per_chunk"):
                bpc = f"{_stat(t, 'output_bytes_per_chunk'):.2f}"
                if t.get("uncompressed_bytes_per_chunk"):
                    bpc += f"; {_stat(t, 'uncompressed_bytes_per_chunk'):.2f}"
                if t.get("external_array_link"):
                    bpc += " (external array link: no chunk refs)"
            lines.append(
                f"| {int(key):,} | {tool} | {_cell(t, lambda e: bench_common.format_seconds(e['seconds']))} | "
                f"{_cell(t, lambda e: '{:.0f} MB'.format(_stat(e, 'peak_rss_mb')))} | "
                f"{_cell(t, lambda e: '{:,.0f}'.format(_stat(e, 'output_bytes')) if e.get('output_bytes') else '-')} | "
                f"{bpc} | "
                f"{_cell(o, lambda e: '{:.3f} s, {} req'.format(e['open_seconds'], e['open_requests']))} | "
                f"{_cell(o, lambda e: '{:.3f} s, +{} req'.format(e['small_read_seconds'], e['small_read_requests']))} |")
        if "whole_read" in s:
            lines += ["", f"Whole read of the {int(key):,}-chunk dataset at {READ_LATENCY * 1000:.0f} ms "
                          f"(span {s['input']['span_bytes']:,} bytes):", "",
                      "| tool | read time | requests | bytes sent | peak RSS |", "| --- | --- | --- | --- | --- |"]
            for tool, w in s["whole_read"].items():
                if w.get("error"):
                    by_then = [f"{w[k]:,} by then" if k in w else "-"
                               for k in ("requests_until_stopped", "bytes_sent_until_stopped")]
                    lines.append(f"| {tool} | {w['error'].splitlines()[-1][:100]} | {by_then[0]} | {by_then[1]} | - |")
                else:
                    lines.append(f"| {tool} | {w['seconds']:.2f} s | {w['requests']:,} | {w['bytes_sent']:,} | "
                                 f"{w['peak_rss_mb']:.0f} MB |")
            lines.append("")
    lines += ["", *bench_common.targets_table(result["targets"])]
    return "\n".join(lines)


def write_growth_plot(result: dict, path: Path) -> str | None:
    """Time and memory against the chunk count, one line per tool; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: growth plot skipped", file=sys.stderr)
        return None
    sizes = sorted(int(k) for k in result["sizes"])
    panels = [
        ("translate time", "seconds", lambda s, tool: _stat(s["translate"].get(tool), "seconds"), TRANSLATE_TOOLS),
        ("translate peak RSS", "MB", lambda s, tool: _stat(s["translate"].get(tool), "peak_rss_mb"), TRANSLATE_TOOLS),
        ("open over HTTP (50 ms)", "seconds", lambda s, tool: (s["open"].get(tool) or {}).get("open_seconds"), OPEN_TOOLS),
        ("open + first read: requests", "requests",
         lambda s, tool: (s["open"].get(tool) or {}).get("small_read_total_requests"), OPEN_TOOLS),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (title, unit, get, tools) in zip(axes[0], panels):
        for tool in tools:
            points = [(n, get(result["sizes"][str(n)], tool)) for n in sizes]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=tool,
                        color={"lindi-core": "tab:green", "chunk_iter": "tab:gray", "kerchunk-parquet": "tab:red",
                               "lindi-0.4": "tab:blue"}.get(tool))
        ax.set_xscale("log")
        if unit != "requests":
            ax.set_yscale("log")  # the tools differ by orders of magnitude
        ax.set_xlabel("chunks")
        ax.set_ylabel(unit)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path.relative_to(BENCH_DIR))


# -- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1,000,000 chunks only, 1 translation per peer, whole reads capped at 20 s")
    parser.add_argument("--sizes", help="comma-separated chunk counts (default 1M,3M,10M; quick: 1M)")
    parser.add_argument("--reps", type=int, default=3, help="translations of chunk_iter and lindi-core per size (default 3)")
    parser.add_argument("--peer-reps", type=int, help="translations of each peer per size (default --reps; quick: 1)")
    parser.add_argument("--translate-cap", type=float, default=900.0, help="seconds one translation may take")
    parser.add_argument("--open-cap", type=float, default=120.0, help="seconds one open (+ small read) may take")
    parser.add_argument("--memory-cap", type=float, default=6000.0, metavar="MB",
                        help="resident memory past which a child stops itself, recorded as a failure (default "
                             "6000; 0: none)")
    parser.add_argument("--read-cap", type=float, help="seconds one whole read may take (default 120; quick: 20)")
    parser.add_argument("--read-reps", type=int, default=5,
                        help="whole reads per tool, interleaved; the median counts (default 5)")
    parser.add_argument("--whole-read-at", type=int, default=WHOLE_READ_SIZE, metavar="N",
                        help=f"the size whose dataset is read whole (default {WHOLE_READ_SIZE:,}; 0: none)")
    bench_common.add_out_and_commit_options(parser)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(QUICK_SIZES if args.quick else FULL_SIZES)
    args.peer_reps = min(args.reps, args.peer_reps or (1 if args.quick else args.reps))
    args.read_cap = args.read_cap or (20.0 if args.quick else 120.0)
    default_name = "scale-quick" if args.quick else "scale"
    name = default_name if not args.sizes else "scale-" + "-".join(str(s) for s in sizes)
    out_path = args.out or RESULTS_DIR / f"{name}.json"

    core_env, revision = bench_common.lindi_core_under_test(args.commit)
    load_at_start = os.getloadavg()
    for n in sizes:  # before the server starts: h5py writes and walks these in this process
        chunk_span(make_input(n))
    pythons, setup_errors = peers.pythons_for(list(TRANSLATE_TOOLS) + ["raw-get"], VENV)

    from lindi_core.testing.range_server import RangeServer

    results: dict[str, dict] = {}
    with RangeServer(DATA_DIR) as server:
        for n in sizes:
            results[str(n)] = measure_size(n, server, pythons, setup_errors, args, core_env)

    result = {
        **bench_common.result_header("scale", "scale_bench.py", argv),
        "config": {"sizes": sizes, "reps": args.reps, "peer_reps": args.peer_reps, "chunk_elements": CHUNK_ELEMENTS,
                   "dataset": f"int64, shape (N*{CHUNK_ELEMENTS},), chunks ({CHUNK_ELEMENTS},), values arange, "
                              "uncompressed, h5py default file settings (v1 B-tree index)",
                   "open_latency_seconds": OPEN_LATENCY, "read_latency_seconds": READ_LATENCY,
                   "memory_cap_mb": args.memory_cap,
                   "whole_read_size": args.whole_read_at, "whole_read_reps": args.read_reps, "caps_seconds": {"translate": args.translate_cap,
                                                                        "open": args.open_cap, "whole_read": args.read_cap},
                   "bytes_per_chunk": "reference output bytes with each binary chunk table counted at its decoded "
                                      "size (header + fixed-size entries, uncompressed, not base64), / chunks"},
        "machine": bench_common.machine_facts_and_load(load_at_start),
        "lindi_core_revision": revision,
        "environments": {"lindi-core (machine Python)": peers.versions(
            sys.executable, ["lindi-core", "h5py", "numpy", "zarr", "aiohttp"]),
            **peers.venv_versions([t for t in VENV if t not in setup_errors], VENV)},
        "sizes": results,
    }
    result["targets"] = evaluate_targets(results)
    plot = write_growth_plot(result, RESULTS_DIR / f"{name.replace('scale', 'scale-growth', 1)}.png")
    if plot:
        result["growth_plot"] = plot
    bench_common.write_results(result, out_path, args.commit, revision, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
