"""``lindi-core demo`` through the installed command: it plots the slice it read to a PNG file
(where ``--plot`` says, by default in the current folder) and says where; without matplotlib it
still runs, and says the plot was skipped and why."""

from __future__ import annotations

import os

import pytest

from lindi_core.cli import main
from tests.cli.conftest import cli_env
from tests.cli.installed import run_installed

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _without_matplotlib(tmp_path) -> dict[str, str]:
    """An environment in which ``import matplotlib`` fails as it does where it is not installed."""
    blocker = tmp_path / "no-matplotlib"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n")
    env = cli_env()
    env["PYTHONPATH"] = str(blocker) + os.pathsep + env["PYTHONPATH"]
    return env


def test_the_demo_plots_the_slice_it_read_next_to_where_it_runs(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    done = run_installed("demo", cwd=tmp_path)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    png = tmp_path / "lindi-core-demo.png"
    assert f"plotted the slice: {png}" in out
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    pixels = image.imread(png)
    assert pixels.shape == (450, 800, 4)  # 8 x 4.5 inches at 100 dpi, RGBA
    assert len({tuple(p) for p in pixels.reshape(-1, 4)[::97].tolist()}) > 2  # traces, not a blank canvas


def test_without_matplotlib_the_demo_runs_and_says_the_plot_was_skipped(tmp_path):
    wanted = tmp_path / "plots" / "slice.png"
    wanted.parent.mkdir()
    done = run_installed("demo", "--plot", str(wanted), env=_without_matplotlib(tmp_path), cwd=tmp_path)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "identical to h5py reading the file: True" in out
    assert "plot skipped: matplotlib is missing" in out
    assert not wanted.exists() and not (tmp_path / "lindi-core-demo.png").exists()


def test_no_plot_and_a_plot_path_in_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-plot"]) == 0
    assert "plot" not in capsys.readouterr().out and list(tmp_path.iterdir()) == []
    assert main(["demo", "--plot", str(tmp_path / "missing" / "x.png")]) == 2  # before any work
    err = capsys.readouterr().err
    assert "usage:" in err and "no folder" in err
