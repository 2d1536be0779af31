"""The parsed ``.zarray`` value readers share agrees with zarr-python's own parse of it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from zarr.core.metadata import ArrayV2Metadata

from lindi_core.errors import ReferenceFormatError
from lindi_core.format.array_metadata import ArrayMetadata

ARRAYS = [
    {"zarr_format": 2, "shape": [10, 3], "chunks": [4, 3], "dtype": "<f8", "fill_value": 0.5, "order": "C",
     "compressor": {"id": "zlib", "level": 4}, "filters": None, "dimension_separator": "/"},
    {"zarr_format": 2, "shape": [7], "chunks": [7], "dtype": [["a", "<i4"], ["b", "|u1"]], "fill_value": None,
     "order": "C", "compressor": None, "filters": [{"id": "shuffle", "elementsize": 5}]},
    {"zarr_format": 2, "shape": [], "chunks": [], "dtype": "|S5", "fill_value": "", "order": "F",
     "compressor": None, "filters": None},
]


@pytest.mark.parametrize("zarray", ARRAYS)
def test_the_parsed_value_says_what_zarr_reads(zarray):
    meta = ArrayMetadata.parse(zarray, "x/.zarray")
    theirs = ArrayV2Metadata.from_dict(dict(zarray))
    assert meta.shape == theirs.shape and meta.chunks == theirs.chunks and meta.order == theirs.order
    assert meta.dtype == np.dtype(theirs.dtype.to_native_dtype())
    assert meta.separator == (zarray.get("dimension_separator") or ".")
    assert [c["id"] for c in meta.codecs] == [c["id"] for c in (zarray["filters"] or [])] + \
        ([zarray["compressor"]["id"]] if zarray["compressor"] else [])
    assert meta.raw is zarray
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.shape = (1,)  # type: ignore[misc]


def test_malformed_metadata_is_refused_naming_its_key():
    with pytest.raises(ReferenceFormatError, match="x/.zarray: 'chunks'"):
        ArrayMetadata.parse({**ARRAYS[0], "chunks": [4]}, "x/.zarray")
