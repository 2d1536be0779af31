"""A read-only file object over an http(s) URL, for h5py to read HDF5 metadata remotely.

h5py reads a file object in many small pieces (object headers, B-tree nodes, heaps). Each
piece as its own request would cost a round trip, so reads are served from a cache of
fixed-size blocks. h5py calls this object while holding its global lock, so blocks are fetched
in the calling thread (:mod:`lindi_core.io.sync_http`), never by waiting on another thread.
Blocks are 64 KiB: on a pynwb file of 183 MB over 50 ms of latency, 16 KiB blocks took 56
round trips (1.2 MB), 64 KiB 17 (1.5 MB), 256 KiB 10 (2.6 MB); 64 KiB keeps both low.
Reading ahead grows geometrically while reads stay sequential (metadata is often laid out in
runs) and falls back to one block on a jump, so translating a 10 GB file fetches its
metadata, not its data.

A chunk index is the exception: libhdf5 walks a dataset's version-1 B-tree one node at a time,
each node wherever it was allocated, so a dataset of 100,000 chunks (some 1,600 nodes) would
cost 1,600 round trips one after the other. While the translator says a chunk index of a given
rank is being walked (:meth:`RemoteFile.expect_chunk_index`), reading an internal node fetches
all its child nodes at once, in parallel, exactly (node by node, not whole blocks), for libhdf5
to find when it asks.

Object headers are the other sequential chain: walking a group, libhdf5 reads its symbol
table, then each member's header when it opens it, then the members' symbol tables, and so on.
When the translator names object headers about to be read (:meth:`RemoteFile.prefetch_headers`:
the root's, then each group's members'), the pointers of the structures libhdf5 will follow are
followed here first (:mod:`lindi_core.hdf5.metadata`), breadth first: each round fetches
the blocks of every structure found in the round before, at once, in parallel.

Part of ``lindi_core.hdf5`` (between ``io/`` and ``translate/``): it reads through ``io/`` and is
used by ``translate/`` and ``store/``.
"""

from __future__ import annotations

import gc
import io
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from lindi_core.errors import ByteSourceError
from lindi_core.hdf5 import metadata as md
from lindi_core.io.address_guard import AddressGuard
from lindi_core.io.deadline import DEFAULT_TIMEOUT
from lindi_core.io.sync_http import SyncHttp

ADDRESS_SIZE = 8  # bytes of a file address: HDF5's default, and what h5py and pynwb write
PARALLEL_NODE_READS = 16
# Read-ahead of chunk-index nodes pays off when a round trip costs more than the threads it
# takes: measured on a 1.8 GB NWB file, 2.40 s -> 1.45 s at 50 ms, 0.39 s -> 0.42 s at 0 ms.
MIN_ROUND_TRIP_FOR_READ_AHEAD = 0.005
MAX_CRAWL_ROUNDS = 64  # of following metadata pointers ahead of libhdf5, per call


class RemoteFile(io.RawIOBase):
    """Seekable, read-only access to a remote file by byte ranges. ``timeout``: seconds one
    read may take in all, retries included (for the engine made here when ``http`` is None)."""

    def __init__(self, url: str, *, http: SyncHttp | None = None, block_size: int = 64 * 1024,
                 max_read_ahead_blocks: int = 64, cache_blocks: int = 4096, timeout: float = DEFAULT_TIMEOUT,
                 guard: AddressGuard | None = None):
        super().__init__()
        self.url = url
        self._owns_http = http is None
        self.http = http or SyncHttp(timeout=timeout, guard=guard)
        self.block_size = block_size
        self.max_read_ahead_blocks = max_read_ahead_blocks
        self.cache_blocks = cache_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._position = 0
        self._size: int | None = None
        self._ahead = 1
        self._last_block = -2
        self.bytes_fetched = 0
        self.requests = 0
        self._chunk_index_rank: int | None = None
        self._node_readers: ThreadPoolExecutor | None = None  # made on first use, kept until close
        self._round_trip: float | None = None  # recent seconds per block read, connects left out (moving average)
        self._nodes: dict[int, bytes] = {}  # B-tree nodes fetched ahead, by address
        self._crawled: set[tuple[str, int]] = set()  # metadata structures already followed
        self.round_trips = 0  # waits on the network: serial reads, and parallel batches counted once

    # -- io.RawIOBase -----------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._position = offset
        elif whence == io.SEEK_CUR:
            self._position += offset
        elif whence == io.SEEK_END:
            self._position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def expect_chunk_index(self, rank: int | None) -> None:
        """libhdf5 is about to walk the chunk index of a dataset of ``rank`` dimensions (None:
        it is done): B-tree nodes read meanwhile fetch their children ahead."""
        self._chunk_index_rank = rank
        if rank is None:
            self._nodes.clear()

    def prefetch_root(self) -> None:
        """The file is about to be opened: from its superblock (the first block, which its size
        comes with), follow the metadata of the whole tree ahead of libhdf5, where round trips
        are slow enough for that to pay."""
        self._crawl(md.superblock_pointers(self._cached_bytes(0, min(self.size, self.block_size))))

    def prefetch_headers(self, addresses: list[int]) -> None:
        """Object headers at ``addresses`` are about to be read: follow the metadata they
        point at (continuations, symbol tables, members' headers, ...) and fetch it ahead, a
        level of the tree per round, where round trips are slow enough for that to pay."""
        self._crawl([md.Pointer(md.HEADER, a) for a in addresses])

    def _crawl(self, start: list[md.Pointer]) -> None:
        if self._round_trip is None or self._round_trip < MIN_ROUND_TRIP_FOR_READ_AHEAD:
            return
        size = self.size
        pending = [p for p in dict.fromkeys(start) if (p.kind, p.address) not in self._crawled]
        queued = {(p.kind, p.address) for p in pending}
        budget = self.cache_blocks // 2  # blocks a crawl may add: it must not evict what it fetched
        for _round in range(MAX_CRAWL_ROUNDS):
            waiting: list[md.Pointer] = []
            wanted: set[int] = set()
            while pending:  # follow every pointer whose structure is at hand
                pointer = pending.pop()
                try:
                    found = md.pointers(pointer, self._cached_bytes)
                except md.NeedBytes as need:
                    if need.address + need.length <= size and need.length <= md.MAX_BYTES:
                        wanted.update(range(need.address // self.block_size,
                                            (need.address + need.length - 1) // self.block_size + 1))
                        waiting.append(pointer)
                    continue  # else not a structure after all: left to libhdf5
                self._crawled.add((pointer.kind, pointer.address))
                for child in found:
                    key = (child.kind, child.address)
                    if key not in queued and key not in self._crawled and 0 < child.address < size:
                        queued.add(key)
                        pending.append(child)
            wanted -= set(self._blocks)
            if not waiting or len(wanted) > budget:
                return
            budget -= len(wanted)
            self._fetch_blocks(sorted(wanted))  # one round trip for the whole frontier
            pending = waiting

    def _fetch_blocks(self, blocks: list[int]) -> None:
        """Fetch ``blocks`` into the block cache at once: runs of neighbours as one request."""
        if not blocks:
            return
        runs: list[list[int]] = []
        for b in blocks:
            if runs and b == runs[-1][1] + 1:
                runs[-1][1] = b
            else:
                runs.append([b, b])
        size = self.size

        def fetch(run: list[int]) -> bytes:
            offset = run[0] * self.block_size
            return self.http.read(self.url, offset, min((run[1] + 1) * self.block_size, size) - offset)[0]

        for (first, last), data in zip(runs, self._in_parallel(fetch, runs)):
            self._keep_blocks(first, last, data)

    def _keep_blocks(self, first: int, last: int, data: bytes) -> None:
        """Put blocks ``first`` to ``last``, fetched as one range ``data``, in the block cache
        (most recently used), and evict the least recently used beyond its size."""
        for b in range(first, last + 1):
            begin = (b - first) * self.block_size
            self._blocks[b] = data[begin : begin + self.block_size]
            self._blocks.move_to_end(b)
        while len(self._blocks) > self.cache_blocks:
            self._blocks.popitem(last=False)

    def _cached_bytes(self, offset: int, length: int) -> bytes:
        """Bytes of the block cache, for following pointers; raises NeedBytes for bytes not in it."""
        if not self._cached(offset, length):
            raise md.NeedBytes(offset, length)
        first, last = offset // self.block_size, (offset + length - 1) // self.block_size
        data = b"".join(self._blocks[b] for b in range(first, last + 1))
        return data[offset - first * self.block_size : offset - first * self.block_size + length]

    def read(self, size: int = -1) -> bytes:
        start = self._position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""
        node = self._nodes.pop(start, None)
        if node is not None and end - start <= len(node):
            self._position = end
            data = node[: end - start]
            self._fetch_child_nodes(data, start)
            return data
        data = self._read_blocks(start, end)
        if self._chunk_index_rank is not None:
            self._fetch_child_nodes(data, start)
        return data

    def _read_blocks(self, start: int, end: int) -> bytes:
        first, last = start // self.block_size, (end - 1) // self.block_size
        self._ensure_blocks(first, last)
        pieces = [self._blocks[b] for b in range(first, last + 1)]
        for b in range(first, last + 1):
            self._blocks.move_to_end(b)
        data = b"".join(pieces)[start - first * self.block_size : end - first * self.block_size]
        self._position = end
        return data

    # -- chunk-index read-ahead -------------------------------------------------------------
    def _fetch_child_nodes(self, node: bytes, address: int) -> None:
        """If ``node`` is an internal node of a chunk B-tree (version 1: "TREE", type 1, level
        above 0), fetch its children (nodes of the same size) at once into ``_nodes``."""
        rank = self._chunk_index_rank
        if rank is None or node[:4] != b"TREE" or len(node) < 8 or node[4] != 1 or node[5] == 0:
            return
        if self._round_trip is None or self._round_trip < MIN_ROUND_TRIP_FOR_READ_AHEAD:
            return  # round trips cost next to nothing here: threads would only add their own cost
        entries = int.from_bytes(node[6:8], "little")
        key_size = 8 + 8 * (rank + 1)  # chunk size, filter mask, one 8-byte offset per axis and one more
        first_key = 8 + 2 * ADDRESS_SIZE  # after signature, type, level, entries and two sibling addresses
        if first_key + entries * (key_size + ADDRESS_SIZE) + key_size > len(node):
            return  # not laid out as assumed (other address sizes): libhdf5 reads on, unhelped
        children = []
        for i in range(entries):
            at = first_key + (i + 1) * key_size + i * ADDRESS_SIZE
            child = int.from_bytes(node[at : at + ADDRESS_SIZE], "little")
            if 0 < child and child + len(node) <= self.size and child not in self._nodes and child != address \
                    and not self._cached(child, len(node)):
                children.append(child)
        if not children:
            return
        size = len(node)
        fetched = self._in_parallel(lambda child: self.http.read(self.url, child, size)[0], children)
        for child, data in zip(children, fetched):
            if data[:4] == b"TREE":  # else not a node after all (a layout this parser does not know)
                self._nodes[child] = data

    def _in_parallel(self, read, items: list) -> list[bytes]:
        """``read(item)`` for every item at once, on threads, counted."""
        # Threads that only move bytes; the collector stays off meanwhile, so that none of them
        # runs the finaliser of an h5py object, which needs the lock this thread holds.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if self._node_readers is None:
                self._node_readers = ThreadPoolExecutor(max_workers=PARALLEL_NODE_READS,
                                                        thread_name_prefix="lindi-read-ahead")
            fetched = list(self._node_readers.map(read, items))
            self.round_trips += 1
        finally:
            if collecting:
                gc.enable()
        self.requests += len(fetched)
        self.bytes_fetched += sum(len(data) for data in fetched)
        return fetched

    def _fetch(self, offset: int, length: int) -> tuple[bytes, int | None]:
        """One range read of the file, counted, its time kept in the round-trip average that
        decides on read-ahead."""
        began = time.perf_counter()
        data, total = self.http.read(self.url, offset, length)
        seconds = time.perf_counter() - began - self.http.connect_seconds
        self._round_trip = seconds if self._round_trip is None else 0.5 * self._round_trip + 0.5 * seconds
        self.requests += 1
        self.round_trips += 1
        self.bytes_fetched += len(data)
        return data, total

    def _cached(self, offset: int, length: int) -> bool:
        return all(b in self._blocks for b in range(offset // self.block_size, (offset + length - 1) // self.block_size + 1))

    def close(self) -> None:
        self._blocks.clear()
        self._nodes.clear()
        if self._node_readers is not None:
            self._node_readers.shutdown()
            self._node_readers = None
        if self._owns_http:
            self.http.close()
        super().close()

    # -- internals --------------------------------------------------------------------------
    @property
    def size(self) -> int:
        if self._size is None:
            self._size = self._fetch_size()
        return self._size

    def _fetch_size(self) -> int:
        # The first block, which h5py wants anyway (the superblock), tells the size too.
        data, total = self._fetch(0, self.block_size)
        if total is None:
            raise ByteSourceError(f"cannot learn the size of {self.url}: the server does not report it")
        self._blocks[0] = data[: self.block_size]
        return total

    def _ensure_blocks(self, first: int, last: int) -> None:
        missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if not missing:
            self._last_block = last
            return
        sequential = missing[0] in (self._last_block, self._last_block + 1)
        self._ahead = min(self._ahead * 2, self.max_read_ahead_blocks) if sequential else 1
        start_block = missing[0]
        stop_block = max(missing[-1], start_block + self._ahead - 1)
        stop_block = min(stop_block, (self.size - 1) // self.block_size)
        while stop_block > missing[-1] and stop_block in self._blocks:
            stop_block -= 1
        offset = start_block * self.block_size
        length = min(self.size, (stop_block + 1) * self.block_size) - offset
        data, _ = self._fetch(offset, length)
        self._keep_blocks(start_block, stop_block, data)
        self._last_block = last
