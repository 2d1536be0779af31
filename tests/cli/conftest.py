"""Fixtures of the command-line tests: one HDF5 file in every form the commands take (the file
itself, a .lindi.json, a .lindi.tar, each local and at a loopback URL), and a runner of the
command line in its own process (for exit codes, pipes and signals)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lindi_core.cli import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    """``python -m lindi_core.cli argv...`` from this checkout, output captured."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lindi_core.cli", *argv], capture_output=True, env=env,
                          timeout=120, **kwargs)


def cli_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


class Forms(dict):
    """form -> path or URL, and the loopback ``server`` serving the URLs."""

    server: object


@pytest.fixture
def every_form(tmp_path, serve):
    """``every_form(h5_path)`` -> {form: path or URL} of that file as HDF5, .lindi.json and
    .lindi.tar, local and served (the served reference files name the served HDF5 file)."""

    def make(h5_path: str) -> Forms:
        name = os.path.basename(h5_path)
        assert os.path.dirname(os.path.abspath(h5_path)) == str(tmp_path)
        server = serve(tmp_path)
        h5_url = server.url_for(name)
        forms = Forms(hdf5=h5_path)
        forms["hdf5-url"] = h5_url
        forms.server = server
        for suffix, ref_url, form in ((".lindi.json", None, "json"), (".lindi.tar", None, "tar"),
                                      (".url.lindi.json", h5_url, "json-url"), (".url.lindi.tar", h5_url, "tar-url")):
            out = str(tmp_path / (name + suffix))
            argv = ["translate", h5_path, "-o", out, "--no-progress", "-q"]
            assert main(argv + (["--ref-url", ref_url] if ref_url else [])) == 0
            forms[form] = server.url_for(os.path.basename(out)) if ref_url else out
        return forms

    return make
