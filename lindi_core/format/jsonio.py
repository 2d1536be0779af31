"""Reading and writing ``.lindi.json`` files (see ``spec/lindi-json.md``).

The wire form is a JSON object ``{"version": 1, "templates": {...}, "refs": {...},
"generationMetadata": {...}}``. This module converts between it and
:class:`~lindi_core.format.refs.ReferenceFileSystem`. It does no I/O beyond the bytes it is
given or the local path it is told to write: fetching a reference file from a URL belongs to
``lindi_core.io``.

Writing streams the chunk tables straight to text, one ``"key": [url, offset, length]`` line
at a time, so a million chunk references never exist as a million Python lists.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import stat
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
import orjson

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import fastrefs, hdf5_facts, temporaries
from lindi_core.format.refs import (
    ZARR_METADATA_NAMES,
    ChunkRef,
    ChunkTable,
    ReferenceFileSystem,
    join_key,
    split_key,
)

FORMAT_VERSION = 1
BASE64_PREFIX = "base64:"
_TEMPLATE_PATTERN = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Inline bytes are written as plain text only when they are printable ASCII, so that a reader
# never has to guess an encoding; everything else is base64.
_PLAIN_TEXT = re.compile(rb"[\x20-\x7e\t\n\r]*")


# -- reading ----------------------------------------------------------------------------
def parse_json_bytes(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReferenceFormatError(f"reference file is not valid JSON: {exc}") from None


def from_json_dict(obj: Any) -> ReferenceFileSystem:
    """Build a reference file system from the parsed JSON of a reference file."""
    if not isinstance(obj, dict):
        raise ReferenceFormatError(f"reference file must be a JSON object, got {type(obj).__name__}")
    version = obj.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ReferenceFormatError(f"unsupported reference file version {version!r} (this library reads 1)")
    refs = obj.get("refs")
    if not isinstance(refs, dict):
        raise ReferenceFormatError("reference file has no 'refs' object")
    templates = obj.get("templates") or {}
    if not isinstance(templates, dict) or not all(isinstance(v, str) for v in templates.values()):
        raise ReferenceFormatError("'templates' must map names to strings")
    generation = obj.get("generationMetadata") or {}
    if not isinstance(generation, dict):
        raise ReferenceFormatError("'generationMetadata' must be a JSON object")

    rfs = ReferenceFileSystem(generation_metadata=generation)
    rfs.preferred_templates = dict(templates)
    # Chunk refs are gathered per parent path and stored a whole array at a time, after all
    # metadata is in (so every array's table exists): per-ref work stays a few dict operations.
    pending: dict[str, tuple[list[str], list[list]]] = {}
    facts_by_parent: dict[str, dict] = {}  # .zhdf5 values, merged into their .zattrs (§8)
    for key, value in refs.items():
        if type(value) is list:
            slash = key.rfind("/")
            parent, name = (key[:slash], key[slash + 1 :]) if slash >= 0 else ("", key)
            if not name or name[0] == ".":
                raise ReferenceFormatError(f"ref {key!r}: Zarr metadata must be a JSON object")
            group = pending.get(parent)
            if group is None:
                group = pending[parent] = ([], [])
            group[0].append(name)
            group[1].append(value)
            continue
        _check_key(key)
        parent, last = split_key(key)
        if last == hdf5_facts.HDF5_FACTS_NAME:
            facts = facts_by_parent[parent] = _metadata_value(key, value)
            zattrs_key = join_key(parent, ".zattrs")
            rfs.set_metadata(zattrs_key, hdf5_facts.merge_from_disk(rfs.metadata.get(zattrs_key), facts))
        elif last in ZARR_METADATA_NAMES:
            value = _metadata_value(key, value)
            if last == ".zattrs" and parent in facts_by_parent:  # .zhdf5 came first
                value = hdf5_facts.merge_from_disk(value, facts_by_parent[parent])
            rfs.set_metadata(key, value)
        elif isinstance(value, str):
            rfs.set_inline(key, decode_inline(key, value))
        else:
            raise ReferenceFormatError(f"ref {key!r}: unsupported value of type {type(value).__name__}")
    expanded: dict[str, str] = {}
    for parent, (names, values) in pending.items():
        if parent:
            _check_key(parent)
        _add_chunk_refs(rfs, parent, names, values, templates, expanded)
    return rfs


def _add_chunk_refs(rfs: ReferenceFileSystem, parent: str, names: list[str], values: list[list],
                    templates: dict[str, str], expanded: dict[str, str]) -> None:
    """Store the chunk refs of one array: vectorised into its table when every ref is a plain
    ``[url, offset, length]`` on the table's grid, one by one otherwise."""
    table = rfs.tables.get(parent)
    plain = table is not None and all(len(v) == 3 for v in values)
    if plain:
        try:
            urls, offsets, lengths = zip(*values)
            offsets_array = np.fromiter(offsets, dtype=np.int64, count=len(values))
            lengths_array = np.fromiter(lengths, dtype=np.int64, count=len(values))
            linear = _linear_indices(names, table.grid_shape)
        except (TypeError, ValueError, OverflowError):
            plain = False  # something odd: let the per-ref path report it precisely
        else:
            plain = linear is not None and not any(type(x) is not int for x in offsets + lengths) \
                and bool((offsets_array >= 0).all() and (lengths_array >= 0).all())
    if not plain:
        for name, value in zip(names, values):
            key = f"{parent}/{name}" if parent else name
            _check_key(key)
            rfs.set_ref(key, _chunk_ref(key, value, templates))
        return
    url_ids = np.empty(len(values), dtype=np.int32)
    ids: dict[str, int] = {}
    for i, raw in enumerate(urls):
        found = ids.get(raw)
        if found is None:
            if type(raw) is not str:
                raise ReferenceFormatError(f"ref {parent}/{names[i]!r}: a chunk reference starts with a URL string")
            url = expanded.get(raw)
            if url is None:
                url = expanded[raw] = expand_templates(raw, templates, f"{parent}/{names[i]}")
            found = ids[raw] = rfs.url_id(url)
        url_ids[i] = found
    table.url_index[linear] = url_ids
    table.offset[linear] = offsets_array
    table.length[linear] = lengths_array


def _linear_indices(names: list[str], grid_shape: tuple[int, ...]) -> np.ndarray | None:
    """Grid positions of chunk names like ``"3.0"``; None when any name is off the grid."""
    if not grid_shape:
        return np.zeros(len(names), dtype=np.int64) if all(n == "0" for n in names) else None
    ndim = len(grid_shape)
    parts = ".".join(names).split(".")
    if len(parts) != ndim * len(names) or not all(p.isdigit() for p in parts):
        return None
    coords = np.array(parts, dtype=np.int64).reshape(len(names), ndim)
    if (coords >= np.asarray(grid_shape)).any():
        return None
    return np.ravel_multi_index(tuple(coords.T), grid_shape)


FAST_PATH_MIN_BYTES = 1 << 20


def loads(data: bytes | str) -> ReferenceFileSystem:
    """Parse the text of a reference file.

    Large files go through :mod:`lindi_core.format.fastrefs`, which reads the plain chunk
    references in bulk instead of as Python objects; the rest is parsed as usual."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) >= FAST_PATH_MIN_BYTES:
        document = fastrefs.split(data)
        if document is not None:
            obj = parse_json_bytes(document.rest)
            rfs = from_json_dict(obj)
            _add_runs(rfs, document.runs, (obj.get("templates") or {}) if isinstance(obj, dict) else {})
            return rfs
    return from_json_dict(parse_json_bytes(data))


def _add_runs(rfs: ReferenceFileSystem, runs: list[fastrefs.ChunkRefRun], templates: dict[str, str]) -> None:
    expanded: dict[str, str] = {}
    for run in runs:
        if run.parent:
            _check_key(run.parent)
        url_ids = np.empty(len(run.url_texts), dtype=np.int32)
        for i, text in enumerate(run.url_texts):
            url = expanded.get(text)
            if url is None:
                url = expanded[text] = expand_templates(text, templates, run.parent)
            url_ids[i] = rfs.url_id(url)
        table = rfs.tables.get(run.parent)
        linear = _run_linear_indices(run, table)
        if linear is None:  # no table for this grid: keep each ref as it is
            for i in range(len(run.offsets)):
                name = ".".join(str(int(c)) for c in run.coordinates[i])
                key = f"{run.parent}/{name}" if run.parent else name
                rfs.set_ref(key, ChunkRef(rfs.urls[int(url_ids[run.url_run_index[i]])], int(run.offsets[i]),
                                          int(run.lengths[i])))
            continue
        table.url_index[linear] = url_ids[run.url_run_index]
        table.offset[linear] = run.offsets
        table.length[linear] = run.lengths


def _run_linear_indices(run: fastrefs.ChunkRefRun, table: ChunkTable | None) -> np.ndarray | None:
    if table is None:
        return None
    grid = table.grid_shape
    if not grid:
        ok = run.ndim == 1 and not run.coordinates.any()
        return np.zeros(len(run.offsets), dtype=np.int64) if ok else None
    if run.ndim != len(grid) or (run.coordinates >= np.asarray(grid)).any():
        return None
    return np.ravel_multi_index(tuple(run.coordinates.T), grid)


def load_path(path: str | os.PathLike) -> ReferenceFileSystem:
    """Read a reference file from a local path."""
    with open(path, "rb") as f:
        return loads(f.read())


def _check_key(key: str) -> None:
    if not key or key.startswith("/") or "//" in key or any(p in (".", "..") for p in key.split("/")):
        raise ReferenceFormatError(f"invalid key {key!r}: keys are relative paths without '.' or '..' parts")


def _metadata_value(key: str, value: Any) -> dict:
    if isinstance(value, str):
        value = parse_json_bytes(value)
    if not isinstance(value, dict):
        raise ReferenceFormatError(f"ref {key!r}: Zarr metadata must be a JSON object")
    return value


def decode_inline(key: str, value: str) -> bytes:
    if value.startswith(BASE64_PREFIX):
        try:
            return base64.b64decode(value[len(BASE64_PREFIX) :], validate=True)
        except ValueError:
            raise ReferenceFormatError(f"ref {key!r}: invalid base64 inline data") from None
    return value.encode("utf-8")


def expand_templates(url: str, templates: dict[str, str], key: str = "") -> str:
    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in templates:
            raise ReferenceFormatError(f"ref {key!r}: unknown template {{{{{name}}}}}")
        return templates[name]

    return _TEMPLATE_PATTERN.sub(substitute, url) if "{{" in url else url


def _chunk_ref(key: str, value: list, templates: dict[str, str]) -> ChunkRef:
    if not value or not isinstance(value[0], str):
        raise ReferenceFormatError(f"ref {key!r}: a chunk reference starts with a URL string")
    url = expand_templates(value[0], templates, key)
    if len(value) == 1:
        # fsspec's whole-file form; the length is learned when the file is read.
        return ChunkRef(url, 0, -1)
    if len(value) not in (3, 4):
        raise ReferenceFormatError(f"ref {key!r}: a chunk reference is [url, offset, length]")
    offset, length = value[1], value[2]
    if not _is_count(offset) or not _is_count(length):
        raise ReferenceFormatError(f"ref {key!r}: offset and length must be non-negative integers")
    mask = 0
    if len(value) == 4:
        extra = value[3]
        if not isinstance(extra, dict) or set(extra) - {"filter_mask"} or not _is_count(extra.get("filter_mask", 0)):
            raise ReferenceFormatError(f"ref {key!r}: the fourth element must be {{\"filter_mask\": int}}")
        mask = extra.get("filter_mask", 0)
    return ChunkRef(url, offset, length, mask)


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


# -- writing ----------------------------------------------------------------------------
def encode_inline(data: bytes) -> str:
    if _PLAIN_TEXT.fullmatch(data) and not data.startswith(BASE64_PREFIX.encode()):
        return data.decode("ascii")
    return BASE64_PREFIX + base64.b64encode(data).decode("ascii")


def assign_templates(rfs: ReferenceFileSystem) -> dict[str, str]:
    """Template names for the URLs chunk refs use: ``u1``, ``u2``... (names a loaded file
    already gave a URL are kept)."""
    by_url = {url: name for name, url in rfs.preferred_templates.items()}
    used = _used_urls(rfs)
    names: dict[str, str] = {}
    taken = set()
    for url in used:
        name = by_url.get(url)
        if name is not None:
            names[url] = name
            taken.add(name)
    counter = 1
    for url in used:
        if url in names:
            continue
        while f"u{counter}" in taken:
            counter += 1
        names[url] = f"u{counter}"
        taken.add(names[url])
    return names


def _used_urls(rfs: ReferenceFileSystem) -> list[str]:
    # Refs to members of a container ("./blobs/x/0", §12) each name one chunk's own member: a
    # template would only add a level of indirection per chunk (LINDI writes them as they are).
    return [url for url in rfs.used_urls() if not url.startswith("./")]


def iter_json_text(rfs: ReferenceFileSystem, *, use_templates: bool = True) -> Iterator[bytes]:
    """The reference file as a sequence of byte strings (compact JSON, one ref a line)."""
    url_names = assign_templates(rfs) if use_templates else {}
    templates = {name: url for url, name in url_names.items()}

    def url_token(url: str) -> bytes:
        name = url_names.get(url)
        return orjson.dumps("{{" + name + "}}" if name else url)

    yield b'{"version":' + str(FORMAT_VERSION).encode() + b',\n"templates":' + orjson.dumps(templates)
    yield b',\n"generationMetadata":' + orjson.dumps(rfs.generation_metadata, option=orjson.OPT_SERIALIZE_NUMPY)
    yield b',\n"refs":{'
    first = True

    def entry(key: str, value: bytes) -> bytes:
        nonlocal first
        sep = b"\n" if first else b",\n"
        first = False
        return sep + orjson.dumps(key) + b":" + value

    for key in _sorted_metadata_keys(rfs.metadata):
        value = rfs.metadata[key]
        if key == ".zattrs" or key.endswith("/.zattrs"):
            # Extension annotations beside .zattrs, where LINDI 0.4 does not look (§8).
            value, facts = hdf5_facts.split_for_disk(value)
            if facts is not None:
                if value:
                    yield entry(key, orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))
                facts_key = key[: -len(".zattrs")] + hdf5_facts.HDF5_FACTS_NAME
                yield entry(facts_key, orjson.dumps(facts, option=orjson.OPT_SERIALIZE_NUMPY))
                continue
        yield entry(key, orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))
    for key, data in rfs.inline.items():
        yield entry(key, orjson.dumps(encode_inline(data)))
    for key, ref in rfs.loose_refs.items():
        yield entry(key, _ref_text(url_token(ref.url), ref))
    tokens = [url_token(u) for u in rfs.urls]
    for array_path, table in rfs.tables.items():
        for piece in _table_text(array_path, table, tokens, rfs.inline):
            if not piece:
                continue
            if first:
                piece = piece[2:]  # drop the leading ",\n" of the first entry
                first = False
            yield piece
    yield b"\n}}\n"


def _sorted_metadata_keys(metadata: dict[str, dict]) -> list[str]:
    # Insertion order is creation order, which readers may rely on for group member order.
    return list(metadata)


def _ref_text(url_token: bytes, ref: ChunkRef) -> bytes:
    if ref.length < 0:
        return b"[" + url_token + b"]"
    text = b"[" + url_token + b"," + str(ref.offset).encode() + b"," + str(ref.length).encode()
    if ref.filter_mask:
        text += b',{"filter_mask":' + str(ref.filter_mask).encode() + b"}"
    return text + b"]"


def _table_text(
    array_path: str, table: ChunkTable, url_tokens: list[bytes], inline: dict[str, bytes], batch: int = 65536
) -> Iterator[bytes]:
    present = table.present()
    prefix = (orjson.dumps(array_path).decode()[:-1] + "/") if array_path else '"'
    tokens = [t.decode() for t in url_tokens]
    for start in range(0, len(present), batch):
        linear = present[start : start + batch]
        if table.grid_shape:
            columns = [map(str, c.tolist()) for c in np.unravel_index(linear, table.grid_shape)]
            names = list(map(".".join, zip(*columns))) if len(columns) > 1 else list(columns[0])
        else:
            names = ["0"] * len(linear)
        url_ids = table.url_index[linear].tolist()
        offsets = table.offset[linear].tolist()
        lengths = table.length[linear].tolist()
        masks = table.filter_mask[linear].tolist() if table.filter_mask is not None else None
        lines = [
            f'{prefix}{name}":[{tokens[u]},{o},{n}]'
            for name, u, o, n in zip(names, url_ids, offsets, lengths)
        ]
        if masks is not None:
            lines = [line[:-1] + f',{{"filter_mask":{m}}}]' if m else line for line, m in zip(lines, masks)]
        if inline:
            keys = [f"{array_path}/{name}" if array_path else name for name in names]
            lines = [line for line, key in zip(lines, keys) if key not in inline]
        if lines:
            yield (",\n" + ",\n".join(lines)).encode()


def dumps(rfs: ReferenceFileSystem, *, use_templates: bool = True) -> bytes:
    return b"".join(iter_json_text(rfs, use_templates=use_templates))


def to_json_dict(rfs: ReferenceFileSystem, *, use_templates: bool = True) -> dict:
    """The reference file as a plain JSON-ready dict."""
    return parse_json_bytes(dumps(rfs, use_templates=use_templates))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[BinaryIO]:
    """A file to write that replaces ``path`` only once complete and synced to disk: ``path``
    is either the old file or the whole new one, and a failure leaves no temporary behind (nor
    does a crash, once the file is written again: see :mod:`lindi_core.format.temporaries`).

    Through a symlink, its target gets the new content. A file with several hard links stays one
    file: it is written in place once the new content is complete (a rename would leave the
    other names with the old content)."""
    path = os.path.realpath(os.fspath(path))
    temporaries.remove_stale(path)
    try:
        st = os.stat(path)
        mode = st.st_mode & 0o7777  # the replaced file's permissions, kept
        in_place = st.st_nlink > 1 and stat.S_ISREG(st.st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # a new file's, as open() would make it
        in_place = False
    fd, tmp = temporaries.create(path, suffix)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            if in_place:
                temporaries.copy_in_place(f.fileno(), tmp, path)
            else:
                os.replace(tmp, path)  # while its lock is held: no one takes it for stale
    except BaseException:
        for leftover in (tmp, tmp[: -len(".tmp")] + ".pending"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        raise


def write_atomic(rfs: ReferenceFileSystem, path: str | os.PathLike, *, use_templates: bool = True) -> None:
    """Write a reference file so that ``path`` is either the old file or the complete new one."""
    with atomic_output(path, ".lindi.json") as f:
        for piece in iter_json_text(rfs, use_templates=use_templates):
            f.write(piece)
