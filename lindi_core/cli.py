"""The ``lindi-core`` command line: translate, inspect, validate, and a self-contained demo."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence

from lindi_core.errors import LindiError


def _cmd_translate(args: argparse.Namespace) -> int:
    from lindi_core.codecs.hdf5_filters import unavailable_filter_labels
    from lindi_core.format import annotations as ann
    from lindi_core.translate import ChunkOptions, translate_to_file

    options = ChunkOptions(inline_threshold=args.inline_threshold, contiguous_chunk_target=args.chunk_target,
                           compound_rows_limit=args.compound_rows_limit, chunk_table=args.chunk_table)
    started = time.perf_counter()
    rfs = translate_to_file(args.source, args.output, ref_url=args.ref_url, options=options,
                            progress=None if not args.no_progress else False, timeout=args.timeout)
    chunk_count = sum(len(t) for t in rfs.tables.values()) + len(rfs.loose_refs)
    print(f"wrote {args.output}: {len(rfs.metadata)} metadata keys, {chunk_count} chunk references, "
          f"{len(rfs.inline)} inline chunks in {time.perf_counter() - started:.2f} s")
    unreadable = ann.unreadable_objects(rfs.metadata)
    for key, zarray in rfs.metadata.items():
        missing = unavailable_filter_labels(zarray) if key.endswith(".zarray") else []
        if missing:
            unreadable.append(("/" + key[: -len(".zarray")].rstrip("/"),
                               f"HDF5 filter {', '.join(missing)} is not available here: its chunk references "
                               "are kept, and it reads where the filter is"))
    unreadable.sort()
    if unreadable:
        # The file translated; these objects are recorded with their metadata and refuse reads.
        print(f"note: {len(unreadable)} object(s) cannot be read from this translation (reading them raises):",
              file=sys.stderr)
        for path, reason in unreadable:
            print(f"  {path}: {reason}", file=sys.stderr)
    return 0


def _cmd_translate_many(args: argparse.Namespace) -> int:
    from lindi_core.batch import translate_many
    from lindi_core.translate import ChunkOptions

    if bool(args.sources) == bool(args.manifest):
        print("lindi-core: error: give either sources or a --manifest", file=sys.stderr)
        return 2
    options = ChunkOptions(inline_threshold=args.inline_threshold, contiguous_chunk_target=args.chunk_target,
                           compound_rows_limit=args.compound_rows_limit)
    summary = translate_many(args.manifest or args.sources, args.output, workers=args.workers,
                             scheduler=args.scheduler, dry_run=args.dry_run, options=options, timeout=args.timeout,
                             progress=None if not args.no_progress else False)
    print(summary.table())
    return 1 if summary.failed else 0


def _cmd_tree(args: argparse.Namespace) -> int:
    import zarr

    from lindi_core.store import ReferenceStore

    root = zarr.open_group(ReferenceStore.from_file(args.file, timeout=args.timeout), mode="r", zarr_format=2)
    print_tree(root, max_depth=args.depth)
    return 0


def print_tree(group, *, max_depth: int = 99, indent: str = "", depth: int = 0, out=None) -> None:
    """Print a Zarr group's hierarchy with array shapes and dtypes."""
    import zarr

    from lindi_core.format import annotations as ann

    out = out or sys.stdout
    for name, member in sorted(group.members(), key=lambda kv: kv[0]):
        if isinstance(member, zarr.Array):
            attrs = member.attrs
            shape = "()" if attrs.get(ann.SCALAR) else str(member.shape)
            print(f"{indent}{name}  {shape} {member.dtype}", file=out)
        else:
            link = ann.link_annotation(dict(member.attrs))
            if link is not None:
                print(f"{indent}{name} -> {link[1].get('path')} ({link[0].strip('_').lower()})", file=out)
                continue
            print(f"{indent}{name}/", file=out)
            if depth + 1 < max_depth:
                print_tree(member, max_depth=max_depth, indent=indent + "  ", depth=depth + 1, out=out)


def _cmd_validate(args: argparse.Namespace) -> int:
    from lindi_core.format.jsonio import parse_json_bytes
    from lindi_core.format.validate import validate_file, validate_json
    from lindi_core.io import tar_container

    if tar_container.holds_tar(args.file):  # opening checks the container's layout
        validate_json(parse_json_bytes(tar_container.open_local(args.file).reference_text))
    else:
        validate_file(args.file)
    print(f"{args.file}: valid")
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from lindi_core.io.cache import LocalCache

    cache = LocalCache(args.cache_dir)
    if args.action == "clear":
        before = cache.info()
        cache.clear()
        print(f"cleared {before.entries} entries ({before.bytes:,} bytes) from {cache.cache_dir}")
    else:
        info = cache.info()
        print(f"cache folder: {info.cache_dir}\nentries: {info.entries}\nbytes: {info.bytes:,} of {info.max_size:,}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import os

    import numpy as np
    import zarr

    from lindi_core.samples import write_sample_nwb
    from lindi_core.store import ReferenceStore
    from lindi_core.testing.range_server import RangeServer
    from lindi_core.translate import translate_to_file

    with tempfile.TemporaryDirectory(prefix="lindi-core-demo-") as tmp:
        nwb_path = write_sample_nwb(os.path.join(tmp, "sample.nwb"))
        print(f"1. wrote a sample NWB file with pynwb ({os.path.getsize(nwb_path):,} bytes)")
        with RangeServer(tmp) as server:
            url = server.url_for("sample.nwb")
            print(f"2. serving it at {url}")
            out = os.path.join(tmp, "sample.nwb.lindi.json")
            started = time.perf_counter()
            rfs = translate_to_file(url, out, progress=False)
            chunk_count = sum(len(t) for t in rfs.tables.values())
            print(f"3. translated it over HTTP in {time.perf_counter() - started:.2f} s with "
                  f"{server.stats.requests} requests: {os.path.getsize(out):,} bytes of JSON, "
                  f"{chunk_count} chunk references")
            server.stats.reset()
            store = ReferenceStore.from_file(out)
            root = zarr.open_group(store, mode="r", zarr_format=2)
            print("4. the tree, read with zarr-python 3 from the reference file:")
            print_tree(root, max_depth=3, indent="   ")
            data = root["acquisition/ElectricalSeries/data"]
            window = data[1000:1005, 0:4]
            print(f"5. acquisition/ElectricalSeries/data[1000:1005, 0:4] (read with {server.stats.requests} "
                  "range requests):")
            print("   " + np.array2string(window).replace("\n", "\n   "))
            store.close()
            import h5py

            with h5py.File(nwb_path, "r") as f:
                same = np.array_equal(window, f["acquisition/ElectricalSeries/data"][1000:1005, 0:4])
            print(f"6. identical to h5py reading the file: {same}")
            return 0 if same else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lindi-core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("translate", help="translate an HDF5 file (path or URL) into a .lindi.json")
    p.add_argument("source", help="HDF5 file: local path or http(s) URL")
    p.add_argument("-o", "--output", required=True, help="output .lindi.json path (or .lindi.tar for a container)")
    p.add_argument("--ref-url", help="URL chunk references should name (default: the source)")
    _chunk_options(p)
    p.add_argument("--chunk-table", choices=("auto", "json", "binary"), default="auto",
                   help="chunk refs as one JSON entry per chunk, as a packed binary table per array, or "
                        "(auto) a table for arrays of many chunks (spec §13)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _timeout_option(p)
    p.set_defaults(func=_cmd_translate)

    p = sub.add_parser("translate-many", help="translate many HDF5 files (a manifest, a DANDI asset listing, or "
                                              "paths/URLs) on dask.distributed, skipping those up to date")
    p.add_argument("sources", nargs="*", help="HDF5 files: local paths or http(s) URLs")
    p.add_argument("-m", "--manifest", help="a manifest ('url_or_path [output-name]' lines) or a DANDI asset "
                                            "listing (JSON): a path or a URL")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder of the reference files (OUTDIR/<name>.lindi.json) and translate-many-summary.json")
    p.add_argument("--workers", type=_at_least(1), help="worker processes of the local cluster (default: CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use the running dask scheduler at ADDRESS instead")
    p.add_argument("--dry-run", action="store_true", help="only list what would be translated or skipped")
    _chunk_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _timeout_option(p)
    p.set_defaults(func=_cmd_translate_many)

    p = sub.add_parser("tree", help="print the hierarchy of a .lindi.json or .lindi.tar")
    p.add_argument("file")
    p.add_argument("--depth", type=_at_least(0), default=99)
    _timeout_option(p)
    p.set_defaults(func=_cmd_tree)

    p = sub.add_parser("validate", help="validate a .lindi.json (or .lindi.tar) against the spec's JSON Schema")
    p.add_argument("file")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("cache", help="show or clear the local chunk cache")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--cache-dir", help="cache folder (default: the user cache folder)")
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser("demo", help="write a sample NWB file, serve it locally, translate and read it")
    p.set_defaults(func=_cmd_demo)
    return parser


def _chunk_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inline-threshold", type=_at_least(0), default=4096,
                   help="inline datasets storing at most this many bytes (default 4096)")
    p.add_argument("--chunk-target", type=_at_least(1), default=16 << 20,
                   help="bytes per virtual chunk of contiguous datasets (default 16 MiB)")
    p.add_argument("--compound-rows-limit", type=_at_least(0), default=1 << 20,
                   help="store compound datasets of at most this many bytes as JSON rows, which LINDI 0.4 "
                        "reads; larger ones as structured arrays referenced in place (default 1 MiB)")


def _timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                        help="most seconds one read of a URL may take, retries included (default 60)")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (LindiError, OSError, sqlite3.Error) as exc:  # what the user named: missing, unreadable, corrupt
        print(f"lindi-core: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
