"""An array's ``.zarray`` metadata: checked, so that a malformed one is reported as what it is
(:class:`ReferenceFormatError`, naming the key) before a reader trips over it somewhere deep,
and parsed once into a frozen :class:`ArrayMetadata` that readers share, so that every one of
them reads the same shape, grid, type, separator and codecs out of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lindi_core.errors import ReferenceFormatError

_SEPARATORS = (None, ".", "/")
# The largest item a reference file may declare. HDF5 allows types of up to 4 GiB, but no real
# dataset has items of more than a few megabytes, while a declared ``|V2000000000`` would make
# reading a single element allocate 2 GB from a file of a few hundred bytes.
MAX_ITEM_BYTES = 64 * 1024 * 1024


def zarray_metadata(shape: list[int], chunks: list[int], dtype: Any, fill_value: Any, filters: list | None) -> dict:
    """The ``.zarray`` lindi-core writes for an array (translated or created): Zarr v2, C order,
    chunk keys joined by ``.``, codecs as filters only (HDF5's pipeline keeps its own order)."""
    return {
        "zarr_format": 2,
        "shape": shape,
        "chunks": chunks,
        "dtype": dtype,
        "compressor": None,
        "fill_value": fill_value,
        "order": "C",
        "filters": filters or None,
        "dimension_separator": ".",
    }


def check_zarray(zarray: Any, key: str) -> None:
    """Raise :class:`ReferenceFormatError` unless ``zarray`` is usable Zarr v2 array metadata."""
    def bad(why: str) -> ReferenceFormatError:
        return ReferenceFormatError(f"{key}: {why}")

    if not isinstance(zarray, dict):
        raise bad("array metadata is not an object")
    shape, chunks = zarray.get("shape"), zarray.get("chunks")
    if not _integers(shape, 0):
        raise bad(f"'shape' must be a list of integers >= 0, not {shape!r}")
    if not _integers(chunks, 1) or len(chunks) != len(shape):
        raise bad(f"'chunks' must be a list of integers >= 1, one per axis of the shape {shape}, not {chunks!r}")
    try:
        dtype = zarr_dtype(zarray.get("dtype"))
    except (TypeError, ValueError, LookupError) as exc:
        raise bad(f"'dtype' {zarray.get('dtype')!r} is not a data type ({type(exc).__name__}: {exc})") from None
    if dtype.itemsize > MAX_ITEM_BYTES:
        raise bad(f"'dtype' {zarray.get('dtype')!r} has items of {dtype.itemsize} bytes, more than the "
                  f"{MAX_ITEM_BYTES} a reference file may declare")
    if zarray.get("order", "C") not in ("C", "F"):
        raise bad(f"'order' must be \"C\" or \"F\", not {zarray.get('order')!r}")
    if zarray.get("dimension_separator") not in _SEPARATORS:
        raise bad(f"'dimension_separator' must be \".\" or \"/\", not {zarray.get('dimension_separator')!r}")
    filters, compressor = zarray.get("filters"), zarray.get("compressor")
    if filters is not None and not (isinstance(filters, list) and all(_codec(f) for f in filters)):
        raise bad(f"'filters' must be null or a list of codec objects with an 'id', not {filters!r}")
    if compressor is not None and not _codec(compressor):
        raise bad(f"'compressor' must be null or a codec object with an 'id', not {compressor!r}")


def zarr_dtype(value: Any) -> np.dtype:
    """The NumPy dtype of a Zarr v2 ``dtype`` field (a type string or a list of fields)."""
    if isinstance(value, list):
        if not value:
            raise ValueError("a structured type needs fields")
        return np.dtype([(str(f[0]), zarr_dtype(f[1])) + tuple(f[2:]) for f in value])
    if not isinstance(value, str):
        raise TypeError(f"a type string or a list of fields, not {type(value).__name__}")
    return np.dtype(value)


def _integers(value: Any, minimum: int) -> bool:
    return isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= minimum for n in value)


def _codec(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str)


@dataclass(frozen=True, eq=False)
class ArrayMetadata:
    """A checked ``.zarray``, parsed: ``raw`` is the JSON object itself (what codecs and zarr
    take), the other fields what readers ask of it. A new ``.zarray`` (a resize, a rewrite)
    is a new dict, hence a new value: ``raw`` identifies the metadata it was parsed from."""

    raw: dict[str, Any]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype  # the type of the stored items (Zarr's; see facade.dtypes for h5py's)
    fill_value: Any  # as the JSON says it
    separator: str  # the chunk keys' dimension_separator
    order: str
    compressor: dict[str, Any] | None
    filters: tuple[dict[str, Any], ...]

    @classmethod
    def parse(cls, zarray: Any, key: str) -> ArrayMetadata:
        """``zarray`` (found at ``key``) checked by :func:`check_zarray` and parsed."""
        check_zarray(zarray, key)
        return cls(raw=zarray, shape=tuple(zarray["shape"]), chunks=tuple(zarray["chunks"]),
                   dtype=zarr_dtype(zarray["dtype"]), fill_value=zarray.get("fill_value"),
                   separator=zarray.get("dimension_separator") or ".", order=zarray.get("order", "C"),
                   compressor=zarray.get("compressor"), filters=tuple(zarray.get("filters") or ()))

    @property
    def codecs(self) -> list[dict[str, Any]]:
        """The filters, then the compressor: the pipeline a chunk's bytes were encoded by."""
        return list(self.filters) + ([self.compressor] if self.compressor else [])
