"""The direct path's chunk decoder gives numcodecs' result for every codec chain, faster or not."""

from __future__ import annotations

import zlib

import numcodecs
import numpy as np
import pytest

from lindi_core.codecs.fast_decode import chunk_decoder
from lindi_core.errors import ChunkDecodeError

CHUNKS = [64, 7]
DTYPES = ["<i2", "<u2", "<i4", "<f4", "<f8", "<i8", "|u1", "|b1", "<f2", "<c8", ">i4"]


def _chains(itemsize: int) -> list[list[dict] | None]:
    return [
        None,
        [{"id": "zlib", "level": 4}],
        [{"id": "shuffle", "elementsize": itemsize}, {"id": "zlib", "level": 1}],
        [{"id": "shuffle", "elementsize": itemsize}],
        [{"id": "gzip", "level": 5}],
        [{"id": "shuffle", "elementsize": itemsize}, {"id": "zstd", "level": 3}],
        [{"id": "delta", "dtype": "<i4"}] if itemsize == 4 else None,
    ]


def _encode(values: np.ndarray, filters: list[dict] | None, compressor: dict | None = None) -> bytes:
    data = values.tobytes()
    for config in filters or []:
        data = numcodecs.get_codec(dict(config)).encode(data)
    if compressor:
        data = numcodecs.get_codec(dict(compressor)).encode(data)
    return bytes(data)


def _values(dtype: np.dtype, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.kind == "b":
        return rng.random(CHUNKS) < 0.3
    if dtype.kind == "c":
        return (rng.normal(size=CHUNKS) + 1j * rng.normal(size=CHUNKS)).astype(dtype)
    # A random walk: compressible, every byte of every element used.
    walk = np.cumsum(rng.integers(-50, 50, size=CHUNKS), axis=0)
    return walk.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_chain_decodes_to_the_encoded_values(dtype):
    dtype = np.dtype(dtype)
    for index, filters in enumerate(_chains(dtype.itemsize)):
        if filters is None and index:
            continue
        zarray = {"chunks": CHUNKS, "dtype": dtype.str, "compressor": None, "filters": filters, "order": "C"}
        values = _values(dtype, index)
        decoder = chunk_decoder(zarray, dtype)
        decoded = decoder(_encode(values, filters), None)
        np.testing.assert_array_equal(decoded.view(dtype).reshape(CHUNKS), values)
        out = np.full(values.nbytes, 0xAB, np.uint8)
        returned = decoder(_encode(values, filters), out)
        assert returned.ctypes.data == out.ctypes.data
        np.testing.assert_array_equal(out.view(dtype).reshape(CHUNKS), values)


def test_compressor_runs_before_the_filters():
    values = _values(np.dtype("<i4"), 3)
    filters = [{"id": "shuffle", "elementsize": 4}]
    compressor = {"id": "zlib", "level": 9}
    zarray = {"chunks": CHUNKS, "dtype": "<i4", "compressor": compressor, "filters": filters}
    decoded = chunk_decoder(zarray, np.dtype("<i4"))(_encode(values, filters, compressor), None)
    np.testing.assert_array_equal(decoded.view("<i4").reshape(CHUNKS), values)


def test_a_chunk_of_the_wrong_size_is_refused():
    zarray = {"chunks": CHUNKS, "dtype": "<i2", "compressor": None, "filters": [{"id": "zlib", "level": 1}]}
    decoder = chunk_decoder(zarray, np.dtype("<i2"))
    too_short = numcodecs.Zlib(1).encode(np.zeros(10, "<i2").tobytes())
    with pytest.raises(ChunkDecodeError, match="decoded to 20 bytes"):
        decoder(too_short, None)
    too_long = numcodecs.Zlib(1).encode(np.zeros(10_000, "<i2").tobytes())
    with pytest.raises(ChunkDecodeError):
        decoder(too_long, None)


def test_corrupt_deflate_data_raises_chunk_decode_error():
    zarray = {"chunks": CHUNKS, "dtype": "<i2", "compressor": None,
              "filters": [{"id": "shuffle", "elementsize": 2}, {"id": "zlib", "level": 1}]}
    encoded = bytearray(_encode(_values(np.dtype("<i2"), 1), zarray["filters"]))
    encoded[5:40] = bytes(35)
    with pytest.raises(zlib.error) as codecs_own:
        numcodecs.Zlib().decode(bytes(encoded))
    with pytest.raises(ChunkDecodeError, match="corrupt") as ours:
        chunk_decoder(zarray, np.dtype("<i2"))(bytes(encoded), None)
    assert str(codecs_own.value) in str(ours.value)


def test_arrays_the_path_does_not_serve():
    assert chunk_decoder({"chunks": [4], "dtype": "|O", "filters": [{"id": "vlen-utf8"}]}, np.dtype("O")) is None
    assert chunk_decoder({"chunks": [4], "dtype": "<i4", "order": "F"}, np.dtype("<i4")) is None
    compound = np.dtype([("a", "<i4"), ("b", "<f8")])
    assert chunk_decoder({"chunks": [4], "dtype": compound.descr}, compound) is None
    assert chunk_decoder({"chunks": [4], "dtype": "<i4", "filters": [{"id": "no-such-codec"}]}, np.dtype("<i4")) is None
