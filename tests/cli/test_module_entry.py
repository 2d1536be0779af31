"""``python -m lindi_core`` is the same command line as ``lindi-core``."""

from __future__ import annotations

import subprocess
import sys

from lindi_core import __version__
from tests.cli.conftest import cli_env


def test_python_dash_m_lindi_core_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "lindi_core", "--version"], capture_output=True, text=True,
                          env=cli_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"lindi-core {__version__}"


def test_python_dash_m_lindi_core_usage_error_exits_2():
    done = subprocess.run([sys.executable, "-m", "lindi_core", "no-such-command"], capture_output=True, text=True,
                          env=cli_env(), timeout=120)
    assert done.returncode == 2
    assert "no-such-command" in done.stderr
