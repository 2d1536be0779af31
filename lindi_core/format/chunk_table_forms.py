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
from typing import Any

import numpy as np

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import binary_chunk_table
from lindi_core.format.refs import DENSE_FRACTION, ReferenceFileSystem, join_key, split_key

TABLE_NAME = ".zchunktable"  # the key beside an array's .zarray that holds its table
MARKER_ID = "lindi.chunk_table"
DESCRIPTOR_FORMAT = "lindi.chunk_table"
BASE64_PREFIX = "base64:"
CHUNK_TABLE_CHOICES = ("auto", "json", "binary")
# Arrays of at least this many chunks get a binary table under "auto" (spec §13 says why).
AUTO_THRESHOLD = 100_000


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
    empty entries."""
    table = rfs.tables.get(array_path)
    if table is None or join_key(array_path, ".zarray") not in rfs.metadata:
        return False
    count = len(table)
    if table.size > max(count * DENSE_FRACTION, 1 << 16):
        return False
    return not (table.present_columns()[3] < 0).any()


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
    """The binary table of one array (cells whose key holds inline bytes are written missing:
    the inline value is what that key reads)."""
    table = rfs.tables[array_path]
    zarray = rfs.metadata[join_key(array_path, ".zarray")]
    linear, url_ids, offsets, lengths, masks = table.present_columns()
    used, local_ids = np.unique(url_ids, return_inverse=True)
    size = table.size
    dense_url = np.full(size, -1, dtype=np.int64)
    dense_offset = np.zeros(size, dtype=np.int64)
    dense_length = np.zeros(size, dtype=np.int64)
    dense_url[linear], dense_offset[linear], dense_length[linear] = local_ids, offsets, lengths
    dense_mask = None
    if masks is not None:
        dense_mask = np.zeros(size, dtype=np.uint32)
        dense_mask[linear] = masks
    for key in rfs.inline:
        parent, name = split_key(key)
        if parent == array_path:
            cell = table.linear_index(name)
            if cell is not None:
                dense_url[cell] = -1
    return binary_chunk_table.encode(table.grid_shape, tuple(zarray["chunks"]), [rfs.urls[i] for i in used.tolist()],
                                     dense_url, dense_offset, dense_length, dense_mask, compress=compress)


def descriptor(data: bytes) -> dict[str, Any]:
    """The JSON value of an array's TABLE_NAME key holding the table inline."""
    return {"format": DESCRIPTOR_FORMAT, "version": binary_chunk_table.VERSION,
            "data": BASE64_PREFIX + base64.b64encode(data).decode("ascii")}


def table_bytes(key: str, value: Any) -> bytes:
    """The encoded table a TABLE_NAME value holds."""
    if not isinstance(value, dict) or value.get("format") != DESCRIPTOR_FORMAT:
        raise ReferenceFormatError(f"ref {key!r}: a chunk table descriptor is an object with "
                                   f"\"format\": {DESCRIPTOR_FORMAT!r}")
    if value.get("version") != binary_chunk_table.VERSION:
        raise ReferenceFormatError(f"ref {key!r}: chunk table version {value.get('version')!r} is not supported")
    if "ref" in value:
        raise ReferenceFormatError(f"ref {key!r}: chunk tables outside the reference file (\"ref\") are not "
                                   "supported by this version of lindi-core")
    data = value.get("data")
    if set(value) != {"format", "version", "data"} or not isinstance(data, str) \
            or not data.startswith(BASE64_PREFIX):
        raise ReferenceFormatError(f"ref {key!r}: an inline chunk table is {{\"format\", \"version\", "
                                   "\"data\": \"base64:...\"}")
    try:
        return base64.b64decode(data[len(BASE64_PREFIX):], validate=True)
    except ValueError:
        raise ReferenceFormatError(f"ref {key!r}: invalid base64 in the chunk table") from None


def load_table(rfs: ReferenceFileSystem, array_path: str, data: bytes) -> None:
    """Put the refs of an encoded table into the array's (empty) chunk table."""
    name = join_key(array_path, TABLE_NAME)
    zarray = rfs.metadata.get(join_key(array_path, ".zarray"))
    table = rfs.tables.get(array_path)
    if zarray is None or table is None:
        raise ReferenceFormatError(f"ref {name!r}: a chunk table needs an array with a regular chunk grid "
                                   "('.' dimension separator) beside it")
    decoded = binary_chunk_table.decode(data, name)
    header = decoded.header
    if header.grid_shape != table.grid_shape or list(header.chunk_shape) != list(zarray.get("chunks") or []):
        raise ReferenceFormatError(f"ref {name!r}: the table's grid {header.grid_shape} of chunks "
                                   f"{header.chunk_shape} is not the array's ({table.grid_shape}, chunks "
                                   f"{zarray.get('chunks')})")
    if len(table):
        raise ReferenceFormatError(f"ref {name!r}: the array has both a chunk table and JSON chunk refs")
    present = np.flatnonzero(decoded.url_index >= 0)
    global_ids = np.array([rfs.url_id(url) for url in header.urls], dtype=np.int32)
    masks = decoded.filter_mask[present] if decoded.filter_mask is not None else None
    table.assign(present, global_ids[decoded.url_index[present]] if len(present) else np.zeros(0, np.int32),
                 decoded.offset[present], decoded.length[present], masks)
    rfs.binary_tables.add(array_path)

