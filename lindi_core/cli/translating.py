"""``translate`` and ``translate-many``: HDF5 files into reference files."""

from __future__ import annotations

import argparse
import time

from lindi_core.cli.common import Reporter, add_timeout_option, at_least, output_stream


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate an HDF5 file (path or URL) into a .lindi.json")
    p.add_argument("source", help="HDF5 file: local path or http(s) URL")
    p.add_argument("-o", "--output", required=True,
                   help="output .lindi.json path (or .lindi.tar for a container, .lindi.d for a folder; '-': the JSON to "
                        "standard output)")
    p.add_argument("--ref-url", help="URL chunk references should name (default: the source)")
    _chunk_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_translate)

    p = sub.add_parser("translate-many", help="translate many HDF5 files (a manifest, a DANDI asset listing, or "
                                              "paths/URLs) on dask.distributed, skipping those up to date")
    p.add_argument("sources", nargs="*", help="HDF5 files: local paths or http(s) URLs")
    p.add_argument("-m", "--manifest", help="a manifest ('url_or_path [output-name]' lines) or a DANDI asset "
                                            "listing (JSON): a path or a URL")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder of the reference files (OUTDIR/<name>.lindi.json) and translate-many-summary.json")
    p.add_argument("--workers", type=at_least(1), help="worker processes of the local cluster (default: CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use the running dask scheduler at ADDRESS instead")
    p.add_argument("--dry-run", action="store_true", help="only list what would be translated or skipped")
    _chunk_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_timeout_option(p)
    p.set_defaults(func=_cmd_translate_many)


def _chunk_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inline-threshold", type=at_least(0), default=4096,
                   help="inline datasets storing at most this many bytes (default 4096)")
    p.add_argument("--chunk-target", type=at_least(1), default=16 << 20,
                   help="bytes per virtual chunk of contiguous datasets (default 16 MiB)")
    p.add_argument("--compound-rows-limit", type=at_least(0), default=1 << 20,
                   help="store compound datasets of at most this many bytes as JSON rows, which LINDI 0.4 "
                        "reads; larger ones as structured arrays referenced in place (default 1 MiB)")
    p.add_argument("--chunk-table", choices=("auto", "json", "binary"), default="auto",
                   help="chunk refs as one JSON entry per chunk, as a packed binary table per array, or "
                        "(auto, the default) a table for arrays of many chunks (spec §13)")


def _options(args: argparse.Namespace):
    from lindi_core.translate import ChunkOptions

    return ChunkOptions(inline_threshold=args.inline_threshold, contiguous_chunk_target=args.chunk_target,
                        compound_rows_limit=args.compound_rows_limit, chunk_table=args.chunk_table)


def _cmd_translate(args: argparse.Namespace) -> int:
    from lindi_core.translate import translate, translate_to_file

    report = Reporter(args.quiet)
    progress = False if (args.no_progress or args.quiet) else None
    started = time.perf_counter()
    if args.output == "-":
        from lindi_core.format.jsonio import iter_json_text

        rfs = translate(args.source, ref_url=args.ref_url, options=_options(args), progress=progress,
                        timeout=args.timeout)
        with output_stream("-", binary=True) as out:
            for piece in iter_json_text(rfs):
                out.write(piece)
    else:
        rfs = translate_to_file(args.source, args.output, ref_url=args.ref_url, options=_options(args),
                                progress=progress, timeout=args.timeout)
    chunk_count = sum(len(t) for t in rfs.tables.values()) + len(rfs.loose_refs)
    summary = (f"wrote {args.output if args.output != '-' else 'the reference file'}: {len(rfs.metadata)} metadata "
               f"keys, {chunk_count} chunk references, {len(rfs.inline)} inline chunks in "
               f"{time.perf_counter() - started:.2f} s")
    if args.output == "-":
        report.note(summary)  # standard output is the reference file itself
    elif not args.quiet:
        print(summary)
    _note_unreadable(rfs, report)
    return 0


def _note_unreadable(rfs, report: Reporter) -> None:
    """The objects recorded with their metadata that refuse reads (the file translated)."""
    from lindi_core.codecs.hdf5_filters import unavailable_filter_labels
    from lindi_core.format import annotations as ann

    unreadable = ann.unreadable_objects(rfs.metadata)
    for key, zarray in rfs.metadata.items():
        missing = unavailable_filter_labels(zarray) if key.endswith(".zarray") else []
        if missing:
            unreadable.append(("/" + key[: -len(".zarray")].rstrip("/"),
                               f"HDF5 filter {', '.join(missing)} is not available here: its chunk references "
                               "are kept, and it reads where the filter is"))
    unreadable.sort()
    if unreadable:
        report.note(f"note: {len(unreadable)} object(s) cannot be read from this translation (reading them raises):")
        for path, reason in unreadable:
            report.note(f"  {path}: {reason}")


def _cmd_translate_many(args: argparse.Namespace) -> int:
    from lindi_core.batch import translate_many

    if bool(args.sources) == bool(args.manifest):
        args.parser.error("give either sources or a --manifest")
    summary = translate_many(args.manifest or args.sources, args.output, workers=args.workers,
                             scheduler=args.scheduler, dry_run=args.dry_run, options=_options(args),
                             timeout=args.timeout, progress=False if (args.no_progress or args.quiet) else None)
    if not args.quiet:
        print(summary.table())
    return 1 if summary.failed else 0
