"""Whether an array's codecs are ones this process can build: a reference file names codecs by
id, and an id no package registered (or a configuration a codec refuses) is a malformed reference
file, reported as one, naming the array's ``.zarray`` key, rather than as numcodecs' own error
deep in a read."""

from __future__ import annotations

import codecs
from typing import Any

import numcodecs
from numcodecs.errors import UnknownCodecError

from lindi_core.errors import ReferenceFormatError

OBJECT_CODEC_IDS = frozenset({"vlen-utf8", "vlen-bytes", "vlen-array", "json2"})


def check_codecs(zarray: dict[str, Any], key: str) -> None:
    """Raise :class:`ReferenceFormatError` unless every codec of ``zarray`` can be built, and
    an object array (``|O``) has an object codec first among its filters, and only it."""
    filters = zarray.get("filters") or []
    object_codec = bool(filters) and isinstance(filters[0], dict) and filters[0].get("id") in OBJECT_CODEC_IDS
    if (zarray.get("dtype") == "|O") != object_codec:
        raise ReferenceFormatError(
            f"{key}: an object array ('dtype' \"|O\") needs an object codec ({', '.join(sorted(OBJECT_CODEC_IDS))}) "
            f"as its first filter, and only an object array has one (dtype {zarray.get('dtype')!r}, "
            f"filters {filters!r})")
    configs = list(filters)
    if zarray.get("compressor"):
        configs.append(zarray["compressor"])
    for config in configs:
        if not isinstance(config, dict):
            continue  # check_zarray reports the shape of the metadata
        encoding = config.get("encoding")
        if encoding is not None and not _text_encoding(encoding):  # used only when a chunk is decoded
            raise ReferenceFormatError(f"{key}: codec {config!r} names no text encoding known here")
        try:
            numcodecs.get_codec(dict(config))
        except UnknownCodecError:
            raise ReferenceFormatError(f"{key}: no codec with id {config.get('id')!r} is known here") from None
        except Exception as exc:  # a codec's constructor may raise anything on a config it was not made for
            raise ReferenceFormatError(f"{key}: codec {config!r} cannot be built: {type(exc).__name__}: {exc}") from None


def _text_encoding(name: Any) -> bool:
    try:
        return isinstance(name, str) and codecs.lookup(name).name is not None
    except LookupError:
        return False
