"""Hostile HDF5 files given to translate: a seeded mutator of small valid files, and a runner.

An HDF5 file handed to ``lindi_core.translate`` may be corrupt or crafted. Whatever it holds,
translating it (locally, or over HTTP where :mod:`lindi_core.hdf5.metadata` parses its
metadata ahead of libhdf5) may only end in a reference file system, which then reads back as
data or a :class:`lindi_core.errors.LindiError`, or in a ``LindiError`` itself; never a built-in
exception, never memory or time out of proportion to the file.

Mutations flip bits, overwrite 1-, 2-, 4- and 8-byte fields with hostile values (huge, all ones,
the file's own size, addresses just past its end) and truncate, biased towards the metadata
(superblock, object headers, B-tree nodes, heaps): the bytes of a dataset's data mostly make a
valid file with other values. Metadata is what is left of a file once the byte ranges of its
datasets' storage (chunks, contiguous data) are taken away.

libhdf5 itself may crash (a segmentation fault) on some corrupt files. Cases therefore run in a
child process (:func:`run_hostile_hdf5`), which is restarted after a crash; crashes are counted
apart from escapes, with the seed that reproduces each. The child's address space is limited,
so an allocation of gigabytes fails (as an escape, ``MemoryError``, or a crash) rather than
exhausting the machine, and its peak resident memory (``VmHWM``) is reported.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from typing import Any

import h5py
import numpy as np

# -- seeds -------------------------------------------------------------------------------------


def _fill_varied(f: h5py.File) -> None:
    """Most kinds of object and storage h5py writes, kept small so that metadata dominates."""
    f.attrs["title"] = "hostile hdf5 seed"
    f.attrs["numbers"] = np.arange(4, dtype="<i4")
    f.attrs["vlen"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
    f.attrs.create("vlen_ints", data=np.array([np.arange(2), np.arange(3)], dtype=object),
                   dtype=h5py.vlen_dtype("<i2"))
    g = f.create_group("g")
    g.create_dataset("gzip", data=np.arange(120, dtype="<f8").reshape(12, 10), chunks=(4, 5),
                     compression="gzip", shuffle=True, fletcher32=True)
    g.create_dataset("contiguous", data=np.arange(40, dtype="<i2"))
    _compact(g, "compact", np.arange(6, dtype="<i4"))
    g.create_dataset("strings", data=np.array(["x", "yy", "zzz"], dtype=h5py.string_dtype()))
    g.create_dataset("fixed", data=np.array([b"ab", b"cd"], dtype="S2"))
    g.create_dataset("scalar", data=np.float32(3.5))
    g.create_dataset("compound", data=np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]))
    g.create_dataset("ragged", data=np.array([np.arange(2), np.arange(3)], dtype=object),
                     dtype=h5py.vlen_dtype("<i4"))
    g.create_dataset("chunked", data=np.arange(50, dtype="<u1"), chunks=(10,), maxshape=(None,))
    g.create_dataset("empty", shape=(0,), dtype="<i4")
    g["contiguous"].attrs["unit"] = "mV"
    f["soft"] = h5py.SoftLink("/g/contiguous")
    f["hard"] = g["strings"]
    f["external"] = h5py.ExternalLink("other.h5", "/x")
    refs = f.create_dataset("refs", shape=(2,), dtype=h5py.ref_dtype)
    refs[0] = g.ref
    refs[1] = g["contiguous"].ref
    f.attrs["a_ref"] = g.ref
    f["named_type"] = np.dtype("<i8")


def _compact(group: h5py.Group, name: str, data: np.ndarray) -> None:
    """A dataset with compact layout (its data inside its object header)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple(data.shape)
    dsid = h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(data.dtype), space, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)


def _fill_nested(f: h5py.File) -> None:
    """Deeper groups with many small members: more B-tree nodes, heaps and links per byte."""
    for i in range(3):
        g = f.create_group(f"level{i}/sub{i}")
        for j in range(6):
            d = g.create_dataset(f"d{j}", data=np.arange(j + 2, dtype="<i8") * i, chunks=(2,),
                                 compression="gzip" if j % 2 else None)
            d.attrs["j"] = j
        g.attrs["names"] = np.array([f"n{k}" for k in range(4)], dtype=h5py.string_dtype())


def make_seed_files(directory: str) -> list[str]:
    """Write the seed files into ``directory``; their paths."""
    specs = [
        ("varied_default.h5", {}, _fill_varied),
        ("varied_latest.h5", {"libver": "latest", "track_order": True}, _fill_varied),
        ("nested_default.h5", {"track_order": True}, _fill_nested),
        ("nested_latest.h5", {"libver": "latest"}, _fill_nested),
    ]
    paths = []
    for name, options, fill in specs:
        path = os.path.join(directory, name)
        with h5py.File(path, "w", **options) as f:
            fill(f)
        paths.append(path)
    return paths


def make_seeds(directory: str) -> list[bytes]:
    """The seed files' bytes (written into ``directory`` on the way)."""
    seeds = []
    for path in make_seed_files(directory):
        with open(path, "rb") as f:
            seeds.append(f.read())
    return seeds


# -- where the metadata is ---------------------------------------------------------------------
_DATA_RANGES: dict[str, list[tuple[int, int]]] = {}


def data_ranges(seed: bytes) -> list[tuple[int, int]]:
    """(start, end) of every dataset's stored data in ``seed`` (chunks and contiguous storage)."""
    digest = hashlib.sha256(seed).hexdigest()
    if digest in _DATA_RANGES:
        return _DATA_RANGES[digest]
    ranges: list[tuple[int, int]] = []

    def visit(_name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        dsid = obj.id
        layout = dsid.get_create_plist().get_layout()
        if layout == h5py.h5d.CONTIGUOUS:
            offset = dsid.get_offset()
            if offset is not None:
                ranges.append((offset, offset + dsid.get_storage_size()))
        elif layout == h5py.h5d.CHUNKED:
            for i in range(dsid.get_num_chunks()):
                info = dsid.get_chunk_info(i)
                ranges.append((info.byte_offset, info.byte_offset + info.size))

    with h5py.File(io.BytesIO(seed), "r") as f:
        f.visititems(visit)
    _DATA_RANGES[digest] = sorted(ranges)
    return _DATA_RANGES[digest]


def _metadata_position(rng: random.Random, seed: bytes) -> int:
    """A byte position, nine times in ten outside every dataset's data."""
    for _ in range(50):
        at = rng.randrange(len(seed))
        if rng.random() < 0.1 or not any(start <= at < end for start, end in data_ranges(seed)):
            return at
    return rng.randrange(len(seed))


# -- mutations ---------------------------------------------------------------------------------
def _hostile_value(rng: random.Random, size: int, file_size: int) -> int:
    top = (1 << (8 * size)) - 1
    choices = [0, 1, top, top - 1, top >> 1, (top >> 1) + 1, rng.randrange(top + 1),
               min(file_size, top), min(file_size + 1, top), min(file_size - 1, top),
               min(file_size * 4096, top), min(1 << 31, top), min(1 << 32, top), 2, 3, 8, 0x80]
    return rng.choice(choices)


def _overwrite_field(rng: random.Random, data: bytearray, seed: bytes) -> None:
    size = rng.choice([1, 2, 4, 8, 8, 8])
    at = _metadata_position(rng, seed)
    if rng.random() < 0.5:
        at -= at % size  # fields of the format are mostly aligned within their structure
    at = min(at, max(0, len(data) - size))
    data[at : at + size] = _hostile_value(rng, size, len(seed)).to_bytes(size, "little")[: len(data) - at]


def _flip_bits(rng: random.Random, data: bytearray, seed: bytes) -> None:
    for _ in range(rng.randint(1, 4)):
        at = _metadata_position(rng, seed)
        if at < len(data):
            data[at] ^= 1 << rng.randrange(8)


def _random_bytes(rng: random.Random, data: bytearray, seed: bytes) -> None:
    at = _metadata_position(rng, seed)
    length = rng.randint(1, 16)
    data[at : at + length] = bytes(rng.randrange(256) for _ in range(length))[: max(0, len(data) - at)]


def _zero_run(rng: random.Random, data: bytearray, seed: bytes) -> None:
    at = _metadata_position(rng, seed)
    length = rng.randint(1, 64)
    fill = rng.choice([0x00, 0xFF])
    data[at : at + length] = bytes([fill]) * len(data[at : at + length])


def _copy_run(rng: random.Random, data: bytearray, seed: bytes) -> None:
    """A structure's bytes over another's (a pointer then names the wrong kind of structure)."""
    source, target = _metadata_position(rng, seed), _metadata_position(rng, seed)
    length = rng.randint(4, 48)
    piece = bytes(data[source : source + length])
    data[target : target + len(piece)] = piece[: max(0, len(data) - target)]


MUTATIONS = [_overwrite_field, _overwrite_field, _overwrite_field, _flip_bits, _flip_bits,
             _random_bytes, _zero_run, _copy_run]


def hostile_hdf5_case(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One hostile HDF5 file: a seed with one to four mutations, sometimes truncated."""
    seed = rng.choice(seeds)
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        rng.choice(MUTATIONS)(rng, data, seed)
    if rng.random() < 0.08:
        del data[_metadata_position(rng, seed):]
    return bytes(data)


# -- exercising one case -----------------------------------------------------------------------
def exercise_translate(path: str, *, in_memory: bool = False) -> None:
    """Translate ``path`` (a local path or a URL) to a reference file, then open that and read
    all of it as a user would; raises what a user would see. ``in_memory``: through
    ``LindiH5pyFile.from_hdf5_file`` instead (no file written)."""
    import lindi_core
    from tests.hostile import read_everything

    if in_memory:
        with lindi_core.LindiH5pyFile.from_hdf5_file(path, allow_local=True) as f:
            read_everything(f)
        return
    out = os.path.join(tempfile.gettempdir(), f"hostile-hdf5-{os.getpid()}.lindi.json")
    try:
        lindi_core.translate_to_file(path, out, progress=False)
        with lindi_core.LindiH5pyFile.from_lindi_file(out, allow_local=True) as f:
            read_everything(f)
    finally:
        if os.path.exists(out):
            os.unlink(out)


def exercise_metadata_parser(data: bytes) -> int:
    """Follow every metadata pointer of ``data`` as the remote read-ahead does, all bytes at hand
    (the read-ahead only runs over slow links; this reaches its parser on every case).
    Returns how many structures were followed."""
    from lindi_core.hdf5 import metadata as md

    def read(address: int, length: int) -> bytes:
        if address < 0 or length < 0 or address + length > len(data):
            raise md.NeedBytes(address, length)
        return data[address : address + length]

    pending = md.superblock_pointers(data[:4096])
    seen: set[tuple[str, int]] = set()
    while pending and len(seen) < 10_000:
        pointer = pending.pop()
        if (pointer.kind, pointer.address) in seen:
            continue
        seen.add((pointer.kind, pointer.address))
        try:
            pending += [p for p in md.pointers(pointer, read) if 0 < p.address < len(data)]
        except md.NeedBytes:
            continue
    return len(seen)


def acceptable(error: BaseException) -> bool:
    """Whether ``error`` is what a user may see for a hostile HDF5 file."""
    from tests.hostile import acceptable as acceptable_for_reference_files

    return acceptable_for_reference_files(error)


# -- the runner --------------------------------------------------------------------------------
def _peak_mb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def _escape_site(error: BaseException) -> str:
    """file:line of the innermost frame of lindi_core the error passed through (what to fix)."""
    import traceback

    site = "?"
    for frame in traceback.extract_tb(error.__traceback__):
        if "lindi_core" in frame.filename:
            site = f"{frame.filename.rsplit('lindi_core', 1)[1].lstrip('/')}:{frame.lineno}"
    return site


def _worker(config: dict) -> None:
    """The child: run cases ``first..last``, one JSON line per case on stdout."""
    import resource
    import traceback
    import warnings

    from lindi_core.testing.range_server import RangeServer

    warnings.simplefilter("ignore")
    limit = config["memory_limit_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    work = config["work"]
    seeds = [open(p, "rb").read() for p in config["seed_paths"]]
    server = None
    if config["http_every"]:
        gc.collect()
        # Latency above the read-ahead threshold, so that the metadata crawler runs too.
        server = RangeServer(work, latency=0.006)
        server.start()
    try:
        for seed in range(config["first"], config["last"]):
            print(json.dumps({"start": seed}), flush=True)
            rng = random.Random(seed)
            data = hostile_hdf5_case(rng, seeds)
            name = f"case-{os.getpid()}.h5"
            path = os.path.join(work, name)
            with open(path, "wb") as out:
                out.write(data)
            over_http = bool(config["http_every"]) and seed % config["http_every"] == 0
            started = time.perf_counter()
            outcome, detail = "ok", None
            try:
                exercise_metadata_parser(data)
                if over_http:
                    gc.collect()
                exercise_translate(server.url_for(name) if over_http else path, in_memory=seed % 3 == 1)
            except BaseException as exc:  # noqa: BLE001 - every escape is counted, by kind
                if acceptable(exc):
                    outcome = "error"
                else:
                    outcome, detail = "escape", f"{type(exc).__module__}.{type(exc).__qualname__} at " \
                                                f"{_escape_site(exc)}: {str(exc)[:300]}\n{traceback.format_exc()[-2000:]}"
            seconds = time.perf_counter() - started
            print(json.dumps({"seed": seed, "outcome": outcome, "detail": detail, "http": over_http,
                              "seconds": seconds, "peak_mb": _peak_mb()}), flush=True)
    finally:
        if server is not None:
            server.stop()


def run_hostile_hdf5(cases: int, *, first_seed: int = 0, http_every: int = 0, case_timeout: float = 30.0,
                     memory_limit_mb: int = 3072, work_dir: str | None = None) -> dict:
    """Run ``cases`` hostile HDF5 files (seeds ``first_seed`` on) through translate and a read
    of the result, in child processes; every ``http_every``-th case (0: none) is translated over
    HTTP from a loopback server. Returns the counts::

        {"cases": n, "ok": n, "errors": n,  # translated and read / a LindiError
         "escapes": {kind: {"count": n, "seed": first seed, "detail": message and traceback}},
         "crashes": [{"seed": s, "returncode": r}],  # the child died (libhdf5 crashed)
         "hangs": [seed, ...],  # a case that took longer than case_timeout (killed)
         "slowest_seconds": s, "slowest_seed": seed, "peak_mb": peak resident memory of a child}

    ``memory_limit_mb`` caps the child's address space (so a huge allocation fails there)."""
    own_dir = work_dir is None
    work = work_dir or tempfile.mkdtemp(prefix="hostile-hdf5-")
    seed_paths = make_seed_files(work)
    counts: dict[str, Any] = {"cases": 0, "ok": 0, "errors": 0, "escapes": {}, "crashes": [], "hangs": [],
                              "slowest_seconds": 0.0, "slowest_seed": None, "peak_mb": 0, "http_cases": 0}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    next_seed, last = first_seed, first_seed + cases
    try:
        while next_seed < last:
            config = {"first": next_seed, "last": last, "work": work, "seed_paths": seed_paths,
                      "http_every": http_every, "memory_limit_mb": memory_limit_mb}
            child = subprocess.Popen([sys.executable, "-c", "import json, sys; from tests.hostile_hdf5 import _worker; "
                                      "_worker(json.loads(sys.argv[1]))", json.dumps(config)],
                                     cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            running: int | None = None
            try:
                while True:
                    ready, _, _ = select.select([child.stdout], [], [], case_timeout + 30.0)
                    if not ready:  # a case that does not end (or a child that hangs starting)
                        child.kill()
                        child.wait()
                        seed = running if running is not None else next_seed
                        counts["hangs"].append(seed)
                        counts["cases"] += 1
                        next_seed = seed + 1
                        break
                    line = child.stdout.readline()
                    if not line:  # the child ended: done, or crashed in a case
                        code = child.wait()
                        if running is not None:
                            counts["crashes"].append({"seed": running, "returncode": code})
                            counts["cases"] += 1
                            next_seed = running + 1
                        elif code != 0:
                            raise RuntimeError(f"hostile HDF5 worker failed to start (exit {code})")
                        else:
                            next_seed = last
                        break
                    report = json.loads(line)
                    if "start" in report:
                        running = report["start"]
                        continue
                    running = None
                    _count(counts, report)
                    next_seed = report["seed"] + 1
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    finally:
        if own_dir:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return counts


def _count(counts: dict, report: dict) -> None:
    counts["cases"] += 1
    counts["http_cases"] += report["http"]
    counts["peak_mb"] = max(counts["peak_mb"], report["peak_mb"])
    if report["seconds"] > counts["slowest_seconds"]:
        counts["slowest_seconds"], counts["slowest_seed"] = report["seconds"], report["seed"]
    if report["outcome"] == "escape":
        kind = report["detail"].split(": ", 1)[0]
        entry = counts["escapes"].setdefault(kind, {"count": 0, "seed": report["seed"], "detail": report["detail"]})
        entry["count"] += 1
    else:
        counts["ok" if report["outcome"] == "ok" else "errors"] += 1

