"""zarr's road into a reference file: chunks its codecs cannot decode are ChunkDecodeErrors.

Other stores keep zarr's own behaviour: the pipeline lindi-core installs differs from zarr's
only for arrays of a ReferenceStore.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
import zarr
import zarr.storage

import lindi_core
from lindi_core.errors import ChunkDecodeError
from lindi_core.store.codec_pipeline import LindiCodecPipeline


def _refs(chunk: bytes, filters: list) -> dict:
    return {"version": 1, "refs": {
        ".zgroup": {"zarr_format": 2},
        "x/.zarray": {"zarr_format": 2, "shape": [8], "chunks": [8], "dtype": "<i4", "fill_value": 0,
                      "order": "C", "compressor": None, "filters": filters},
        "x/0": "base64:" + base64.b64encode(chunk).decode()}}


def test_zarr_uses_the_pipeline_lindi_core_installs():
    assert zarr.config.get("codec_pipeline.path") == "lindi_core.store.codec_pipeline.LindiCodecPipeline"
    assert isinstance(zarr.open_array(zarr.storage.MemoryStore(), mode="w", shape=(2,), dtype="i4",
                                      zarr_format=2).async_array.codec_pipeline, LindiCodecPipeline)


@pytest.mark.parametrize("chunk, filters", [
    (bytes(30), [{"id": "shuffle", "elementsize": 4}]),              # not a whole number of items
    (bytes(31), [{"id": "shuffle", "elementsize": 4}]),
    (b"\x02\x01\x00\x00" + bytes(12), [{"id": "delta", "dtype": "<i4"}]),  # too short for its items
])
def test_a_chunk_its_codecs_cannot_decode_is_a_chunk_decode_error_through_zarr(chunk, filters):
    store = lindi_core.ReferenceStore.from_dict(_refs(chunk, filters))
    with pytest.raises(ChunkDecodeError, match="array 'x'"):
        zarr.open_array(store, path="x", mode="r", zarr_format=2)[...]


def test_the_same_chunks_read_right_when_they_decode():
    store = lindi_core.ReferenceStore.from_dict(_refs(np.arange(8, dtype="<i4").tobytes(), None))
    np.testing.assert_array_equal(zarr.open_array(store, path="x", mode="r", zarr_format=2)[...], np.arange(8))


def test_other_stores_keep_zarrs_own_errors():
    memory = zarr.storage.MemoryStore()
    array = zarr.open_array(memory, mode="w", shape=(8,), chunks=(8,), dtype="<i4", zarr_format=2,
                            filters=[{"id": "shuffle", "elementsize": 4}], compressor=None)
    array[...] = np.arange(8)
    memory._store_dict["0"] = zarr.core.buffer.cpu.Buffer.from_bytes(bytes(30))
    with pytest.raises(Exception) as raised:
        array[...]
    assert not isinstance(raised.value, ChunkDecodeError)
