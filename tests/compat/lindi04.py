"""Running LINDI 0.4 itself (its benchmark venv) from a test, to produce real LINDI-written input
or read what lindi-core wrote: an independent check rather than our reading of its source."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINDI_PYTHON = Path("/work/main/benchmarks/.cache/venvs/lindi/bin/python")
for _candidate in (ROOT / "benchmarks/.cache/venvs/lindi/bin/python", LINDI_PYTHON):
    if _candidate.exists():
        LINDI_PYTHON = _candidate
        break

needs_lindi04 = pytest.mark.skipif(not LINDI_PYTHON.exists(), reason="no LINDI 0.4 venv")


def run_lindi04(code: str, cwd: str | os.PathLike) -> object:
    """Run ``code`` under LINDI 0.4 (``import lindi`` is LINDI's) in ``cwd``; it prints one JSON
    line last, which is returned."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(LINDI_PYTHON), "-c", code], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
