"""Converting an array's chunk refs between the JSON form and the binary chunk table (spec §13).

In memory both forms are the same :class:`~lindi_core.format.refs.ChunkTable` columns; the form
only decides how a reference file writes them. Writing the binary form changes the array's
``.zarray`` on disk: a marker filter ``{"id": "lindi.chunk_table"}`` goes first in its
``filters``, so that a reader which does not know the extension (LINDI 0.4, fsspec with zarr)
fails to open the array ("codec not available") instead of finding no chunk keys and reading
fill values. This module adds and removes that marker; the model never holds it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import binary_chunk_table
from lindi_core.format import blocked_chunk_table as blocked
from lindi_core.format.lazy_chunk_table import (
    InlineTableBytes,
    LazyChunkTable,
    TableFileBytes,
    check_table_file_name,
)
from lindi_core.format.refs import DENSE_FRACTION, ChunkTable, ReferenceFileSystem, join_key, split_key

TABLE_NAME = ".zchunktable"  # the key beside an array's .zarray that holds its table
MARKER_ID = "lindi.chunk_table"
DESCRIPTOR_FORMAT = "lindi.chunk_table"
BASE64_PREFIX = "base64:"
CHUNK_TABLE_CHOICES = ("auto", "json", "binary")
# Arrays of at least this many chunks get a binary table under "auto" (spec §13 says why).
AUTO_THRESHOLD = 100_000
# Rows a whole-table check scans at a time, so that its temporaries stay small.
_SCAN_ROWS = 1 << 20


def with_marker(zarray: dict) -> dict:
    """The ``.zarray`` as written for an array with a binary table."""
    filters = zarray.get("filters") or []
    return {**zarray, "filters": [{"id": MARKER_ID}, *filters]}


def without_marker(key: str, zarray: dict) -> tuple[dict, bool]:
    """The ``.zarray`` with its marker removed, and whether it had one."""
    filters = zarray.get("filters")
    if not isinstance(filters, list) or not filters or not isinstance(filters[0], dict) \
            or filters[0].get("id") != MARKER_ID:
        if isinstance(filters, list) and any(isinstance(f, dict) and f.get("id") == MARKER_ID for f in filters):
            raise ReferenceFormatError(f"ref {key!r}: the {MARKER_ID!r} marker must be the first filter")
        return zarray, False
    if set(filters[0]) != {"id"}:
        raise ReferenceFormatError(f"ref {key!r}: the {MARKER_ID!r} marker takes no parameters")
    rest = filters[1:]
    return {**zarray, "filters": rest or None}, True


def encodable(rfs: ReferenceFileSystem, array_path: str) -> bool:
    """Whether the array's refs can be written as a binary table: a table over a regular grid,
    no whole-file refs (unknown length), and not so sparse that a dense table would be mostly
    empty entries. Decided on the table's columns as they are (no whole-table temporaries)."""
    table = rfs.tables.get(array_path)
    if table is None or join_key(array_path, ".zarray") not in rfs.metadata:
        return False
    if isinstance(table, LazyChunkTable) and not table.materialized:
        return True  # read from a binary table, unchanged since
    count = len(table)
    if table.size > max(count * DENSE_FRACTION, 1 << 16):
        return False
    return not _has_unknown_lengths(table)


def _has_unknown_lengths(table: ChunkTable) -> bool:
    """Whether some ref of the table has a negative length (fsspec's whole-file refs)."""
    table.flush()
    lengths, urls = table.length, table.url_index
    if lengths.dtype.kind == "u" or not len(lengths) or int(lengths.min()) >= 0:
        return False  # (a reduction: no temporary of the table's size)
    # Some row holds a negative length: it counts only where the row has a ref.
    return any(((lengths[first:first + _SCAN_ROWS] < 0) & (urls[first:first + _SCAN_ROWS] >= 0)).any()
               for first in range(0, len(lengths), _SCAN_ROWS))


def choose_binary(rfs: ReferenceFileSystem, choice: str, threshold: int = AUTO_THRESHOLD) -> None:
    """Mark the arrays to write as binary tables: all that can be (``binary``), none
    (``json``), or those of at least ``threshold`` chunks (``auto``)."""
    if choice not in CHUNK_TABLE_CHOICES:
        raise ValueError(f"chunk_table must be one of {CHUNK_TABLE_CHOICES}, not {choice!r}")
    rfs.binary_tables.clear()
    if choice == "json":
        return
    for array_path, table in rfs.tables.items():
        if (choice == "binary" or table.size >= threshold) and encodable(rfs, array_path):
            rfs.binary_tables.add(array_path)


def encode_table(rfs: ReferenceFileSystem, array_path: str, *, compress: bool = False) -> bytes:
    """The version 1 binary table of one array (cells whose key holds inline bytes are written
    missing: the inline value is what that key reads)."""
    table = rfs.tables[array_path]
    zarray = rfs.metadata[join_key(array_path, ".zarray")]
    linear, url_ids, offsets, lengths = table.present_columns()[:4]
    used, local_ids = np.unique(url_ids, return_inverse=True)
    size = table.size
    dense_url = np.full(size, -1, dtype=np.int64)
    dense_offset = np.zeros(size, dtype=np.int64)
    dense_length = np.zeros(size, dtype=np.int64)
    dense_url[linear], dense_offset[linear], dense_length[linear] = local_ids, offsets, lengths
    dense_mask = None
    masks = table.present_columns()[4]
    if masks is not None:
        dense_mask = np.zeros(size, dtype=np.uint32)
        dense_mask[linear] = masks
    for cell in _inline_cells(rfs, array_path, table):
        dense_url[cell] = -1
    return binary_chunk_table.encode(table.grid_shape, tuple(zarray["chunks"]), [rfs.urls[i] for i in used.tolist()],
                                     dense_url, dense_offset, dense_length, dense_mask, compress=compress)


def _inline_cells(rfs: ReferenceFileSystem, array_path: str, table: ChunkTable) -> list[int]:
    cells = []
    for key in rfs.inline:
        parent, name = split_key(key)
        if parent == array_path:
            cell = table.linear_index(name)
            if cell is not None:
                cells.append(cell)
    return cells


def write_table(rfs: ReferenceFileSystem, array_path: str, write: Callable[[bytes], object]) -> bytes:
    """Write the version 2 table of one array through ``write``, block by block (never a
    second copy of the whole table, nor any temporary of its size: a dense table's blocks are
    read from slices of its columns); returns its header. An unchanged lazy table is copied as
    it was read."""
    table = rfs.tables[array_path]
    # (an edit of any key of the array, inline values included, materializes its table)
    if isinstance(table, LazyChunkTable) and not table.materialized:
        data = table.encoded()
        write(data)
        return blocked.read_layout(data).header_bytes_of(data)
    zarray = rfs.metadata[join_key(array_path, ".zarray")]
    encoder = blocked.TableEncoder(table.grid_shape, tuple(zarray["chunks"]), write)
    # The URLs the refs use, numbered in URL-table order (as the encoder meets them)
    used = table.url_ids()
    local_of = np.full(max(len(rfs.urls), 1), -1, dtype=np.int64)
    local_of[used] = np.arange(len(used))
    for url in used.tolist():
        encoder.url_index(rfs.urls[url])
    inline_cells = np.array(sorted(_inline_cells(rfs, array_path, table)), dtype=np.int64)
    blocks = _dense_blocks(table, local_of, encoder.rows_per_block) if table.is_dense \
        else _sparse_blocks(table, local_of, encoder.rows_per_block)
    for first, block_url, block_offset, block_length, block_mask in blocks:
        if len(inline_cells):
            inside = inline_cells[(inline_cells >= first) & (inline_cells < first + len(block_url))]
            block_url[inside - first] = -1
        encoder.add(block_url, block_offset, block_length, block_mask)
    return encoder.finish()


_Block = tuple[int, np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"]


def _dense_blocks(table: ChunkTable, local_of: np.ndarray, rows: int) -> Iterator[_Block]:
    """(first cell, url, offset, length, mask) of each block of a dense table: slices of its
    columns (views), the url column a new array of table-local indices (-1: no ref)."""
    table.flush()
    single = len(local_of) == 1 or int(np.count_nonzero(local_of >= 0)) == 1
    for first in range(0, table.size, rows):
        end = min(first + rows, table.size)
        ids = table.url_index[first:end]
        masks = table.filter_mask[first:end] if table.filter_mask is not None else None
        if single:  # one URL (a translated file): index 0 where there is a ref
            block_url = (ids >= 0).astype(np.int64) - 1  # 0 where there is a ref, -1 elsewhere
        else:
            block_url = np.where(ids >= 0, local_of[np.maximum(ids, 0)], -1)
        yield first, block_url, table.offset[first:end], table.length[first:end], masks


def _sparse_blocks(table: ChunkTable, local_of: np.ndarray, rows: int) -> Iterator[_Block]:
    """The blocks of a sparse table: its refs spread over each block's cells."""
    linear, url_ids, offsets, lengths, masks = table.present_columns()
    for first in range(0, table.size, rows):
        count = min(rows, table.size - first)
        lo, hi = np.searchsorted(linear, [first, first + count])
        cells = linear[lo:hi] - first
        block_url = np.full(count, -1, dtype=np.int64)
        block_offset, block_length = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
        block_url[cells], block_offset[cells], block_length[cells] = local_of[url_ids[lo:hi]], offsets[lo:hi], \
            lengths[lo:hi]
        block_mask = None
        if masks is not None:
            block_mask = np.zeros(count, dtype=np.uint32)
            block_mask[cells] = masks[lo:hi]
        yield first, block_url, block_offset, block_length, block_mask


def unchanged_table_file(rfs: ReferenceFileSystem, array_path: str) -> dict[str, Any] | None:
    """The descriptor an array's table was read with, when it is in a table file and unchanged
    since: written again as it was, it names the same file (a reference file written where it
    was read keeps its table files)."""
    table = rfs.tables[array_path]
    if not isinstance(table, LazyChunkTable) or table.materialized or not isinstance(table.source, TableFileBytes):
        return None
    source = table.source
    descriptor = file_descriptor(source.header, source.ref, source.size, source.sha256)
    if source.sha256 is None:
        del descriptor["sha256"]
    return descriptor


def encode_table_v2(rfs: ReferenceFileSystem, array_path: str) -> bytes:
    """The whole version 2 table of one array, in memory."""
    out: list[bytes] = []
    write_table(rfs, array_path, out.append)
    return b"".join(out)


def descriptor(data: bytes) -> dict[str, Any]:
    """The JSON value of an array's TABLE_NAME key holding the table inline."""
    version = blocked.VERSION if blocked.is_version_2(data) else binary_chunk_table.VERSION
    return {"format": DESCRIPTOR_FORMAT, "version": version,
            "data": BASE64_PREFIX + base64.b64encode(data).decode("ascii")}


def file_descriptor(header: bytes, ref: str, size: int, sha256: str | None) -> dict[str, Any]:
    """The JSON value of an array's TABLE_NAME key for a version 2 table kept in the file
    ``ref`` beside the reference file: its header inline, so that a reader fetches only blocks."""
    return {"format": DESCRIPTOR_FORMAT, "version": blocked.VERSION, "ref": ref, "size": size, "sha256": sha256,
            "header": BASE64_PREFIX + base64.b64encode(header).decode("ascii")}


@dataclass
class ParsedTable:
    """What a TABLE_NAME value says: a version 1 table's bytes, or a version 2 table's layout
    and where its bytes are."""

    version: int
    data: bytes | None = None  # version 1
    layout: blocked.Layout | None = None  # version 2
    source: InlineTableBytes | TableFileBytes | None = None


def parse_descriptor(key: str, value: Any) -> ParsedTable:
    """Check a TABLE_NAME value; reads nothing beyond the reference file's own text."""
    if not isinstance(value, dict) or value.get("format") != DESCRIPTOR_FORMAT:
        raise ReferenceFormatError(f"ref {key!r}: a chunk table descriptor is an object with "
                                   f"\"format\": {DESCRIPTOR_FORMAT!r}")
    version = value.get("version")
    if version == binary_chunk_table.VERSION:
        return ParsedTable(1, data=table_bytes(key, value))
    if version != blocked.VERSION:
        raise ReferenceFormatError(f"ref {key!r}: chunk table version {version!r} is not supported "
                                   f"(this library reads 1 and 2)")
    if "ref" not in value:
        data = value.get("data")
        if set(value) != {"format", "version", "data"} or not isinstance(data, str) \
                or not data.startswith(BASE64_PREFIX):
            raise ReferenceFormatError(f"ref {key!r}: an inline chunk table is {{\"format\", \"version\", "
                                       "\"data\": \"base64:...\"}")
        source = InlineTableBytes(data[len(BASE64_PREFIX):], key)
        if source.size < blocked.PRELUDE.size + blocked.TRAILER.size \
                or not blocked.is_version_2(source.read(0, blocked.PRELUDE.size)):
            raise ReferenceFormatError(f"ref {key!r}: not a version 2 binary chunk table")
        start, size = blocked.read_trailer(source.read(source.size - blocked.TRAILER.size, source.size),
                                           source.size, key)
        return ParsedTable(2, layout=blocked.parse_header(source.read(start, start + size), start, key),
                           source=source)
    allowed = {"format", "version", "ref", "size", "sha256", "header"}
    if not set(value) <= allowed or not {"size", "header"} <= set(value):
        raise ReferenceFormatError(f"ref {key!r}: a chunk table in a file is {{\"format\", \"version\", \"ref\", "
                                   "\"size\", \"header\", \"sha256\" (optional)}")
    ref = check_table_file_name(value["ref"], key)
    size, sha256, header = value["size"], value.get("sha256"), value["header"]
    if type(size) is not int or not 0 <= size < 2**63:
        raise ReferenceFormatError(f"ref {key!r}: a chunk table's \"size\" is a byte count")
    if sha256 is not None and (not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256)):
        raise ReferenceFormatError(f"ref {key!r}: a chunk table's \"sha256\" is 64 lowercase hex digits")
    if not isinstance(header, str) or not header.startswith(BASE64_PREFIX):
        raise ReferenceFormatError(f"ref {key!r}: a chunk table's \"header\" is \"base64:...\"")
    try:
        header_bytes = base64.b64decode(header[len(BASE64_PREFIX):], validate=True)
    except ValueError:
        raise ReferenceFormatError(f"ref {key!r}: invalid base64 in the chunk table's header") from None
    header_start = size - blocked.TRAILER.size - len(header_bytes)
    if header_start < blocked.PRELUDE.size:
        raise ReferenceFormatError(f"ref {key!r}: a table of {size} bytes cannot hold its "
                                   f"{len(header_bytes)}-byte header")
    layout = blocked.parse_header(header_bytes, header_start, key)
    return ParsedTable(2, layout=layout, source=TableFileBytes(ref, size, sha256, key, header_bytes))


def table_bytes(key: str, value: Any) -> bytes:
    """The encoded version 1 table a TABLE_NAME value holds."""
    if not isinstance(value, dict) or value.get("format") != DESCRIPTOR_FORMAT:
        raise ReferenceFormatError(f"ref {key!r}: a chunk table descriptor is an object with "
                                   f"\"format\": {DESCRIPTOR_FORMAT!r}")
    if value.get("version") != binary_chunk_table.VERSION:
        raise ReferenceFormatError(f"ref {key!r}: chunk table version {value.get('version')!r} is not supported")
    if "ref" in value:
        raise ReferenceFormatError(f"ref {key!r}: a version 1 chunk table is inline (\"ref\" needs version 2)")
    data = value.get("data")
    if set(value) != {"format", "version", "data"} or not isinstance(data, str) \
            or not data.startswith(BASE64_PREFIX):
        raise ReferenceFormatError(f"ref {key!r}: an inline chunk table is {{\"format\", \"version\", "
                                   "\"data\": \"base64:...\"}")
    try:
        return base64.b64decode(data[len(BASE64_PREFIX):], validate=True)
    except ValueError:
        raise ReferenceFormatError(f"ref {key!r}: invalid base64 in the chunk table") from None


def _array_table(rfs: ReferenceFileSystem, array_path: str) -> tuple[str, dict, ChunkTable]:
    name = join_key(array_path, TABLE_NAME)
    zarray = rfs.metadata.get(join_key(array_path, ".zarray"))
    table = rfs.tables.get(array_path)
    if zarray is None or table is None:
        raise ReferenceFormatError(f"ref {name!r}: a chunk table needs an array with a regular chunk grid "
                                   "('.' dimension separator) beside it")
    return name, zarray, table


def _check_grid(name: str, grid_shape: tuple[int, ...], chunk_shape: tuple[int, ...], zarray: dict,
                table: ChunkTable) -> None:
    if grid_shape != table.grid_shape or list(chunk_shape) != list(zarray.get("chunks") or []):
        raise ReferenceFormatError(f"ref {name!r}: the table's grid {grid_shape} of chunks "
                                   f"{chunk_shape} is not the array's ({table.grid_shape}, chunks "
                                   f"{zarray.get('chunks')})")
    if len(table):
        raise ReferenceFormatError(f"ref {name!r}: the array has both a chunk table and JSON chunk refs")


def load_parsed(rfs: ReferenceFileSystem, array_path: str, parsed: ParsedTable) -> None:
    """Put a parsed table in: version 1 decoded now, version 2 as a lazy table (nothing decoded)."""
    if parsed.version == 1:
        load_table(rfs, array_path, parsed.data)
        return
    name, zarray, table = _array_table(rfs, array_path)
    layout = parsed.layout
    _check_grid(name, layout.grid_shape, layout.chunk_shape, zarray, table)
    global_ids = np.array([rfs.url_id(url) for url in layout.urls], dtype=np.int32)
    rfs.tables[array_path] = LazyChunkTable(layout, parsed.source, global_ids, name)
    rfs.binary_tables.add(array_path)


def load_table(rfs: ReferenceFileSystem, array_path: str, data: bytes) -> None:
    """Put the refs of an encoded version 1 table into the array's (empty) chunk table."""
    name, zarray, table = _array_table(rfs, array_path)
    decoded = binary_chunk_table.decode(data, name)
    header = decoded.header
    _check_grid(name, header.grid_shape, header.chunk_shape, zarray, table)
    present = np.flatnonzero(decoded.url_index >= 0)
    global_ids = np.array([rfs.url_id(url) for url in header.urls], dtype=np.int32)
    masks = decoded.filter_mask[present] if decoded.filter_mask is not None else None
    table.assign(present, global_ids[decoded.url_index[present]] if len(present) else np.zeros(0, np.int32),
                 decoded.offset[present], decoded.length[present], masks)
    rfs.binary_tables.add(array_path)
