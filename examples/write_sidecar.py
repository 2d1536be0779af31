"""Write a ``.nwb.lindi.json`` sidecar for a remote NWB (or any HDF5) file.

    python examples/write_sidecar.py [URL] [-o OUTPUT]

Translating by URL reads the file's metadata, not its data; every chunk reference in the
sidecar names that URL, so the sidecar can be shared and read from anywhere (it is small: put it
beside the file, or in a repository). OUTPUT defaults to the URL's file name plus ``.lindi.json``
in the current folder. Without a URL it serves lindi-core's sample NWB file on 127.0.0.1 and
writes the sidecar into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from urllib.parse import urlparse

import numpy as np

import lindi_core

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_support import largest_dataset, print_references, served_sample  # noqa: E402


def main(url_or_path: str | None = None, output: str | None = None) -> dict:
    """Translate ``url_or_path`` into the reference file ``output``; check it reads back. Returns
    the sidecar's path and what it holds."""
    if url_or_path is None:
        with served_sample() as sample, tempfile.TemporaryDirectory() as folder:
            result = main(sample.url, output or os.path.join(folder, "sample.nwb.lindi.json"))
            print(f"the server answered {sample.server.stats.requests} requests in all, sending "
                  f"{sample.server.stats.bytes_sent:,} bytes of the {os.path.getsize(sample.path):,}-byte file")
            return result

    if output is None:
        output = os.path.basename(urlparse(url_or_path).path) + ".lindi.json"
    started = time.perf_counter()
    rfs = lindi_core.translate_to_file(url_or_path, output, progress=False)
    print(f"translated {url_or_path} in {time.perf_counter() - started:.2f} s")
    print(f"wrote {output}: {os.path.getsize(output):,} bytes of JSON, with chunk references")
    print_references(rfs)

    # Anyone with the sidecar reads the data from the original file, chunk by chunk.
    with lindi_core.LindiH5pyFile.from_lindi_file(output) as f:
        path = largest_dataset(f)
        dataset = f[path]
        first = np.asarray(dataset[:3] if dataset.ndim == 1 else dataset[:3, :4])
        print(f"read back through the sidecar: {path} {dataset.shape} {dataset.dtype}, first values "
              + np.array2string(first.ravel()[:6]))
    return {"output": output, "rfs": rfs, "dataset": path, "first": first}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="URL (or path) of the NWB / HDF5 file")
    parser.add_argument("-o", "--output", help="the sidecar to write (default: NAME.lindi.json here)")
    args = parser.parse_args()
    main(args.url, args.output)
