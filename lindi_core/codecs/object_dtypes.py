"""Zarr data types for object arrays that zarr-python 3 does not know.

zarr-python 3 reads Zarr v2 object arrays (``"dtype": "|O"``) only when their object codec is
``vlen-utf8`` or ``vlen-bytes``. HDF5 has two more kinds of object data that reference files
carry: ragged (variable-length) numeric arrays, encoded with numcodecs' ``vlen-array``, and
JSON-encoded values (compound rows holding object references, reference datasets), encoded with
numcodecs' ``json2`` as LINDI 0.4 writes them. No maintained package teaches zarr these, so
they are defined here, following zarr's own ``VariableLengthBytes`` and registered on import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from zarr.core.dtype import data_type_registry
from zarr.core.dtype.npy.bytes import VariableLengthBytes


@dataclass(frozen=True, kw_only=True)
class _ObjectCodecDType(VariableLengthBytes):
    """An object array whose elements a numcodecs object codec (de)serializes."""

    def default_scalar(self) -> Any:
        return None

    def to_json_scalar(self, data: object, *, zarr_format: Any) -> Any:
        return None if data is None else data

    def from_json_scalar(self, data: Any, *, zarr_format: Any) -> Any:
        return data

    def cast_scalar(self, data: object) -> Any:
        return data

    def _check_scalar(self, data: object) -> bool:
        return True


@dataclass(frozen=True, kw_only=True)
class JSONObjects(_ObjectCodecDType):
    """Object array of JSON values (numcodecs ``json2``)."""

    _zarr_v3_name: ClassVar[str] = "lindi_core.json_objects"  # type: ignore[assignment]
    object_codec_id: ClassVar[str] = "json2"  # type: ignore[assignment]


@dataclass(frozen=True, kw_only=True)
class RaggedArrays(_ObjectCodecDType):
    """Object array of 1-D numeric arrays of varying length (numcodecs ``vlen-array``)."""

    _zarr_v3_name: ClassVar[str] = "lindi_core.ragged_arrays"  # type: ignore[assignment]
    object_codec_id: ClassVar[str] = "vlen-array"  # type: ignore[assignment]


def register_object_dtypes() -> None:
    for cls in (JSONObjects, RaggedArrays):
        data_type_registry.register(cls._zarr_v3_name, cls)
