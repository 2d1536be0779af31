"""``demo``: the whole pipeline on a sample NWB file served on this machine. It writes the file
with pynwb, serves it over HTTP on 127.0.0.1, translates it, prints its tree from the reference
file, reads a slice of the recording with a range request or two, checks the values against
h5py's and plots them to a PNG file (with matplotlib, when installed: the ``demo`` extra)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

DEFAULT_PLOT = "lindi-core-demo.png"
SERIES = "acquisition/ElectricalSeries"
ROWS, CHANNELS = slice(1000, 1600), slice(0, 4)  # 20 ms of four channels at 30 kHz


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="write a sample NWB file, serve it locally, translate it, read a slice and "
                                    "plot it")
    p.add_argument("--plot", metavar="FILE.png", default=DEFAULT_PLOT,
                   help=f"where to write the PNG plot of the slice read (default: {DEFAULT_PLOT} in the current "
                        "folder; needs matplotlib, in the demo extra)")
    p.add_argument("--no-plot", action="store_true", help="do not plot the slice")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    import h5py
    import numpy as np

    from lindi_core import LindiH5pyFile
    from lindi_core.cli.inspecting import print_tree
    from lindi_core.samples import write_sample_nwb
    from lindi_core.testing.range_server import RangeServer
    from lindi_core.translate import translate_to_file

    plot_path = None if args.no_plot else os.path.abspath(args.plot)
    if plot_path is not None and not os.path.isdir(os.path.dirname(plot_path)):
        args.parser.error(f"--plot {args.plot}: no folder {os.path.dirname(plot_path)} to write it in")
    selection = f"{SERIES}/data[{ROWS.start}:{ROWS.stop}, {CHANNELS.start}:{CHANNELS.stop}]"
    with tempfile.TemporaryDirectory(prefix="lindi-core-demo-") as tmp:
        nwb_path = write_sample_nwb(os.path.join(tmp, "sample.nwb"))
        print(f"1. wrote a sample NWB file with pynwb ({os.path.getsize(nwb_path):,} bytes)")
        with RangeServer(tmp) as server:
            url = server.url_for("sample.nwb")
            print(f"2. serving it at {url}")
            out = os.path.join(tmp, "sample.nwb.lindi.json")
            started = time.perf_counter()
            rfs = translate_to_file(url, out, progress=False)
            chunk_count = sum(len(t) for t in rfs.tables.values())
            print(f"3. translated it over HTTP in {time.perf_counter() - started:.2f} s with "
                  f"{server.stats.requests} requests: {os.path.getsize(out):,} bytes of JSON, "
                  f"{chunk_count} chunk references")
            with LindiH5pyFile.from_lindi_file(out) as f:
                print("4. the tree, read from the reference file:")
                print_tree(f, max_depth=3, indent="   ")
                server.stats.reset()
                data = f[f"{SERIES}/data"]
                window = data[ROWS, CHANNELS]
                requests = server.stats.requests
                rate = float(f[f"{SERIES}/starting_time"].attrs["rate"])
                conversion = float(data.attrs["conversion"])
            print(f"5. {selection} (read with {requests} range request(s)), its first rows:")
            print("   " + np.array2string(window[:5]).replace("\n", "\n   "))
            with h5py.File(nwb_path, "r") as f:
                same = np.array_equal(window, f[f"{SERIES}/data"][ROWS, CHANNELS])
            print(f"6. identical to h5py reading the file: {same}")
    if plot_path is not None:
        try:
            plot_slice(window, plot_path, first_row=ROWS.start, rate=rate, conversion=conversion,
                       title=f"{selection}, read through sample.nwb.lindi.json")
        except ImportError as exc:  # matplotlib is optional: the demo's point is made without it
            why = "matplotlib is missing" if exc.name == "matplotlib" else f"matplotlib cannot be imported ({exc})"
            print(f"7. plot skipped: {why} (pip install 'lindi-core[demo]')")
        else:
            print(f"7. plotted the slice: {plot_path}")
    return 0 if same else 1


def plot_slice(values: Any, path: str, *, first_row: int, rate: float, conversion: float, title: str) -> None:
    """Write a PNG of a (time x channel) slice of a recording: one trace per channel in µV, each
    offset above the last, against time in ms. Raises ImportError without matplotlib."""
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state

    values = np.asarray(values)
    times_ms = (first_row + np.arange(values.shape[0])) / rate * 1000.0
    microvolts = values.astype(np.float64) * conversion * 1e6
    spacing = max(float(np.ptp(microvolts)), 1.0)
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for channel in range(values.shape[1]):
        axes.plot(times_ms, microvolts[:, channel] + channel * spacing, linewidth=0.8, label=f"channel {channel}")
    axes.set_xlabel("time (ms)")
    axes.set_ylabel("µV (channels offset)")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="upper right", fontsize=8)
    figure.savefig(path, format="png", dpi=100)
