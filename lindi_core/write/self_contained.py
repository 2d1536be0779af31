"""What a new self-contained reference file holds: its refs and the chunk files to copy in.

A ``.lindi.tar`` or a ``.lindi.d`` written from an open file (``write_lindi_file``) holds the
bytes of every chunk kept in the container the file was read from (a ``.lindi.tar``, a
``.lindi.d``) or in its staging area, so the new file needs neither, and of inline chunks too
large to stay in the JSON. Refs into other files (the original HDF5 file, uploaded blobs) stay
as they are, except relative paths, which inside a container would name its own members: they
become absolute. The container kinds differ only in how members are written
(:mod:`lindi_core.write.lindi_tar`, :mod:`lindi_core.write.lindi_folder`) and which names are
free (``name_for``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container
from functools import partial
from typing import Any

from lindi_core.format.lindi_tar import BLOB_PREFIX, member_url
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.io.folder_container import RemoteFolderContainer
from lindi_core.io.locations import Location, LocationPolicy
from lindi_core.write.consolidate import staged_refs
from lindi_core.write.staging import StagingArea

# (name, size, function producing the bytes) of a member to write into a new container
NewMember = tuple[str, int, Callable[[], bytes]]
# Reads ``length`` bytes at ``offset`` of a location (the facade's byte sources)
ReadBytes = Callable[[Location, int, int], bytes]
# The free member name closest to the one wanted (``blobs/<key>``), given the names taken
NameFor = Callable[[str, set[str]], str]


def plan_self_contained(rfs: ReferenceFileSystem, *, read: ReadBytes, name_for: NameFor, container: Any = None,
                        staging: StagingArea | None = None, policy: LocationPolicy | None = None,
                        inline_limit: int | None = None, staged_only: Container[str] | None = None,
                        in_place: bool = False) -> tuple[ReferenceFileSystem, list[NewMember]]:
    """The reference file system to write (a copy when anything moves: ``rfs`` keeps its own
    refs) and the members to write with it. ``container``: a
    :class:`~lindi_core.io.tar_container.TarContainer` or a
    :class:`~lindi_core.io.folder_container.FolderContainer` the refs may name members of;
    ``in_place``: the new file goes into that very container (a folder written into itself),
    whose members stay where they are, named as they are."""
    if isinstance(container, RemoteFolderContainer):
        # The files of a folder at a URL stay where they are, named by their URLs (as refs into
        # any other remote file stay refs): nothing to copy, and no size to learn first.
        rfs = rfs.relocated(container.moves_outside(rfs.used_urls()))
        container = None
    members: list[NewMember] = []
    moves: dict[str, tuple[str, int]] = {}
    taken: set[str] = set()
    renamed: dict[str, str] = {}  # source member name -> its name in the new container
    remaining = []
    for url in rfs.used_urls():  # members of the source container first: they keep their names where free
        member = container.member_for(url) if container is not None else None
        if member is None:
            remaining.append(url)
            continue
        if in_place:
            continue
        name = renamed.get(member.name)
        if name is None:
            name = renamed[member.name] = name_for(member.name, taken)
            taken.add(name)
            members.append((name, member.size, partial(read, *container.whole(member))))
        if url != member_url(name):
            moves[url] = (member_url(name), 0)
    staged_keys = {ref.url: key for key, ref in staged_refs(rfs, staging, staged_only)} if staging is not None else {}
    for url in remaining:
        if url in staged_keys:
            name = name_for(BLOB_PREFIX + staged_keys[url].lstrip("/"), taken)
            taken.add(name)
            size = os.path.getsize(url)
            members.append((name, size, partial(read, Location("local", url), 0, size)))
            moves[url] = (member_url(name), 0)
        elif "://" not in url and not os.path.isabs(url):
            moves[url] = ((policy or LocationPolicy()).resolve(url).where, 0)
    large_inline = [key for key, data in rfs.inline.items() if inline_limit is not None and len(data) > inline_limit]
    if moves or large_inline:
        rfs = rfs.relocated(moves)
    for key in large_inline:
        name = name_for(BLOB_PREFIX + key.lstrip("/"), taken)
        taken.add(name)
        data = rfs.inline[key]
        members.append((name, len(data), partial(bytes, data)))
        rfs.set_ref(key, ChunkRef(member_url(name), 0, len(data)))
    return rfs, members
