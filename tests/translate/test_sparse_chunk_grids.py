"""A chunked dataset's references cost memory by the chunks the file holds, not by its shape.

HDF5 allows shapes far larger than the data written (a chunk index holds only the chunks
allocated); a file declaring 2**40 one-element chunks with three written is a few kilobytes,
and its translation must be too.
"""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np

import lindi_core


def test_a_huge_sparse_chunk_grid_translates_in_bounded_memory(make_h5):
    def build(f: h5py.File) -> None:
        ds = f.create_dataset("sparse", shape=(2**40,), chunks=(4,), dtype="<i4", fillvalue=-7)
        ds[0:3] = [1, 2, 3]
        ds[2**39 : 2**39 + 2] = [8, 9]

    path = make_h5(build)
    tracemalloc.start()
    try:
        rfs = lindi_core.translate(path, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"translation peaked at {peak / 1e6:.0f} MB"
    with h5py.File(path, "r") as truth, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        for selection in (slice(0, 6), slice(2**39 - 2, 2**39 + 4), slice(2**40 - 3, 2**40)):
            np.testing.assert_array_equal(f["sparse"][selection], truth["sparse"][selection])
