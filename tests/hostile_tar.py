"""Hostile ``.lindi.tar`` containers: a seeded mutator of a valid container, and a runner.

A container fetched from the internet is untrusted input. Whatever it holds, opening it with
``LindiH5pyFile.from_lindi_file`` (a path or a URL) and reading all of it may only end in data
or a :class:`lindi_core.errors.LindiError` (``TarFormatError``, ``ReferenceFormatError``, ...),
in memory and time bounded by the container's size.

Mutations aim at each layer a reader parses: the entry record (its JSON, its numbers), the
index (member records with hostile names, offsets and sizes, or its text), the USTAR headers
(size and checksum fields, flipped bytes), the embedded ``lindi.json`` (the mutations of
:mod:`tests.hostile`), and the archive cut short.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from lindi_core.format.lindi_tar import BLOCK, ENTRY_SIZE, INDEX_NAME, REFERENCE_NAME, TarMember, decode_entry
from tests.hostile import HOSTILE_SCALARS, acceptable, hostile_case, mutate_text, read_everything


def seed_ints() -> np.ndarray:
    """The values of the seed's chunked dataset (chunks large enough to be stored as members)."""
    return np.random.default_rng(7).integers(0, 1 << 30, size=(200, 300), dtype="<i4")


def make_seed_tar(path: str) -> bytes:
    """A small container with chunks stored as members, edited twice (so that it also holds
    free space under ``.trash/``); its bytes."""
    import h5py

    import lindi_core

    with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="w") as f:
        f.attrs["title"] = "hostile tar seed"
        f.create_dataset("g/ints", data=seed_ints(), chunks=(100, 100), compression="gzip")
        f.create_dataset("g/floats", data=np.linspace(0, 1, 50), chunks=(20,))
        f.create_dataset("strings", data=np.array(["a", "bb", "ccc"], dtype=object), dtype=h5py.string_dtype())
        f["g/ints"].attrs["unit"] = "mV"
    with lindi_core.LindiH5pyFile.from_lindi_file(path, mode="r+") as f:
        f["g/floats"][0:5] = -1.0
        f.create_group("added").attrs["n"] = 3
    with open(path, "rb") as f:
        return f.read()


# -- mutations ---------------------------------------------------------------------------------
def _layout(data: bytes) -> tuple[TarMember, dict[str, Any]]:
    index = decode_entry(data[BLOCK : BLOCK + ENTRY_SIZE])
    return index, json.loads(data[index.data_offset : index.end])


def _write_padded(data: bytearray, member: TarMember, text: bytes) -> None:
    """``text`` into ``member``'s region, padded with spaces (cut when it does not fit)."""
    data[member.data_offset : member.end] = text[: member.size].ljust(member.size, b" ")


def _mutate_entry(rng: random.Random, data: bytearray) -> None:
    entry = json.loads(data[BLOCK : BLOCK + ENTRY_SIZE])
    record = entry["index"]
    if rng.random() < 0.3:
        text = mutate_text(rng, json.dumps(entry).encode())
    else:
        record[rng.choice(["n", "o", "d", "s"])] = rng.choice(HOSTILE_SCALARS)
        text = json.dumps(entry).encode()
    data[BLOCK : BLOCK + ENTRY_SIZE] = text[:ENTRY_SIZE].ljust(ENTRY_SIZE, b" ")


def _mutate_index(rng: random.Random, data: bytearray) -> None:
    index, listing = _layout(bytes(data))
    files = listing["files"]
    choice = rng.random()
    if choice < 0.6:
        record = rng.choice(files)
        field = rng.choice(["n", "o", "d", "s"])
        values = HOSTILE_SCALARS + [len(data), len(data) + BLOCK, 2**40, record.get("o", 0) + BLOCK,
                                    INDEX_NAME, REFERENCE_NAME, ".trash/x", "blobs/g/ints/0.0", "../x"]
        record[field] = rng.choice(values)
        if field == "o" and isinstance(record["o"], int) and rng.random() < 0.5:
            record["d"] = record["o"] + BLOCK  # keep the pair consistent: past the first check
    elif choice < 0.75:
        files.append(dict(rng.choice(files)))  # a member listed twice
    elif choice < 0.85:
        files.remove(rng.choice(files))
    else:
        _write_padded(data, index, mutate_text(rng, json.dumps(listing).encode()))
        return
    _write_padded(data, index, json.dumps(listing).encode())


def _mutate_header(rng: random.Random, data: bytearray) -> None:
    _index, listing = _layout(bytes(data))
    member = rng.choice(listing["files"])
    at = member["o"]
    choice = rng.random()
    if choice < 0.4:  # the size field, keeping the checksum right
        size = rng.choice([0, 1, 2**33 - 1, len(data), member["s"] + 1, member["s"] * 1000])
        data[at + 124 : at + 136] = b"%011o\0" % min(size, 8**11 - 1)
        header = data[at : at + BLOCK]
        checksum = sum(header[:148]) + 8 * 32 + sum(header[156:])
        data[at + 148 : at + 156] = b"%06o\0 " % checksum
    elif choice < 0.7:
        data[at + rng.randrange(BLOCK)] ^= 1 << rng.randrange(8)
    else:
        data[at + 148 : at + 156] = rng.choice([b"\0" * 8, b"99999999", b"        ", b"0000000\0"])


def _mutate_reference(rng: random.Random, data: bytearray) -> None:
    _index, listing = _layout(bytes(data))
    record = next(r for r in listing["files"] if r["n"] == REFERENCE_NAME)
    member = TarMember(record["n"], record["o"], record["s"])
    document = json.loads(data[member.data_offset : member.end])
    case = hostile_case(rng, document)
    _write_padded(data, member, case if isinstance(case, bytes) else json.dumps(case).encode())


def _flip_anywhere(rng: random.Random, data: bytearray) -> None:
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(min(len(data), 4 * 4096)) if rng.random() < 0.7 else rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)


MUTATIONS = [_mutate_entry, _mutate_index, _mutate_index, _mutate_header, _mutate_reference, _mutate_reference,
             _flip_anywhere]


def hostile_tar_case(rng: random.Random, seed: bytes) -> bytes:
    """One hostile container: the seed with one to three mutations, sometimes cut short."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 3)):
        try:
            rng.choice(MUTATIONS)(rng, data)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, StopIteration):
            _flip_anywhere(rng, data)  # an earlier mutation broke what this one parses: flip instead
    if rng.random() < 0.1:
        del data[rng.randrange(len(data)):]
    return bytes(data)


def exercise_tar(path_or_url: str) -> None:
    """Open a container as an untrusted one and read all of it (raises what a user sees)."""
    import lindi_core

    with lindi_core.LindiH5pyFile.from_lindi_file(path_or_url) as f:
        read_everything(f)


# -- the runner --------------------------------------------------------------------------------
def _worker(config: dict) -> dict:
    import gc
    import traceback
    import warnings

    from lindi_core.testing.range_server import RangeServer
    from tests.hostile_hdf5 import _escape_site, _peak_mb

    warnings.simplefilter("ignore")
    work = config["work"]
    seed_bytes = make_seed_tar(os.path.join(work, "seed.lindi.tar"))
    counts: dict[str, Any] = {"cases": 0, "ok": 0, "errors": 0, "escapes": {}, "http_cases": 0,
                              "slowest_seconds": 0.0, "slowest_seed": None}
    server = None
    if config["http_every"]:
        gc.collect()
        server = RangeServer(work)
        server.start()
    try:
        for seed in range(config["first"], config["first"] + config["cases"]):
            data = hostile_tar_case(random.Random(seed), seed_bytes)
            path = os.path.join(work, "case.lindi.tar")
            with open(path, "wb") as out:
                out.write(data)
            over_http = bool(config["http_every"]) and seed % config["http_every"] == 0
            started = time.perf_counter()
            try:
                exercise_tar(server.url_for("case.lindi.tar") if over_http else path)
                counts["ok"] += 1
            except Exception as exc:  # noqa: BLE001 - every escape is counted, by kind
                if acceptable(exc):
                    counts["errors"] += 1
                else:
                    kind = f"{type(exc).__module__}.{type(exc).__qualname__} at {_escape_site(exc)}"
                    entry = counts["escapes"].setdefault(kind, {"count": 0, "seed": seed,
                                                                "detail": traceback.format_exc()[-2500:]})
                    entry["count"] += 1
            seconds = time.perf_counter() - started
            counts["cases"] += 1
            counts["http_cases"] += over_http
            if seconds > counts["slowest_seconds"]:
                counts["slowest_seconds"], counts["slowest_seed"] = seconds, seed
    finally:
        if server is not None:
            server.stop()
    counts["peak_mb"] = _peak_mb()
    return counts


def run_hostile_tar(cases: int, *, first_seed: int = 0, http_every: int = 0, timeout: float = 600.0,
                    work_dir: str | None = None) -> dict:
    """Run ``cases`` hostile containers (seeds ``first_seed`` on), each opened and read whole, in
    a child process; every ``http_every``-th one (0: none) over HTTP from a loopback server.
    Returns ``{"cases", "ok", "errors", "escapes": {kind: {"count", "seed", "detail"}},
    "http_cases", "slowest_seconds", "slowest_seed", "peak_mb"}`` (peak: the child's VmHWM)."""
    own_dir = work_dir is None
    work = work_dir or tempfile.mkdtemp(prefix="hostile-tar-")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    config = {"cases": cases, "first": first_seed, "http_every": http_every, "work": work}
    program = ("import json, sys; from tests.hostile_tar import _worker; "
               "print(json.dumps(_worker(json.loads(sys.argv[1]))))")
    try:
        done = subprocess.run([sys.executable, "-c", program, json.dumps(config)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"hostile tar worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if own_dir:
            import shutil

            shutil.rmtree(work, ignore_errors=True)

