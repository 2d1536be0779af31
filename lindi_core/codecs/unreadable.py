"""The codec of a dataset whose values a reference file cannot give (``lindi_core.unreadable``).

Some datasets translate to their metadata, attributes and chunk references but not to values a
reader could decode: an encoded family (variable-length strings, references) stored with an
HDF5 filter missing on the translating machine, whose values libhdf5 had to read to encode them;
a type with no Zarr form. Their ``.zarray`` names this codec, with the reason, as its only
filter: any reader, lindi-core or plain Zarr, that fetches one of their chunks fails with that
reason (an :class:`~lindi_core.errors.UnreadableObjectError`) instead of returning bytes it does
not understand as values.
"""

from __future__ import annotations

from numcodecs.abc import Codec

from lindi_core.errors import UnreadableObjectError


class UnreadableChunks(Codec):
    """Refuses to decode or encode: the array's chunks have no decodable form here."""

    codec_id = "lindi_core.unreadable"

    def __init__(self, reason: str = "its values have no form in a reference file"):
        self.reason = str(reason)

    def get_config(self) -> dict:
        return {"id": self.codec_id, "reason": self.reason}

    def decode(self, buf, out=None):
        raise UnreadableObjectError(f"its values cannot be read: {self.reason}")

    def encode(self, buf):
        raise UnreadableObjectError(f"its values cannot be written: {self.reason}")
