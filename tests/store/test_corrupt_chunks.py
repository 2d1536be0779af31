"""A chunk whose bytes were damaged after translation is a ChunkDecodeError on every road.

The damage is made in the HDF5 file itself, after translation, where the references still
point: the stored checksum (fletcher32) no longer matches, with or without other filters.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import ChunkDecodeError


@pytest.mark.parametrize("filters", [{"fletcher32": True}, {"fletcher32": True, "shuffle": True},
                                     {"fletcher32": True, "shuffle": True, "compression": "gzip"}])
def test_a_chunk_failing_its_checksum_is_a_chunk_decode_error_through_zarr_and_the_facade(tmp_path, filters):
    path = str(tmp_path / "damaged.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(100_000, dtype="<i4"), chunks=(10_000,), **filters)
    rfs = lindi_core.translate(path, progress=False)
    ref = rfs.get("x/3")
    with open(path, "r+b") as f:  # one byte of the data, not of the checksum
        f.seek(ref.offset + 100)
        byte = f.read(1)
        f.seek(ref.offset + 100)
        f.write(bytes([byte[0] ^ 0xFF]))
    store = lindi_core.ReferenceStore(rfs)
    array = zarr.open_array(store, path="x", mode="r", zarr_format=2)
    np.testing.assert_array_equal(array[:30_000], np.arange(30_000))  # the other chunks read as ever
    with pytest.raises(ChunkDecodeError):
        array[30_000:40_000]
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f, pytest.raises(ChunkDecodeError):
        f["x"][30_000:40_000]


def test_a_corrupt_chunk_is_the_oserror_h5py_raises_for_it(tmp_path):
    path = str(tmp_path / "damaged.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(100_000, dtype="<i4"), chunks=(10_000,), fletcher32=True)
    rfs = lindi_core.translate(path, progress=False)
    ref = rfs.get("x/3")
    with open(path, "r+b") as f:
        f.seek(ref.offset + 100)
        f.write(b"\xff\xfe")
    with h5py.File(path, "r") as truth, pytest.raises(OSError):
        truth["x"][30_000:40_000]
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f, pytest.raises(OSError):
        f["x"][30_000:40_000]
