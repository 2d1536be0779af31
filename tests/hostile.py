"""Hostile reference files: a seeded mutator of valid documents and a reader that touches all of one.

A reference file fetched from the internet is untrusted input. Whatever it holds, reading it may
only end in data or in a :class:`lindi_core.errors.LindiError` (or the exception h5py itself
raises for the same request, where h5py code depends on it), and it may not take memory or time
out of proportion to its own size. The tests run a few hundred cases; ``benchmarks/reliability.py``
runs many more and records the figures in RELIABILITY.md.

Mutations act on the parsed document (values replaced by hostile ones, keys renamed to
non-canonical forms, entries dropped or duplicated) and on its text (bytes flipped, cut short),
so that both the JSON parser and everything past it see bad input.
"""

from __future__ import annotations

import copy
import json
import random
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import h5py
import numpy as np

import lindi_core
from lindi_core.errors import LindiError

# Values that have broken readers of similar formats: wrong types, huge and negative numbers,
# non-finite floats, deep nesting, empty containers, strings where numbers belong.
HOSTILE_SCALARS: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 2**64, 10**30, 1e308, -1e308, 0.5,
    float("nan"), float("inf"), "", "0", "-1", "x", "|V2000000000", "<f16", "<U-1", "|O", "S0", "<i8",
    "{{u}}", "../../etc/passwd", "file:///etc/passwd", "http://", "\u0000", "a" * 300,
    [], {}, [0], [-1], [2**62], [1, 2, 3], [[[[[]]]]], {"id": "zlib"}, {"id": "nope"},
    {"id": "zlib", "level": "x"}, {"id": "blosc", "cname": 5}, [{"id": "vlen-utf8"}],
]


def seed_h5(path: str) -> None:
    """A small HDF5 file with most kinds of object the translator produces."""
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["title"] = "hostile seed"
        f.attrs["numbers"] = np.arange(5, dtype="<i4")
        f.attrs["vlen"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
        g = f.create_group("g")
        g.create_dataset("chunked", data=np.arange(400, dtype="<f8").reshape(20, 20), chunks=(5, 5),
                         compression="gzip", shuffle=True)
        g.create_dataset("plain", data=np.arange(3000, dtype="<i2"))
        g.create_dataset("strings", data=np.array(["x", "yy", "zzz"], dtype=h5py.string_dtype()))
        g.create_dataset("fixed", data=np.array([b"ab", b"cd"], dtype="S2"))
        g.create_dataset("scalar", data=np.float32(3.5))
        g.create_dataset("empty", shape=(0,), dtype="<i4")
        g.create_dataset("compound", data=np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]))
        g.create_dataset("ragged", data=np.array([np.arange(2), np.arange(3)], dtype=object),
                         dtype=h5py.vlen_dtype("<i4"))
        g.create_dataset("lzf", data=np.arange(600, dtype="<i4"), chunks=(100,), compression="lzf")
        g.create_dataset("big", data=np.arange(6000, dtype="<i8"), chunks=(1000,))
        f["soft"] = h5py.SoftLink("/g/plain")
        f["dangling"] = h5py.SoftLink("/nowhere")
        refs = f.create_dataset("refs", shape=(2,), dtype=h5py.ref_dtype)
        refs[0] = g.ref
        refs[1] = g["plain"].ref
        g["plain"].attrs["unit"] = "mV"


def seed_document(h5_path: str, **translate_options: Any) -> dict:
    """The reference file of ``h5_path`` as a JSON document, refs pointing at the file by path
    (translated with ``translate_options``)."""
    rfs = lindi_core.translate(h5_path, progress=False, **translate_options)
    return json.loads(lindi_core.format.jsonio.dumps(rfs))


# -- mutations ---------------------------------------------------------------------------------
def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indices) to a value inside ``node``."""
    found = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, prefix + (i,))
    return found


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def _set(node: Any, path: tuple, value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def _metadata_paths(doc: dict) -> list[tuple]:
    """Paths inside the parsed metadata values (.zarray, .zattrs, .zgroup) of the refs."""
    found = []
    for key, value in doc["refs"].items():
        if isinstance(value, dict):
            found += [("refs", key) + p for p in _paths(value)[1:]]
    return found


def _replace_value(rng: random.Random, doc: dict) -> None:
    paths = _metadata_paths(doc) if rng.random() < 0.7 else _paths(doc)[1:]
    if not paths:
        return
    path = rng.choice(paths)
    _set(doc, path, copy.deepcopy(rng.choice(HOSTILE_SCALARS)))


def _mutate_chunk_ref(rng: random.Random, doc: dict) -> None:
    keys = [k for k, v in doc["refs"].items() if isinstance(v, list)]
    if not keys:
        return
    key = rng.choice(keys)
    ref = list(doc["refs"][key])
    slot = rng.randrange(len(ref) + 1)
    value = rng.choice([-1, 0, 1, 7, 2**40, 2**63, "x", None, "/etc/passwd", "file:///etc/hostname",
                        "./.trash/x", "{{missing}}", 1.5])
    if slot < len(ref):
        ref[slot] = value
    else:
        ref.append(value)
    doc["refs"][key] = ref


def _rename_key(rng: random.Random, doc: dict) -> None:
    key = rng.choice(list(doc["refs"]))
    parent, _, name = key.rpartition("/")
    new_name = rng.choice([
        "0" + name, name + ".0", name.replace(".", "/"), "-1", "99999999999", " " + name, name.upper(),
        "..", ".", "", "+0", "1e3", name + "/", "\u00e9",
    ])
    new_key = f"{parent}/{new_name}" if parent else new_name
    doc["refs"][new_key] = doc["refs"].pop(key)


def _inline_chunk(rng: random.Random, doc: dict) -> None:
    """An array's first chunk replaced by hostile inline bytes (bombs, garbage, huge headers)."""
    arrays = [k[: -len("/.zarray")] for k in doc["refs"] if k.endswith("/.zarray")]
    if not arrays:
        return
    array = rng.choice(arrays)
    zarray = doc["refs"][array + "/.zarray"]
    rank = len(zarray.get("shape") or []) if isinstance(zarray, dict) else 1
    key = array + "/" + (".".join(["0"] * rank) if rank else "0")
    import base64
    import zlib

    payload = rng.choice([
        b"", b"\x00", b"\xff" * 12, (250_000_000).to_bytes(4, "little") + b"\x00" * 8,
        zlib.compress(bytes(20_000_000)), b"\x78\x9c" + bytes(100), bytes(range(256)) * 4,
    ])
    doc["refs"][key] = "base64:" + base64.b64encode(payload).decode()


def _drop_or_duplicate(rng: random.Random, doc: dict) -> None:
    key = rng.choice(list(doc["refs"]))
    if rng.random() < 0.5:
        del doc["refs"][key]
    else:
        doc["refs"][key + "/" + rng.choice(["0", ".zarray", ".zgroup", ".zattrs"])] = copy.deepcopy(doc["refs"][key])


def _top_level(rng: random.Random, doc: dict) -> None:
    choice = rng.randrange(4)
    if choice == 0:
        doc["version"] = rng.choice(HOSTILE_SCALARS)
    elif choice == 1:
        doc["templates"] = rng.choice([{"u": "x" * 10_000}, {"u": "{{u}}"}, [], "x", {"u": 5}])
    elif choice == 2:
        doc["refs"] = rng.choice([[], "x", None, {}])
    else:
        doc[rng.choice(["gen", "generationMetadata", "extra"])] = rng.choice(HOSTILE_SCALARS)


STRUCTURED_MUTATIONS: list[Callable[[random.Random, dict], None]] = [
    _replace_value, _replace_value, _replace_value, _mutate_chunk_ref, _rename_key, _inline_chunk,
    _drop_or_duplicate, _top_level,
]


def mutate_text(rng: random.Random, text: bytes) -> bytes:
    """Bytes flipped, inserted or cut off."""
    data = bytearray(text)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(3)
        position = rng.randrange(len(data))
        if choice == 0:
            data[position] = rng.randrange(256)
        elif choice == 1:
            data[position:position] = rng.choice([b"{", b"]", b"\"", b"\\", b"0", b",", b"\xff"])
        else:
            del data[position:]
            if not data:
                break
    return bytes(data)


def hostile_case(rng: random.Random, seed_doc: dict) -> dict | bytes:
    """One hostile document: a parsed one (mostly) or raw text."""
    doc = copy.deepcopy(seed_doc)
    for _ in range(rng.randint(1, 3)):
        if not isinstance(doc.get("refs"), dict) or not doc["refs"]:
            break  # a mutation replaced the refs themselves: nothing left to mutate inside
        rng.choice(STRUCTURED_MUTATIONS)(rng, doc)
    if rng.random() < 0.15:
        return mutate_text(rng, json.dumps(doc).encode())
    return doc


# -- reading everything ------------------------------------------------------------------------
def read_everything(f: lindi_core.LindiH5pyFile, *, max_elements: int = 100_000) -> int:
    """Touch every object of ``f`` as a user would (listing, attributes, dtypes, values);
    returns how many values were read. Large datasets are read in part."""
    seen = 0

    def visit(name: str, obj: Any) -> None:
        nonlocal seen
        for key in obj.attrs:
            seen += obj.attrs[key] is not None
        if isinstance(obj, h5py.Dataset):
            properties = (obj.shape, obj.dtype, obj.chunks, obj.compression, obj.fillvalue)
            seen += len(properties)
            if obj.shape is None:
                return
            if obj.ndim == 0:
                obj[()]
            elif obj.size <= max_elements:
                obj[...]
            else:
                obj[(slice(0, 2),) * obj.ndim]
            seen += 1

    for key in f.attrs:
        seen += f.attrs[key] is not None
    f.visititems(visit)
    return seen


def exercise(case: dict | bytes, tmp_dir: str) -> None:
    """Open ``case`` as an untrusted reference file and read all of it (raises what a user sees)."""
    import os

    path = os.path.join(tmp_dir, "hostile.lindi.json")
    with open(path, "wb") as out:
        out.write(case if isinstance(case, bytes) else json.dumps(case).encode())
    with lindi_core.LindiH5pyFile.from_lindi_file(path, allow_local=True) as f:
        read_everything(f)


def exercise_through_zarr(case: dict | bytes, tmp_dir: str) -> None:
    """Open ``case`` as a zarr-python store and read every array (a tool builder's road)."""
    import os

    import zarr

    path = os.path.join(tmp_dir, "hostile.lindi.json")
    with open(path, "wb") as out:
        out.write(case if isinstance(case, bytes) else json.dumps(case).encode())
    store = lindi_core.ReferenceStore.from_file(path)
    try:
        def visit(group: zarr.Group) -> None:
            for _, array in group.arrays():
                array[...] if array.size <= 100_000 else array[(slice(0, 2),) * array.ndim]
            for _, child in group.groups():
                visit(child)

        visit(zarr.open_group(store, mode="r", zarr_format=2))
    finally:
        store.close()


def acceptable_through_zarr(error: BaseException) -> bool:
    """On zarr's road also zarr's own answer for a store without the node asked for."""
    import zarr.errors

    return isinstance(error, (LindiError, zarr.errors.NodeNotFoundError))


def acceptable(error: BaseException) -> bool:
    """Whether an error is what a user may see for bad input: a lindi-core error, or the
    KeyError h5py raises for a name that does not resolve (a dangling soft link)."""
    if isinstance(error, LindiError):
        return True
    return type(error) is KeyError and "nowhere" in str(error)


def assert_no_escapes(cases: Iterable[tuple[int, dict | bytes]], tmp_dir: str,
                      exercise: Callable[[dict | bytes, str], None] = exercise,
                      acceptable: Callable[[BaseException], bool] = acceptable) -> None:
    """Run ``exercise`` on each (seed, case) and fail listing the exceptions that escaped it and
    ``acceptable`` does not accept (one line per kind and place raised, with the first seed)."""
    escapes: dict[tuple, tuple[int, str]] = {}
    for seed, case in cases:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exercise(case, tmp_dir)
        except Exception as error:  # noqa: BLE001 - every kind is sorted below
            if acceptable(error):
                continue
            frame = traceback.extract_tb(error.__traceback__)[-1]
            kind = (type(error).__name__, frame.filename.rsplit("/", 1)[-1], frame.lineno)
            escapes.setdefault(kind, (seed, str(error)[:200]))
    assert not escapes, "built-in exceptions escaped:\n" + "\n".join(
        f"{kind}: seed {seed}: {text}" for kind, (seed, text) in escapes.items())

