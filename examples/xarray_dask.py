"""Open a translated file with xarray and compute over it with dask, by two roads.

    python examples/xarray_dask.py [URL] [--dataset PATH]

URL is a reference file (``.nwb.lindi.json``) or an NWB / HDF5 file (translated first into a
temporary sidecar). The group holding DATASET (default: the largest numeric dataset) opens as
an ``xarray.Dataset`` with xarray's zarr engine, over ``ReferenceStore.plain_view()`` (the store
as plain Zarr readers should see it); its variables are dask arrays, so the mean over the first
axis is computed chunk by chunk, each chunk one range request. The same mean is then computed from
``LindiH5pyDataset.to_dask()``, the h5py-style road. (xarray's ``h5netcdf`` engine also opens a
``LindiH5pyFile``: see the README.) Without a URL it serves lindi-core's sample NWB file on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from urllib.parse import urlparse

import numpy as np
import xarray

import lindi_core

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_support import is_reference_file, largest_dataset, served_sample  # noqa: E402


def main(url_or_path: str | None = None, dataset: str | None = None) -> dict:
    """Compute the mean over the first axis of ``dataset`` through xarray + dask and through
    ``to_dask()``. Returns both results."""
    if url_or_path is None:
        with served_sample() as sample:
            result = main(sample.url, dataset)
            print(f"the server answered {sample.server.stats.requests} requests in all")
            return result
    if not is_reference_file(url_or_path):
        with tempfile.TemporaryDirectory() as folder:
            sidecar = os.path.join(folder, os.path.basename(urlparse(url_or_path).path) + ".lindi.json")
            lindi_core.translate_to_file(url_or_path, sidecar, progress=False)
            print(f"translated {url_or_path} into a temporary sidecar")
            return main(sidecar, dataset)

    store = lindi_core.ReferenceStore.from_file(url_or_path)
    with lindi_core.LindiH5pyFile.from_zarr_store(store) as f:
        dataset = (dataset or largest_dataset(f)).strip("/")
        group, _, name = dataset.rpartition("/")
        # mask_and_scale=False: xarray would take HDF5's fill value for a missing-value marker
        # (and turn integers into floats to mask it); the values here are the file's own.
        ds = xarray.open_zarr(store.plain_view(), consolidated=False, group=group or None, mask_and_scale=False)
        variable = ds[name]
        print(f"xarray (zarr engine) opened group {group or '/'!r}: variables {sorted(ds.data_vars)}")
        print(f"   {name}: dims {variable.dims}, shape {variable.shape}, {variable.dtype}, "
              f"dask chunks {variable.data.chunksize} ({variable.data.npartitions} blocks)")
        by_xarray = variable.mean(dim=variable.dims[0]).compute().values  # dask reads the chunks in threads
        lazy = f[dataset].to_dask()
        by_to_dask = lazy.mean(axis=0).compute()
        print(f"   mean over {variable.dims[0]} (xarray + dask): {np.array2string(np.ravel(by_xarray)[:6], precision=3)}")
        print(f"{dataset}.to_dask(): {lazy.npartitions} blocks; the same mean: "
              f"{np.array2string(np.ravel(by_to_dask)[:6], precision=3)}; "
              f"equal: {np.allclose(by_xarray, by_to_dask)}")
    store.close()
    return {"dataset": dataset, "xarray_mean": by_xarray, "to_dask_mean": by_to_dask,
            "dims": variable.dims, "attrs": dict(ds.attrs)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="URL (or path) of a .nwb.lindi.json, or of an NWB / HDF5 file")
    parser.add_argument("--dataset", help="dataset to compute over (default: the largest numeric one)")
    args = parser.parse_args()
    main(args.url, args.dataset)
