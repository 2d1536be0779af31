"""Metadata that does not decode is a ReferenceFormatError naming what it belongs to.

Each case is a reference file whose JSON is valid but whose values are not what their type
records say; h5py code sees a ValueError subclass (ReferenceFormatError is one), never a bare
built-in exception from deep inside.
"""

from __future__ import annotations

import pytest
import zarr

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


def _array(zarray_changes: dict, zhdf5: dict | None = None) -> dict:
    zarray = {"zarr_format": 2, "shape": [4], "chunks": [4], "dtype": "<f8", "fill_value": 0.0, "order": "C",
              "compressor": None, "filters": None}
    refs = {".zgroup": {"zarr_format": 2}, "x/.zarray": {**zarray, **zarray_changes}, "x/.zattrs": {}}
    if zhdf5 is not None:
        refs["x/.zhdf5"] = zhdf5
    return refs


@pytest.mark.parametrize("changes", [
    {"zarr_format": "|O"},                        # not 2
    {"zarr_format": 3},
    {"fill_value": {}},                           # not a float
    {"dtype": "|S2", "fill_value": "QQ"},         # not base64 (bad padding)
])
def test_array_metadata_zarr_cannot_use_is_refused_on_both_roads(changes):
    refs = _array(changes)
    with _open(refs) as f:
        with pytest.raises(ReferenceFormatError, match="x/.zarray"):
            f["x"]
    store = lindi_core.ReferenceStore.from_dict({"version": 1, "refs": refs})
    with pytest.raises(ReferenceFormatError, match="x/.zarray"):
        zarr.open_array(store, path="x", mode="r", zarr_format=2)


def test_a_type_description_numpy_cannot_read_names_the_dataset():
    with _open(_array({}, {"_HDF5_DTYPE": "../../etc/passwd"})) as f:
        with pytest.raises(ReferenceFormatError, match="dataset '/x'"):
            assert f["x"].dtype is None


def test_a_fill_value_not_of_the_described_type_names_the_dataset():
    with _open(_array({"dtype": "|O", "fill_value": "", "filters": [{"id": "vlen-utf8"}]},
                      {"_HDF5_DTYPE": "<i8"})) as f:
        with pytest.raises(ReferenceFormatError, match="dataset '/x'"):
            assert f["x"].fillvalue is None


def test_a_creation_order_record_of_the_wrong_shape_is_ignored_not_a_crash():
    with _open({".zgroup": {"zarr_format": 2}, ".zattrs": {}, ".zhdf5": {"_CREATION_ORDER": 1.5},
                "g/.zgroup": {"zarr_format": 2}}) as f:
        assert list(f) == ["g"]


@pytest.mark.parametrize("changes", [
    {"dtype": [{"id": "vlen-utf8"}]},                                                     # fields as objects
    {"filters": [{"id": "lindi_core.hdf5_filters", "filters": [[-1]], "dtype": "<f8",     # a filter record
                  "chunk_shape": [4]}]},                                                  # cut short
])
def test_metadata_whose_parts_raise_lookup_errors_is_refused(changes):
    with _open(_array(changes)) as f:
        with pytest.raises(ReferenceFormatError, match="x/.zarray"):
            f["x"]


def test_a_chunk_an_object_codec_cannot_decode_names_the_dataset():
    refs = _array({"dtype": "|O", "fill_value": None, "filters": [{"id": "json2", "encoding": "utf-16"}]})
    refs["x/0"] = "base64:" + __import__("base64").b64encode(b'["a","b","c","d","|O",[4]]').decode()  # UTF-8
    with _open(refs) as f:
        with pytest.raises(lindi_core.errors.ChunkDecodeError, match="dataset '/x'|array 'x'"):
            f["x"][...]


def test_group_metadata_of_another_format_is_refused_on_zarrs_road():
    store = lindi_core.ReferenceStore.from_dict({"version": 1, "refs": {".zgroup": {"zarr_format": -1}}})
    with pytest.raises(ReferenceFormatError, match=".zgroup"):
        zarr.open_group(store, mode="r", zarr_format=2)


def test_an_unknown_text_encoding_of_an_object_codec_is_refused_before_any_chunk_is_decoded():
    refs = _array({"dtype": "|O", "fill_value": None, "filters": [{"id": "json2", "encoding": ["utf-8"]}]})
    store = lindi_core.ReferenceStore.from_dict({"version": 1, "refs": refs})
    with pytest.raises(ReferenceFormatError, match="x/.zarray"):
        zarr.open_array(store, path="x", mode="r", zarr_format=2)


@pytest.mark.parametrize("config", [
    {"filters": [[32001, 0, [2**40]]], "dtype": "<f8", "chunk_shape": [4]},   # a value past 32 bits
    {"filters": [[32001, 0, [-1]]], "dtype": "<f8", "chunk_shape": [4]},      # a negative value
    {"filters": [[70000, 0, []]], "dtype": "<f8", "chunk_shape": [4]},        # an id past 16 bits
    {"filters": [[32001, 0, []]], "dtype": "<f8", "chunk_shape": []},         # no chunk axes
    {"filters": [[32001, 0, []]], "dtype": "", "chunk_shape": [4]},           # no type
])
def test_a_libhdf5_pipeline_libhdf5_would_refuse_is_refused_with_the_metadata(config):
    with _open(_array({"filters": [{"id": "lindi_core.hdf5_filters", **config}]})) as f:
        with pytest.raises(ReferenceFormatError, match="x/.zarray"):
            f["x"]
