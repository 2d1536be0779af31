"""``verify``: does a reference file still point at bytes that exist, and do they decode?

A shallow check reads, for each source file the chunk refs point into, the last byte the
furthest ref reaches: the file holds every referenced range exactly when it holds that one
byte. The reads go through the library's byte sources, concurrently, with the same trust rules
as opening the file (a reference file from a URL may not read local files nor reach more
private addresses than its own) and the same deadline. ``--deep`` reads and decodes every
chunk of every dataset through the file facade and, given ``--source``, compares the values
with h5py's reading of the original HDF5 file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from lindi_core.cli.common import Reporter, add_timeout_option, open_file

_CONCURRENT_SOURCES = 16


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check that every byte range a reference file points at exists (--deep: "
                                      "read and decode every chunk)")
    p.add_argument("file", help="a .lindi.json or .lindi.tar (or an HDF5 file, translated first): a local path or "
                                "an http(s) URL")
    p.add_argument("--deep", action="store_true", help="also read and decode every chunk of every dataset")
    p.add_argument("--source", metavar="FILE.h5",
                   help="with --deep: the original HDF5 file, whose values (read with h5py) the decoded ones must "
                        "equal")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.source and not args.deep:
        args.parser.error("--source compares values, which only --deep reads")
    report = Reporter(args.quiet)
    problems = check_ranges(args.file, args.timeout, report)
    if args.deep:
        problems += check_values(args.file, args.source, args.timeout, report)
    if problems:
        print(f"{args.file}: {problems} problem(s)")
        return 1
    print(f"{args.file}: ok")
    return 0


def check_ranges(path_or_url: str, timeout: float | None, report: Reporter) -> int:
    """Print each source whose file does not hold every range referenced into it; the number."""
    from lindi_core.cli.references import load, summarize
    from lindi_core.io import sync_bridge

    rfs = load(path_or_url, timeout)
    uses = summarize(rfs).urls
    checks = sync_bridge.run_sync(_read_last_bytes(path_or_url, {url: use.end for url, use in uses.items()}, timeout))
    problems = 0
    for url, failure in checks.items():
        use = uses[url]
        if failure is None:
            report.note(f"ok {url}: {use.refs} chunk(s) up to byte {use.end:,}")
        else:
            problems += 1
            print(f"MISSING {url}: {use.refs} chunk(s) reach byte {use.end:,}: {failure}")
    return problems


async def _read_last_bytes(path_or_url: str, ends: dict[str, int], timeout: float | None) -> dict[str, str | None]:
    from lindi_core.format.refs import ChunkRef
    from lindi_core.io.deadline import DEFAULT_TIMEOUT
    from lindi_core.io.http_source import HttpSource
    from lindi_core.io.locations import LocationPolicy, is_url
    from lindi_core.io.sources import ByteSources

    if is_url(path_or_url):  # trusted as opening it trusts it: no local files, no more private address
        policy = LocationPolicy.for_source(path_or_url, fetched_with=LocationPolicy.fetch_guard())
    else:
        policy = LocationPolicy.for_source(path_or_url)
    guard = policy.address_guard()
    sources = ByteSources(HttpSource(timeout=timeout or DEFAULT_TIMEOUT, guard=guard), guard=guard)
    container = _container_of(path_or_url, timeout)
    limit = asyncio.Semaphore(_CONCURRENT_SOURCES)

    async def check(url: str, end: int) -> str | None:
        async with limit:
            try:
                if end == 0:
                    return None
                last = ChunkRef(url, end - 1, 1)
                located = container.locate(last) if container is not None else None
                if located is not None:
                    location, offset, length = located
                else:
                    location, offset, length = policy.resolve(url), end - 1, 1
                await sources.read(location, offset, length)
                return None
            except Exception as exc:  # every failure is one finding about this source
                return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    try:
        urls = list(ends)
        results = await asyncio.gather(*(check(url, ends[url]) for url in urls))
        return dict(zip(urls, results))
    finally:
        await sources.close()


def _container_of(path_or_url: str, timeout: float | None) -> Any:
    """The ``.lindi.tar`` or ``.lindi.d`` the refs' relative targets name members of, or None."""
    from lindi_core.io import folder_container, tar_container
    from lindi_core.io.locations import is_url

    if is_url(path_or_url) and (remote := folder_container.remote_container(path_or_url)) is not None:
        return remote  # a .lindi.d at a URL: its files are URLs inside the folder's
    if is_url(path_or_url):
        return tar_container.open_url(path_or_url, timeout=timeout).container \
            if tar_container.names_tar(path_or_url) else None
    if os.path.isfile(path_or_url) and tar_container.holds_tar(path_or_url):
        return tar_container.open_local(path_or_url).container
    if folder_container.holds_folder(path_or_url):
        return folder_container.open_local(path_or_url).container
    return None


def check_values(path_or_url: str, source: str | None, timeout: float | None, report: Reporter) -> int:
    """Read every chunk of every dataset (comparing with h5py's values of ``source`` when given);
    print each dataset that fails; the number."""
    import h5py

    problems = 0
    original = h5py.File(source, "r") if source else None
    try:
        with open_file(path_or_url, timeout=timeout) as f:
            for path, dataset in _datasets(f):
                try:
                    pieces = _check_dataset(dataset, original[path] if original is not None else None)
                    report.note(f"ok {path}: {pieces} piece(s) read" + (" and equal to the source" if original else ""))
                except Exception as exc:  # every failure is one finding about this dataset
                    problems += 1
                    print(f"BAD {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
                    sys.stdout.flush()
            if original is not None:
                problems += _missing_from(f, original)
    finally:
        if original is not None:
            original.close()
    return problems


def _datasets(group: Any) -> list[tuple[str, Any]]:
    """Every dataset reachable by hard links, by path (links to elsewhere are not followed)."""
    import h5py

    found = []
    for name in sorted(group.keys()):
        if not isinstance(group.get(name, getlink=True), h5py.HardLink):
            continue
        obj = group[name]
        if isinstance(obj, h5py.Dataset):
            found.append((obj.name, obj))
        else:
            found.extend(_datasets(obj))
    return found


def _missing_from(f: Any, original: Any) -> int:
    import h5py

    ours = {path for path, _ in _datasets(f)}
    theirs: list[str] = []
    original.visititems(lambda name, obj: theirs.append("/" + name) if isinstance(obj, h5py.Dataset) else None)
    missing = sorted(set(theirs) - ours)
    for path in missing:
        print(f"BAD {path}: in the source, not in the reference file")
    return len(missing)


def _check_dataset(dataset: Any, original: Any) -> int:
    """Read the dataset chunk by chunk (all at once when it is not chunked); compare each piece
    with ``original``'s when given. The number of pieces read."""
    if original is not None and (original.shape != dataset.shape or original.dtype != dataset.dtype):
        raise ValueError(f"shape/dtype {dataset.shape} {dataset.dtype} differ from the source's "
                         f"{original.shape} {original.dtype}")
    selections = list(dataset.iter_chunks()) if dataset.chunks is not None and dataset.shape else [()]
    for selection in selections:
        values = dataset[selection]
        if original is None:
            continue
        expected = original[selection]
        if _holds_references(original):  # equal when they name the same objects
            values, expected = _targets(dataset.file, values), _targets(original.file, expected)
        if not _equal(values, expected):
            raise ValueError(f"values at {selection} differ from the source's")
    return len(selections)


def _holds_references(dataset: Any) -> bool:
    import h5py

    return dataset.dtype.kind == "O" and (h5py.check_dtype(ref=dataset.dtype) is not None)


def _targets(file: Any, references: Any) -> list:
    """The path of the object each reference names (None for a null reference)."""
    import numpy as np

    return [file[ref].name if ref else None for ref in np.asarray(references, dtype=object).ravel().tolist()]


def _equal(a: Any, b: Any) -> bool:
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        return a.tolist() == b.tolist()
    return bool(np.array_equal(a, b))
