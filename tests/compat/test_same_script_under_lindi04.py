"""The same script in LINDI 0.4's API (``scripts/lindi_usage.py``), run under LINDI 0.4 (its
benchmark venv) and under ``lindi_core``, prints the same: a drop-in check against the real
thing rather than our reading of its source. Skipped when the LINDI 0.4 venv is not there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.compat.lindi04 import LINDI_PYTHON, ROOT, needs_lindi04

SCRIPT = Path(__file__).parent / "scripts" / "lindi_usage.py"


def _build(f: h5py.File) -> None:
    rng = np.random.default_rng(3)
    f.create_dataset("dataset1", data=rng.standard_normal((50, 12)), chunks=(10, 6))
    group1 = f.create_group("group1")
    group1.create_group("group2")
    group1.create_dataset("dataset2", data=[4, 5, 6])
    f.create_dataset("gz", data=rng.standard_normal(4000), chunks=(100,), compression="gzip")
    f.create_dataset("few", data=rng.integers(0, 1000, 3000), chunks=(1000,))
    f.create_dataset("contiguous", data=rng.standard_normal((200, 100)))
    f.attrs["title"] = "compat"
    f.attrs["count"] = 7


def _run(python: str, module: str, h5_path: str, url: str, work: Path, pythonpath: str | None) -> dict:
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([python, str(SCRIPT), module, h5_path, url, str(work)], capture_output=True, text=True,
                          env=env, cwd=work, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # two interpreters start (some 4 s)
@needs_lindi04
def test_same_script_same_output(make_h5, serve, tmp_path):
    h5_path = make_h5(_build)
    url = serve(tmp_path).url_for("data.h5")
    theirs = _run(str(LINDI_PYTHON), "lindi", h5_path, url, tmp_path / "lindi04", None)
    ours = _run(sys.executable, "lindi_core", h5_path, url, tmp_path / "lindi_core", str(ROOT))
    assert ours == theirs
    with h5py.File(h5_path, "r") as expected:  # and both are right
        assert ours["values"]["gz"] == expected["gz"][()].tolist()
        assert ours["contiguous"] == expected["contiguous"][17:23, 5:9].tolist()
        assert ours["remfile"] == expected["gz"][10:20].tolist()
    assert ours["url_named"] == [url]
    assert ours["linked"] == ["dataset1", "gz"]
