"""Lazy-load a remote NWB file with pynwb and read a slice of one TimeSeries.

    python examples/lazy_load_nwb.py [URL] [--series NAME] [--rows N]

URL is an NWB file (translated in memory: only its metadata is read) or its ``.nwb.lindi.json``
/ ``.nwb.lindi.tar`` reference file. pynwb reads the file through ``LindiH5pyFile``, an
``h5py.File``, so ``io.read()`` fetches no data: the slice taken afterwards fetches only the
chunks it touches. Without a URL it serves lindi-core's sample NWB file on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pynwb

import lindi_core as lindi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_support import is_reference_file, served_sample  # noqa: E402


def main(url_or_path: str | None = None, series: str | None = None, rows: int = 5) -> dict:
    """Open ``url_or_path`` with pynwb; read ``rows`` rows (at most 4 columns) of the TimeSeries
    ``series`` (default: the first in ``acquisition``). Returns what was read."""
    if url_or_path is None:
        with served_sample() as sample:
            result = main(sample.url, series, rows)
            print(f"the server answered {sample.server.stats.requests} requests in all, sending "
                  f"{sample.server.stats.bytes_sent:,} bytes of the {os.path.getsize(sample.path):,}-byte file")
            return result

    if is_reference_file(url_or_path):  # a .lindi.json / .lindi.tar: opened as it is
        f = lindi.LindiH5pyFile.from_lindi_file(url_or_path)
    else:  # an HDF5 file: its metadata translated in memory, its chunks read in place later
        f = lindi.LindiH5pyFile.from_hdf5_file(url_or_path)
    with f, pynwb.NWBHDF5IO(file=f, mode="r") as io:
        nwb = io.read()
        sources = f.zarr_group.store.sources
        print(f"opened {url_or_path}: session {nwb.session_description!r}, "
              f"{len(nwb.acquisition)} acquisition objects, {len(nwb.processing)} processing modules")
        names = [name for name, obj in nwb.acquisition.items() if isinstance(obj, pynwb.TimeSeries)]
        if series is None:
            if not names:
                raise SystemExit("no TimeSeries in acquisition: name one with --series")
            series = names[0]
        ts = nwb.acquisition[series]
        data = ts.data  # the LindiH5pyDataset: nothing read yet
        before = sources.http.requests
        window = np.asarray(data[:rows] if data.ndim == 1 else data[:rows, :4])
        requests = sources.http.requests - before
        print(f"{series} ({type(ts).__name__}): data {data.shape} {data.dtype}, chunks {data.chunks}, "
              f"rate {ts.rate} Hz, unit {ts.unit!r}")
        print(f"data[:{rows}{'' if data.ndim == 1 else ', :4'}] read with {requests} range request(s):")
        print("   " + np.array2string(window).replace("\n", "\n   "))
        return {"series": series, "path": data.name, "window": window, "requests": requests}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="URL or path of an NWB file or its .nwb.lindi.json")
    parser.add_argument("--series", help="name of a TimeSeries in acquisition (default: the first)")
    parser.add_argument("--rows", type=int, default=5, help="rows to read (default 5)")
    args = parser.parse_args()
    main(args.url, args.series, args.rows)
