"""``diff``: what differs between two files' reference file systems: objects present in one
only, changed attributes and array metadata, and chunks whose inline bytes or references differ.
An HDF5 file is translated first, so a reference file can be compared with its source."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lindi_core.cli.common import add_timeout_option

if TYPE_CHECKING:
    from lindi_core.format.refs import ReferenceFileSystem


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="what differs between two reference files (objects, attributes, chunk refs); "
                                    "exit 1 when they differ")
    p.add_argument("a", help="first file (.lindi.json, .lindi.tar or HDF5): a local path or an http(s) URL")
    p.add_argument("b", help="second file, the same kinds")
    p.add_argument("--max-chunks", type=int, default=20, metavar="N",
                   help="chunk differences listed per array before they are only counted (default 20)")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_diff)


def _cmd_diff(args: argparse.Namespace) -> int:
    from lindi_core.cli.references import load

    differences = 0
    for line in differences_between(load(args.a, args.timeout), load(args.b, args.timeout), args.max_chunks):
        print(line)
        differences += 1
    if not differences and not args.quiet:
        print("no differences")
    return 1 if differences else 0


def _object(key: str) -> str:
    return "/" + key.rsplit("/", 1)[0] if "/" in key else "/"


def differences_between(a: ReferenceFileSystem, b: ReferenceFileSystem, max_chunks: int = 20) -> Iterator[str]:
    """One line per difference: ``-`` only in a, ``+`` only in b, ``~`` in both but changed."""
    for key in sorted(set(a.metadata) | set(b.metadata)):
        kind = key.rsplit("/", 1)[-1]
        what = {".zgroup": "group", ".zarray": "array", ".zattrs": "attributes"}.get(kind, kind)
        old, new = a.metadata.get(key), b.metadata.get(key)
        if old == new:
            continue
        if old is None:
            yield f"+ {what} {_object(key)}"
        elif new is None:
            yield f"- {what} {_object(key)}"
        elif kind == ".zattrs":
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name):
                    if name not in old:
                        yield f"+ attribute {_object(key)} {name} = {new[name]!r}"
                    elif name not in new:
                        yield f"- attribute {_object(key)} {name}"
                    else:
                        yield f"~ attribute {_object(key)} {name}: {old[name]!r} -> {new[name]!r}"
        else:
            changed = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
            yield f"~ {what} {_object(key)}: {', '.join(changed)}"
    yield from _chunk_differences(a, b, max_chunks)


def _chunk_keys(rfs: ReferenceFileSystem) -> set[str]:
    return {key for key in rfs.keys() if key not in rfs.metadata}


def _chunk_differences(a: ReferenceFileSystem, b: ReferenceFileSystem, max_chunks: int) -> Iterator[str]:
    per_array: dict[str, list[str]] = {}
    for key in sorted(_chunk_keys(a) | _chunk_keys(b)):
        old, new = a.get(key), b.get(key)
        if old == new:
            continue
        if old is None:
            line = f"+ chunk {key} {_chunk_text(new)}"
        elif new is None:
            line = f"- chunk {key}"
        else:
            line = f"~ chunk {key}: {_chunk_text(old)} -> {_chunk_text(new)}"
        per_array.setdefault(_object(key), []).append(line)
    for array, lines in per_array.items():
        yield from lines[:max_chunks]
        if len(lines) > max_chunks:
            yield f"~ {len(lines) - max_chunks} more chunk(s) of {array} differ"


def _chunk_text(value: object) -> str:
    if isinstance(value, bytes):
        return f"inline {len(value)} bytes"
    return f"[{value.url}, {value.offset}, {value.length}]"
