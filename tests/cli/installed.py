"""The installed ``lindi-core`` command (the console script beside this interpreter), run in a
process of its own on this checkout's code: how a user runs the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.cli.conftest import cli_env


def lindi_core_script() -> str:
    script = shutil.which("lindi-core", path=os.path.dirname(sys.executable)) or shutil.which("lindi-core")
    assert script is not None, "lindi-core is not installed beside this interpreter"
    return script


def run_installed(*argv: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``lindi-core argv...``, output captured (as bytes)."""
    return subprocess.run([lindi_core_script(), *argv], capture_output=True, env=env or cli_env(), timeout=180,
                          **kwargs)
