"""Writing ``.lindi.tar`` containers: new ones in one go, existing ones grown in place.

A new archive (:func:`write_new_tar`) is written under a temporary name and renamed into place:
readers see the old file or the complete new one, never a part.

An existing archive grows in place (:class:`LindiTarWriter`). New chunks are appended as members
(``blobs/<key>``) as they are written, and :meth:`LindiTarWriter.commit` publishes a new
reference file and index. The entry record is the single commit point, and **no byte that any
commit's entry record ever reached is written again** (reference files, indexes, chunks):

1. members are appended after the last member the committed index lists;
2. the new reference file and the new index are appended too, never put into free space; the
   retired ones keep their bytes (their headers are renamed into ``.trash/`` and the index no
   longer lists them);
3. the file is flushed to disk (fsync), then the entry record is rewritten to point at the new
   index; its JSON lies within one 512-byte sector and is one write, so a reader or a crash sees
   the old record or the new one;
4. the headers of regions that changed role are renamed; only plain ``tar`` tools read them.

Why that suffices for readers: a reader reads the entry record, then the index it names, then
the reference file the index names, then chunks. Whichever entry record it read (old or new), the
index and the reference file it leads to are still the bytes that commit wrote, and so are the
chunks they refer to: the reader sees one whole commit, however many commits happen meanwhile.
The index must list itself exactly where the entry record says, so even an entry record read
half-old half-new is refused unless it names a real, whole index. A reference file copied out
of the archive earlier (its refs name byte ranges of the archive,
:meth:`ReferenceStore.portable_ref`) keeps reading the bytes it named.

Every write keeps the file a tar that ``tarfile`` lists, at every instant (a process killed
anywhere leaves a listable archive): a member's data, padding and a new end-of-archive marker
are written before its header, which replaces the zero block that ended the archive; headers
are single 512-byte writes.

Chunks rewritten or deleted leave members nothing refers to (their headers are renamed into
``.trash/``). With ``reuse_freed_chunks`` (off by default) a commit lists them in the index as
free regions (``.trash/blobs/...``), and later chunks go into a free region they fit (best fit, wasting at most about as much as they hold) before the
archive grows. That is the one exception to the rule above, and its caveat: a reference file
that copied datasets out of this archive, and a reader that opened it before the commit that
freed them, may then read another chunk's bytes. Reference-file and index regions are never
reused, even then, so an open reader still never sees metadata of one commit with another's
(torn metadata). Turn it on for archives nobody else points into.

An interrupted write leaves the previous commit whole: its index lists only bytes written and
flushed before it, and the next writer first cuts the file back to the committed end (zero
block first), then appends. The price of never writing in place: each commit appends one padded
reference file and one padded index (``region_size``: half as large again as their JSON, 8 KiB
at least, the reference file's room at most 64 KiB, plus a 512-byte header each); the index lists only what is live (and, with
``reuse_freed_chunks``, the free chunk regions), so that cost does not grow with the history. LINDI instead rewrites them in place, which a crash can
leave half old, half new, and a reader can see torn.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Container, Iterable
from typing import BinaryIO

from lindi_core.errors import LindiError
from lindi_core.format import jsonio, temporaries
from lindi_core.format.lindi_tar import (
    BLOB_PREFIX,
    BLOCK,
    END_OF_ARCHIVE,
    INDEX_NAME,
    INITIAL_INDEX_SIZE,
    INITIAL_REFERENCE_SIZE,
    REFERENCE_NAME,
    TRASH_PREFIX,
    TarMember,
    chunk_member_name,
    encode_entry,
    encode_index,
    fits_ustar,
    member_name_of,
    member_url,
    padded,
    padded_to_block,
    plan_new_archive,
    region_size,
    ustar_header,
)
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.format.table_files import ContentNamedTables, is_table_file_name
from lindi_core.io import tar_container
from lindi_core.io.locations import LocationPolicy
from lindi_core.write.self_contained import NewMember, ReadBytes, plan_self_contained
from lindi_core.write.staging import StagingArea

# Large enough for any offset or size of a real archive: sizes an index record for the worst case.
_LONGEST_NUMBER = 10**15
_SUFFIX = ".lindi.tar"  # of the temporaries new archives are written to
COMMIT_SLACK = 64 << 10  # most room to grow in place a commit's reference file keeps (commit_region_size)


def write_new_tar(path: str | os.PathLike, reference_text: bytes, members: Iterable[NewMember] = ()) -> None:
    """Write a new archive holding ``reference_text`` as ``lindi.json`` and ``members``,
    atomically (a temporary file renamed over ``path``)."""
    path = os.fspath(path)
    text = reference_text.rstrip()
    members = list(members)
    layout = plan_new_archive(len(text), [(name, size) for name, size, _ in members])
    entry, index, reference, *others = layout
    with temporaries.atomic_output(path, _SUFFIX) as f:
        _write_member(f, entry, encode_entry(index))
        _write_member(f, index, padded(encode_index(layout), index.size))
        _write_member(f, reference, padded(text, reference.size))
        for member, (_, _, produce) in zip(others, members):
            data = produce()
            if len(data) != member.size:
                raise LindiError(f"member {member.name!r} was to hold {member.size} bytes but got {len(data)}")
            _write_member(f, member, data)
        f.write(END_OF_ARCHIVE)


def _write_member(f: BinaryIO, member: TarMember, data: bytes) -> None:
    """Header, data and the zero padding to a whole block, at the member's place."""
    f.seek(member.header_offset)
    f.write(ustar_header(member.name, member.size))
    f.write(data)
    f.write(bytes(padded_to_block(member.size) - member.size))


def write_self_contained(rfs: ReferenceFileSystem, path: str | os.PathLike, *, read: ReadBytes,
                         container: tar_container.TarContainer | None = None, staging: StagingArea | None = None,
                         policy: LocationPolicy | None = None, inline_limit: int | None = None,
                         staged_only: Container[str] | None = None) -> None:
    """Write ``rfs`` as a new container at ``path`` that holds the bytes of every chunk kept in
    ``container`` (the container ``rfs`` was read from: a ``.lindi.tar`` or a ``.lindi.d``) or in
    ``staging``, and of inline chunks over ``inline_limit`` bytes (see
    :mod:`lindi_core.write.self_contained`)."""
    rfs, members = plan_self_contained(rfs, read=read, name_for=tar_member_name, container=container,
                                       staging=staging, policy=policy, inline_limit=inline_limit,
                                       staged_only=staged_only)
    write_new_tar_of(rfs, path, members)


def write_new_tar_of(rfs: ReferenceFileSystem, path: str | os.PathLike, members: Iterable[NewMember] = ()) -> None:
    """Write ``rfs`` as a new archive at ``path`` with ``members``, its large binary chunk
    tables as members named by their content (spec §13), wherever they were read from."""
    members = list(members)
    names = {name for name, _, _ in members}

    def add(name: str, data: bytes) -> None:
        names.add(name)
        members.append((name, len(data), lambda: data))

    # A kept descriptor names a member of the archive it was read from, not of this new one.
    placer = ContentNamedTables(names.__contains__, add, REFERENCE_NAME)
    write_new_tar(path, b"".join(jsonio.iter_json_text(rfs, place_table=placer)), members)


def tar_member_name(wanted: str, taken: set[str]) -> str:
    """``wanted`` when free and short enough for a USTAR header, else a free name after it."""
    if wanted not in taken and fits_ustar(wanted):
        return wanted
    return chunk_member_name(wanted[len(BLOB_PREFIX):] if wanted.startswith(BLOB_PREFIX) else wanted, taken)


class LindiTarWriter:
    """A local container open for writing: the chunk sink of a writable store (new chunks become
    members at once, readable through :attr:`container`) and the committer of reference files."""

    def __init__(self, path: str, opened: tar_container.OpenedTar, *, reuse_freed_chunks: bool = False):
        self.path = path
        self.reuse_freed_chunks = reuse_freed_chunks
        self.container = opened.container
        self.reference_text = opened.reference_text  # the committed reference file when opened
        self._committed = dict(self.container.members)
        self._committed_digest = _digest(opened.reference_text)
        self._normalized_digest: bytes | None = None  # of the committed file as we would write it
        self._append_at = max(member.padded_end for member in self._committed.values())
        # Whether the file ends with an end-of-archive marker at _append_at; unknown until the
        # first write (an interrupted session may have left members past the committed end).
        self._tail_clean = False
        self._file: BinaryIO | None = open(path, "r+b", buffering=0)
        # Free regions of the committed state that new chunks may fill, and the regions filled
        # so (their headers still carry the free name until the commit renames them).
        self._reusable = _free_regions(self._committed)
        self._refilled: list[TarMember] = []

    @classmethod
    def open(cls, path: str | os.PathLike, *, reuse_freed_chunks: bool = False) -> LindiTarWriter:
        path = os.path.abspath(os.fspath(path))
        temporaries.remove_stale(os.path.realpath(path))  # of new archives written here by killed processes
        return cls(path, tar_container.open_local(path), reuse_freed_chunks=reuse_freed_chunks)

    @classmethod
    def create(cls, path: str | os.PathLike, reference_text: bytes, *,
               reuse_freed_chunks: bool = False) -> LindiTarWriter:
        """A new archive (replacing any file at ``path``) holding ``reference_text``, open for writing."""
        write_new_tar(path, reference_text)
        return cls.open(path, reuse_freed_chunks=reuse_freed_chunks)

    def __enter__(self) -> LindiTarWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _fd(self) -> int:
        if self._file is None:
            raise ValueError(f"the container {self.path!r} is closed")
        return self._file.fileno()

    def _write_at(self, offset: int, data: bytes) -> None:
        """One positioned write (a 512-byte header is a single write within one page: a process
        killed around it leaves the whole old block or the whole new one)."""
        fd = self._fd()
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

    # -- appending members ----------------------------------------------------------------
    def store_chunk(self, key: str, data: bytes) -> ChunkRef:
        """Append a chunk as the member ``blobs/<key>`` and return the ref to it."""
        name = chunk_member_name(key, self.container.members)
        self.append(name, bytes(data))
        return ChunkRef(member_url(name), 0, len(data))

    def append(self, name: str, data: bytes) -> TarMember:
        """Add a member, in a free region it fits or after everything else (it is published by
        the next commit)."""
        if name in self.container.members:
            raise ValueError(f"the container already has a member {name!r}")
        region = self._take_free_region(len(data))
        if region is not None:  # same size, header unchanged until the commit: the tar's shape stays
            self._write_at(region.data_offset, padded(data, region.size))
            member = region.renamed(name)
            del self.container.members[region.name]
            self.container.members[name] = member
            self._refilled.append(member)
            return member
        member = self._append_member(name, data)
        self.container.members[name] = member
        return member

    def _append_member(self, name: str, data: bytes) -> TarMember:
        """Write a new member where the end-of-archive marker is. The data, its padding and a new
        marker after it go first, the header last: until the header lands, the old marker's zero
        block still ends the archive there, so ``tarfile`` lists the file at every instant (a
        header never promises data the file does not hold yet)."""
        self._clean_tail()
        member = TarMember(name, self._append_at, len(data))
        self._write_at(member.data_offset, data)
        self._write_at(member.end, bytes(padded_to_block(member.size) - member.size) + END_OF_ARCHIVE)
        self._write_at(member.header_offset, ustar_header(member.name, member.size))
        self._append_at = member.padded_end
        return member

    def _clean_tail(self) -> None:
        """Before the first write past the committed end: whatever an interrupted session left
        there (never referred to by a commit) goes, the zero block first so that the archive
        ends at the committed end throughout."""
        if self._tail_clean:
            return
        self._write_at(self._append_at, END_OF_ARCHIVE)
        self._file.truncate(self._append_at + len(END_OF_ARCHIVE))
        self._tail_clean = True

    def _take_free_region(self, length: int) -> TarMember | None:
        """The smallest committed free chunk region ``length`` bytes fit in without wasting more
        than they hold (plus a block), taken off the list; None if there is none or reuse is off."""
        if not self.reuse_freed_chunks:
            return None
        for i, region in enumerate(self._reusable):
            if length <= region.size <= 2 * length + BLOCK:
                del self._reusable[i]
                return region
        return None

    # -- committing -----------------------------------------------------------------------
    def commit_rfs(self, rfs: ReferenceFileSystem) -> bool:
        """Publish ``rfs`` as the reference file (see :meth:`commit`). Its binary chunk tables of
        at least 64 KiB (``CONTAINER_TABLE_THRESHOLD``) are members named by their content (spec
        §13): a table no member holds yet is appended (never into free space), an unchanged one
        keeps its member, so a commit that leaves a table alone appends neither the table nor its
        text; one that changes a chunk of its array appends that array's new table once."""
        placer = ContentNamedTables(self.container.members.__contains__, self._append_table, REFERENCE_NAME)
        text = b"".join(jsonio.iter_json_text(rfs, place_table=placer))
        return self.commit(text, used_urls=[*rfs.used_urls(), *map(member_url, placer.placed)])

    def _append_table(self, name: str, data: bytes) -> None:
        # Always after everything else: a freed chunk region is overwritten by reuse, and no
        # table may lie where a later chunk can go.
        self.container.members[name] = self._append_member(name, data)

    def commit(self, reference_text: bytes, used_urls: Iterable[str] | None = None) -> bool:
        """Publish ``reference_text`` as the reference file, with every member appended so far
        (crash-safe: see the module's documentation). Chunk members it does not refer to become
        free regions; ``used_urls`` (the URLs its chunk refs name) saves parsing it to find them.
        False when there was nothing to publish."""
        text = reference_text.rstrip()
        if self.container.members == self._committed and self._unchanged(text):
            return False
        if used_urls is None:
            parsed = jsonio.loads(text)
            used_urls = [*parsed.used_urls(), *(member_url(source.ref) for source in jsonio.table_files(parsed))]
        referenced = {name for name in map(member_name_of, used_urls) if name is not None}
        start = self._append_at
        try:
            live, index, renamed = self._prepare(text, referenced)
            entry = encode_entry(index)
        except BaseException:
            # Nothing was committed: the next attempt may overwrite what this one appended.
            self._append_at = start
            self._tail_clean = False
            raise
        self._write_at(BLOCK, entry)  # the commit
        # The entry record is written: the memory state follows it, whatever happens next, so
        # that no later commit reuses a region the disk may now reach.
        self.container.members.clear()
        self.container.members.update(live)
        self._committed = dict(live)
        self._committed_digest = self._normalized_digest = _digest(text)
        self.reference_text = text
        self._sync()
        for member in renamed + self._refilled:
            self._write_at(member.header_offset, ustar_header(member.name, member.size))
        self._refilled = []
        self._reusable = _free_regions(self._committed)
        return True

    def _prepare(self, text: bytes, referenced: set[str]) -> tuple[dict[str, TarMember], TarMember, list[TarMember]]:
        """Append the new reference file and index and flush them to disk. Returns the new
        index's members, its own record, and the regions whose headers are renamed once committed.

        The reference file and the index always go to new space, never into a free region:
        bytes that any earlier commit's entry record reached are never written again, so a
        reader that read an entry record, old or new, finds the index and reference file of
        that very commit however many commits happened since."""
        live = dict(self.container.members)
        renamed: list[TarMember] = []  # retired regions, whose headers are renamed after the commit
        retired = [live.pop(REFERENCE_NAME), live.pop(INDEX_NAME)]
        reference = self._append_member(REFERENCE_NAME, padded(text, commit_region_size(len(text))))
        live[REFERENCE_NAME] = reference
        # Chunks the new reference file does not refer to (rewritten or deleted) are free. A
        # writer that reuses free chunk regions lists them, for itself and later such writers;
        # others list no free space at all (nothing will write there), so the index stays the
        # size of what is live however long the history. The retired reference file and index
        # are never listed: nothing ever writes there again.
        # Tables no longer named go out of the index too (their bytes stay: never reused).
        freed = [live.pop(name) for name in list(live)
                 if (name.startswith(BLOB_PREFIX) or is_table_file_name(name)) and name not in referenced]
        if not self.reuse_freed_chunks:
            for name in [name for name in live if name.startswith(TRASH_PREFIX)]:
                del live[name]
        for old in retired + freed:
            trash = old.renamed(f"{TRASH_PREFIX}{old.name}.{old.data_offset}")
            if self.reuse_freed_chunks and old in freed and old.name.startswith(BLOB_PREFIX):
                live[trash.name] = trash
            renamed.append(trash)
        longest = len(encode_index([*live.values(), TarMember(INDEX_NAME, _LONGEST_NUMBER, _LONGEST_NUMBER)]))
        size = region_size(longest, INITIAL_INDEX_SIZE)
        index = TarMember(INDEX_NAME, self._append_at, size)
        live[INDEX_NAME] = index
        self._append_member(INDEX_NAME, padded(encode_index(live.values()), size))
        self._sync()
        return live, index, renamed

    def _unchanged(self, text: bytes) -> bool:
        """Whether ``text`` says what the committed reference file says. Another writer (LINDI)
        formats JSON differently; compared as this library would have written it, opening such
        a file for writing and closing it unchanged leaves it untouched."""
        digest = _digest(text)
        if digest == self._committed_digest:
            return True
        if self._normalized_digest is None:
            self._normalized_digest = _digest(jsonio.dumps(jsonio.loads(self.reference_text)))
        return digest == self._normalized_digest

    def _sync(self) -> None:
        os.fsync(self._fd())


def commit_region_size(length: int) -> int:
    """Size of the reference file member a commit appends: room to grow in place as a new
    archive has (``region_size``), but at most COMMIT_SLACK bytes of it. Only LINDI 0.4 rewrites
    a reference file in place (this library appends a new one each commit), so room past what
    its edits need is written, never used, at every commit: half again of a reference file of
    tens of megabytes (a large array's refs) would be that much waste each time."""
    return min(region_size(length, INITIAL_REFERENCE_SIZE),
               max(INITIAL_REFERENCE_SIZE, padded_to_block(length + COMMIT_SLACK)))


def _free_regions(members: dict[str, TarMember]) -> list[TarMember]:
    """The free regions among ``members`` that held chunks, smallest first (those that held a
    reference file or an index are left for the next ones, which alternate between them)."""
    return sorted((m for name, m in members.items() if name.startswith(TRASH_PREFIX + BLOB_PREFIX)),
                  key=lambda m: (m.size, m.header_offset))


def _digest(text: bytes) -> bytes:
    return hashlib.sha256(text.rstrip()).digest()
