"""LINDI 0.4 (its benchmark venv) on a file with a binary chunk table (spec §13): the array with
the table fails to read, loudly, rather than reading as fill values; the file's other arrays
read as before. Skipped when the LINDI 0.4 venv is not there."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from lindi_core.format import jsonio
from lindi_core.format.refs import ChunkRef
from lindi_core.translate import ChunkOptions, translate
from tests.compat.lindi04 import LINDI_PYTHON, needs_lindi04

SCRIPT = """
import json, sys, lindi
f = lindi.LindiH5pyFile.from_lindi_file(sys.argv[1])
out = {"plain": f["plain"][()].tolist()}
try:
    out["packed"] = f["packed"][()].tolist()
except Exception as exc:
    out["packed_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


@pytest.mark.slow  # starts LINDI 0.4's interpreter (some 2 s)
@needs_lindi04
def test_lindi04_fails_loudly_on_a_binary_table(make_h5, tmp_path):
    path = make_h5(lambda f: (f.create_dataset("packed", data=np.arange(1, 41), chunks=(4,)),
                              f.create_dataset("plain", data=np.arange(10), chunks=(5,))))
    rfs = translate(path, progress=False, chunk_table="json", options=ChunkOptions(inline_threshold=0))
    assert isinstance(rfs.get("packed/0"), ChunkRef)  # referenced, not inlined: the table matters
    rfs.binary_tables = {"packed"}
    out = tmp_path / "f.lindi.json"
    jsonio.write_atomic(rfs, out)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(LINDI_PYTHON), "-c", SCRIPT, str(out)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["plain"] == list(range(10))
    assert "packed" not in result and "lindi.chunk_table" in result["packed_error"]
