"""Which version of a source a reference file was made from, so a batch re-run skips exactly
the assets whose output is still right.

A translation records the source's version in its ``generationMetadata`` under
``sourceVersion``: for a URL the ``etag``, ``lastModified`` and ``size`` its server gives; for a
local file its ``size`` and ``mtimeNs``; with the ``source`` itself and the translation options.
An output is up to date only when the source's version now provably matches: the same ETag, or
(no ETag on either side) the same size and Last-Modified. A server that gives neither proves
nothing, so such an asset is translated again on every run.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from lindi_core.io.locations import is_url

SOURCE_VERSION = "sourceVersion"
TRANSLATION_OPTIONS = "translationOptions"
_HEAD_BYTES = 1 << 20  # generationMetadata is on the second line of a file lindi-core writes


def source_version(source: str, timeout: float | None = None) -> dict[str, Any]:
    """The current version of ``source``; raises (ByteSourceError, OSError) when it cannot be
    reached: missing, refused (403, 404), a server that keeps failing."""
    if not is_url(source):
        st = os.stat(source)
        return {"source": os.path.abspath(source), "size": st.st_size, "mtimeNs": st.st_mtime_ns}
    from lindi_core.io.deadline import DEFAULT_TIMEOUT
    from lindi_core.io.sync_http import SyncHttp

    http = SyncHttp(timeout=timeout or DEFAULT_TIMEOUT)
    try:
        return {"source": source, **http.version(source)}
    finally:
        http.close()


def same_version(recorded: dict[str, Any] | None, current: dict[str, Any]) -> bool:
    """Whether ``recorded`` provably names the same bytes as ``current``."""
    if not isinstance(recorded, dict) or recorded.get("source") != current.get("source"):
        return False
    if "mtimeNs" in current:  # a local file
        return recorded.get("size") == current["size"] and recorded.get("mtimeNs") == current["mtimeNs"]
    if current.get("etag") or recorded.get("etag"):
        return recorded.get("etag") == current.get("etag") and recorded.get("size") == current.get("size")
    return (current.get("lastModified") is not None and current.get("size") is not None
            and recorded.get("lastModified") == current["lastModified"] and recorded.get("size") == current["size"])


def recorded_metadata(output: str) -> dict[str, Any] | None:
    """The ``generationMetadata`` of an existing reference file (None: missing or unreadable).

    Read from the head of the file where lindi-core writes it, not by parsing the whole file
    (an NWB file's reference file can be hundreds of megabytes)."""
    try:
        with open(output, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return None
    marker = b'\n"generationMetadata":'
    start = head.find(marker)
    end = head.find(b"\n", start + len(marker)) if start >= 0 else -1
    if end < 0:
        return None
    line = head[start + len(marker):end].rstrip(b",")
    try:
        found = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None
