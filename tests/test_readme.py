"""Every code block of README.md runs, in order, as written.

The quick start's two lines install packages, so they are not run here; ``.ci/run`` runs the
second, and the test checks it runs exactly that line. Every other block runs in one temporary
folder, top to bottom: Python blocks in one namespace (as one session would), ``bash`` blocks
with bash, the ``lindi-core`` command being this checkout's.

The README's remote examples name ``https://host/``. Nothing here reaches the internet, so the
one substitution made is ``https://host/`` -> a loopback range server
(``lindi_core.testing.range_server``, the ``serve`` fixture) serving the temporary folder, which holds beforehand what
those examples take as given: the built-in sample NWB file (``lindi_core.samples``) as
``file.nwb`` and ``x.nwb``, and ``x.nwb.lindi.json`` translated from ``https://host/x.nwb`` (a
reference file published beside its HDF5 file). The local cache goes to the temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.samples import write_sample_nwb

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
REMOTE = "https://host/"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the README, in order."""
    return [(match.group(1), match.group(2)) for match in _FENCE.finditer(README.read_text(encoding="utf-8"))]


def test_readme_blocks_are_found():
    languages = [language for language, _ in readme_blocks()]
    assert languages[:2] == ["bash", "bash"] and languages.count("python") >= 4, languages


def test_quick_start_is_two_one_line_commands_and_ci_runs_the_second():
    language, code = readme_blocks()[0]
    lines = code.splitlines()
    assert language == "bash" and len(lines) == 2, code
    # Each line works on a system Python that refuses installs (PEP 668): it installs in a venv.
    for line in lines:
        assert line.startswith("python3 -m venv --system-site-packages .venv && . .venv/bin/activate && "), line
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci_lines[-1] == lines[1]


def _lindi_core_command(folder: Path) -> Path:
    """A ``lindi-core`` executable running this checkout's CLI with this interpreter."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    script = bin_dir / "lindi-core"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c "
                      "'import sys; from lindi_core.cli import main; sys.exit(main())' \"$@\"\n")
    script.chmod(0o755)
    return bin_dir


@pytest.fixture
def readme_folder(tmp_path, monkeypatch, serve):
    """The temporary folder the README runs in, set up as the module docstring says."""
    work = tmp_path / "work"
    work.mkdir()
    write_sample_nwb(work / "file.nwb")
    shutil.copyfile(work / "file.nwb", work / "x.nwb")
    server = serve(work)
    lindi_core.translate_to_file(server.url_for("x.nwb"), str(work / "x.nwb.lindi.json"), progress=False)
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return work, server.url + "/", _lindi_core_command(tmp_path)


def test_readme_blocks_run_in_order(readme_folder):
    work, served, bin_dir = readme_folder
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    namespace: dict = {"__name__": "__readme__"}
    ran = []
    for number, (language, code) in enumerate(readme_blocks()[1:], start=2):
        code = code.replace(REMOTE, served)
        if language == "bash":
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=240)
            assert done.returncode == 0, f"README block {number} failed:\n{code}\n{done.stdout}\n{done.stderr}"
        elif language == "python":
            try:
                exec(compile(code, f"README.md block {number}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"README block {number} failed:\n{textwrap.indent(code, '    ')}") from exc
        else:
            continue
        ran.append(number)
    assert len(ran) == len(readme_blocks()) - 1

    # What the blocks did, checked against h5py reading the sample file.
    with h5py.File(work / "x.nwb", "r") as h:
        expected_slice = h["acquisition/ElectricalSeries/data"][1000:2000, :4]
        identifier = h["identifier"][()].decode()
    np.testing.assert_array_equal(namespace["root"]["acquisition/ElectricalSeries/data"][1000:2000, :4],
                                  expected_slice)
    assert namespace["nwb"].identifier == identifier
    with lindi_core.LindiH5pyFile.from_lindi_file(work / "x.nwb.lindi.json") as edited:
        assert edited.attrs["session_description"] == "fixed"
        np.testing.assert_array_equal(edited["processing/results"][()], namespace["values"])
    for name in ("x.nwb.lindi.tar", "copy.nwb.lindi.tar"):
        with lindi_core.LindiH5pyFile.from_lindi_file(work / name) as tar:
            np.testing.assert_array_equal(tar["processing/results"][()], namespace["values"])
