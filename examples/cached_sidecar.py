"""Read a remote sidecar (``.nwb.lindi.json``) through a ``LocalCache``: the second read of the
same data is served from the cache on disk and makes no range request.

    python examples/cached_sidecar.py [URL] [--dataset PATH] [--rows N] [--cache-dir DIR]

URL is a reference file (``.lindi.json`` or ``.lindi.tar``) whose chunks live in a remote file.
The script opens it twice, as two sessions would, reading the same rows each time. The cache
is a fresh temporary folder unless ``--cache-dir`` names one (``LocalCache()`` alone uses the
user's cache folder, kept between runs: see ``lindi-core cache info``). Without a URL it
serves lindi-core's sample NWB file and its sidecar on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

import lindi_core

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_support import is_reference_file, largest_dataset, served_sample  # noqa: E402


def read_once(url: str, cache: lindi_core.LocalCache, dataset: str | None, rows: int) -> tuple[str, np.ndarray, int]:
    """Open the sidecar, read ``rows`` rows of ``dataset``: (its path, the values, range requests made)."""
    with lindi_core.LindiH5pyFile.from_lindi_file(url, local_cache=cache) as f:
        path = dataset or largest_dataset(f)
        http = f.zarr_group.store.sources.http  # counts the range requests of this file's reads
        values = f[path][:rows]
        return path, values, http.requests


def main(url_or_path: str | None = None, dataset: str | None = None, rows: int = 10_000,
         cache_dir: str | None = None) -> dict:
    """Read ``rows`` rows of ``dataset`` (default: the largest) twice through one local cache.
    Returns the values and the range requests each read made."""
    if url_or_path is None:
        with served_sample(sidecar=True) as sample:
            result = main(sample.url, dataset, rows, cache_dir)
            print(f"the server answered {sample.server.stats.requests} requests in all "
                  "(one fetch of the sidecar per session, the rest chunk ranges)")
            return result
    if not is_reference_file(url_or_path):
        raise SystemExit(f"{url_or_path} is not a reference file: make one with examples/write_sidecar.py")
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="lindi-core-cache-") as folder:
            return main(url_or_path, dataset, rows, folder)

    cache = lindi_core.LocalCache(cache_dir=cache_dir)
    print(f"local cache in {cache.cache_dir}: {cache.info().entries} ranges, {cache.info().bytes:,} bytes")
    path, first, first_requests = read_once(url_or_path, cache, dataset, rows)
    print(f"session 1: {path}[:{rows}] {first.shape} {first.dtype}, {first.nbytes:,} bytes, "
          f"{first_requests} range request(s)")
    info = cache.info()
    print(f"local cache now: {info.entries} ranges, {info.bytes:,} bytes")
    path, second, second_requests = read_once(url_or_path, cache, path, rows)
    same = np.array_equal(first, second)
    print(f"session 2: the same rows, {second_requests} range request(s) "
          f"({first_requests - second_requests} saved by the cache); identical values: {same}")
    return {"dataset": path, "values": second, "requests": (first_requests, second_requests),
            "cache_entries": info.entries, "same": same}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="URL of a .lindi.json / .lindi.tar reference file")
    parser.add_argument("--dataset", help="dataset to read (default: the largest numeric one)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows to read (default 10000)")
    parser.add_argument("--cache-dir", help="the cache folder (default: a temporary one)")
    args = parser.parse_args()
    main(args.url, args.dataset, args.rows, args.cache_dir)
