"""How a store reads the lazy binary chunk tables of its reference file (spec §13).

A table file beside the reference file is read through the store's byte sources (the engine
that merges neighbouring ranges, with the local cache), trusted exactly as the reference file:
its name is a plain file name (checked when the descriptor is parsed), resolved beside the
reference file (a sibling URL of a reference file at a URL, a file in the folder of a local
one, a member of the ``.lindi.tar`` or ``.lindi.d`` it lives in). The store's reads call
:func:`load_rows` before looking a chunk up, and its writes :func:`load_all` before changing
one, so that no look-up on the event loop waits for bytes.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from collections.abc import Iterable
from typing import Any

import numpy as np

from lindi_core.errors import LindiError
from lindi_core.format.keys import split_key
from lindi_core.format.lazy_chunk_table import InlineTableBytes, LazyChunkTable, TableFileBytes
from lindi_core.format.lindi_tar import member_url
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.io import sync_bridge
from lindi_core.io.locations import Location, is_url
from lindi_core.io.sources import ByteSources


class TableFileReader:
    """Reads one table file through a store's byte sources; ``base`` is where the file starts
    in ``location`` (a container member is a range of its archive). Not pickled with its
    sources: the store that unpickles the reference file system binds its own."""

    def __init__(self, sources: ByteSources, location: Location, base: int):
        self.sources, self.location, self.base = sources, location, base

    async def read(self, offset: int, length: int) -> bytes:
        return await self.sources.read(self.location, self.base + offset, length)

    def read_spans_blocking(self, spans: list[tuple[int, int]]) -> list[bytes]:
        if sync_bridge.on_bridge_loop():
            raise RuntimeError("a lazy chunk table was read by blocking code on the store's event loop; await "
                               "lindi_core.store.lazy_tables.load_rows first")

        async def run() -> list[bytes]:
            return list(await asyncio.gather(*(self.read(a, b - a) for a, b in spans)))

        return sync_bridge.run_sync(run())

    def __reduce__(self) -> Any:
        return (_unbound, ())


def _unbound() -> None:
    return None


def table_file_location(store: Any, source: TableFileBytes, reference_source: str | None) -> tuple[Location, int]:
    """Where a table file is: beside the reference file the store was opened from."""
    container = store.container
    if container is not None:
        located = container.locate(ChunkRef(member_url(source.ref), 0, source.size))
        if located is not None:
            return located[0], located[1]
    if reference_source is not None and is_url(reference_source):
        return store.policy.resolve(urllib.parse.urljoin(reference_source, source.ref)), 0
    base_dir = store.policy.base_dir
    if base_dir is None:
        return store.policy.resolve(source.ref), 0  # refused: nothing to resolve it against
    # Beside a local reference file: part of it, readable whatever it may say of other files.
    return Location("local", os.path.join(base_dir, source.ref)), 0


def bind_table_files(store: Any, reference_source: str | None, *, rebind: bool = False) -> None:
    """Bind the table files of the store's reference file system to the store's byte sources
    (only those not bound yet, unless ``rebind``). Without ``reference_source``, a table file
    that has nowhere to be found (a reference file given as text) stays unbound: reading its
    table then says so."""
    for table in store.rfs.tables.values():
        if isinstance(table, LazyChunkTable) and isinstance(table.source, TableFileBytes):
            source = table.source
            if rebind or source.reader is None or not isinstance(source.reader, TableFileReader):
                try:
                    location, base = table_file_location(store, source, reference_source)
                except LindiError:
                    if reference_source is not None:
                        raise
                    continue
                source.bind(TableFileReader(store.sources, location, base))


def _lazy_table_of(rfs: ReferenceFileSystem, key: str) -> tuple[LazyChunkTable, int | None] | None:
    parent, name = split_key(key)
    table = rfs.tables.get(parent)
    if not isinstance(table, LazyChunkTable) or table.materialized:
        return None
    return table, table.linear_index(name)


async def load_rows(rfs: ReferenceFileSystem, key: str) -> None:
    """Have the block holding the chunk ``key`` decoded, if it is in a lazy table."""
    found = _lazy_table_of(rfs, key)
    if found is not None and found[1] is not None:
        await found[0].ensure_rows(np.array([found[1]], dtype=np.int64))


Cells = np.ndarray | range  # grid cells: an array of them, or a run


async def load_cells(rfs: ReferenceFileSystem, array_path: str, linear: Cells | Iterable[Cells]) -> None:
    """Have the blocks holding these grid cells of the array decoded (one fetch), if its table
    is lazy: before a bulk look-up of their refs. The cells may come as parts (an iterable,
    made one at a time), so that a window of millions of cells is never one array."""
    table = rfs.tables.get(array_path)
    if not isinstance(table, LazyChunkTable) or table.materialized:
        return
    wanted: set[int] = set()
    for part in [linear] if isinstance(linear, (np.ndarray, range)) else linear:
        wanted.update(_blocks_of(table, part))
    if wanted:
        await table.ensure_blocks(sorted(wanted))


def _blocks_of(table: LazyChunkTable, cells: Cells) -> Iterable[int]:
    if isinstance(cells, range) and cells.step == 1:  # a run: its first and last cell's blocks, and those between
        rows = table.layout.rows_per_block
        return range(cells.start // rows, (cells.stop - 1) // rows + 1) if len(cells) else ()
    return table.layout.blocks_of(np.asarray(cells, dtype=np.int64)).tolist()


def held_in_memory(rfs: ReferenceFileSystem, array_path: str) -> bool:
    """Whether the array's refs are looked up without a request: a table that is not lazy, is
    decoded already, or is held in the reference file itself (inline base64), not in a table
    file beside it."""
    table = rfs.tables.get(array_path)
    return not isinstance(table, LazyChunkTable) or table.materialized or isinstance(table.source, InlineTableBytes)


async def load_all(rfs: ReferenceFileSystem, key: str) -> None:
    """Before ``key`` changes: have the whole table it may change decoded, if it is lazy (the
    table of a chunk key; of the array, for its ``.zarray``)."""
    parent, name = split_key(key)
    if name == ".zarray":
        table = rfs.tables.get(parent)
        if isinstance(table, LazyChunkTable):
            await table.materialize_async()
        return
    found = _lazy_table_of(rfs, key)
    if found is not None and found[1] is not None:
        await found[0].materialize_async()


async def load_keys(rfs: ReferenceFileSystem, keys: list[str]) -> None:
    """:func:`load_rows` for many chunk keys at once: one fetch per lazy table for the blocks
    they need (before code that looks their refs up on the event loop, e.g. to size windows)."""
    names_by_array: dict[str, list[str]] = {}
    for key in keys:
        parent, name = split_key(key)
        names_by_array.setdefault(parent, []).append(name)
    loads = []
    for parent, names in names_by_array.items():
        table = rfs.tables.get(parent)
        if isinstance(table, LazyChunkTable) and not table.materialized:
            cells = table.linear_indices(names)
            cells = cells[cells >= 0]
            if len(cells):
                loads.append(table.ensure_rows(cells))
    if loads:
        await asyncio.gather(*loads)
