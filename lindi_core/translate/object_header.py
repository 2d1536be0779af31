"""Reading the raw bytes of variable-length values that live in an HDF5 object header.

Attribute values and the data of compact datasets are stored inside their object's header, where
h5py offers no raw access. To check their variable-length records before libhdf5 reads them
(see :mod:`lindi_core.translate.vlen_bounds`), this module walks the header's messages itself,
as the HDF5 file format specification describes them (version 1 and 2 object headers and their
continuation blocks; attribute messages 1 to 3; layout messages 1 to 4).

It only ever finds records to check: anything it does not recognise (shared datatypes, dense
attribute storage, malformed bytes) yields nothing, and libhdf5 reads the object as before.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

RawReader = Callable[[int, int], bytes]

MSG_LAYOUT = 0x0008
MSG_CONTINUATION = 0x0010
MSG_ATTRIBUTE = 0x000C
DATATYPE_VLEN = 9
_MAX_BLOCK = 1 << 20  # an object header block larger than this is not one libhdf5 wrote


@dataclass(frozen=True)
class VlenValues:
    """The raw records of a variable-length value: ``count`` records at ``data``."""

    item_size: int  # bytes per counted item (1 for strings)
    count: int
    data: bytes
    vlen_kind: int = 0  # the datatype's variable-length kind: 0 a sequence, 1 a string; others are corrupt


class _Malformed(Exception):
    pass


def _unpack(fmt: str, data: bytes, offset: int) -> tuple:
    try:
        return struct.unpack_from(fmt, data, offset)
    except struct.error as exc:
        raise _Malformed(str(exc)) from None


def messages(read_raw: RawReader, address: int, sizeof_addr: int, sizeof_size: int) -> Iterator[tuple[int, int, bytes]]:
    """(type, flags, body) of each message of the object header at ``address``."""
    prefix = read_raw(address, 16)
    if prefix[:4] == b"OHDR":
        yield from _messages_v2(read_raw, address, sizeof_addr, sizeof_size)
    elif prefix[:1] == b"\x01":
        yield from _messages_v1(read_raw, address, prefix, sizeof_addr, sizeof_size)


def _messages_v1(read_raw: RawReader, address: int, prefix: bytes, sizeof_addr: int,
                 sizeof_size: int) -> Iterator[tuple[int, int, bytes]]:
    (count,) = _unpack("<H", prefix, 2)
    (size,) = _unpack("<I", prefix, 8)
    blocks = [(address + 16, size)]
    seen = 0
    while blocks and seen < count:
        start, length = blocks.pop(0)
        if length > _MAX_BLOCK:
            raise _Malformed("header block too large")
        block = read_raw(start, length)
        position = 0
        while position + 8 <= len(block) and seen < count:
            kind, body_size, flags = _unpack("<HHB", block, position)
            body = block[position + 8 : position + 8 + body_size]
            position += 8 + body_size
            seen += 1
            if kind == MSG_CONTINUATION:
                blocks.append(_continuation(body, sizeof_addr, sizeof_size))
            else:
                yield kind, flags, body


def _messages_v2(read_raw: RawReader, address: int, sizeof_addr: int,
                 sizeof_size: int) -> Iterator[tuple[int, int, bytes]]:
    head = read_raw(address, 32)
    flags = head[5]
    position = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    (size,) = _unpack({1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[width], head, position)
    track_order = bool(flags & 0x04)
    blocks = [(address + position + width, size, False)]
    while blocks:
        start, length, is_continuation = blocks.pop(0)
        if length > _MAX_BLOCK:
            raise _Malformed("header block too large")
        block = read_raw(start, length)
        position = 0
        if is_continuation:
            if block[:4] != b"OCHK":
                raise _Malformed("continuation block without its signature")
            position = 4
            end = len(block) - 4  # checksum
        else:
            end = len(block)
        header = 4 + (2 if track_order else 0)
        while position + header <= end:
            kind, body_size, message_flags = _unpack("<BHB", block, position)
            body = block[position + header : position + header + body_size]
            position += header + body_size
            if kind == MSG_CONTINUATION:
                offset, span = _continuation(body, sizeof_addr, sizeof_size)
                blocks.append((offset, span, True))
            elif kind:
                yield kind, message_flags, body


def _continuation(body: bytes, sizeof_addr: int, sizeof_size: int) -> tuple[int, int]:
    return (int.from_bytes(body[:sizeof_addr], "little"),
            int.from_bytes(body[sizeof_addr : sizeof_addr + sizeof_size], "little"))


def _vlen_item_size(datatype: bytes) -> int | None:
    """Bytes per item of a variable-length datatype message; ``None`` for other types."""
    if len(datatype) < 8 or datatype[0] & 0x0F != DATATYPE_VLEN:
        return None
    if datatype[1] & 0x0F == 1:  # a string
        return 1
    (base_size,) = _unpack("<I", datatype, 12)  # the base type's message follows the first 8 bytes
    return base_size


def _element_count(dataspace: bytes, sizeof_size: int) -> int:
    version, rank = dataspace[0], dataspace[1]
    if version == 1:
        dims_at = 8
    elif version == 2:
        if dataspace[3] == 2:  # null
            return 0
        dims_at = 4
    else:
        raise _Malformed(f"dataspace message version {version}")
    count = 1
    for axis in range(rank):
        count *= int.from_bytes(dataspace[dims_at + axis * sizeof_size : dims_at + (axis + 1) * sizeof_size], "little")
    return count


def _padded(n: int, version: int) -> int:
    return (n + 7) & ~7 if version == 1 else n


def vlen_attributes(read_raw: RawReader, address: int, sizeof_addr: int, sizeof_size: int) -> dict[str, VlenValues]:
    """The raw records of the variable-length attributes stored in the object header at
    ``address``, by name (empty when the header cannot be read as expected)."""
    found: dict[str, VlenValues] = {}
    try:
        for kind, _flags, body in messages(read_raw, address, sizeof_addr, sizeof_size):
            if kind != MSG_ATTRIBUTE or len(body) < 8:
                continue
            version = body[0]
            if version not in (1, 2, 3) or (version >= 2 and body[1] & 0x03):
                continue  # shared datatype or dataspace: described elsewhere
            name_size, type_size, space_size = _unpack("<HHH", body, 2)
            position = 8 if version < 3 else 9
            name = body[position : position + name_size].rstrip(b"\0").decode("utf-8", "replace")
            position += _padded(name_size, version)
            datatype = body[position : position + type_size]
            position += _padded(type_size, version)
            dataspace = body[position : position + space_size]
            position += _padded(space_size, version)
            item_size = _vlen_item_size(datatype)
            if item_size is None:
                continue
            found[name] = VlenValues(item_size, _element_count(dataspace, sizeof_size), body[position:],
                                     datatype[1] & 0x0F)
    except (_Malformed, IndexError, KeyError, ValueError, UnicodeError):
        return {}
    return found


def compact_data(read_raw: RawReader, address: int, sizeof_addr: int, sizeof_size: int) -> bytes | None:
    """The raw data of the compact dataset whose object header is at ``address``."""
    try:
        for kind, _flags, body in messages(read_raw, address, sizeof_addr, sizeof_size):
            if kind != MSG_LAYOUT:
                continue
            version = body[0]
            if version in (3, 4) and body[1] == 0:
                (size,) = _unpack("<H", body, 2)
                return body[4 : 4 + size]
            if version in (1, 2) and body[2] == 0:
                rank = body[1]
                position = 8 + rank * 4  # no address for compact data; then the dimensions
                (size,) = _unpack("<I", body, position)
                return body[position + 4 : position + 4 + size]
            return None
    except (_Malformed, IndexError, KeyError, ValueError):
        return None
    return None


MSG_FILL_VALUE_OLD = 0x0004
MSG_FILL_VALUE = 0x0005
_MSG_FLAG_SHARED = 0x02


def fill_value(read_raw: RawReader, address: int, sizeof_addr: int, sizeof_size: int) -> bytes | None:
    """The raw fill value (in the dataset's file type) of the dataset whose object header is at
    ``address``; None when it defines none or the header says it in a form not read here.

    libhdf5 converts a fill value only to a type it can convert the dataset's to, and h5py asks
    for it in a NumPy type, which for an HDF5 array type is the base type: that fails."""
    try:
        old = None
        for kind, flags, body in messages(read_raw, address, sizeof_addr, sizeof_size):
            if flags & _MSG_FLAG_SHARED:
                continue
            if kind == MSG_FILL_VALUE:
                version = body[0]
                if version in (1, 2):
                    defined = body[3]
                    if not defined:
                        return None
                    (size,) = _unpack("<I", body, 4)
                    return body[8 : 8 + size] if size else None
                if version == 3:
                    if not body[1] & 0x20:
                        return None
                    (size,) = _unpack("<I", body, 2)
                    return body[6 : 6 + size] if size else None
                return None
            if kind == MSG_FILL_VALUE_OLD:
                (size,) = _unpack("<I", body, 0)
                old = body[4 : 4 + size] if size else None
        return old
    except (_Malformed, IndexError, KeyError, ValueError):
        return None
