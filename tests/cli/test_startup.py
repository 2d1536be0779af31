"""Starting up is cheap: ``import lindi_core`` and the command line's parser (``--help`` of the
command and of every subcommand) import none of the heavy libraries (zarr, h5py, aiohttp,
numcodecs, numpy), which take most of a second; a command imports them when it runs. Counted in
a fresh interpreter, not timed."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.conftest import cli_env
from tests.cli.installed import run_installed

HEAVY = ("zarr", "h5py", "aiohttp", "numcodecs", "numpy")

_REPORT_HEAVY = f"""
import json, sys
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))
"""


def _heavy_after(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code + _REPORT_HEAVY], capture_output=True, env=cli_env(),
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout.decode().splitlines()[-1])


def test_importing_the_package_imports_no_heavy_library():
    assert _heavy_after("import lindi_core, lindi_core.errors") == []
    assert _heavy_after("import lindi_core; dir(lindi_core); lindi_core.__version__") == []


def test_building_the_parser_and_every_help_imports_no_heavy_library():
    code = """
import argparse, contextlib, io
from lindi_core.cli import build_parser, main
parser = build_parser()
commands = sorted(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)
assert len(commands) >= 13, commands
for argv in [["--help"], *[[name, "--help"] for name in commands]]:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(argv)
        except SystemExit as exited:
            assert exited.code == 0, argv
    assert "usage: lindi-core" in out.getvalue(), argv
"""
    assert _heavy_after(code) == []


def test_the_installed_command_prints_its_help():
    done = run_installed("--help")
    assert done.returncode == 0 and b"usage: lindi-core" in done.stdout and b"translate" in done.stdout


def test_names_resolve_on_first_use_as_they_did_when_imported_at_once():
    import lindi_core.translate.chunks  # binds the subpackage as lindi_core.translate ...
    from lindi_core import ChunkOptions, LindiH5pyFile, translate
    from lindi_core.facade import LindiH5pyFile as facade_file
    from lindi_core.translate.chunks import ChunkOptions as chunk_options
    from lindi_core.translate.translator import translate as translate_function

    assert lindi_core.translate is translate is translate_function  # ... which stays the function
    assert LindiH5pyFile is facade_file and ChunkOptions is chunk_options
    assert set(lindi_core.__all__) == set(lindi_core._EXPORTS) | {"errors", "__version__"}
    assert set(lindi_core.__all__) <= set(dir(lindi_core))
    for name in lindi_core.__all__:
        assert getattr(lindi_core, name) is not None, name
    assert lindi_core.format.refs.ChunkRef is lindi_core.ChunkRef  # subpackages as attributes
    for name in lindi_core.lindi_compat.__all__:  # LINDI 0.4's names, for `import lindi_core as lindi`
        assert getattr(lindi_core, name) is getattr(lindi_core.lindi_compat, name), name
    try:
        lindi_core.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")
