"""``upload``: finish a reference file edited with a staging area. Its staged chunks are
consolidated into blobs and uploaded (to a folder or an fsspec URL), and the reference file is
rewritten to point at the uploaded copies (only once every blob is complete there)."""

from __future__ import annotations

import argparse

from lindi_core.cli.common import Reporter


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upload", help="consolidate the chunks a reference file keeps in a staging area, upload them "
                                      "and point the reference file at the uploaded copies")
    p.add_argument("file", help="local .lindi.json (or .lindi.tar, .lindi.d) whose new chunks are in the staging area; "
                                "rewritten in place")
    p.add_argument("--staging-dir", required=True, metavar="DIR", help="the staging area's folder")
    p.add_argument("--to", required=True, metavar="DESTINATION",
                   help="a local folder, or an fsspec URL (s3://bucket/prefix, ...), to upload the blobs to")
    p.add_argument("--url-prefix", metavar="URL",
                   help="the URL the uploaded blobs are read from, when it is not the destination itself (e.g. the "
                        "https address of a folder or bucket)")
    p.add_argument("--blob-size", type=int, default=None, metavar="BYTES",
                   help="bytes per consolidated blob (default: the library's)")
    p.set_defaults(func=_cmd_upload)


def _uploader(destination: str, url_prefix: str | None):
    from lindi_core.write.uploaders import DirectoryUploader, FsspecUploader

    if "://" in destination and not destination.startswith("file://"):
        return FsspecUploader(destination, read_url_prefix=url_prefix)
    folder = destination.removeprefix("file://")
    return DirectoryUploader(folder, url_prefix=url_prefix)


def _cmd_upload(args: argparse.Namespace) -> int:
    from lindi_core import LindiH5pyFile, StagingArea

    staging = StagingArea(args.staging_dir)
    with LindiH5pyFile.from_lindi_file(args.file, mode="r+", staging_area=staging) as f:
        report = f.upload(_uploader(args.to, args.url_prefix), blob_size=args.blob_size)
    Reporter(args.quiet).note(f"uploaded {report.chunks} chunk(s) in {report.blobs} blob(s), {report.bytes:,} bytes, "
                              f"to {args.to}")
    print(f"{args.file}: its {report.chunks} staged chunk(s) now point at the uploaded blobs")
    return 0
