"""The ``.lindi.tar`` container layout, as pure data (see ``spec/lindi-json.md`` §12).

The layout is LINDI 0.4's (its ``docs/tar.md`` and ``lindi/tar/lindi_tar.py``), so either tool
reads the other's files. A container is a plain USTAR archive:

* the first member, ``.tar_entry.json``, sits at byte 0 with its data at byte 512 and is always
  exactly 1024 bytes (JSON padded with spaces): ``{"index": {"n", "o", "d", "s"}}`` says where
  the index is;
* ``.tar_index.json`` lists every member as ``{"n": name, "o": header offset, "d": data offset,
  "s": size}`` (itself and the entry record included), padded with spaces to leave room to grow;
* ``lindi.json`` is the reference file, also padded; its chunk refs ``["./blobs/x/0", offset,
  length]`` point into the member ``blobs/x/0`` of the same archive.

A reader therefore needs three range reads (entry record, index, reference file) and never
scans the archive. This module builds and parses the headers, the entry record and the index;
reading and writing bytes belongs to :mod:`lindi_core.io.tar_container` and
:mod:`lindi_core.write.lindi_tar`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from lindi_core.errors import TarFormatError

BLOCK = 512
ENTRY_NAME = ".tar_entry.json"
INDEX_NAME = ".tar_index.json"
REFERENCE_NAME = "lindi.json"
BLOB_PREFIX = "blobs/"
# Members under .trash/ hold no live data. LINDI renames the headers of members it replaced to
# such names; lindi-core also lists the regions of replaced reference files and indexes here,
# so that later writes can reuse their space instead of growing the archive.
TRASH_PREFIX = ".trash/"
ENTRY_SIZE = 1024
INITIAL_INDEX_SIZE = 8 * 1024
INITIAL_REFERENCE_SIZE = 8 * 1024
END_OF_ARCHIVE = bytes(2 * BLOCK)
# The first read of a container: the first member's header and the whole entry record.
HEAD_SIZE = BLOCK + ENTRY_SIZE
# Offsets and sizes are written as 11 octal digits in USTAR headers.
MAX_MEMBER_SIZE = 8**11 - 1

_NAME, _PREFIX = (0, 100), (345, 500)
_SIZE, _CHECKSUM, _TYPEFLAG, _MAGIC = (124, 136), (148, 156), 156, (257, 263)


@dataclass(frozen=True)
class TarMember:
    """One member: its name, where its 512-byte header starts and how many data bytes follow."""

    name: str
    header_offset: int
    size: int

    @property
    def data_offset(self) -> int:
        return self.header_offset + BLOCK

    @property
    def end(self) -> int:
        return self.data_offset + self.size

    @property
    def padded_end(self) -> int:
        """Where the next member's header may start (data is padded to whole blocks)."""
        return self.data_offset + padded_to_block(self.size)

    def renamed(self, name: str) -> TarMember:
        return TarMember(name, self.header_offset, self.size)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.name, "o": self.header_offset, "d": self.data_offset, "s": self.size}

    @classmethod
    def from_json(cls, obj: Any, where: str) -> TarMember:
        if not isinstance(obj, dict) or not isinstance(obj.get("n"), str):
            raise TarFormatError(f"{where}: a member record is {{\"n\": name, \"o\", \"d\", \"s\"}}, got {obj!r:.200}")
        numbers = [obj.get(k) for k in ("o", "d", "s")]
        if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in numbers):
            raise TarFormatError(f"{where}: member {obj['n']!r} needs non-negative integers o, d and s")
        header_offset, data_offset, size = numbers
        if header_offset % BLOCK or data_offset != header_offset + BLOCK:
            # LINDI writes one 512-byte header per member, on a block boundary; anything else
            # (pax or GNU long-name headers) would put the data elsewhere than "d" says.
            raise TarFormatError(f"{where}: member {obj['n']!r} has header at {header_offset} and data at "
                                 f"{data_offset}; the layout needs a single block-aligned header")
        return cls(obj["n"], header_offset, size)


def padded_to_block(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def region_size(length: int, initial: int) -> int:
    """Size of a new padded member (index or reference file) for ``length`` bytes of JSON: half
    as much again as room to grow in place, at least ``initial``, in whole blocks."""
    return max(initial, padded_to_block(length + length // 2))


def padded(text: bytes, size: int) -> bytes:
    """``text`` padded with spaces (insignificant to JSON) to exactly ``size`` bytes."""
    if len(text) > size:
        raise ValueError(f"{len(text)} bytes do not fit a member of {size} bytes")
    return text + b" " * (size - len(text))


# -- USTAR headers --------------------------------------------------------------------------
def fits_ustar(name: str) -> bool:
    return _split_name(name.encode("utf-8")) is not None


def _split_name(raw: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) fields for a member name: names over 100 bytes are split at a slash into a
    prefix of up to 155 bytes and a name of up to 100, as USTAR defines."""
    if not raw or b"\0" in raw:
        return None
    if len(raw) <= 100:
        return b"", raw
    for cut in range(min(len(raw) - 1, 155), 0, -1):
        if raw[cut : cut + 1] == b"/" and len(raw) - cut - 1 <= 100 and cut + 1 < len(raw):
            return raw[:cut], raw[cut + 1 :]
    return None


def ustar_header(name: str, size: int) -> bytes:
    """The 512-byte USTAR header of a regular file: mode 0644, owner 0, mtime 0 (as LINDI writes)."""
    split = _split_name(name.encode("utf-8"))
    if split is None:
        raise ValueError(f"member name {name!r} does not fit a USTAR header")
    if not 0 <= size <= MAX_MEMBER_SIZE:
        raise ValueError(f"member {name!r}: {size} bytes is more than a USTAR header can record")
    prefix, short = split
    header = bytearray(BLOCK)
    header[0 : len(short)] = short
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"00000000000\0"
    header[_TYPEFLAG] = ord("0")
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[345 : 345 + len(prefix)] = prefix
    header[148:156] = b"%06o\0 " % _checksum(header)
    return bytes(header)


def _checksum(header: bytes | bytearray) -> int:
    # The sum of the header's bytes, counting the checksum field itself as eight spaces.
    return sum(header[: _CHECKSUM[0]]) + 8 * 32 + sum(header[_CHECKSUM[1] :])


def looks_like_ustar(block: bytes) -> bool:
    """Whether ``block`` starts with a USTAR header (a JSON reference file never does: it has no
    NUL bytes, and USTAR's magic ends in one)."""
    return len(block) >= BLOCK and block[_MAGIC[0] : _MAGIC[0] + 5] == b"ustar" and block[262] == 0


def parse_ustar_header(block: bytes, where: str) -> tuple[str, int]:
    """(name, size) of a USTAR header, whose checksum must hold."""
    if not looks_like_ustar(block):
        raise TarFormatError(f"{where}: not a USTAR header")
    try:
        recorded = int(block[_CHECKSUM[0] : _CHECKSUM[1]].strip(b" \0") or b"-1", 8)
        size = int(block[_SIZE[0] : _SIZE[1]].strip(b" \0") or b"0", 8)
    except ValueError:
        raise TarFormatError(f"{where}: malformed USTAR header fields") from None
    # Some historic tars summed signed bytes; accept either sum, as tar implementations do.
    unsigned = _checksum(block[:BLOCK])
    signed = unsigned - 256 * sum(1 for b in block[: _CHECKSUM[0]] + block[_CHECKSUM[1] : BLOCK] if b >= 128)
    if recorded not in (unsigned, signed):
        raise TarFormatError(f"{where}: USTAR header checksum does not match (corrupt archive)")
    name = block[_NAME[0] : _NAME[1]].split(b"\0", 1)[0]
    prefix = block[_PREFIX[0] : _PREFIX[1]].split(b"\0", 1)[0]
    full = (prefix + b"/" + name) if prefix else name
    return full.decode("utf-8", errors="replace"), size


# -- entry record and index ------------------------------------------------------------------
def encode_entry(index: TarMember) -> bytes:
    """The entry record pointing at ``index``: exactly :data:`ENTRY_SIZE` bytes. The JSON is far
    shorter than 512 bytes, so rewriting it touches a single disk sector."""
    text = orjson.dumps({"index": index.to_json()})
    assert len(text) < BLOCK
    return padded(text, ENTRY_SIZE)


def decode_entry(data: bytes) -> TarMember:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise TarFormatError("the entry record (.tar_entry.json) is not valid JSON") from None
    if not isinstance(obj, dict) or "index" not in obj:
        raise TarFormatError("the entry record (.tar_entry.json) has no 'index'")
    index = TarMember.from_json(obj["index"], "entry record")
    if index.name != INDEX_NAME:
        raise TarFormatError(f"the entry record names {index.name!r} as the index, not {INDEX_NAME!r}")
    return index


def encode_index(members: Iterable[TarMember]) -> bytes:
    """The index listing ``members`` in archive order (unpadded)."""
    ordered = sorted(members, key=lambda m: m.header_offset)
    return orjson.dumps({"files": [m.to_json() for m in ordered]})


def decode_index(data: bytes, index: TarMember) -> dict[str, TarMember]:
    """The members an index lists, checked against the entry record that led to it."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise TarFormatError("the index (.tar_index.json) is not valid JSON (corrupt or truncated archive)") from None
    files = obj.get("files") if isinstance(obj, dict) else None
    if not isinstance(files, list):
        raise TarFormatError("the index (.tar_index.json) has no 'files' list")
    members: dict[str, TarMember] = {}
    for record in files:
        member = TarMember.from_json(record, "index")
        if member.name in members:
            raise TarFormatError(f"the index lists member {member.name!r} twice")
        members[member.name] = member
    if members.get(INDEX_NAME) != index:
        raise TarFormatError("the index does not list itself where the entry record says it is")
    entry = members.get(ENTRY_NAME)
    if entry != TarMember(ENTRY_NAME, 0, ENTRY_SIZE):
        raise TarFormatError(f"the index must list {ENTRY_NAME} at offset 0 with {ENTRY_SIZE} bytes")
    previous: TarMember | None = None
    for member in sorted(members.values(), key=lambda m: m.header_offset):
        if previous is not None and member.header_offset < previous.padded_end:
            raise TarFormatError(f"the index has members {previous.name!r} and {member.name!r} overlapping")
        previous = member
    return members


def check_within(members: Iterable[TarMember], file_size: int) -> None:
    """Every member's bytes must lie inside a file of ``file_size`` bytes."""
    for member in members:
        if member.end > file_size:
            raise TarFormatError(f"the index puts member {member.name!r} at bytes {member.data_offset}-{member.end}, "
                                 f"past the end of the {file_size}-byte archive (truncated?)")


def plan_new_archive(reference_length: int, member_sizes: list[tuple[str, int]]) -> list[TarMember]:
    """Where everything goes in a new archive, in LINDI's order: entry record, index, reference
    file, then the other members. The index lists itself, so its size is found by iterating."""
    reference_size = region_size(reference_length, INITIAL_REFERENCE_SIZE)
    index_size = INITIAL_INDEX_SIZE
    while True:
        layout = [TarMember(ENTRY_NAME, 0, ENTRY_SIZE), TarMember(INDEX_NAME, HEAD_SIZE, index_size)]
        layout.append(TarMember(REFERENCE_NAME, layout[-1].padded_end, reference_size))
        for name, size in member_sizes:
            layout.append(TarMember(name, layout[-1].padded_end, size))
        needed = region_size(len(encode_index(layout)), INITIAL_INDEX_SIZE)
        if needed <= index_size:
            return layout
        index_size = needed


# -- names -------------------------------------------------------------------------------
def member_url(name: str) -> str:
    """The chunk-ref URL of a member of the same container (LINDI's ``./`` form)."""
    return "./" + name


def member_name_of(url: str) -> str | None:
    """The member a chunk-ref URL names inside a container, or None for an absolute path or
    URL. Inside a container every relative target is a member, never a file beside it."""
    if "://" in url or url.startswith("/"):
        return None
    name = url[2:] if url.startswith("./") else url
    if not name or any(part in ("", ".", "..") for part in name.split("/")):
        raise TarFormatError(f"chunk reference target {url!r} is not the name of a member of the container")
    return name


def chunk_member_name(key: str, taken: Container[str]) -> str:
    """The member name for a new chunk at Zarr ``key``: ``blobs/<key>`` as LINDI names it, with
    ``.v2``, ``.v3``... when a chunk was rewritten; a hash of the key when the key is too long
    for a USTAR header."""
    base = BLOB_PREFIX + key.lstrip("/")
    if not fits_ustar(base + ".v999999"):
        base = BLOB_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    name, version = base, 1
    while name in taken:
        version += 1
        name = f"{base}.v{version}"
    return name
