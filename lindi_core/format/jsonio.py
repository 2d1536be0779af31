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
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import chunk_table_forms, fastrefs, hdf5_facts, temporaries
from lindi_core.format.keys import chunk_key, join_key, split_key
from lindi_core.format.lazy_chunk_table import LazyChunkTable, LocalTableReader, TableFileBytes
from lindi_core.format.refs import (
    ZARR_METADATA_NAMES,
    ChunkRef,
    ChunkTable,
    ReferenceFileSystem,
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


# Templates may make URLs longer than their text in the file; the expanded URLs together may
# grow past the document's size by at most this (spec §3), so that a small file cannot expand
# into gigabytes.
EXPANSION_ALLOWANCE = 16 << 20
EXPANSION_FACTOR = 8
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_]+")


def expansion_budget(document_size: int) -> int:
    """How many bytes template expansion may add to the URLs of a document of this size."""
    return EXPANSION_ALLOWANCE + EXPANSION_FACTOR * document_size


class TemplateExpander:
    """Expands the templates in URL texts, each distinct text once (refs that share a text share
    the string), and refuses to add more than ``budget`` bytes in all."""

    def __init__(self, templates: dict[str, str], budget: int):
        self.templates = templates
        self.budget = budget
        self.added = 0
        self._expanded: dict[str, str] = {}

    def __call__(self, text: str, key: str) -> str:
        found = self._expanded.get(text)
        if found is not None:
            return found
        if "{{" not in text:
            self._expanded[text] = text
            return text
        matches = list(_TEMPLATE_PATTERN.finditer(text))
        for match in matches:
            if match.group(1) not in self.templates:
                raise ReferenceFormatError(f"ref {key!r}: unknown template {{{{{match.group(1)}}}}}")
        # The size first: a short text naming a long template many times must not be built.
        added = sum(len(self.templates[m.group(1)]) - (m.end() - m.start()) for m in matches)
        self.added += max(added, 0)
        if self.added > self.budget:
            raise ReferenceFormatError(
                f"ref {key!r}: templates expand the reference file's URLs by more than {self.budget} bytes "
                f"(the limit for a file of this size, spec §3)")
        expanded = self._expanded[text] = _TEMPLATE_PATTERN.sub(lambda m: self.templates[m.group(1)], text)
        return expanded


def from_json_dict(obj: Any, *, document_size: int | None = None) -> ReferenceFileSystem:
    """Build a reference file system from the parsed JSON of a reference file.

    ``document_size`` (bytes of the JSON text) sets the template expansion budget; by default
    it is the size of ``obj`` written compactly."""
    rfs, _, tables = _from_json_dict(obj, document_size)
    tables.apply(rfs)
    return rfs


class _BinaryTables:
    """The binary chunk tables of a document (spec §13), put in once all its JSON refs are."""

    def __init__(self) -> None:
        self.marked: set[str] = set()  # arrays whose .zarray carries the marker filter
        self.tables: dict[str, chunk_table_forms.ParsedTable] = {}

    def apply(self, rfs: ReferenceFileSystem) -> None:
        for array_path in self.marked - self.tables.keys():
            raise ReferenceFormatError(f"array {array_path or '/'!r} is marked as having a binary chunk table "
                                       f"but has no {chunk_table_forms.TABLE_NAME!r} key")
        for array_path, parsed in self.tables.items():
            if array_path not in self.marked:
                raise ReferenceFormatError(
                    f"ref {join_key(array_path, chunk_table_forms.TABLE_NAME)!r}: its array's .zarray lacks the "
                    f"{chunk_table_forms.MARKER_ID!r} marker filter (spec §13)")
            chunk_table_forms.load_parsed(rfs, array_path, parsed)


def _from_json_dict(obj: Any, document_size: int | None) -> tuple[ReferenceFileSystem, TemplateExpander,
                                                                  _BinaryTables]:
    if not isinstance(obj, dict):
        raise ReferenceFormatError(f"reference file must be a JSON object, got {type(obj).__name__}")
    version = obj.get("version", FORMAT_VERSION)
    if type(version) is not int or version != FORMAT_VERSION:
        raise ReferenceFormatError(f"unsupported reference file version {version!r} (this library reads 1)")
    refs = obj.get("refs")
    if not isinstance(refs, dict):
        raise ReferenceFormatError("reference file has no 'refs' object")
    templates = obj.get("templates") or {}
    if not isinstance(templates, dict) or not all(isinstance(v, str) for v in templates.values()):
        raise ReferenceFormatError("'templates' must map names to strings")
    for name, value in templates.items():
        if not _TEMPLATE_NAME.fullmatch(name):
            raise ReferenceFormatError(f"template name {name!r}: names are letters, digits and '_'")
        if "{{" in value:
            raise ReferenceFormatError(f"template {name!r}: a template's value may not use templates (spec §3)")
    generation = obj.get("generationMetadata") or {}
    if not isinstance(generation, dict):
        raise ReferenceFormatError("'generationMetadata' must be a JSON object")
    if document_size is None:
        try:
            document_size = len(orjson.dumps(obj))
        except (TypeError, orjson.JSONEncodeError):
            raise ReferenceFormatError("reference file is not JSON data") from None
    expand = TemplateExpander(templates, expansion_budget(document_size))

    rfs = ReferenceFileSystem(generation_metadata=generation)
    rfs.preferred_templates = dict(templates)
    # Chunk refs are gathered per parent path and stored a whole array at a time, after all
    # metadata is in (so every array's table exists): per-ref work stays a few dict operations.
    pending: dict[str, tuple[list[str], list[list]]] = {}
    facts_by_parent: dict[str, dict] = {}  # .zhdf5 values, merged into their .zattrs (§8)
    binary_tables = _BinaryTables()
    for key, value in refs.items():
        if type(value) is list:
            slash = key.rfind("/")
            parent, name = (key[:slash], key[slash + 1 :]) if slash >= 0 else ("", key)
            if not name or name[0] == ".":
                _check_key(key)
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
            rfs.set_metadata(zattrs_key, _merged_facts(key, rfs.metadata.get(zattrs_key), facts))
        elif last == chunk_table_forms.TABLE_NAME:
            binary_tables.tables[parent] = chunk_table_forms.parse_descriptor(key, value)
        elif last in ZARR_METADATA_NAMES:
            value = _metadata_value(key, value)
            if last == ".zarray":
                value, marked = chunk_table_forms.without_marker(key, value)
                if marked:
                    binary_tables.marked.add(parent)
            if last == ".zattrs" and parent in facts_by_parent:  # .zhdf5 came first
                value = _merged_facts(key, value, facts_by_parent[parent])
            rfs.set_metadata(key, value)
        elif isinstance(value, str):
            rfs.set_inline(key, decode_inline(key, value))
        else:
            raise ReferenceFormatError(f"ref {key!r}: unsupported value of type {type(value).__name__}")
    for parent, (names, values) in pending.items():
        if parent:
            _check_key(parent)
        _add_chunk_refs(rfs, parent, names, values, expand)
    return rfs, expand, binary_tables


def _merged_facts(key: str, zattrs: Any, facts: dict) -> dict:
    try:
        return hdf5_facts.merge_from_disk(zattrs, facts)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        if isinstance(exc, ReferenceFormatError):
            raise
        raise ReferenceFormatError(f"ref {key!r}: malformed annotations ({exc})") from None


def _add_chunk_refs(rfs: ReferenceFileSystem, parent: str, names: list[str], values: list[list],
                    expand: TemplateExpander) -> None:
    """Store the chunk refs of one array: vectorised into its table when every ref is a plain
    ``[url, offset, length]`` with a canonical name on the table's grid, one by one otherwise
    (then refs with other names stay loose, keyed by their text)."""
    table = rfs.tables.get(parent)
    columns = _plain_columns(names, values, table.grid_shape) if table is not None else None
    if columns is None:
        for name, value in zip(names, values):
            key = f"{parent}/{name}" if parent else name
            _check_key(key)
            rfs.set_ref(key, _chunk_ref(key, value, expand))
        if table is not None:
            table.flush()  # a loaded table holds its refs in its columns
        return
    linear, urls, offsets, lengths = columns
    url_ids = np.empty(len(values), dtype=np.int32)
    ids: dict[str, int] = {}
    for i, raw in enumerate(urls):
        if type(raw) is not str:  # before the look-up: a list or an object is not even hashable
            raise ReferenceFormatError(f"ref {parent}/{names[i]!r}: a chunk reference starts with a URL string")
        found = ids.get(raw)
        if found is None:
            found = ids[raw] = rfs.url_id(expand(raw, f"{parent}/{names[i]}"))
        url_ids[i] = found
    table.assign(linear, url_ids, offsets, lengths)


def _plain_columns(names: list[str], values: list[list],
                   grid_shape: tuple[int, ...]) -> tuple[np.ndarray, tuple, np.ndarray, np.ndarray] | None:
    """(linear indices, urls, offsets, lengths) when every value is ``[url, offset, length]``
    with plain integers and every name a canonical chunk name on the grid; else None."""
    if not all(len(v) == 3 for v in values):
        return None
    try:
        urls, offsets, lengths = zip(*values)
        if any(type(x) is not int for x in offsets + lengths):
            return None
        offsets_array = np.fromiter(offsets, dtype=np.int64, count=len(values))
        lengths_array = np.fromiter(lengths, dtype=np.int64, count=len(values))
    except OverflowError:
        return None  # past int64: the per-ref path says which
    if not ((offsets_array >= 0).all() and (lengths_array >= 0).all()):
        return None
    linear = _linear_indices(names, grid_shape)
    if linear is None:
        return None
    return linear, urls, offsets_array, lengths_array


_CANONICAL_NAMES: dict[int, re.Pattern] = {}


def _canonical_name_pattern(ndim: int) -> re.Pattern:
    """Chunk names of ``ndim`` coordinates of at most 18 digits each (spec §2; longer ones,
    which may still be on a grid, take the per-ref path)."""
    pattern = _CANONICAL_NAMES.get(ndim)
    if pattern is None:
        coordinate = r"(?:0|[1-9][0-9]{0,17})"
        pattern = _CANONICAL_NAMES[ndim] = re.compile(coordinate + (r"\." + coordinate) * (ndim - 1))
    return pattern


def _linear_indices(names: list[str], grid_shape: tuple[int, ...]) -> np.ndarray | None:
    """Grid positions of canonical chunk names like ``"3.0"``; None when any name is not one or
    is off the grid."""
    if not grid_shape:
        return np.zeros(len(names), dtype=np.int64) if all(n == "0" for n in names) else None
    ndim = len(grid_shape)
    if not all(map(_canonical_name_pattern(ndim).fullmatch, names)):
        return None
    coords = np.array(".".join(names).split("."), dtype=np.int64).reshape(len(names), ndim)
    if (coords >= np.asarray(grid_shape)).any():
        return None
    return np.ravel_multi_index(tuple(coords.T), grid_shape)


FAST_PATH_MIN_BYTES = 1 << 20


class _Ambiguous(Exception):
    """The fast path met a key written twice: the plain path decides which one counts."""


def loads(data: bytes | str) -> ReferenceFileSystem:
    """Parse the text of a reference file.

    Large files go through :mod:`lindi_core.format.fastrefs`, which reads the plain chunk
    references in bulk instead of as Python objects; the rest is parsed as usual. Whatever the
    fast path cannot settle exactly as the plain path would (an error, a key written twice) is
    parsed again the plain way, so both give one result for one document."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ReferenceFormatError(f"reference file text is not valid Unicode ({exc.reason})") from None
    if len(data) >= FAST_PATH_MIN_BYTES:
        document = fastrefs.split(data)
        if document is not None:
            try:
                obj = parse_json_bytes(document.rest)
                rfs, expand, tables = _from_json_dict(obj, len(data))
                _add_runs(rfs, document.runs, expand)
                tables.apply(rfs)
                return rfs
            except (ReferenceFormatError, _Ambiguous):
                pass
    rfs, _, tables = _from_json_dict(parse_json_bytes(data), len(data))
    tables.apply(rfs)
    return rfs


def _add_runs(rfs: ReferenceFileSystem, runs: list[fastrefs.ChunkRefRun], expand: TemplateExpander) -> None:
    """Store the chunk refs the fast path found; raises _Ambiguous when one of their keys is
    also in the rest of the document (or twice among them)."""
    by_parent: dict[str, list[fastrefs.ChunkRefRun]] = {}
    for run in runs:
        by_parent.setdefault(run.parent, []).append(run)
    inline_names: dict[str, list[str]] = {}  # of the arrays above: a run's key may repeat one
    for key in rfs.inline:
        inline_parent, name = split_key(key)
        if inline_parent in by_parent:
            inline_names.setdefault(inline_parent, []).append(name)
    for parent, group in by_parent.items():
        if parent:
            _check_key(parent)
        table = rfs.tables.get(parent)
        pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for run in group:
            url_ids = np.array([rfs.url_id(expand(text, parent)) for text in run.url_texts],
                               dtype=np.int32)[run.url_run_index]
            inside = _run_inside_grid(run, table)
            if inside.all():  # the usual case: no copies
                pieces.append((_run_linear(run.coordinates, table), url_ids, run.offsets, run.lengths))
            elif inside.any():
                pieces.append((_run_linear(run.coordinates[inside], table), url_ids[inside], run.offsets[inside],
                               run.lengths[inside]))
            for i in np.flatnonzero(~inside).tolist():  # no table cell for these: kept as they are
                key = chunk_key(parent, run.coordinates[i])
                if key in rfs.loose_refs or key in rfs.inline or key in rfs.metadata:
                    raise _Ambiguous(key)
                rfs.set_ref(key, ChunkRef(rfs.urls[int(url_ids[i])], int(run.offsets[i]), int(run.lengths[i])))
        if pieces:
            before = len(table)
            linear, url_ids, offsets, lengths = pieces[0] if len(pieces) == 1 else \
                (np.concatenate([p[k] for p in pieces]) for k in range(4))
            table.assign(linear, url_ids, offsets, lengths)
            del url_ids, offsets, lengths
            if len(table) != before + len(linear):
                raise _Ambiguous(parent)
            for name in inline_names.get(parent, ()):
                cell = table.linear_index(name)
                if cell is not None and table.lookup(cell) is not None:
                    raise _Ambiguous(join_key(parent, name))


def _run_linear(coordinates: np.ndarray, table: ChunkTable) -> np.ndarray:
    if not table.grid_shape:
        return np.zeros(len(coordinates), dtype=np.int64)
    return np.ravel_multi_index(tuple(coordinates.T), table.grid_shape)


def _run_inside_grid(run: fastrefs.ChunkRefRun, table: ChunkTable | None) -> np.ndarray:
    """Which refs of a run name a cell of the table's grid."""
    if table is None:
        return np.zeros(len(run.offsets), dtype=bool)
    grid = table.grid_shape
    if not grid:
        return (run.coordinates[:, 0] == 0) if run.ndim == 1 else np.zeros(len(run.offsets), dtype=bool)
    if run.ndim != len(grid):
        return np.zeros(len(run.offsets), dtype=bool)
    return (run.coordinates < np.asarray(grid, dtype=np.int64)).all(axis=1)


def load_path(path: str | os.PathLike) -> ReferenceFileSystem:
    """Read a reference file from a local path (its table files, spec §13, are read beside it
    when first needed)."""
    with open(path, "rb") as f:
        rfs = loads(f.read())
    folder = os.path.dirname(os.path.abspath(path))
    for source in table_files(rfs):
        source.bind(LocalTableReader(os.path.join(folder, source.ref)))
    return rfs


def table_files(rfs: ReferenceFileSystem) -> list[TableFileBytes]:
    """The table files (spec §13) the lazy tables of a reference file system read from."""
    return [table.source for table in rfs.tables.values()
            if isinstance(table, LazyChunkTable) and isinstance(table.source, TableFileBytes)]


def _check_key(key: str) -> None:
    if not key or any(part in ("", ".", "..") for part in key.split("/")):
        raise ReferenceFormatError(f"invalid key {key!r}: keys are relative paths without empty, '.' or '..' parts")


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


MAX_COUNT = 2**63 - 1  # offsets and lengths are int64 (spec §2)
MAX_FILTER_MASK = 2**32 - 1  # HDF5's filter mask is 32 bits


def _chunk_ref(key: str, value: list, expand: TemplateExpander) -> ChunkRef:
    if not value or not isinstance(value[0], str):
        raise ReferenceFormatError(f"ref {key!r}: a chunk reference starts with a URL string")
    if len(value) not in (1, 3, 4):
        raise ReferenceFormatError(f"ref {key!r}: a chunk reference is [url, offset, length]")
    url = expand(value[0], key)
    if len(value) == 1:
        # fsspec's whole-file form; the length is learned when the file is read.
        return ChunkRef(url, 0, -1)
    offset, length = value[1], value[2]
    if not _is_count(offset) or not _is_count(length):
        raise ReferenceFormatError(f"ref {key!r}: offset and length must be non-negative integers below 2**63")
    mask = 0
    if len(value) == 4:
        extra = value[3]
        if not isinstance(extra, dict) or set(extra) - {"filter_mask"} \
                or not _is_count(extra.get("filter_mask", 0), MAX_FILTER_MASK):
            raise ReferenceFormatError(f"ref {key!r}: the fourth element must be {{\"filter_mask\": int}} "
                                       "(32 bits)")
        mask = extra.get("filter_mask", 0)
    return ChunkRef(url, offset, length, mask)


def _is_count(x: Any, limit: int = MAX_COUNT) -> bool:
    return type(x) is int and 0 <= x <= limit


# -- writing ----------------------------------------------------------------------------
def encode_inline(data: bytes) -> str:
    if _PLAIN_TEXT.fullmatch(data) and not data.startswith(BASE64_PREFIX.encode()):
        return data.decode("ascii")
    return BASE64_PREFIX + base64.b64encode(data).decode("ascii")


def assign_templates(rfs: ReferenceFileSystem, *, binary: frozenset[str] | set[str] = frozenset()) -> dict[str, str]:
    """Template names for the URLs JSON chunk refs use: ``u1``, ``u2``... (names a loaded file
    already gave a URL are kept). URLs only the arrays in ``binary`` use need none: their
    tables hold URLs in full (spec §13)."""
    by_url = {url: name for name, url in rfs.preferred_templates.items()}
    used = _used_urls(rfs, binary)
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


def _used_urls(rfs: ReferenceFileSystem, binary: frozenset[str] | set[str]) -> list[str]:
    # Refs to members of a container ("./blobs/x/0", §12) each name one chunk's own member: a
    # template would only add a level of indirection per chunk (LINDI writes them as they are).
    urls = rfs.used_urls()
    if binary:
        used_ids: set[int] = set()
        for array_path, table in rfs.tables.items():
            if array_path not in binary:
                used_ids.update(table.url_ids().tolist())
        in_json = {rfs.urls[i] for i in used_ids} | {ref.url for ref in rfs.loose_refs.values()}
        urls = [url for url in urls if url in in_json]
    return [url for url in urls if not url.startswith("./")]


TablePlacer = Callable[[ReferenceFileSystem, str], dict]


def inline_table(rfs: ReferenceFileSystem, array_path: str) -> dict:
    """An array's binary chunk table as an inline descriptor (version 2, spec §13), or, when it
    was read from a table file and is unchanged, the descriptor it was read with (the text is
    for where it was read from: a commit of a container, a comparison with the committed text)."""
    kept = chunk_table_forms.unchanged_table_file(rfs, array_path)
    if kept is not None:
        return kept
    return chunk_table_forms.descriptor(chunk_table_forms.encode_table_v2(rfs, array_path))


def iter_json_text(rfs: ReferenceFileSystem, *, use_templates: bool = True,
                   place_table: TablePlacer = inline_table) -> Iterator[bytes]:
    """The reference file as a sequence of byte strings (compact JSON, one ref a line).
    ``place_table`` writes an array's binary chunk table and gives its descriptor (inline by
    default; :func:`write_atomic` puts large ones in files beside the reference file)."""
    binary = {path for path in rfs.binary_tables if chunk_table_forms.encodable(rfs, path)}
    url_names = assign_templates(rfs, binary=binary) if use_templates else {}
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
        if (key == ".zarray" or key.endswith("/.zarray")) and split_key(key)[0] in binary:
            value = chunk_table_forms.with_marker(value)
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
        if array_path in binary:
            yield entry(join_key(array_path, chunk_table_forms.TABLE_NAME), orjson.dumps(place_table(rfs, array_path)))
            continue
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
    present, all_url_ids, all_offsets, all_lengths, all_masks = table.present_columns()
    prefix = (orjson.dumps(array_path).decode()[:-1] + "/") if array_path else '"'
    tokens = [t.decode() for t in url_tokens]
    for start in range(0, len(present), batch):
        part = slice(start, start + batch)
        linear = present[part]
        if table.grid_shape:
            columns = [map(str, c.tolist()) for c in np.unravel_index(linear, table.grid_shape)]
            names = list(map(".".join, zip(*columns))) if len(columns) > 1 else list(columns[0])
        else:
            names = ["0"] * len(linear)
        url_ids = all_url_ids[part].tolist()
        offsets = all_offsets[part].tolist()
        lengths = all_lengths[part].tolist()
        masks = all_masks[part].tolist() if all_masks is not None else None
        lines = [
            f'{prefix}{name}":[{tokens[u]},{o},{n}]'
            for name, u, o, n in zip(names, url_ids, offsets, lengths)
        ]
        if masks is not None:
            lines = [line[:-1] + f',{{"filter_mask":{m}}}]' if m else line for line, m in zip(lines, masks)]
        if (all_lengths[part] < 0).any():  # fsspec's whole-file refs ([url]; length learned on reading)
            lines = [f'{prefix}{name}":[{tokens[u]}]' if n < 0 else line
                     for line, name, u, n in zip(lines, names, url_ids, lengths)]
        if inline:
            keys = [f"{array_path}/{name}" if array_path else name for name in names]
            lines = [line for line, key in zip(lines, keys) if key not in inline]
        if lines:
            yield (",\n" + ",\n".join(lines)).encode()


def dumps(rfs: ReferenceFileSystem, *, use_templates: bool = True) -> bytes:
    return b"".join(iter_json_text(rfs, use_templates=use_templates))


def embedded_table(rfs: ReferenceFileSystem, array_path: str) -> dict:
    """An array's binary chunk table inline, wherever it was read from: for a reference file
    that has no place beside it for a table file (a dict handed to the caller)."""
    return chunk_table_forms.descriptor(chunk_table_forms.encode_table_v2(rfs, array_path))


def to_json_dict(rfs: ReferenceFileSystem, *, use_templates: bool = True) -> dict:
    """The reference file as a plain JSON-ready dict (every binary chunk table inline: a dict
    has nothing beside it where a table file could be found)."""
    return parse_json_bytes(b"".join(iter_json_text(rfs, use_templates=use_templates, place_table=embedded_table)))


def write_atomic(rfs: ReferenceFileSystem, path: str | os.PathLike, *, use_templates: bool = True,
                 table_file_threshold: int | None = None) -> None:
    """Write a reference file so that ``path`` is either the old file or the complete new one.

    Binary chunk tables of at least ``table_file_threshold`` encoded bytes (default
    :data:`~lindi_core.format.table_files.TABLE_FILE_THRESHOLD`) go to files beside it, named
    from it and from their content (spec §13): a file an older version of the reference file
    names is never changed."""
    from lindi_core.format.table_files import TableFileWriter

    placer = TableFileWriter(os.path.realpath(os.fspath(path)), table_file_threshold)
    with temporaries.atomic_output(path, ".lindi.json") as f:
        for piece in iter_json_text(rfs, use_templates=use_templates, place_table=placer):
            f.write(piece)
