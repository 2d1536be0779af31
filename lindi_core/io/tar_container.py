"""Opening a ``.lindi.tar`` container for reading, and finding the bytes its refs name.

Opening takes three range reads whose sizes are known in advance: the first header with the
entry record, then the index it points at, then the reference file the index lists. Over HTTP
that is three requests, however large the archive (layout: :mod:`lindi_core.format.lindi_tar`).

A ref whose target is relative (``./blobs/x/0``) names a member of the container itself,
wherever the container is (a local path or a URL): :meth:`TarContainer.locate` turns it into a
byte range of the archive. Such refs never reach the files beside the archive, so a container
fetched from a URL may use them without being trusted with local files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lindi_core.errors import ByteSourceError, TarFormatError
from lindi_core.format.lindi_tar import (
    BLOCK,
    ENTRY_NAME,
    ENTRY_SIZE,
    HEAD_SIZE,
    INDEX_NAME,
    REFERENCE_NAME,
    TRASH_PREFIX,
    TarMember,
    check_within,
    decode_entry,
    decode_index,
    looks_like_ustar,
    member_name_of,
    parse_ustar_header,
)
from lindi_core.format.refs import ChunkRef
from lindi_core.io.locations import Location, name_of
from lindi_core.io.sync_http import SyncHttp

RangeRead = Callable[[int, int], bytes]


@dataclass
class TarContainer:
    """Where an archive is and what it holds. ``members`` is the live index: a writer adds the
    members it appends, so that refs to them read back at once."""

    location: Location
    members: dict[str, TarMember]

    def member_for(self, url: str) -> TarMember | None:
        """The member a ref target names; None when the target is not relative to the container."""
        name = member_name_of(url)
        if name is None:
            return None
        if name.startswith(TRASH_PREFIX) or name in (ENTRY_NAME, INDEX_NAME, REFERENCE_NAME):
            # The container's own bookkeeping: free space (stale or later reused bytes), the
            # entry record, the index, the reference file. Never chunk bytes (spec §12).
            raise TarFormatError(f"chunk reference target {url!r}: {name!r} is not a chunk member of the "
                                 f"container {self.location.where!r} (its own bookkeeping or free space)")
        member = self.members.get(name)
        if member is None:
            raise TarFormatError(f"chunk reference target {url!r}: the container {self.location.where!r} "
                                 f"has no member {name!r}")
        return member

    def locate(self, ref: ChunkRef) -> tuple[Location, int, int] | None:
        """(archive, offset, length) of a ref into one of the members; None for other refs."""
        member = self.member_for(ref.url)
        if member is None:
            return None
        length = member.size - ref.offset if ref.length < 0 else ref.length
        if length < 0 or ref.offset + length > member.size:
            raise TarFormatError(f"chunk reference [{ref.url!r}, {ref.offset}, {ref.length}] reaches past the end "
                                 f"of member {member.name!r} ({member.size} bytes) of {self.location.where!r}")
        return self.location, member.data_offset + ref.offset, length

    def whole(self, member: TarMember) -> tuple[Location, int, int]:
        """Where the bytes of ``member`` are: (archive, offset, length)."""
        return self.location, member.data_offset, member.size

    def moves_outside(self, urls: Iterable[str]) -> dict[str, tuple[str, int]]:
        """For each of ``urls`` that names a member: (the archive's path or URL, the member's data
        offset), the shift that makes refs to the member readable outside the container."""
        moves = {}
        for url in urls:
            member = self.member_for(url)
            if member is not None:
                moves[url] = (self.location.where, member.data_offset)
        return moves


@dataclass(frozen=True)
class OpenedTar:
    """A container just opened: its members, its reference file's text (padding removed) and the
    archive's size in bytes when known."""

    container: TarContainer
    reference_text: bytes
    file_size: int | None


def read_container(location: Location, head: bytes, read: RangeRead, file_size: int | None) -> OpenedTar:
    """Parse a container given its first :data:`HEAD_SIZE` bytes and a way to read the rest."""
    try:
        if len(head) < HEAD_SIZE:
            raise TarFormatError(f"{len(head)} bytes are too few for a LINDI tar (it starts with {HEAD_SIZE})")
        name, size = parse_ustar_header(head[:BLOCK], "first member")
        if name != ENTRY_NAME or size != ENTRY_SIZE:
            raise TarFormatError(f"not a LINDI tar: its first member is {name!r} ({size} bytes), "
                                 f"not {ENTRY_NAME} ({ENTRY_SIZE} bytes)")
        index = decode_entry(head[BLOCK:HEAD_SIZE])
        if file_size is not None:
            check_within([index], file_size)
        members = decode_index(read(index.data_offset, index.size), index)
        if file_size is not None:
            check_within(members.values(), file_size)
        reference = members.get(REFERENCE_NAME)
        if reference is None:
            raise TarFormatError(f"the index lists no {REFERENCE_NAME} member")
        text = read(reference.data_offset, reference.size).rstrip()
    except TarFormatError as exc:
        raise TarFormatError(f"{location.where}: {exc}") from None
    return OpenedTar(TarContainer(location, members), text, file_size)


def open_local(path: str | os.PathLike) -> OpenedTar:
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_SIZE)
            # The size after the entry record was read: a writer appends the index and reference
            # file of a commit before it writes the entry record that points at them.
            file_size = os.fstat(f.fileno()).st_size

            def read(offset: int, length: int) -> bytes:
                f.seek(offset)
                data = f.read(length)
                if len(data) != length:
                    raise TarFormatError(f"the archive ends before byte {offset + length} (truncated?)")
                return data

            return read_container(Location("local", path), head, read, file_size)
    except OSError as exc:
        raise ByteSourceError(f"cannot read {path!r}: {exc}") from exc


def open_url(url: str, http: SyncHttp | None = None, *, timeout: float | None = None) -> OpenedTar:
    """Open a container over HTTP with three range requests."""
    owned = http is None
    http = http or (SyncHttp() if timeout is None else SyncHttp(timeout=timeout))
    try:
        head, file_size = http.read(url, 0, HEAD_SIZE)

        def read(offset: int, length: int) -> bytes:
            return http.read(url, offset, length)[0]

        return read_container(Location("http", url), head, read, file_size)
    finally:
        if owned:
            http.close()


def open_bytes(location: Location, data: bytes) -> OpenedTar:
    """A container already downloaded whole; its refs still read from ``location``."""
    return read_container(location, data[:HEAD_SIZE], lambda offset, length: data[offset : offset + length],
                          len(data))


def names_tar(path_or_url: str | os.PathLike) -> bool:
    """By its name: whether a local path or an http(s) URL names a ``.tar`` file (a URL by its
    path, whatever its query). A new reference file is a container when its name says so; a file
    at a URL is not sniffed (that would cost a request for every reference file opened)."""
    return name_of(os.fspath(path_or_url)).endswith(".tar")


def holds_tar(path: str | os.PathLike) -> bool:
    """By its content: whether an existing local file is a tar archive (its first header,
    whatever its name)."""
    try:
        with open(path, "rb") as f:
            return looks_like_ustar(f.read(BLOCK))
    except OSError:
        return False
