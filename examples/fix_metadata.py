"""Fix a remote file's metadata and save it as a new sidecar, without re-uploading any data.

    python examples/fix_metadata.py [URL] [-o OUTPUT] [--description TEXT] [--conversion FACTOR]

URL is a reference file (``.nwb.lindi.json``) or an NWB / HDF5 file (translated in memory). The
file is opened for editing (``r+``): attribute edits change only the reference file system in
memory, and ``write_lindi_file`` saves it as a new sidecar whose data references still point at
the original file, so nothing is copied or uploaded and the original stays as it was. The edits
here: a new ``session_description`` (a small dataset in NWB, stored inline) and a new
``conversion`` attribute of the largest TimeSeries' data. Without a URL it serves lindi-core's sample NWB file and its sidecar on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from urllib.parse import urlparse

import h5py
import numpy as np
import pynwb

import lindi_core

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_support import is_reference_file, largest_dataset, print_references, served_sample  # noqa: E402


def main(url_or_path: str | None = None, output: str | None = None,
         description: str = "session description fixed by examples/fix_metadata.py",
         conversion: float = 1e-6) -> dict:
    """Open ``url_or_path`` ``r+``, replace its ``session_description`` and the ``conversion``
    of its largest TimeSeries, write the new sidecar ``output`` (default: the URL's file name,
    ``.fixed.lindi.json``, here). Returns what pynwb reads from it."""
    if url_or_path is None:
        with served_sample(sidecar=True) as sample, tempfile.TemporaryDirectory() as folder:
            result = main(sample.url, output or os.path.join(folder, "sample.fixed.nwb.lindi.json"),
                          description, conversion)
            print(f"the server answered {sample.server.stats.requests} request(s) in all, "
                  f"sending {sample.server.stats.bytes_sent:,} bytes: the sidecar and the chunk read back")
            return result

    if output is None:
        name = os.path.basename(urlparse(url_or_path).path)
        for suffix in (".lindi.json", ".lindi.tar", ".nwb", ".h5", ".hdf5"):
            name = name.removesuffix(suffix)
        output = f"{name}.fixed.lindi.json"

    if is_reference_file(url_or_path) and "://" not in url_or_path:
        # A local reference file open for writing is written back on close, as h5py writes an
        # HDF5 file: edit a copy named as the new sidecar, so that the original stays as it was.
        if not url_or_path.endswith(".lindi.json"):
            raise SystemExit(f"{url_or_path}: a local container is edited in place; give a .lindi.json")
        if not os.path.exists(output) or not os.path.samefile(url_or_path, output):
            shutil.copyfile(url_or_path, output)
        f = lindi_core.LindiH5pyFile.from_lindi_file(output, mode="r+")
    elif is_reference_file(url_or_path):  # at a URL: edited in memory, never written back
        f = lindi_core.LindiH5pyFile.from_lindi_file(url_or_path, mode="r+")
    else:  # translated in memory; "r+" edits the references, never the HDF5 file
        f = lindi_core.LindiH5pyFile.from_hdf5_file(url_or_path, mode="r+")
    with f:
        # NWB keeps session_description as a scalar string dataset: small, so stored inline.
        old = f["session_description"].asstr()[()]
        del f["session_description"]
        f.create_dataset("session_description", data=description, dtype=h5py.string_dtype())
        dataset = largest_dataset(f)
        old_conversion = f[dataset].attrs.get("conversion")
        f[dataset].attrs["conversion"] = np.float32(conversion)  # NWB's type for it
        if f.filename != output:
            f.write_lindi_file(output)
    print(f"opened {url_or_path} (r+): session_description {old!r} -> {description!r}, "
          f"{dataset} conversion {old_conversion} -> {conversion}")

    # The new sidecar: the edits are in it, the data refs still name the original file.
    rfs = lindi_core.load_reference_file(output)
    print(f"wrote {output} ({os.path.getsize(output):,} bytes); its chunk references:")
    print_references(rfs)
    with lindi_core.LindiH5pyFile.from_lindi_file(output) as fixed, pynwb.NWBHDF5IO(file=fixed, mode="r") as io:
        nwb = io.read()
        series = next(obj for obj in nwb.objects.values()
                      if isinstance(obj, pynwb.TimeSeries) and obj.data.name == "/" + dataset)
        values = series.data[:3]
        print(f"pynwb reads the new sidecar: session_description {nwb.session_description!r}, "
              f"{series.name}.conversion {series.conversion:g}, data[:3] first values {values.ravel()[:4]}")
        return {"output": output, "rfs": rfs, "dataset": dataset, "old_description": old,
                "description": nwb.session_description, "conversion": series.conversion, "first_rows": values}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="URL (or path) of a .nwb.lindi.json, or of an NWB / HDF5 file")
    parser.add_argument("-o", "--output", help="the new sidecar (default: NAME.fixed.lindi.json here)")
    parser.add_argument("--description", default="session description fixed by examples/fix_metadata.py",
                        help="the new session_description")
    parser.add_argument("--conversion", type=float, default=1e-6,
                        help="the new conversion factor of the largest TimeSeries' data (default 1e-6)")
    args = parser.parse_args()
    main(args.url, args.output, args.description, args.conversion)
