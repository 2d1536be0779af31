"""Translate an HDF5 file and read it back with zarr-python 3 and dask.

    python examples/translate_and_read.py FILE_OR_URL DATASET_PATH

Without arguments it writes a small sample NWB file first (needs pynwb).
"""

from __future__ import annotations

import os
import sys
import tempfile

import zarr

import lindi_core


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if len(argv) >= 2:
            source, dataset = argv[0], argv[1]
        else:
            from lindi_core.samples import write_sample_nwb

            source = write_sample_nwb(os.path.join(tmp, "sample.nwb"))
            dataset = "acquisition/ElectricalSeries/data"
        out = os.path.join(tmp, "out.nwb.lindi.json")
        lindi_core.translate_to_file(source, out)
        store = lindi_core.ReferenceStore.from_file(out)
        root = zarr.open_group(store, mode="r")
        array = root[dataset.strip("/")]
        print(f"{dataset}: shape {array.shape}, dtype {array.dtype}, chunks {array.chunks}")
        print(array[: min(5, array.shape[0])])
        try:
            import dask.array as da
        except ImportError:
            return
        lazy = da.from_zarr(array)
        print("mean over the first axis (dask):", lazy.mean(axis=0).compute()[:8])
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
