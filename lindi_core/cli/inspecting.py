"""Looking inside a file, as h5py sees it: ``ls`` and ``tree`` (each object with its shape, dtype,
chunks, codecs and NWB ``neurodata_type``), ``attrs`` and ``cat``. Every file kind opens through
:func:`lindi_core.cli.common.open_file`, so these read an HDF5 file exactly as its reference file."""

from __future__ import annotations

import argparse
import re
import sys
from typing import IO, TYPE_CHECKING, Any

from lindi_core.cli.common import add_file_argument, add_timeout_option, at_least, open_file, output_stream

if TYPE_CHECKING:
    import numpy as np


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list a group's members (or one dataset) with shape, dtype, chunks, codecs and "
                                  "neurodata_type")
    add_file_argument(p)
    p.add_argument("path", nargs="?", default="/", help="group or dataset inside the file (default: the root)")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_ls)

    p = sub.add_parser("tree", help="print the hierarchy of a file with shape, dtype, chunks, codecs and "
                                    "neurodata_type")
    add_file_argument(p)
    p.add_argument("path", nargs="?", default="/", help="group to start from (default: the root)")
    p.add_argument("--depth", type=at_least(0), default=99,
                   help="levels below the starting group to show (0: only that group; default 99)")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_tree)

    p = sub.add_parser("attrs", help="print the attributes of a group or dataset")
    add_file_argument(p)
    p.add_argument("path", nargs="?", default="/", help="group or dataset inside the file (default: the root)")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_attrs)

    p = sub.add_parser("cat", help="print a dataset's values, or a slice of them, or save them as .npy")
    add_file_argument(p)
    p.add_argument("dataset", help="dataset inside the file, optionally with a NumPy slice: "
                                   "'acquisition/ts/data[0:10, 2]'")
    p.add_argument("--out", metavar="FILE.npy", help="save the values as a .npy file ('-': to standard output) "
                                                     "instead of printing them")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_cat)


# -- describing objects -------------------------------------------------------------------
def _text(value: Any) -> str:
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _text(value[()])
    return str(value)


def codecs_of(dataset: Any) -> list[str]:
    """The dataset's filters as h5py names them (``gzip(4)``, ``shuffle``...)."""
    codecs = []
    if dataset.compression:
        opts = dataset.compression_opts
        codecs.append(f"{dataset.compression}({opts})" if opts is not None else str(dataset.compression))
    for name in ("shuffle", "fletcher32"):
        if getattr(dataset, name, False):
            codecs.append(name)
    if getattr(dataset, "scaleoffset", None) is not None:
        codecs.append(f"scaleoffset({dataset.scaleoffset})")
    return codecs


def describe(name: str, obj: Any, link: Any = None) -> str:
    """One line about a member: a dataset's shape, dtype, chunks and codecs, a group's slash, a
    link's target, and the NWB ``neurodata_type`` of either."""
    import h5py

    if isinstance(link, h5py.SoftLink):
        return f"{name} -> {link.path} (soft link)"
    if isinstance(link, h5py.ExternalLink):
        return f"{name} -> {link.filename}:{link.path} (external link)"
    parts: list[str]
    if isinstance(obj, h5py.Dataset):
        parts = [name, f"{obj.shape} {obj.dtype}"]
        if obj.chunks is not None:
            parts.append(f"chunks={obj.chunks}")
        codecs = codecs_of(obj)
        if codecs:
            parts.append("codecs=" + ",".join(codecs))
    else:
        parts = [name.rstrip("/") + "/" if name != "/" else "/"]
    neurodata_type = obj.attrs.get("neurodata_type")
    if neurodata_type is not None:
        parts.append(f"[{_text(neurodata_type)}]")
    return "  ".join(parts)


def _members(group: Any) -> list[tuple[str, Any, Any]]:
    """(name, object or None, link or None) of each member, by name; a soft or external link is
    shown as the link, not followed (its target may be missing or in another file)."""
    import h5py

    found = []
    for name in sorted(group.keys()):
        link = group.get(name, getlink=True)
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            found.append((name, None, link))
        else:
            found.append((name, group[name], None))
    return found


def print_tree(group: Any, *, max_depth: int = 99, indent: str = "", out: IO | None = None, depth: int = 0) -> None:
    """Print the members of ``group`` down to ``max_depth`` levels, one line each, those of
    each level two spaces further in than its group (``indent`` before every line)."""
    import h5py

    out = out or sys.stdout
    if depth >= max_depth:
        return
    for name, obj, link in _members(group):
        print(indent + "  " * depth + describe(name, obj, link), file=out)
        if isinstance(obj, h5py.Group):
            print_tree(obj, max_depth=max_depth, indent=indent, out=out, depth=depth + 1)


# -- commands -----------------------------------------------------------------------------
def _cmd_ls(args: argparse.Namespace) -> int:
    import h5py

    with open_file(args.file, timeout=args.timeout) as f:
        obj = f[args.path]
        if isinstance(obj, h5py.Group):
            for name, member, link in _members(obj):
                print(describe(name, member, link))
        else:
            print(describe(obj.name, obj))
    return 0


def _cmd_tree(args: argparse.Namespace) -> int:
    import h5py

    with open_file(args.file, timeout=args.timeout) as f:
        start = f[args.path]
        print(describe(start.name, start))
        if isinstance(start, h5py.Group):
            print_tree(start, max_depth=args.depth)
    return 0


def _cmd_attrs(args: argparse.Namespace) -> int:
    with open_file(args.file, timeout=args.timeout) as f:
        attrs = f[args.path].attrs
        for name in sorted(attrs.keys()):
            print(f"{name} = {_attribute_text(attrs[name])}")
    return 0


def _attribute_text(value: Any) -> str:
    import numpy as np

    if isinstance(value, (bytes, str)):
        return repr(_text(value))
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return repr([_text(v) for v in value.ravel().tolist()])
    return _text(value) if not isinstance(value, np.ndarray) else np.array2string(value, threshold=sys.maxsize)


_SLICED = re.compile(r"^(?P<path>.*?)\[(?P<selection>[^\[\]]*)\]$")


def parse_selection(text: str) -> tuple[str, tuple]:
    """``'a/b[0:10, 2]'`` -> ``('a/b', (slice(0, 10), 2))``; a path alone selects everything."""
    matched = _SLICED.match(text.strip())
    if matched is None:
        return text, ()
    selection = []
    for part in matched["selection"].split(","):
        part = part.strip()
        if part == "...":
            selection.append(Ellipsis)
        elif ":" in part:
            bounds = part.split(":")
            if len(bounds) > 3:
                raise ValueError(f"not a slice: {part!r}")
            selection.append(slice(*(int(b) if b.strip() else None for b in bounds)))
        else:
            selection.append(int(part))
    return matched["path"], tuple(selection)


def _savable(values: np.ndarray, utf8: bool) -> np.ndarray:
    """Strings read as Python objects become a fixed-width NumPy array (``.npy`` files hold no
    objects without pickling, which a reader would have to trust): text for UTF-8 strings,
    bytes for ASCII ones, as h5py's ``asstr()`` would give and NumPy's ``S`` type holds."""
    import numpy as np

    if values.dtype.kind != "O":
        return values
    items = values.ravel().tolist()
    if all(isinstance(v, bytes) for v in items) and not utf8:
        return values.astype(np.bytes_)
    if all(isinstance(v, (str, bytes)) for v in items):
        return np.array([_text(v) for v in items], dtype=np.str_).reshape(values.shape)
    raise TypeError(f"the values of {values.dtype} cannot be saved without pickling (object references?)")


def _cmd_cat(args: argparse.Namespace) -> int:
    try:
        path, selection = parse_selection(args.dataset)
    except ValueError as exc:
        args.parser.error(f"cannot read the selection of {args.dataset!r}: {exc}")
    import h5py
    import numpy as np

    with open_file(args.file, timeout=args.timeout) as f:
        dataset = f[path]
        if not isinstance(dataset, h5py.Dataset):
            raise IsADirectoryError(f"{path!r} in {args.file} is a group, not a dataset")
        values = dataset[selection] if selection else dataset[()]
        string = h5py.check_string_dtype(dataset.dtype)
    if args.out:
        with output_stream(args.out, binary=True) as out:
            np.save(out, _savable(np.asarray(values), string is not None and string.encoding == "utf-8"),
                    allow_pickle=False)
        return 0
    values = np.asarray(values)
    if values.dtype.kind in "OS":
        for v in values.ravel().tolist():
            print(_text(v))
    else:
        print(np.array2string(values, threshold=sys.maxsize))
    return 0
