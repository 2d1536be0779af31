"""Regenerate the example reference files of this folder: python spec/examples/make_examples.py"""

from __future__ import annotations

import os
import tempfile

import h5py
import numpy as np

import lindi_core
from lindi_core.format import jsonio

HERE = os.path.dirname(os.path.abspath(__file__))


def build(f: h5py.File) -> None:
    f.attrs["object_id"] = "root-0001"
    f.attrs["rate"] = np.float32(30000.0)
    f.attrs["empty"] = h5py.Empty("<f8")
    ts = f.create_group("acquisition/ts")
    ts.attrs["object_id"] = "ts-0002"
    data = ts.create_dataset("data", data=np.arange(4000, dtype="<i2").reshape(1000, 4), chunks=(250, 4),
                             compression="gzip", shuffle=True)
    data.attrs["conversion"] = np.float32(0.5)
    ts.create_dataset("starting_time", data=0.0)
    ts.create_dataset("names", data=["a", "bé"], dtype=h5py.string_dtype())
    f["acquisition/alias"] = data
    f["acquisition/soft"] = h5py.SoftLink("/acquisition/ts")
    f.attrs["ts_ref"] = ts.ref
    f.attrs["region"] = data.regionref[10:20, 1:3]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sample.h5")
        with h5py.File(path, "w", track_order=True) as f:
            build(f)
        rfs = lindi_core.translate(path, ref_url="https://data.example/sample.h5", progress=False)
        rfs.generation_metadata = {"generatedBy": "lindi-core", "note": "spec example"}
        jsonio.write_atomic(rfs, os.path.join(HERE, "sample.lindi.json"))


if __name__ == "__main__":
    main()
