"""Where an HDF5 file's metadata structures point: enough of the format to fetch ahead what
libhdf5 will read next.

libhdf5 walks a file one structure at a time: an object header names its continuation chunks
and, for a group, its symbol table (a B-tree of symbol-table nodes plus a local heap); the
symbol-table nodes name the members' object headers; and so on down the tree. Over a network
each step is a round trip. Following the same pointers here, breadth first, lets a remote file
fetch a whole level of the tree at once (:meth:`lindi_core.hdf5.remote_file.RemoteFile.prefetch_headers`).

Only pointers are parsed, never values, and nothing here decides what the translation reads:
a structure this module does not know, or reads wrongly, costs at most a block fetched for
nothing; libhdf5 still reads every byte it uses itself. Covered (HDF5 file format spec 3.0,
the structures h5py and pynwb write): version 1 and 2 object headers and their continuation
chunks; symbol-table, link (compact hard links), and version 3 chunked-layout messages; group
B-tree nodes (version 1, type 0), symbol-table nodes and local heaps. Addresses and lengths are
assumed 8 bytes (the default, and what the superblock of every such file says).

Part of ``lindi_core.hdf5`` (between ``io/`` and ``translate/``); pure parsing, it imports nothing
else of lindi_core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

ADDRESS_SIZE = 8
UNDEFINED = 0xFFFF_FFFF_FFFF_FFFF

# Kinds of structure
HEADER = "header"  # an object header, version 1 or 2
HEADER_CHUNK_V1 = "header-chunk-v1"  # a continuation chunk of a version 1 header (length known)
HEADER_CHUNK_V2 = "header-chunk-v2"  # a continuation chunk of a version 2 header ("OCHK")
GROUP_BTREE = "group-btree"  # a version 1 B-tree node of a group's symbol table ("TREE", type 0)
SYMBOL_NODE = "symbol-node"  # a symbol-table node ("SNOD")
LOCAL_HEAP = "local-heap"  # a local heap header ("HEAP")
BYTES = "bytes"  # a range libhdf5 will read whole (a heap's data segment, a chunk B-tree root)

# Message types (spec IV.A.2)
_LINK, _LAYOUT, _CONTINUATION, _SYMBOL_TABLE = 0x0006, 0x0008, 0x0010, 0x0011


class Pointer(NamedTuple):
    kind: str
    address: int
    length: int = 0  # for header chunks and BYTES
    header_flags: int = 0  # for HEADER_CHUNK_V2: the flags of the header it continues


class NeedBytes(Exception):  # noqa: N818 - a request for more input, not an error
    """The structure reaches beyond the bytes at hand."""

    def __init__(self, address: int, length: int):
        super().__init__(address, length)
        self.address, self.length = address, length


MAX_BYTES = 1 << 20  # a BYTES range is fetched up to this length
Reader = Callable[[int, int], bytes]  # (address, length) -> bytes, raising NeedBytes if not at hand


def _u(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "little")


def _valid(address: int) -> bool:
    return 0 < address < UNDEFINED


def pointers(pointer: Pointer, read: Reader) -> list[Pointer]:
    """The structures ``pointer``'s structure points at; [] when it is not what it should be."""
    kind, address = pointer.kind, pointer.address
    if kind == HEADER:
        return _header(address, read)
    if kind == HEADER_CHUNK_V1:
        return _messages_v1(read(address, pointer.length), 0, pointer.length)
    if kind == HEADER_CHUNK_V2:
        return _chunk_v2(address, pointer.length, pointer.header_flags, read)
    if kind == GROUP_BTREE:
        return _group_btree(address, read)
    if kind == SYMBOL_NODE:
        return _symbol_node(address, read)
    if kind == LOCAL_HEAP:
        return _local_heap(address, read)
    read(address, min(pointer.length, MAX_BYTES))  # BYTES: fetched, nothing inside followed
    return []


SIGNATURE = b"\x89HDF\r\n\x1a\n"


def superblock_pointers(data: bytes) -> list[Pointer]:
    """The root group's structures named by a superblock at the start of ``data`` (spec II.A);
    [] for anything else (a superblock after a user block is left to libhdf5)."""
    if data[:8] != SIGNATURE or len(data) < 100:
        return []
    version = data[8]
    if version in (0, 1):
        if data[13] != ADDRESS_SIZE or data[14] != 8:
            return []
        entry = 56 if version == 0 else 60  # the root's symbol-table entry, after four addresses
        found = [Pointer(HEADER, _u(data, entry + 8, 8))]
        if _u(data, entry + 16, 4) == 1:  # its symbol table's addresses cached in the entry
            found += [Pointer(GROUP_BTREE, _u(data, entry + 24, 8)), Pointer(LOCAL_HEAP, _u(data, entry + 32, 8))]
        return [p for p in found if _valid(p.address)]
    if version in (2, 3) and data[9] == ADDRESS_SIZE:
        root = _u(data, 36, 8)  # after the base, superblock-extension and end-of-file addresses
        return [Pointer(HEADER, root)] if _valid(root) else []
    return []


def _header(address: int, read: Reader) -> list[Pointer]:
    head = read(address, 16)
    if head[:4] == b"OHDR":
        flags = head[5]
        at = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        size_bytes = 1 << (flags & 0x03)
        chunk_size = _u(read(address + at, size_bytes), 0, size_bytes)
        start = address + at + size_bytes
        return _messages_v2(read(start, chunk_size), flags)
    if head[0] != 1:
        return []
    chunk_size = _u(head, 8, 4)
    return _messages_v1(read(address + 16, chunk_size), 0, chunk_size)


def _chunk_v2(address: int, length: int, header_flags: int, read: Reader) -> list[Pointer]:
    data = read(address, length)
    if data[:4] != b"OCHK":
        return []
    return _messages_v2(data[4:-4], header_flags)


def _messages_v1(data: bytes, at: int, end: int) -> list[Pointer]:
    found: list[Pointer] = []
    while at + 8 <= end:
        kind, size = _u(data, at, 2), _u(data, at + 2, 2)
        body = data[at + 8 : at + 8 + size]
        found += _message(kind, body, None)
        at += 8 + size
    return found


def _messages_v2(data: bytes, header_flags: int) -> list[Pointer]:
    found: list[Pointer] = []
    head = 4 + (2 if header_flags & 0x04 else 0)
    at = 0
    while at + head <= len(data):
        kind, size = data[at], _u(data, at + 1, 2)
        body = data[at + head : at + head + size]
        found += _message(kind, body, header_flags)
        at += head + size
    return found


def _message(kind: int, body: bytes, header_flags: int | None) -> list[Pointer]:
    """What message ``kind`` points at (``header_flags`` None: in a version 1 header)."""
    if kind == _CONTINUATION and len(body) >= 16:
        address, length = _u(body, 0, 8), _u(body, 8, 8)
        if _valid(address) and length:
            if header_flags is None:
                return [Pointer(HEADER_CHUNK_V1, address, length)]
            return [Pointer(HEADER_CHUNK_V2, address, length, header_flags)]
    elif kind == _SYMBOL_TABLE and len(body) >= 16:
        btree, heap = _u(body, 0, 8), _u(body, 8, 8)
        return [Pointer(GROUP_BTREE, btree)] * _valid(btree) + [Pointer(LOCAL_HEAP, heap)] * _valid(heap)
    elif kind == _LINK:
        return _hard_link(body)
    elif kind == _LAYOUT and len(body) >= 11 and body[0] == 3 and body[1] == 2:  # version 3, chunked
        root = _u(body, 3, 8)
        if _valid(root):
            return [Pointer(BYTES, root, 512)]  # the chunk index's root node, walked later
    return []


def _hard_link(body: bytes) -> list[Pointer]:
    """The target of a link message (spec IV.A.2.g), if it is a hard link."""
    if len(body) < 2 or body[0] != 1:
        return []
    flags = body[1]
    at = 2
    link_type = 0
    if flags & 0x08:
        link_type = body[at]
        at += 1
    if flags & 0x04:
        at += 8  # creation order
    if flags & 0x10:
        at += 1  # character set
    length_size = 1 << (flags & 0x03)
    name_length = _u(body, at, length_size)
    at += length_size + name_length
    if link_type != 0 or at + 8 > len(body):
        return []
    address = _u(body, at, 8)
    return [Pointer(HEADER, address)] if _valid(address) else []


def _group_btree(address: int, read: Reader) -> list[Pointer]:
    head = read(address, 24)
    if head[:4] != b"TREE" or head[4] != 0:
        return []
    level, entries = head[5], _u(head, 6, 2)
    # keys (8 bytes, heap offsets) and children (addresses) alternate after the header
    body = read(address + 24, entries * 16 + 8)
    children = [_u(body, 8 + i * 16, 8) for i in range(entries)]
    kind = GROUP_BTREE if level > 0 else SYMBOL_NODE
    return [Pointer(kind, child) for child in children if _valid(child)]


def _symbol_node(address: int, read: Reader) -> list[Pointer]:
    head = read(address, 8)
    if head[:4] != b"SNOD":
        return []
    count = _u(head, 6, 2)
    body = read(address + 8, count * 40)
    found = []
    for i in range(count):
        entry = body[i * 40 : (i + 1) * 40]
        header = _u(entry, 8, 8)
        if _valid(header):
            found.append(Pointer(HEADER, header))
        if _u(entry, 16, 4) == 1:  # a group whose symbol table is cached in the entry
            btree, heap = _u(entry, 24, 8), _u(entry, 32, 8)
            found += [Pointer(GROUP_BTREE, btree)] * _valid(btree) + [Pointer(LOCAL_HEAP, heap)] * _valid(heap)
    return found


def _local_heap(address: int, read: Reader) -> list[Pointer]:
    head = read(address, 32)
    if head[:4] != b"HEAP":
        return []
    size, segment = _u(head, 8, 8), _u(head, 24, 8)
    return [Pointer(BYTES, segment, size)] if _valid(segment) and size else []
