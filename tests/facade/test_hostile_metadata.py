"""Metadata that does not decode is a ReferenceFormatError naming what it belongs to.

Each case is a reference file whose JSON is valid but whose values are not what their type
records say; h5py code sees a ValueError subclass (ReferenceFormatError is one), never a bare
built-in exception from deep inside.
"""

from __future__ import annotations

import pytest

import lindi_core
from lindi_core.errors import ReferenceFormatError


def _open(refs: dict) -> lindi_core.LindiH5pyFile:
    return lindi_core.LindiH5pyFile.from_reference_file_system({"version": 1, "refs": refs})


@pytest.mark.parametrize("zattrs", [
    {"a": ["x", 1.5]},                                   # strings mixed with numbers
    {"a": 5, "_ATTR_DTYPES": ["not", "a", "mapping"]},   # a type record of the wrong shape
    {"a": "text", "_ATTR_DTYPES": {"a": "<i4"}},         # a string recorded as an integer
    {"a": [1, [2]], "_ATTR_DTYPES": {"a": "<i4"}},        # ragged nesting for a fixed type
])
def test_an_attribute_that_does_not_decode_names_itself(zattrs):
    with _open({".zgroup": {"zarr_format": 2}, ".zattrs": zattrs}) as f:
        with pytest.raises(ReferenceFormatError, match="attribute 'a' of '/'"):
            f.attrs["a"]
