"""``validate`` (a reference file against the spec's JSON Schema) and ``cache`` (the local chunk
cache)."""

from __future__ import annotations

import argparse

from lindi_core.cli.common import add_timeout_option, names_hdf5, reference_location


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate a reference file (.lindi.json, .lindi.tar, .lindi.d) against the "
                                        "spec's JSON Schema")
    p.add_argument("file", help="a .lindi.json, .lindi.tar or .lindi.d (or an HDF5 file: its translation is "
                                "validated): a local path or an http(s) URL")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("cache", help="show or clear the local chunk cache")
    p.add_argument("action", choices=["info", "clear"], help="info: its folder, entries and bytes; clear: empty it")
    p.add_argument("--cache-dir", help="cache folder (default: the user cache folder)")
    p.set_defaults(func=_cmd_cache)


def reference_text(path_or_url: str, timeout: float | None) -> bytes:
    """The text of a reference file, or of the one inside a container (``.lindi.tar``,
    ``.lindi.d``), local or at a URL."""
    from lindi_core.io import folder_container, tar_container
    from lindi_core.io.locations import LocationPolicy, is_url
    from lindi_core.io.sources import fetch_url_sync

    path_or_url = reference_location(path_or_url)
    if is_url(path_or_url):
        if tar_container.names_tar(path_or_url):
            return tar_container.open_url(path_or_url, timeout=timeout).reference_text
        kwargs = {"timeout": timeout} if timeout else {}
        return fetch_url_sync(path_or_url, guard=LocationPolicy.fetch_guard(), **kwargs)
    if folder_container.holds_folder(path_or_url):
        return folder_container.open_local(path_or_url).reference_text
    if tar_container.holds_tar(path_or_url):  # opening checks the container's layout
        return tar_container.open_local(path_or_url).reference_text
    with open(path_or_url, "rb") as f:
        return f.read()


def _cmd_validate(args: argparse.Namespace) -> int:
    from lindi_core.errors import ReferenceFormatError
    from lindi_core.format.jsonio import parse_json_bytes
    from lindi_core.format.validate import validate_json

    what = args.file
    if names_hdf5(args.file):  # what the translation of the file would be: what this library writes
        from lindi_core.format.jsonio import dumps
        from lindi_core.translate import translate

        text = dumps(translate(args.file, progress=False, timeout=args.timeout))
        what = f"{args.file}: its translation"
    else:
        text = reference_text(args.file, args.timeout)
    document = parse_json_bytes(text)  # unreadable: an error of its own
    try:
        validate_json(document)
    except ReferenceFormatError as exc:  # the violations are the command's result
        print(f"{what}: invalid: {exc}")
        return 1
    print(f"{what}: valid" if what == args.file else f"{what} is valid")
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
