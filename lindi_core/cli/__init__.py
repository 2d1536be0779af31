"""The ``lindi-core`` command line: translate HDF5 files into reference files, look inside any
file (``ls``, ``tree``, ``attrs``, ``cat``, ``info``), check reference files (``validate``,
``verify``, ``diff``), upload staged edits, and manage the local cache.

Exit status: 0 on success, 1 when the command ran and failed (a missing file, an unreadable
source, a verification that found problems; the error is one line on standard error), 2 for
a command line that does not parse. A closed output pipe (``| head``) and Ctrl-C end quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lindi_core.cli import demo, diffing, info, inspecting, maintenance, translating, uploading, verifying
from lindi_core.cli.inspecting import print_tree

__all__ = ["build_parser", "main", "print_tree"]

_COMMAND_GROUPS = (translating, inspecting, info, verifying, diffing, uploading, maintenance, demo)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lindi-core")
    except PackageNotFoundError:  # running from a checkout that is not installed
        from lindi_core import __version__

        return __version__


class _Version(argparse.Action):
    """``--version``, looked up only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"lindi-core {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lindi-core", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only results and errors, no notes or "
                                                                    "progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do (each "
                                                                                       "has its own --help)")
    for group in _COMMAND_GROUPS:
        group.add_commands(sub)
    for command in sub.choices.values():
        # also after the command; the subcommand's own parser for its usage errors
        command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                             help="print only results and errors, no notes or progress")
        command.set_defaults(parser=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        _send_nowhere(sys.stdout)  # what is still buffered: the reader went away
        return 0
    except KeyboardInterrupt:
        # The user stopped it: exit normally (files close, caches flush), but without the
        # complaints of reads abandoned mid-flight that interpreter shutdown would print.
        _send_nowhere(sys.stderr)
        return 130
    except SystemExit as exc:  # a usage error the command found (argparse's parser.error)
        return exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # what the command ran into: one line, not a traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError):
            message = f"not found: {message}"
        print(f"lindi-core: error: {message}", file=sys.stderr)
        return 1


def _send_nowhere(stream) -> None:
    """Point the file descriptor of ``stream`` at /dev/null, so that nothing more written to it
    (at exit too) fails or shows."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):  # no real file descriptor (output captured in a test)
        pass

