"""``info``: what a file's reference file system holds: its size, its objects, its chunks inline
and referenced (bytes per source URL) and the metadata of how it was generated."""

from __future__ import annotations

import argparse
import os

from lindi_core.cli.common import add_file_argument, add_timeout_option


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="sizes, chunks inline and referenced, bytes referenced per source URL, and "
                                    "generation metadata of a file's references")
    add_file_argument(p)
    add_timeout_option(p)
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from lindi_core.cli.references import describe_summary, load, summarize
    from lindi_core.format.jsonio import dumps
    from lindi_core.io.locations import is_url

    rfs = load(args.file, args.timeout)
    print(f"file: {args.file}")
    if not is_url(args.file) and os.path.isfile(args.file):
        print(f"file size: {os.path.getsize(args.file):,} bytes")
    elif not is_url(args.file) and os.path.isdir(args.file):  # a .lindi.d
        sizes = [os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(args.file)
                 for name in names]
        print(f"folder size: {sum(sizes):,} bytes in {len(sizes)} files")
    print(f"reference JSON size: {len(dumps(rfs)):,} bytes")
    for line in describe_summary(summarize(rfs), rfs.generation_metadata):
        print(line)
    return 0
