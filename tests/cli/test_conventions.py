"""What every command does alike: --version, --quiet, help on every argument, exit status 1 for
a failure met while running (one line) and 2 for a command line that does not parse, ``-o -``,
URLs for validate, and a quiet end on a closed pipe or Ctrl-C (run in a process of its own)."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time

import numpy as np

from lindi_core import __version__
from lindi_core.cli import build_parser, main
from tests.cli.conftest import cli_env, run_cli


def test_version(capsys):
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.decode() == f"lindi-core {__version__}\n"


def test_every_argument_of_every_command_has_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"translate", "translate-many", "ls", "tree", "attrs", "cat", "info", "verify", "diff", "upload",
            "validate", "cache", "demo"} <= set(commands.choices)
    for name, command in [("lindi-core", parser), *commands.choices.items()]:
        for action in command._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    assert all(choice.help for choice in commands._choices_actions)


def test_runtime_failures_exit_1_in_one_line_and_usage_errors_exit_2(make_h5, tmp_path, capsys):
    path = make_h5(lambda f: f.create_dataset("d", data=np.arange(3)))
    for argv in (["ls", path, "nope"], ["info", str(tmp_path / "missing.lindi.json")],
                 ["verify", str(tmp_path / "missing.lindi.json")], ["diff", path, str(tmp_path / "none.h5")]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("lindi-core: error:") and err.count("\n") == 1, (argv, err)
    for argv in (["verify", path, "--source", path], ["cat", path, "d[1:2:3:4]"],
                 ["translate-many", "-o", str(tmp_path)]):
        assert main(argv) == 2, argv  # found by the command itself
        assert "usage:" in capsys.readouterr().err, argv
    for argv in (["frobnicate"], ["ls"], ["tree", path, "--depth", "-1"]):
        try:
            main(argv)
        except SystemExit as exited:  # found by argparse
            assert exited.code == 2, argv
        else:
            raise AssertionError(f"{argv} parsed")
    for argv, status in ((["ls", path, "nope"], 1), (["tree", path, "--depth", "x"], 2)):  # as the shell sees it
        done = run_cli(*argv)
        err = done.stderr.decode()
        assert done.returncode == status, argv
        assert err.count("\n") == 1 if status == 1 else err.startswith("usage:"), argv


def test_translate_to_standard_output_writes_the_reference_file_there(make_h5, tmp_path):
    path = make_h5(lambda f: f.create_dataset("d", data=np.arange(5000), chunks=(1000,)))
    assert main(["translate", path, "-o", str(tmp_path / "x.lindi.json"), "-q"]) == 0
    done = run_cli("translate", path, "-o", "-", "--no-progress")
    assert done.returncode == 0
    written, printed = json.loads((tmp_path / "x.lindi.json").read_text()), json.loads(done.stdout)
    for doc in (written, printed):
        doc["generationMetadata"].pop("creationDate")
    assert printed == written and "5 chunk references" in done.stderr.decode()


def test_quiet_leaves_only_results(make_h5, tmp_path, capsys):
    path = make_h5(lambda f: f.create_dataset("d", data=np.arange(5000), chunks=(1000,)))
    ref = str(tmp_path / "x.lindi.json")
    assert main(["translate", path, "-o", ref, "--no-progress"]) == 0
    assert "chunk references" in capsys.readouterr().out
    assert main(["-q", "translate", path, "-o", ref]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["verify", ref]) == 0
    assert capsys.readouterr().err.startswith("ok ")
    assert main(["verify", ref, "--quiet"]) == 0
    assert capsys.readouterr() == (f"{ref}: ok\n", "")


def test_validate_takes_urls_of_reference_files_and_containers(make_h5, every_form, capsys):
    forms = every_form(make_h5(lambda f: f.create_dataset("d", data=np.arange(5000), chunks=(1000,))))
    for form in ("json-url", "tar-url"):
        assert main(["validate", forms[form]]) == 0, form
        assert capsys.readouterr().out == f"{forms[form]}: valid\n"


def test_validate_prints_the_violations_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.lindi.json"
    bad.write_text(json.dumps({"version": 1, "refs": {"x/0": 5}}))
    assert main(["validate", str(bad)]) == 1
    assert capsys.readouterr().out.startswith(f"{bad}: invalid: reference file violates the schema")


def test_a_closed_pipe_ends_quietly(make_h5):
    path = make_h5(lambda f: f.create_dataset("d", data=np.arange(100_000)))  # 700 kB printed
    reader = subprocess.Popen([sys.executable, "-m", "lindi_core.cli", "cat", path, "d"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=cli_env())
    assert reader.stdout.readline().startswith(b"[")
    reader.stdout.close()  # as `| head -1` does: far more is still to be written
    assert reader.wait(timeout=60) == 0
    assert reader.stderr.read() == b""


def test_ctrl_c_ends_quietly(make_h5, every_form):
    forms = every_form(make_h5(lambda f: f.create_dataset("d", data=np.arange(5000), chunks=(1000,))))
    server = forms.server
    server.latency = 1000.0  # it answers nothing from now on
    requests = server.stats.requests
    command = subprocess.Popen([sys.executable, "-m", "lindi_core.cli", "verify", forms["json-url"], "--timeout",
                                "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    give_up = time.monotonic() + 60  # safety net only
    while server.stats.requests == requests and time.monotonic() < give_up:
        time.sleep(0.05)
    assert server.stats.requests > requests  # it is waiting for the server now
    command.send_signal(signal.SIGINT)
    assert command.wait(timeout=60) == 130
    err = command.stderr.read()
    assert err == b"", err.decode()


def test_the_installed_entry_point_runs_this_command_line(make_h5):
    import os
    import shutil
    from importlib.metadata import entry_points

    import lindi_core.cli

    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == "lindi-core"]
    assert entry.load() is lindi_core.cli.main
    script = shutil.which("lindi-core", path=os.path.dirname(sys.executable)) or shutil.which("lindi-core")
    assert script is not None, "lindi-core is not installed beside this interpreter"
    path = make_h5(lambda f: f.create_dataset("g/d", data=np.arange(4), chunks=(2,)))
    done = subprocess.run([script, "ls", path, "g"], capture_output=True, env=cli_env(), timeout=120)
    assert done.returncode == 0 and done.stdout == b"d  (4,) int64  chunks=(2,)\n", done.stderr
