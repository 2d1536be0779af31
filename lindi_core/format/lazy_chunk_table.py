"""Chunk tables read lazily from a version 2 binary table (spec §13).

Opening a reference file does not decode its binary tables: each becomes a
:class:`LazyChunkTable` that knows the table's layout (grid, URLs, block index) and where its
bytes are: inline (the base64 text of the reference file) or in a table file beside it (a file
next to the ``.lindi.json``, a member of a ``.lindi.tar``, a file of a ``.lindi.d``). The first
look-up of a chunk decodes the one block holding it; :meth:`LazyChunkTable.ensure_rows` fetches
all blocks a selection needs at once (one round trip through the store's byte sources, which
merge neighbouring ranges and keep them in the local cache). Decoded blocks are kept in a
bounded LRU, so a table of any size costs a bounded amount of memory for reading.

Everything else a :class:`~lindi_core.format.refs.ChunkTable` does (listing every ref, editing,
relocating, writing as JSON) needs the whole table: the first such use decodes every block into
ordinary dense columns (:meth:`LazyChunkTable.materialize`), after which the table is an
ordinary one. Blocking code may trigger that anywhere but on the event loop of the byte
sources, where the store's own reads call :meth:`ensure_rows` first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from collections import OrderedDict
from typing import Any, Protocol

import numpy as np

from lindi_core.errors import ReferenceFormatError
from lindi_core.format import blocked_chunk_table as blocked
from lindi_core.format.refs import ChunkColumns, ChunkTable

# Decoded blocks kept per table (each about 20 bytes a row: 1.3 MB for a block of 65,536 rows).
MAX_CACHED_BLOCKS = 32
# A table file's name: one plain file name beside the reference file (no folder part, no '..').
TABLE_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")

class InlineTableBytes:
    """A table held as base64 text in the reference file: any byte range decodes from the
    characters that hold it, without decoding the rest."""

    def __init__(self, text: str, name: str):
        if len(text) % 4:
            raise ReferenceFormatError(f"{name}: invalid base64 in the chunk table (length not a multiple of 4)")
        self.text = text
        self.name = name
        padding = len(text) - len(text.rstrip("="))
        self.size = len(text) // 4 * 3 - padding

    def read(self, start: int, stop: int) -> bytes:
        if not 0 <= start <= stop <= self.size:
            raise ReferenceFormatError(f"{self.name}: bytes {start}..{stop} are outside its {self.size} bytes")
        first, last = start // 3 * 4, -(-stop // 3) * 4
        try:
            decoded = base64.b64decode(self.text[first:last], validate=True)
        except (binascii.Error, ValueError):
            raise ReferenceFormatError(f"{self.name}: invalid base64 in the chunk table") from None
        skip = start - first // 4 * 3
        return decoded[skip : skip + stop - start]

    async def read_spans(self, spans: list[tuple[int, int]]) -> list[bytes]:
        return [self.read(a, b) for a, b in spans]

    def read_spans_blocking(self, spans: list[tuple[int, int]]) -> list[bytes]:
        return [self.read(a, b) for a, b in spans]

    def whole(self) -> bytes:
        return self.read(0, self.size)


class TableReader(Protocol):
    """Reads a table file: what the opener of a reference file binds to its table files."""

    async def read(self, offset: int, length: int) -> bytes: ...

    def read_spans_blocking(self, spans: list[tuple[int, int]]) -> list[bytes]: ...


class LocalTableReader:
    """A table file on the local disk, read directly (for a reference file loaded from a path
    without a store: :func:`lindi_core.format.jsonio.load_path`)."""

    def __init__(self, path: str):
        self.path = path

    def _read(self, offset: int, length: int) -> bytes:
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                return f.read(length)
        except OSError as exc:
            raise ReferenceFormatError(f"cannot read the chunk table file {self.path!r}: {exc}") from None

    async def read(self, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._read, offset, length)

    def read_spans_blocking(self, spans: list[tuple[int, int]]) -> list[bytes]:
        return [self._read(a, b - a) for a, b in spans]


class TableFileBytes:
    """A table kept in a file beside the reference file (``ref``), read through the reader its
    opener binds (it knows where the reference file is and how far it is trusted)."""

    def __init__(self, ref: str, size: int, sha256: str | None, name: str, header: bytes = b""):
        self.ref, self.size, self.sha256, self.name = ref, size, sha256, name
        self.header = header  # as the descriptor holds it
        self.reader: TableReader | None = None

    def bind(self, reader: TableReader) -> None:
        self.reader = reader

    def _reader(self) -> TableReader:
        if self.reader is None:
            raise ReferenceFormatError(f"{self.name}: the chunk table is in the file {self.ref!r} beside the "
                                       "reference file; open the reference file from its path or URL to read it")
        return self.reader

    def _checked(self, spans: list[tuple[int, int]], found: list[bytes]) -> list[bytes]:
        for (a, b), data in zip(spans, found):
            if len(data) != b - a:
                raise ReferenceFormatError(f"{self.name}: {self.ref!r} gave {len(data)} bytes for {b - a} at {a} "
                                           f"(the table is {self.size} bytes)")
        return found

    async def read_spans(self, spans: list[tuple[int, int]]) -> list[bytes]:
        reader = self._reader()
        # Started together: the byte sources merge neighbouring ranges into one request.
        return self._checked(spans, list(await asyncio.gather(*(reader.read(a, b - a) for a, b in spans))))

    def read_spans_blocking(self, spans: list[tuple[int, int]]) -> list[bytes]:
        return self._checked(spans, self._reader().read_spans_blocking(spans))

    def check_whole(self, data: bytes) -> bytes:
        if len(data) != self.size:
            raise ReferenceFormatError(f"{self.name}: {self.ref!r} holds {len(data)} bytes, not {self.size}")
        if self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            raise ReferenceFormatError(f"{self.name}: {self.ref!r} does not hold the table its descriptor names "
                                       "(SHA-256 differs)")
        return data

    def whole(self) -> bytes:
        return self.check_whole(self.read_spans_blocking([(0, self.size)])[0])


TableBytes = InlineTableBytes | TableFileBytes


class LazyChunkTable(ChunkTable):
    """A :class:`ChunkTable` whose refs are decoded from a binary table block by block as they
    are looked up (see the module's docstring)."""

    __slots__ = ("layout", "source", "global_url_ids", "name", "_blocks", "_materialized", "max_cached_blocks",
                 "_inflight")

    def __init__(self, layout: blocked.Layout, source: TableBytes, global_url_ids: np.ndarray, name: str):
        ChunkTable.__init__(self, layout.grid_shape)  # sparse and empty: nothing allocated
        self.layout = layout
        self.source = source
        self.global_url_ids = np.asarray(global_url_ids, dtype=np.int32)
        self.name = name
        self._blocks: OrderedDict[int, blocked.BlockColumns] = OrderedDict()
        self._materialized = False
        self.max_cached_blocks = MAX_CACHED_BLOCKS
        self._inflight: dict[int, asyncio.Task] = {}  # blocks being fetched, by the task fetching them

    @property
    def materialized(self) -> bool:
        return self._materialized

    @property
    def is_dense(self) -> bool:
        return True if not self._materialized else ChunkTable.cells.__get__(self) is None

    @property
    def loaded_blocks(self) -> list[int]:
        return list(self._blocks)

    # -- blocks ---------------------------------------------------------------------------
    def _decode(self, i: int, data: bytes) -> blocked.BlockColumns:
        columns = blocked.decode_block(self.layout, i, data, self.name)
        present = columns.url_index >= 0
        columns.url_index = np.where(present, self.global_url_ids[np.maximum(columns.url_index, 0)],
                                     -1).astype(np.int32) if len(self.global_url_ids) else columns.url_index
        return columns

    def _keep(self, decoded: dict[int, blocked.BlockColumns], needed: set[int]) -> None:
        for i, columns in decoded.items():
            self._blocks[i] = columns
        for i in needed:
            if i in self._blocks:
                self._blocks.move_to_end(i)
        while len(self._blocks) > max(self.max_cached_blocks, len(needed)):
            self._blocks.popitem(last=False)

    def _missing(self, blocks: np.ndarray) -> list[int]:
        return [i for i in blocks.tolist() if i not in self._blocks]

    def _spans(self, blocks: list[int]) -> list[tuple[int, int]]:
        return [(self.layout.blocks[i].start, self.layout.blocks[i].start + self.layout.blocks[i].size)
                for i in blocks]

    async def ensure_rows(self, linear: np.ndarray | list[int]) -> None:
        """Have the blocks of these cells decoded (one fetch for all that are not), so that
        :meth:`lookup` and :meth:`lookup_many` of them do no I/O until the next await.

        Concurrent calls share the fetch of a block (a window of a read asks for each of its
        chunks at once): each block is fetched and decoded once."""
        await self.ensure_blocks(self.layout.blocks_of(np.asarray(linear, dtype=np.int64)).tolist())

    async def ensure_blocks(self, wanted: list[int]) -> None:
        """:meth:`ensure_rows` for the cells of the blocks ``wanted`` (sorted, distinct)."""
        while not self._materialized:
            missing = [i for i in wanted if i not in self._blocks]
            if not missing:
                for i in wanted:
                    self._blocks.move_to_end(i)
                return
            loop = asyncio.get_running_loop()
            new = [i for i in missing if i not in self._inflight or self._inflight[i].get_loop() is not loop]
            if new:
                task = loop.create_task(self._fetch(new))
                for i in new:
                    self._inflight[i] = task
            decoded: dict[int, blocked.BlockColumns] = {}
            for found in await asyncio.gather(*{self._inflight[i] for i in missing}):
                decoded.update(found)
            if self._materialized:  # materialized meanwhile: nothing to keep
                return
            # (kept now, in the same step as the caller's look-ups; a block another call dropped
            # while this one waited is fetched again by the next turn of the loop)
            self._keep({i: columns for i, columns in decoded.items() if i in missing}, set(wanted))

    async def _fetch(self, blocks: list[int]) -> dict[int, blocked.BlockColumns]:
        try:
            found = await self.source.read_spans(self._spans(blocks))
            return {i: self._decode(i, data) for i, data in zip(blocks, found)}
        finally:
            for i in blocks:
                if self._inflight.get(i) is asyncio.current_task():
                    del self._inflight[i]

    def _block_blocking(self, i: int) -> blocked.BlockColumns:
        """Block ``i`` decoded, fetched now if need be (blocking code; the result is the
        caller's even if another thread drops it from the cache meanwhile)."""
        columns = self._blocks.get(i)
        if columns is None:
            (data,) = self.source.read_spans_blocking(self._spans([i]))
            columns = self._decode(i, data)
            self._keep({i: columns}, {i})
        return columns

    def _blocks_blocking(self, blocks: list[int]) -> dict[int, blocked.BlockColumns]:
        found = {i: self._blocks[i] for i in blocks if i in self._blocks}
        missing = [i for i in blocks if i not in found]
        if missing:
            fetched = self.source.read_spans_blocking(self._spans(missing))
            decoded = {i: self._decode(i, data) for i, data in zip(missing, fetched)}
            self._keep(decoded, set(blocks))
            found.update(decoded)
        return found

    # -- look-ups -------------------------------------------------------------------------
    def lookup(self, linear: int) -> tuple[int, int, int, int] | None:
        if self._materialized:
            return ChunkTable.lookup(self, linear)
        block, row = divmod(int(linear), self.layout.rows_per_block)
        columns = self._block_blocking(block)
        if columns.url_index[row] < 0:
            return None
        mask = int(columns.filter_mask[row]) if columns.filter_mask is not None else 0
        return int(columns.url_index[row]), int(columns.offset[row]), int(columns.length[row]), mask

    def lookup_many(self, linear: np.ndarray | range) -> ChunkColumns:
        """:meth:`ChunkTable.lookup_many`: the refs of many cells as columns, from the blocks
        that hold them (fetched now if :meth:`ensure_rows` did not load them)."""
        if self._materialized:
            return ChunkTable.lookup_many(self, linear)
        if isinstance(linear, range) and linear.step == 1:
            return self._lookup_run(linear.start, linear.stop)
        linear = np.asarray(linear, dtype=np.int64)
        rows_per_block = self.layout.rows_per_block
        distinct, order, bounds = blocked.group_by_block(linear // rows_per_block)
        wanted = distinct.tolist()
        parts = []  # (block, where in the answer, rows of the block)
        for block, begin, end in zip(wanted, bounds[:-1].tolist(), bounds[1:].tolist()):
            # the cells of one block: a run of the answer (cells in grid order), or scattered
            where: slice | np.ndarray = slice(begin, end) if order is None else order[begin:end]
            rows: slice | np.ndarray = linear[where] - block * rows_per_block
            if len(rows) > 1 and rows[-1] - rows[0] == len(rows) - 1 and (np.diff(rows) == 1).all():
                rows = slice(int(rows[0]), int(rows[-1]) + 1)  # a run of the block: copies of slices
            parts.append((block, where, rows))
        return self._gathered(len(linear), wanted, parts)

    def _lookup_run(self, start: int, stop: int) -> ChunkColumns:
        """:meth:`lookup_many` of the cells ``start:stop`` (a run of the grid): each block's
        part copied as a slice, no index arrays."""
        count = max(0, stop - start)
        rows_per_block = self.layout.rows_per_block
        blocks = list(range(start // rows_per_block, (stop - 1) // rows_per_block + 1)) if count else []
        parts = []
        for block in blocks:
            base = block * rows_per_block
            lo, hi = max(start, base), min(stop, base + rows_per_block)
            parts.append((block, slice(lo - start, hi - start), slice(lo - base, hi - base)))
        return self._gathered(count, blocks, parts)

    def _gathered(self, count: int, blocks: list[int], parts: list[tuple[int, slice | np.ndarray, slice | np.ndarray]]
                  ) -> ChunkColumns:
        """The answer of ``count`` cells made of ``parts``: (block, where in the answer, rows of
        the block), from the ``blocks`` (fetched now if not loaded)."""
        found = self._blocks_blocking(blocks)
        url_index, offset = np.full(count, -1, np.int32), np.zeros(count, np.int64)
        length, mask = np.zeros(count, np.int64), np.zeros(count, np.uint32)
        for block, where, rows in parts:
            columns = found[block]
            url_index[where], offset[where], length[where] = (columns.url_index[rows], columns.offset[rows],
                                                              columns.length[rows])
            if columns.filter_mask is not None:
                mask[where] = columns.filter_mask[rows]
        present = url_index >= 0
        if not present.all():
            offset[~present], length[~present], mask[~present] = 0, 0, 0
        return ChunkColumns(url_index, offset, length, mask, present)

    def url_ids(self) -> np.ndarray:
        if self._materialized:
            return ChunkTable.url_ids(self)
        return np.unique(self.global_url_ids)

    # -- the whole table ------------------------------------------------------------------
    def materialize(self) -> None:
        """Decode every block into dense columns: the table is an ordinary one from now on
        (blocking code; on the byte sources' event loop, await :meth:`materialize_async`)."""
        if self._materialized:
            return
        step = max(1, self.max_cached_blocks)  # fetched a group at a time: bounded bytes in flight
        columns = []
        for first in range(0, len(self.layout.blocks), step):
            wanted = range(first, min(first + step, len(self.layout.blocks)))
            missing = [i for i in wanted if i not in self._blocks]
            found = dict(zip(missing, self.source.read_spans_blocking(self._spans(missing)))) if missing else {}
            columns.extend(self._blocks.get(i) or self._decode(i, found[i]) for i in wanted)
        self._become_dense(columns)

    async def materialize_async(self) -> None:
        """:meth:`materialize` for code on the byte sources' event loop (a store's writes)."""
        if self._materialized:
            return
        missing = [i for i in range(len(self.layout.blocks)) if i not in self._blocks]
        found = dict(zip(missing, await self.source.read_spans(self._spans(missing)))) if missing else {}
        if not self._materialized:
            self._become_dense([self._blocks.get(i) or self._decode(i, found[i])
                                for i in range(len(self.layout.blocks))])

    def _become_dense(self, blocks: list[blocked.BlockColumns]) -> None:
        def joined(name: str, dtype: type) -> np.ndarray:
            return np.concatenate([getattr(b, name) for b in blocks]) if blocks else np.zeros(0, dtype)

        filter_mask = None
        if any(b.filter_mask is not None for b in blocks):
            filter_mask = np.concatenate([b.filter_mask if b.filter_mask is not None
                                          else np.zeros(len(b.url_index), np.uint32) for b in blocks])
        _set_columns(self, None, joined("url_index", np.int32), joined("offset", np.int64),
                     joined("length", np.int64), filter_mask)
        self._blocks.clear()
        self._materialized = True

    def encoded(self) -> bytes | None:
        """The table's encoded bytes as read, while it is unchanged (not materialized), else None."""
        return None if self._materialized else self.source.whole()

    def __reduce__(self):
        # Pickled as its layout and source (a copy decodes its own blocks when it reads), or,
        # once materialized, as the ordinary table it has become.
        if self._materialized:
            return (_plain_table, (self.grid_shape, *(ChunkTable.__dict__[n].__get__(self)
                                                      for n in ("url_index", "offset", "length", "filter_mask"))))
        return (LazyChunkTable, (self.layout, self.source, self.global_url_ids, self.name))


def _plain_table(grid_shape: tuple[int, ...], url_index: np.ndarray, offset: np.ndarray, length: np.ndarray,
                 filter_mask: np.ndarray | None) -> ChunkTable:
    table = ChunkTable(grid_shape)
    _set_columns(table, None, url_index, offset, length, filter_mask)
    return table


def _set_columns(table: ChunkTable, cells, url_index, offset, length, filter_mask) -> None:
    for attribute, value in (("cells", cells), ("url_index", url_index), ("offset", offset), ("length", length),
                             ("filter_mask", filter_mask)):
        ChunkTable.__dict__[attribute].__set__(table, value)


def _column(attribute: str) -> property:
    """A column of a lazy table: using it (anything that needs the whole table) decodes every
    block first; set directly only by ChunkTable's constructor, before the table is lazy."""
    slot = ChunkTable.__dict__[attribute]

    def get(self: LazyChunkTable):
        if not self._materialized:
            self.materialize()
        return slot.__get__(self)

    def set_(self: LazyChunkTable, value) -> None:
        try:
            materialized = self._materialized
        except AttributeError:  # in ChunkTable.__init__, before LazyChunkTable's own has run
            materialized = True
        if not materialized:
            self.materialize()
        slot.__set__(self, value)

    return property(get, set_)


for _name in ("cells", "url_index", "offset", "length", "filter_mask"):
    setattr(LazyChunkTable, _name, _column(_name))
del _name


def check_table_file_name(ref: Any, key: str) -> str:
    """The name of a table file as a descriptor gives it: a plain file name (spec §13)."""
    if not isinstance(ref, str) or not TABLE_FILE_NAME.fullmatch(ref) or ref in (".", ".."):
        raise ReferenceFormatError(f"ref {key!r}: a chunk table's \"ref\" is a plain file name beside the "
                                   f"reference file (letters, digits, '.', '_', '-'; no folders), not {ref!r}")
    return ref
