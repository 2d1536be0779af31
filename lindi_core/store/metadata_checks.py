"""One check of an array's ``.zarray`` before anything reads through it.

A reference file from the internet may hold any JSON where array metadata belongs. Three checks
say whether it is usable, each reporting a :class:`ReferenceFormatError` naming the key: its
shape (``check_zarray``: fields, types, item size), its codecs (``check_codecs``: known ids,
buildable configurations), and finally zarr-python's own parser, the judge of what Zarr will
accept (``zarr_format``, a fill value that fits the type), whose errors would otherwise surface
from deep inside Zarr as whatever it raises (``TypeError``, ``binascii.Error``...).
"""

from __future__ import annotations

from typing import Any

from zarr.core.metadata.v2 import ArrayV2Metadata

import lindi_core.codecs  # noqa: F401  (registers the data types Zarr must know to parse ours)
from lindi_core.codecs.known import check_codecs
from lindi_core.errors import ReferenceFormatError
from lindi_core.format.array_metadata import ArrayMetadata


def check_group_metadata(zgroup: Any, key: str) -> None:
    """Raise :class:`ReferenceFormatError` unless ``zgroup`` is Zarr v2 group metadata."""
    if not isinstance(zgroup, dict) or zgroup.get("zarr_format", 2) != 2:
        raise ReferenceFormatError(f"{key}: group metadata must be {{\"zarr_format\": 2}}, not {zgroup!r:.200}")


def check_array_metadata(zarray: Any, key: str) -> ArrayMetadata:
    """``zarray`` parsed, or :class:`ReferenceFormatError` unless it is array metadata Zarr can use."""
    parsed = ArrayMetadata.parse(zarray, key)
    check_codecs(zarray, key)
    if zarray.get("zarr_format", 2) != 2:
        raise ReferenceFormatError(f"{key}: 'zarr_format' must be 2, not {zarray.get('zarr_format')!r}")
    try:
        ArrayV2Metadata.from_dict({**zarray, "zarr_format": 2})
    except ReferenceFormatError:
        raise
    except Exception as exc:  # zarr's parser raises many kinds; each means the same here
        raise ReferenceFormatError(f"{key}: Zarr cannot use this array metadata: {type(exc).__name__}: {exc}") from exc
    return parsed
