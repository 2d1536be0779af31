"""Every HDF5 filter decodes to exactly what h5py reads, including chunks that skipped a filter."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np
import pytest

from lindi_core import ChunkOptions
from lindi_core.errors import ChunkDecodeError
from tests.h5compare import assert_same_as_h5py

NO_INLINE = ChunkOptions(inline_threshold=0)
rng = np.random.default_rng(7)
SMOOTH = (np.cumsum(rng.normal(0, 1, (400, 12)), axis=0) * 10).astype("<i2")
FLOATS = np.cumsum(rng.normal(0, 1, (400, 12)), axis=0)

FILTERS = {
    "gzip": dict(compression="gzip", compression_opts=6),
    "gzip+shuffle": dict(compression="gzip", shuffle=True),
    "gzip+shuffle+fletcher32": dict(compression="gzip", shuffle=True, fletcher32=True),
    "fletcher32": dict(fletcher32=True),
    "lzf": dict(compression="lzf"),
    "lzf+shuffle": dict(compression="lzf", shuffle=True),
    "szip": dict(compression="szip"),
    "scaleoffset-int": dict(scaleoffset=0),
    "zstd": dict(**hdf5plugin.Zstd(clevel=5)),
    "lz4": dict(**hdf5plugin.LZ4()),
    "blosc-lz4": dict(**hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE)),
    "blosc-zstd-bitshuffle": dict(**hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE)),
    "bitshuffle-lz4": dict(**hdf5plugin.Bitshuffle()),
    "bitshuffle-zstd": dict(**hdf5plugin.Bitshuffle(cname="zstd")),
    "bzip2": dict(**hdf5plugin.BZip2()),
    "blosc2": dict(**hdf5plugin.Blosc2()),
    "shuffle+zstd": dict(shuffle=True, **hdf5plugin.Zstd()),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_round_trip(make_h5, translated, name):
    kwargs = FILTERS[name]
    path = make_h5(lambda f: f.create_dataset("x", data=SMOOTH, chunks=(64, 5), **kwargs))
    root, rfs = translated(path, options=NO_INLINE)
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "x", f["x"])
        assert np.array_equal(root["x"][37:201:3, 2:9], f["x"][37:201:3, 2:9])
    assert len(rfs.tables["x"]) == 7 * 3


def test_scaleoffset_float_and_nbit(make_h5, translated):
    def build(f):
        f.create_dataset("so", data=FLOATS, chunks=(50, 12), scaleoffset=2)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((50,))
        dcpl.set_filter(h5py.h5z.FILTER_NBIT, 0, ())
        tid = h5py.h5t.STD_I32LE.copy()
        space = h5py.h5s.create_simple((400,))
        dsid = h5py.h5d.create(f.id, b"nbit", tid, space, dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, (np.arange(400, dtype="<i4") % 2000) - 1000)

    path = make_h5(build)
    root, _ = translated(path, options=NO_INLINE)
    with h5py.File(path) as f:
        assert_same_as_h5py(root, "so", f["so"])
        assert_same_as_h5py(root, "nbit", f["nbit"])


def test_chunks_stored_without_their_optional_filter_decode(make_h5, translated):
    """HDF5 stores a chunk without an optional filter that failed and sets its filter mask.

    lzf still fails on random bytes; deflate did before HDF5 2.0, so such chunks are written
    here the way older libraries wrote them: raw bytes plus the mask, directly.
    """
    import numcodecs

    noise = rng.integers(0, 256, (40, 1000), dtype="u1")
    noise[::2] = 0  # every other chunk compresses fine

    def build(f):
        x = f.create_dataset("x", data=noise, chunks=(1, 1000), compression="gzip")
        y = f.create_dataset("y", data=noise.view("<u2"), chunks=(1, 500), compression="gzip", shuffle=True,
                             fletcher32=True)
        for row in range(1, 40, 2):
            x.id.write_direct_chunk((row, 0), noise[row].tobytes(), 0b1)
            # pipeline shuffle(0), deflate(1), fletcher32(2); deflate skipped
            stored = numcodecs.Fletcher32().encode(numcodecs.Shuffle(2).encode(noise[row].tobytes()))
            y.id.write_direct_chunk((row, 0), bytes(stored), 0b10)
        f.create_dataset("z", data=noise, chunks=(1, 1000), compression="lzf")

    path = make_h5(build)
    root, rfs = translated(path, options=NO_INLINE)
    for name in "xyz":
        table = rfs.tables[name]
        assert table.filter_mask is not None and table.filter_mask.any(), name
        with h5py.File(path) as f:
            assert_same_as_h5py(root, name, f[name])


def test_fletcher32_checksum_mismatch_is_an_error(make_h5, translated, tmp_path):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(1000, dtype="<i4"), chunks=(1000,),
                                              fletcher32=True))
    root, rfs = translated(path, options=NO_INLINE)
    ref = rfs.get("x/0")
    with open(path, "r+b") as f:  # flip one data byte of the chunk
        f.seek(ref.offset + 10)
        byte = f.read(1)
        f.seek(ref.offset + 10)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises((RuntimeError, ChunkDecodeError, ValueError), match="(?i)checksum|fletcher"):
        root["x"][...]
