"""The key grammar of Zarr v2, in one place. Keys are paths of names joined by ``/`` (the root's
children have no leading slash). A chunk's key is its array's path, then its
grid indices joined by the array's ``dimension_separator`` (``.`` by default: ``x/3.0``; ``/``
puts each index a level lower: ``x/3/0``); a 0-d array's one chunk is ``0``.

Translation names chunks with it, the reference file system keys its objects with it, the reference file system's chunk tables, the store and the
read engine read keys back with it, so ``dimension_separator`` means the same on every road."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def split_key(key: str) -> tuple[str, str]:
    """Split a Zarr key into (parent path, last name); the root's parent is ``""``."""
    slash = key.rfind("/")
    if slash < 0:
        return "", key
    return key[:slash], key[slash + 1 :]


def join_key(parent: str, name: str) -> str:
    """The key of ``name`` below ``parent`` (``""``: the root)."""
    return f"{parent}/{name}" if parent else name


def chunk_name(coords: Sequence[int], separator: str = ".") -> str:
    """The name of the chunk at grid position ``coords`` below its array (``()``: ``"0"``)."""
    return separator.join(str(int(c)) for c in coords) if len(coords) else "0"


def chunk_key(array_path: str, coords: Sequence[int], separator: str = ".") -> str:
    """The store key of the chunk at grid position ``coords`` (``()``: a 0-d array's only chunk)
    of the array at ``array_path``, its grid indices joined by its ``dimension_separator``."""
    name = chunk_name(coords, separator)
    return f"{array_path}/{name}" if array_path else name


def chunk_coords(key: str, ndim: int, separator: str = ".") -> list[int]:
    """The grid position of the chunk at ``key`` (the inverse of :func:`chunk_key`); ValueError
    when the key names no chunk of an array of ``ndim`` axes."""
    if separator == ".":
        parts = key.rsplit("/", 1)[-1].split(".")
    else:
        parts = key.split("/")[-ndim:] if ndim else [key.rsplit("/", 1)[-1]]
    if len(parts) != max(ndim, 1):
        raise ValueError(f"{key!r} is no chunk key of an array of {ndim} axes")
    return [int(part) for part in parts]


def chunk_owner(key: str, metadata: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(array path, chunk name, ``.zarray``) of the array whose chunk ``key`` names, ``None`` for
    metadata and keys of no array. A chunk of an array whose ``dimension_separator`` is ``/``
    lies as many levels below the array as it has axes (``x/3/0``: the array ``x``)."""
    parent, name = split_key(key)
    if name.startswith("."):
        return None
    zarray = metadata.get(join_key(parent, ".zarray"))
    if isinstance(zarray, dict):
        return parent, name, zarray
    parts = key.split("/")
    for depth in range(2, len(parts) + 1):
        array_path = "/".join(parts[:-depth])
        zarray = metadata.get(join_key(array_path, ".zarray"))
        if isinstance(zarray, dict) and zarray.get("dimension_separator") == "/" \
                and len(zarray.get("shape") or ()) == depth:
            return array_path, "/".join(parts[-depth:]), zarray
    return None
