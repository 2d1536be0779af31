"""``validate`` (a reference file against the spec's JSON Schema), ``cache`` (the local chunk
cache) and ``demo`` (the whole pipeline on a sample NWB file served on this machine)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from lindi_core.cli.common import add_timeout_option


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate a .lindi.json (or .lindi.tar) against the spec's JSON Schema")
    p.add_argument("file", help="a .lindi.json or .lindi.tar: a local path or an http(s) URL")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("cache", help="show or clear the local chunk cache")
    p.add_argument("action", choices=["info", "clear"], help="info: its folder, entries and bytes; clear: empty it")
    p.add_argument("--cache-dir", help="cache folder (default: the user cache folder)")
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser("demo", help="write a sample NWB file, serve it locally, translate and read it")
    p.set_defaults(func=_cmd_demo)


def reference_text(path_or_url: str, timeout: float | None) -> bytes:
    """The text of a reference file, or of the one inside a container, local or at a URL."""
    from lindi_core.io import tar_container
    from lindi_core.io.locations import LocationPolicy, is_url
    from lindi_core.io.sources import fetch_url_sync

    if is_url(path_or_url):
        if tar_container.names_tar(path_or_url):
            return tar_container.open_url(path_or_url, timeout=timeout).reference_text
        kwargs = {"timeout": timeout} if timeout else {}
        return fetch_url_sync(path_or_url, guard=LocationPolicy.fetch_guard(), **kwargs)
    if tar_container.holds_tar(path_or_url):  # opening checks the container's layout
        return tar_container.open_local(path_or_url).reference_text
    with open(path_or_url, "rb") as f:
        return f.read()


def _cmd_validate(args: argparse.Namespace) -> int:
    from lindi_core.errors import ReferenceFormatError
    from lindi_core.format.jsonio import parse_json_bytes
    from lindi_core.format.validate import validate_json

    document = parse_json_bytes(reference_text(args.file, args.timeout))  # unreadable: an error of its own
    try:
        validate_json(document)
    except ReferenceFormatError as exc:  # the violations are the command's result
        print(f"{args.file}: invalid: {exc}")
        return 1
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
    import h5py
    import numpy as np

    from lindi_core import LindiH5pyFile
    from lindi_core.cli.inspecting import print_tree
    from lindi_core.samples import write_sample_nwb
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
            with LindiH5pyFile.from_lindi_file(out) as f:
                print("4. the tree, read from the reference file:")
                print_tree(f, max_depth=3, indent="   ")
                window = f["acquisition/ElectricalSeries/data"][1000:1005, 0:4]
            print(f"5. acquisition/ElectricalSeries/data[1000:1005, 0:4] (read with {server.stats.requests} "
                  "range requests):")
            print("   " + np.array2string(window).replace("\n", "\n   "))
            with h5py.File(nwb_path, "r") as f:
                same = np.array_equal(window, f["acquisition/ElectricalSeries/data"][1000:1005, 0:4])
            print(f"6. identical to h5py reading the file: {same}")
            return 0 if same else 1
