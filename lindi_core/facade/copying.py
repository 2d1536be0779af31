"""Copies inside and between reference files (``group.copy`` of translated objects): metadata
and inline data by value, chunk references by reference, with libhdf5's ``H5Ocopy`` options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from lindi_core.facade.dataset_creation import empty_encoded
from lindi_core.facade.group_writes import create_group
from lindi_core.facade.hierarchy import DATASET
from lindi_core.format import annotations as ann
from lindi_core.format import families
from lindi_core.format.keys import join_key
from lindi_core.format.refs import ChunkRef

if TYPE_CHECKING:
    from lindi_core.facade.lowlevel import FileHandle


def copy_object(source_handle: FileHandle, source: str, dest_handle: FileHandle, dest: str,
                without_attrs: bool = False, shallow: bool = False, expand_soft: bool = False,
                expand_external: bool = False, expand_refs: bool = False, levels: int | None = None) -> None:
    """Copy the object at ``source`` (and everything below it) to ``dest``: metadata and inline
    data by value, chunk references by reference (no bytes move, also between files).

    The options mean what they mean to h5py (``H5Ocopy``): ``shallow`` copies a group's
    immediate members only (member groups arrive empty, with their attributes);
    ``expand_soft`` / ``expand_external`` replace soft / external links whose target exists
    by copies of the target. Object references are treated as libhdf5 treats them without
    ``expand_refs``: those in attributes become null, those in datasets stay within one file
    and become null in another. ``levels`` limits the depth copied (``shallow`` is 1)."""
    if expand_refs:
        # libhdf5 copies each object an attribute refers to into the root group under a name
        # made from its file address ("~obj_pointed_by_<address>"), which has no counterpart here.
        raise ValueError("expand_refs is not available: libhdf5 copies referenced objects under names made from "
                         "HDF5 file addresses; copy the referenced objects explicitly instead")
    if dest_handle.kind(dest) is not None:
        raise ValueError("Unable to synchronously copy object (destination object already exists)")
    parent = dest.rpartition("/")[0]
    if parent and dest_handle.kind(parent) is None:
        create_group(dest_handle, parent)
    src = source_handle.rfs
    own = [join_key(source, name) for name in (".zgroup", ".zarray", ".zattrs")]
    below = source_handle.subtree_keys(source, table_cells=False)  # tables are copied whole, below
    if shallow:
        levels = 1 if levels is None else min(levels, 1)
    if levels is not None:
        below = [k for k in below if _owner_depth(source_handle, source, k) <= levels]
    keys = [k for k in own if src.get(k) is not None] + below
    links: list[tuple[str, str]] = []  # (source path, kind) of soft / external links copied
    outside: dict[str, list[str]] = {}  # objects outside the copy hard-linked from inside: their links' copies
    # Metadata first, in the source's order otherwise (creation-ordered groups keep their order).
    for key in sorted(dict.fromkeys(keys), key=lambda k: not k.rsplit("/", 1)[-1].startswith(".")):
        value = src.get(key)
        new_key = _rebased(key, source, dest)
        name = key.rsplit("/", 1)[-1]
        if isinstance(value, dict):
            if name == ".zattrs":
                hard = value.get(ann.HARD_LINK)
                if isinstance(hard, dict) and not _within(str(hard.get("path", "")).strip("/"), source):
                    outside.setdefault(str(hard["path"]).strip("/"), []).append(new_key.rsplit("/", 1)[0])
                value = _null_references(_copied_attrs(value, source, dest, without_attrs))
                link = ann.link_annotation(value)
                if link is not None and link[0] in (ann.SOFT_LINK, ann.EXTERNAL_LINK):
                    links.append((key.rsplit("/", 1)[0], link[0]))
            dest_handle.rfs.set_metadata(new_key, value)
        elif isinstance(value, bytes):
            dest_handle.rfs.set_inline(new_key, value)
        elif value is not None:
            if dest_handle is not source_handle:  # relative refs mean something else in another file
                value = source_handle.store.portable_ref(value)
            dest_handle.rfs.set_ref(new_key, value)
    copied = set(keys)
    for array_path in source_handle.subtree_tables(source):
        if join_key(array_path, ".zarray") in copied:
            _copy_table(source_handle, array_path, dest_handle, _rebased(array_path, source, dest))
    dest_handle.hierarchy.rebuild()
    if dest_handle is not source_handle:
        _null_dataset_references(dest_handle, dest)
    # A member hard-linked from outside the copy is copied too, as H5Ocopy copies every object
    # the copied links lead to: the copy shares nothing with the original. Several links to
    # one such object lead to one copy.
    for target, copies in outside.items():
        first, *others = copies
        dest_handle.remove_keys(first)
        dest_handle.hierarchy.rebuild()
        copy_object(source_handle, target, dest_handle, first, without_attrs=without_attrs)
        for other in others:
            dest_handle.rfs.set_metadata(join_key(other, ".zattrs"), {ann.HARD_LINK: {"path": "/" + first}})
        dest_handle.hierarchy.rebuild()
    for link_path, kind in links:
        if (kind == ann.SOFT_LINK and expand_soft) or (kind == ann.EXTERNAL_LINK and expand_external):
            depth = _rebased(link_path, source, "").count("/")
            _expand_link(source_handle, link_path, dest_handle, _rebased(link_path, source, dest), (source, dest),
                         dict(without_attrs=without_attrs, expand_soft=expand_soft, expand_external=expand_external,
                              levels=None if levels is None else levels - depth))


def _copy_table(source_handle: FileHandle, array_path: str, dest_handle: FileHandle, dest_path: str) -> None:
    """Copy the chunk refs an array's table holds into the copy's table, all at once (made
    portable, as single refs are, when the copy is in another file)."""
    src, dst = source_handle.rfs, dest_handle.rfs
    table = src.tables[array_path]
    linear, url_ids, offsets, lengths, masks = table.present_columns()
    target = dst.tables.get(dest_path)
    if target is None or target.grid_shape != table.grid_shape or (lengths < 0).any():
        # No table for the copy (its metadata says no regular grid) or whole-file refs: one by one.
        for cell in linear.tolist():
            ref = src.get(join_key(array_path, table.chunk_name(cell)))
            if dest_handle is not source_handle:
                ref = source_handle.store.portable_ref(ref)
            dst.set_ref(join_key(dest_path, table.chunk_name(cell)), ref)
        return
    new_ids = np.arange(len(src.urls), dtype=np.int32)
    shifts = np.zeros(len(src.urls), dtype=np.int64)
    if dest_handle is not source_handle:
        for url_id in np.unique(url_ids).tolist():
            # The farthest end among the refs into this URL: a container checks that one.
            end = int((offsets + lengths)[url_ids == url_id].max())
            moved = source_handle.store.portable_ref(ChunkRef(src.urls[url_id], 0, end))
            new_ids[url_id], shifts[url_id] = dst.url_id(moved.url), moved.offset
    target.assign(linear, new_ids[url_ids], offsets + shifts[url_ids], lengths, masks)
    dst.changes += 1


def _owner_depth(handle: FileHandle, source: str, key: str) -> int:
    """How deep below ``source`` the object is that ``key`` belongs to (0: ``source`` itself)."""
    path, depth = source, 0
    for part in key[len(source) + 1 if source else 0 :].split("/")[:-1]:
        if handle.kind(path) == DATASET:  # the rest names a chunk of this dataset
            break
        path, depth = join_key(path, part), depth + 1
    return depth


def _expand_link(source_handle: FileHandle, link_path: str, dest_handle: FileHandle, dest: str,
                 copied: tuple[str, str], options: dict) -> None:
    """Replace the copied link at ``dest`` by a copy of what it leads to (left a link when the
    target does not exist, as libhdf5 leaves dangling links). ``copied`` is (source, dest) of
    the copy in progress.

    A link to one of its own ancestors cannot be copied out: the copy would hold itself. libhdf5
    makes it a hard link to the ancestor's copy, a cycle a Zarr hierarchy cannot hold; here it
    becomes a soft link to the ancestor's copy, which reads the same. An ancestor above the copy
    (the root, say) stays the link it was."""
    try:
        target = source_handle.file["/" + link_path]
    except (KeyError, OSError, ValueError):
        return
    target_zpath = target.id.zpath
    if target.handle is source_handle and (target_zpath == "" or (link_path + "/").startswith(target_zpath + "/")):
        source, copy_root = copied
        if _within(target_zpath, source):
            dest_handle.remove_keys(dest)
            dest_handle.hierarchy.rebuild()
            dest_handle.file["/" + dest] = h5py.SoftLink("/" + _rebased(target_zpath, source, copy_root))
        return
    dest_handle.remove_keys(dest)
    dest_handle.hierarchy.rebuild()
    copy_object(target.handle, target_zpath, dest_handle, dest, **options)


def _null_references(value: Any) -> Any:
    """``value`` (attributes) with every object reference made null, as libhdf5 copies them."""
    if isinstance(value, dict):
        if ann.REFERENCE in value:
            return None
        return {k: _null_references(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_null_references(v) for v in value]
    return value


def _null_dataset_references(handle: FileHandle, zpath: str) -> None:
    """Null the references held by the reference and compound datasets at or below ``zpath``."""
    paths = [zpath] if handle.kind(zpath) == DATASET else []
    paths += [k[: -len("/.zarray")] for k in list(handle.rfs.metadata) if k.startswith(zpath + "/")
              and k.endswith("/.zarray")]
    for path in paths:
        dataset = handle.file["/" + path]
        family = families.classify(dataset.dtype)
        if family not in (families.Family.REFERENCE, families.Family.COMPOUND_JSON):
            continue
        values = np.array(dataset[...], copy=True)
        if family is families.Family.REFERENCE:
            nulled = empty_encoded(values.shape, dataset.dtype)
        else:
            nulled = values
            for name in dataset.dtype.names:
                if families.is_reference_dtype(dataset.dtype.fields[name][0]):
                    nulled[name] = empty_encoded(values.shape, dataset.dtype.fields[name][0])
        dataset[...] = nulled  # the dataset's own write: it re-encodes and drops what it decoded before


def _copied_attrs(zattrs: dict, source: str, dest: str, drop_user_attrs: bool) -> dict:
    if drop_user_attrs:
        zattrs = {k: v for k, v in zattrs.items() if k in ann.SPECIAL_ATTRIBUTE_KEYS
                  and k not in (ann.ATTR_DTYPES, ann.ATTRIBUTE_NAMES)}
    link = zattrs.get(ann.HARD_LINK)
    if isinstance(link, dict) and _within(link.get("path", "").strip("/"), source):
        zattrs = dict(zattrs)
        zattrs[ann.HARD_LINK] = {"path": "/" + _rebased(link["path"].strip("/"), source, dest)}
    return dict(zattrs)


def _within(path: str, root: str) -> bool:
    """Whether Zarr path ``path`` is ``root`` or below it ("" is the root group)."""
    return not root or path == root or path.startswith(root + "/")


def _rebased(path: str, source: str, dest: str) -> str:
    """``path`` (``source`` or below it) moved to ``dest``."""
    if source:
        return dest + path[len(source):]
    return join_key(dest, path) if dest else path
