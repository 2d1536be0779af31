"""Walk an HDF5 file and translate every object into a reference file system.

The walk follows links in the order the file gives them (creation order where the file tracks
it). An object reached by a second hard link is translated once, under the first path the walk
meets; later paths become ``_HARD_LINK`` groups pointing there. Soft and external links become
``_SOFT_LINK`` / ``_EXTERNAL_LINK`` groups, committed datatypes ``_NAMED_DATATYPE`` groups.
Nothing is skipped. A dataset or attribute whose values a reference file cannot give (a filter
missing here, a type with no Zarr or JSON form) is recorded with its metadata and the reason,
and raises :class:`~lindi_core.errors.UnreadableObjectError` when read, as h5py raises only
then (:mod:`lindi_core.translate.unreadable`); an object libhdf5 cannot read at all (a corrupt
file) raises :class:`~lindi_core.errors.TranslationError` naming it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import h5py
from tqdm import tqdm

from lindi_core.errors import LindiError, TranslationError
from lindi_core.format import annotations as ann
from lindi_core.format import chunk_table_forms, jsonio
from lindi_core.format.dtype_descriptions import describe, exact_description
from lindi_core.format.keys import join_key
from lindi_core.format.refs import ReferenceFileSystem
from lindi_core.io import folder_container, tar_container
from lindi_core.io.address_guard import AddressGuard
from lindi_core.translate.attributes import encode_attributes
from lindi_core.translate.chunks import ChunkOptions
from lindi_core.translate.datasets import DatasetContext, translate_dataset
from lindi_core.translate.dimension_names import add_array_dimensions
from lindi_core.translate.references import ObjectKey, ReferenceEncoder, object_key
from lindi_core.translate.source import CORRUPT_FILE_ERRORS, open_source
from lindi_core.translate.vlen_bounds import FileBytes
from lindi_core.write.lindi_tar import write_new_tar_of

GROUP_METADATA = {"zarr_format": 2}



def corrupt(exc: BaseException, source: str, object_path: str | None) -> TranslationError:
    """The TranslationError for a failure libhdf5 (or a parser of raw bytes) met in the file."""
    return TranslationError(f"cannot be read (corrupt or unsupported HDF5 structure): {type(exc).__name__}: {exc}",
                            source=source, object_path=object_path)


@dataclass(frozen=True)
class WalkEntry:
    """One link of the file: where it is, and what it points at."""

    path: str  # absolute HDF5 path
    kind: str  # "group", "dataset", "hard", "soft", "external"
    target: Any = None  # primary path (hard), link path (soft), (file, path) (external)
    # (group) its links whose names are not UTF-8: (position in h5py's listing, name's bytes)
    unnamed: list[tuple[int, bytes]] = field(default_factory=list, compare=False)


def open_object(location: h5py.h5g.GroupID, name: str) -> h5py.Group | h5py.Dataset | h5py.Datatype:
    """The object at ``name`` (relative to ``location``, or absolute), as ``group[name]`` gives it.

    Not ``group[name]`` itself: for a dataset h5py also builds a ``File`` object (to learn its
    mode), which on a metadata-heavy NWB file was a twentieth of translating it.
    """
    object_id = h5py.h5o.open(location, name.encode("utf-8"))
    kind = h5py.h5i.get_type(object_id)
    if kind == h5py.h5i.DATASET:
        return h5py.Dataset(object_id, readonly=True)
    if kind == h5py.h5i.GROUP:
        return h5py.Group(object_id)
    if kind == h5py.h5i.DATATYPE:
        return h5py.Datatype(object_id)
    raise TypeError(f"unknown object type at {name!r}")


def _text(raw: bytes) -> str:
    """A link value as text: a reference file is JSON, which holds only Unicode text, so a
    value that is not UTF-8 (h5py would give it with surrogate escapes) cannot be translated."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the link's value {raw[:100]!r} is not UTF-8 text, which a reference file "
                         f"cannot store") from None


def zarr_key(h5_path: str) -> str:
    return h5_path.strip("/")


def walk(h5file: h5py.File, source: str,
         on_members: Callable[[list[int]], None] | None = None) -> tuple[list[WalkEntry], dict[ObjectKey, str]]:
    """Every link of the file in depth-first, link-order traversal, and the primary path of
    every object (the first path this traversal meets).

    ``on_members`` hears the object-header addresses of a group's hard-linked members once the
    group is listed, before any of them is opened (a remote file fetches them ahead)."""
    entries = [WalkEntry("/", "group")]
    primary: dict[ObjectKey, str] = {object_key(h5file.id): "/"}
    if on_members is not None:
        on_members([h5py.h5o.get_info(h5file.id).addr])  # the root's header: the whole tree below it

    def members(group: h5py.Group, entry: WalkEntry) -> Iterator[tuple[str, Any]]:
        try:
            # The links' kinds (and hard links' addresses) from the low-level API: what
            # group.get(name, getlink=True) learns, without building link objects.
            names = list(group)
            # h5py gives a name that is not UTF-8 as bytes; a Zarr key is text: such a link is
            # listed by the group, and refuses to be followed (spec §8, _UNTRANSLATED_LINKS)
            entry.unnamed.extend((i, name) for i, name in enumerate(names) if not isinstance(name, str))
            names = [name for name in names if isinstance(name, str)]
            listed = [(name, group.id.links.get_info(name.encode("utf-8"))) for name in names]
        except CORRUPT_FILE_ERRORS as exc:
            raise TranslationError(f"group cannot be listed: {exc}", source=source, object_path=group.name) from exc
        if on_members is not None:
            on_members([info.u for _name, info in listed if info.type == h5py.h5l.TYPE_HARD])
        return iter(listed)

    # A stack of iterators over (group, remaining members) gives a depth-first preorder
    # without recursion limits on deep files.
    stack = [(h5file, members(h5file, entries[0]))]
    while stack:
        group, names = stack[-1]
        name, info = next(names, (None, None))
        if name is None:
            stack.pop()
            continue
        path = group.name.rstrip("/") + "/" + name
        try:
            encoded = name.encode("utf-8")
            kind = info.type
            if kind == h5py.h5l.TYPE_SOFT:
                entries.append(WalkEntry(path, "soft", _text(group.id.links.get_val(encoded))))
                continue
            if kind == h5py.h5l.TYPE_EXTERNAL:
                filename, target = group.id.links.get_val(encoded)
                entries.append(WalkEntry(path, "external", (_text(filename), _text(target))))
                continue
            obj = open_object(group.id, name)
        except CORRUPT_FILE_ERRORS as exc:
            raise TranslationError(f"link cannot be read: {exc}", source=source, object_path=path) from exc
        key = object_key(obj.id)
        if key in primary:
            entries.append(WalkEntry(path, "hard", primary[key]))
            continue
        primary[key] = path
        if isinstance(obj, h5py.Group):
            entries.append(WalkEntry(path, "group"))
            stack.append((obj, members(obj, entries[-1])))
        elif isinstance(obj, h5py.Dataset):
            entries.append(WalkEntry(path, "dataset"))
        else:  # a committed (named) datatype
            entries.append(WalkEntry(path, "datatype"))
    return entries, primary


def translate(
    source: str | os.PathLike,
    *,
    ref_url: str | None = None,
    options: ChunkOptions | None = None,
    progress: bool | None = None,
    address_guard: AddressGuard | None = None,
    timeout: float | None = None,
    chunk_table: str | None = None,
) -> ReferenceFileSystem:
    """Translate an HDF5 file (local path or http(s) URL) into a reference file system.

    ``ref_url`` is what chunk references name (default: the URL, or the absolute path of a
    local file), e.g. the public URL of a file translated from a local copy. ``progress``
    shows a progress bar (default: when stderr is a terminal). ``address_guard`` limits the
    addresses a URL's reads may connect to (for a file an untrusted reference file links to).
    ``timeout``: the seconds one read of a URL may take in all, its retries included (default
    60); past it the translation fails with an error saying it timed out. ``chunk_table``
    (``"auto"``, ``"json"`` or ``"binary"``; default ``options.chunk_table``) is how the chunk
    refs will be written (spec §13).
    """
    options = options or ChunkOptions()
    if chunk_table is not None:
        options = dataclasses.replace(options, chunk_table=chunk_table)
    opened = open_source(source, ref_url=ref_url, address_guard=address_guard, timeout=timeout)
    try:
        remote = opened.remote_file
        rfs = _translate_open_file(opened.h5file, opened.name, opened.ref_url, options, progress,
                                   remote.expect_chunk_index if remote is not None else None,
                                   remote.prefetch_headers if remote is not None else None,
                                   FileBytes(opened.read_raw))
        chunk_table_forms.choose_binary(rfs, options.chunk_table, options.chunk_table_threshold)
        return rfs
    except LindiError:
        raise
    except CORRUPT_FILE_ERRORS as exc:  # outside any one object: the root, the file's own structures
        raise corrupt(exc, opened.name, None) from exc
    finally:
        try:
            opened.close()
        except CORRUPT_FILE_ERRORS:
            pass  # libhdf5 flushing or freeing a damaged file's structures; nothing was written


def _translate_open_file(h5file: h5py.File, source: str, ref_url: str, options: ChunkOptions,
                         progress: bool | None,
                         on_chunk_index: Callable[[int | None], None] | None = None,
                         on_members: Callable[[list[int]], None] | None = None,
                         read_raw: Callable[[int, int], bytes] | None = None) -> ReferenceFileSystem:
    entries, primary = walk(h5file, source, on_members)
    rfs = ReferenceFileSystem(generation_metadata=_generation_metadata(source))
    refs = ReferenceEncoder(h5file, primary)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(entries), disable=not show, unit="obj", desc="translating") as bar:
        chunk_count = byte_count = 0

        def count_chunks(chunks: int, nbytes: int) -> None:
            # Told every few thousand chunks while a large dataset's index is walked, so the bar
            # moves while one object takes long. The text is formatted here: tqdm's own number
            # formatting turns 200000 into "2e+5".
            nonlocal chunk_count, byte_count
            chunk_count += chunks
            byte_count += nbytes
            bar.set_postfix_str(f"chunks={chunk_count:,}, {_size_text(byte_count)}", refresh=True)

        ctx = DatasetContext(rfs, refs, source, ref_url, options, count_chunks if show else None, on_chunk_index,
                             read_raw)
        for entry in entries:
            try:
                _translate_entry(ctx, h5file, rfs, refs, entry, source, read_raw)
            except LindiError:
                raise
            except CORRUPT_FILE_ERRORS as exc:
                raise corrupt(exc, source, entry.path) from exc
            bar.update(1)
    add_array_dimensions(rfs)
    return rfs


def _size_text(nbytes: int) -> str:
    """``1536`` -> ``"1.5 KiB"``: plain digits, whatever the size."""
    size, unit = float(nbytes), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{nbytes} B" if unit == "B" else f"{size:,.1f} {unit}"


def _translate_entry(ctx: DatasetContext, h5file: h5py.File, rfs: ReferenceFileSystem, refs: ReferenceEncoder,
                     entry: WalkEntry, source: str, read_raw: Callable[[int, int], bytes] | None) -> None:
    key = zarr_key(entry.path)
    if entry.kind == "dataset":
        translate_dataset(ctx, open_object(h5file.id, entry.path), key)
    elif entry.kind == "group":
        zattrs = encode_attributes(open_object(h5file.id, entry.path), refs, source, read_raw)
        if entry.unnamed:
            zattrs[ann.UNTRANSLATED_LINKS] = untranslated_links(entry.unnamed)
        _group(rfs, key, zattrs)
    elif entry.kind == "hard":
        _group(rfs, key, {ann.HARD_LINK: {"path": entry.target}})
    elif entry.kind == "soft":
        _group(rfs, key, {ann.SOFT_LINK: {"path": entry.target}})
    elif entry.kind == "external":
        filename, path = entry.target
        _group(rfs, key, {ann.EXTERNAL_LINK: {"file": filename, "path": path}})
    else:
        datatype = open_object(h5file.id, entry.path)
        _group(rfs, key, {**encode_attributes(datatype, refs, source, read_raw),
                          ann.NAMED_DATATYPE: {"dtype": _named_type_description(datatype)}})


def untranslated_links(unnamed: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    """The ``_UNTRANSLATED_LINKS`` record of a group's links whose names are not UTF-8."""
    return [{"name": base64.b64encode(raw).decode("ascii"), "position": position,
             "reason": "its name is not UTF-8 text, which a reference file cannot store as a key"}
            for position, raw in unnamed]


def _named_type_description(datatype: h5py.Datatype) -> Any:
    try:
        return describe(datatype.dtype)
    except (TypeError, ValueError):  # h5py has no NumPy type for it: its exact HDF5 type
        return exact_description(datatype.id)


def _group(rfs: ReferenceFileSystem, key: str, zattrs: dict) -> None:
    rfs.set_metadata(join_key(key, ".zgroup"), dict(GROUP_METADATA))
    if zattrs:
        rfs.set_metadata(join_key(key, ".zattrs"), zattrs)


def _generation_metadata(source: str) -> dict[str, Any]:
    from lindi_core import __version__

    return {
        "generatedBy": "lindi-core",
        "generatedByVersion": __version__,
        "creationDate": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "source": source,
    }


def translate_to_file(source: str | os.PathLike, output: str | os.PathLike, *,
                      generation_metadata: dict[str, Any] | None = None, **kwargs: Any) -> ReferenceFileSystem:
    """Translate ``source`` and write the reference file atomically to ``output``: a
    ``.lindi.tar`` container when its name ends in ``.tar``, a ``.lindi.d`` folder when it ends
    in ``.d``, else a ``.lindi.json``.
    ``generation_metadata`` is added to the file's ``generationMetadata`` (e.g. what version
    of the source was translated).

    Nothing is written unless the whole translation succeeds.
    """
    if os.path.exists(output) and os.path.exists(source) and os.path.samefile(output, source):
        raise TranslationError("the output is the file being translated: it would be replaced by its own "
                               "reference file; name another output", source=os.fspath(source))
    rfs = translate(source, **kwargs)
    rfs.generation_metadata.update(generation_metadata or {})
    if tar_container.names_tar(output):
        write_new_tar_of(rfs, output)  # large binary tables as members
    elif folder_container.names_folder(output):  # a .lindi.d: a folder holding the reference file
        _write_folder(rfs, os.fspath(output))
    else:
        jsonio.write_atomic(rfs, output)
    return rfs


def _write_folder(rfs: ReferenceFileSystem, output: str) -> None:
    """A new ``.lindi.d`` of a translation: its ``lindi.json`` only, since every chunk stays in
    the source file (a relative ``ref_url``, which inside the folder would name one of its
    files, is made absolute against the folder's parent, where a ``.lindi.json`` would look)."""
    from lindi_core.io.locations import LocationPolicy
    from lindi_core.write.lindi_folder import write_new_folder

    def no_reads(*_: Any) -> bytes:  # nothing is copied from a container or a staging area
        raise TranslationError("a translation has no chunks to copy into its folder", source=output)

    parent = os.path.dirname(os.path.abspath(output.rstrip("/")))
    write_new_folder(rfs, output, read=no_reads, policy=LocationPolicy(base_dir=parent))
