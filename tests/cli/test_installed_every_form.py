"""Every inspecting and checking command, run as a user runs it (the installed ``lindi-core``
command, a process each), on an NWB file in every form: the file itself, a ``.lindi.json``, a
``.lindi.tar`` and a ``.lindi.d``, each local and at a loopback URL. What each prints is what
h5py sees, the same whatever the form."""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pytest

from lindi_core.cli import main
from lindi_core.samples import write_sample_nwb
from tests.cli.installed import run_installed

DATA = "acquisition/ElectricalSeries/data"


@pytest.fixture
def nwb_forms(tmp_path, every_form) -> dict[str, str]:
    nwb = write_sample_nwb(tmp_path / "s.nwb", n_samples=10_000)
    made = every_form(nwb)
    forms = dict(made)
    assert main(["translate", nwb, "-o", str(tmp_path / "s.nwb.lindi.d"), "-q"]) == 0
    assert main(["translate", nwb, "-o", str(tmp_path / "s.url.lindi.d"), "--ref-url", forms["hdf5-url"], "-q"]) == 0
    forms["folder"] = str(tmp_path / "s.nwb.lindi.d")
    forms["folder-url"] = made.server.url_for("s.url.lindi.d")
    assert set(forms) == {"hdf5", "hdf5-url", "json", "json-url", "tar", "tar-url", "folder", "folder-url"}
    assert os.path.isdir(forms["folder"])
    return forms


COMMANDS = {
    "ls": ["ls", "{}", "acquisition/ElectricalSeries"],
    "tree": ["tree", "{}"],
    "tree0": ["tree", "{}", "--depth", "0"],
    "attrs": ["attrs", "{}", DATA],
    "cat": ["cat", "{}", f"{DATA}[2000:2010, 3:7]", "--out", "-"],
    "info": ["info", "{}"],
    "verify": ["verify", "{}", "-q"],
    "validate": ["validate", "{}"],
    "diff": ["diff", "{}", "{}"],
}


def _check(outputs: dict[tuple[str, str], bytes], forms: dict[str, str], nwb: str) -> None:
    """What each command printed for each form, against h5py and against the HDF5 file's."""
    with h5py.File(nwb, "r") as truth:
        window = truth[DATA][2000:2010, 3:7]
        members = sorted(truth["acquisition/ElectricalSeries"].keys())
        attributes = sorted(truth[DATA].attrs.keys())
    reference = {name: outputs.get(("hdf5", name)) for name in COMMANDS}
    for (form, name), out in outputs.items():
        where = forms[form]
        text = out.decode() if name != "cat" else ""
        if name == "cat":
            assert np.array_equal(np.load(io.BytesIO(out)), window), form
        elif name == "ls":
            assert [line.split()[0] for line in text.splitlines()] == members, form
        elif name == "attrs":
            assert [line.split(" = ")[0] for line in text.splitlines()] == attributes, form
        elif name == "tree0":
            assert text == "/  [NWBFile]\n", form
        elif name == "tree":
            assert "ElectricalSeries/  [ElectricalSeries]" in text and "data  (10000, 16) int16" in text, form
        elif name == "verify":
            assert text == f"{where}: ok\n", form
        elif name == "validate":
            assert text in (f"{where}: valid\n", f"{where}: its translation is valid\n"), form
        elif name == "diff":
            assert text == "no differences\n", form
        elif name == "info":
            assert re.search(r"^referenced chunks: [1-9]\d* \(", text, re.M) and "metadata keys: " in text, form
            if reference[name] is not None:  # the chunks (in the same source) whatever the form
                assert _chunk_lines(text) == _chunk_lines(reference[name].decode()), form
        if name in ("ls", "tree", "attrs", "tree0") and reference[name] is not None:
            assert out == reference[name], (form, name)  # the same, whatever the form


def _chunk_lines(info: str) -> list[str]:
    return [line for line in info.splitlines() if line.startswith("referenced chunks:")]


@pytest.mark.slow
def test_every_command_on_every_form(nwb_forms, tmp_path, capsysbinary):
    outputs = {}
    for form, where in nwb_forms.items():
        for name, argv in COMMANDS.items():
            assert main([a.replace("{}", where) for a in argv]) == 0, (form, name)
            outputs[form, name] = capsysbinary.readouterr().out
    _check(outputs, nwb_forms, str(tmp_path / "s.nwb"))


@pytest.mark.slow
def test_every_command_through_the_installed_command(nwb_forms, tmp_path):
    """Each command once as a process of its own (the forms taken in turn: every form once too)."""
    forms = list(nwb_forms)
    jobs = [(forms[i % len(forms)], name, argv) for i, (name, argv) in enumerate(COMMANDS.items())]
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda job: run_installed(*[a.replace("{}", nwb_forms[job[0]]) for a in job[2]],
                                                       cwd=tmp_path), jobs))
    for (form, name, _), run in zip(jobs, runs):
        assert run.returncode == 0, (form, name, run.stderr.decode())
    assert {form for form, _, _ in jobs} == set(forms)
    _check({(form, name): run.stdout for (form, name, _), run in zip(jobs, runs)}, nwb_forms,
           str(tmp_path / "s.nwb"))
