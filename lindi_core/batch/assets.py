"""What a batch translates: assets (a source and the name of its reference file) read from a
manifest, a DANDI asset listing, or a list of sources, and where each one's output goes.

A manifest is text, one asset a line: ``url_or_path [output-name]``; blank lines and ``#``
comments are ignored. A DANDI listing is the JSON the archive's API returns for a dandiset's
assets: objects with ``path`` and ``contentUrl`` (a list of URLs), either a list or a page
``{"results": [...], "next": url}`` (the pages are followed). An asset's output is
``OUTDIR/<name>.lindi.json``; a name that would leave OUTDIR (absolute, ``..``) is refused.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from lindi_core.errors import LindiError
from lindi_core.io.locations import is_url, name_of

MAX_LISTING_BYTES = 256 << 20  # one manifest or listing page read over HTTP
MAX_LISTING_PAGES = 10_000
_COMMENT = re.compile(r"(^|\s)#.*$")


class ManifestError(LindiError, ValueError):
    """A manifest or asset listing that cannot be used (unreadable, malformed, a bad name)."""


@dataclass(frozen=True)
class Asset:
    """One file to translate: its source (local path or http(s) URL) and its output name
    (a relative POSIX path under the output folder, without the ``.lindi.json`` suffix)."""

    source: str
    name: str


def default_name(source: str) -> str:
    """The output name of a source listed without one: the last part of its path."""
    path = name_of(source) if is_url(source) else source.replace(os.sep, "/")
    name = posixpath.basename(path.rstrip("/"))
    if not name:
        raise ManifestError(f"cannot name an output after {source!r}: give its output name")
    return name


def output_path(outdir: str | os.PathLike, name: str) -> str:
    """Where the reference file of the asset named ``name`` goes; ManifestError if that is
    not inside ``outdir`` (an absolute name, ``..``, a symlink out of it)."""
    parts = name.split("/")
    if (not name or name.startswith("/") or "\\" in name or "\0" in name
            or any(part in ("", ".", "..") for part in parts)):
        raise ManifestError(f"output name {name!r} is not a plain relative path under the output folder")
    filename = name if name.endswith(".lindi.json") else name + ".lindi.json"
    root = os.path.realpath(outdir)
    path = os.path.join(root, *filename.split("/"))
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ManifestError(f"output name {name!r} leads out of the output folder {root}")
    return path


def parse_manifest_text(text: str, where: str) -> list[Asset]:
    assets = []
    for number, line in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", line).strip()  # a '#' inside a path or URL is kept
        if not line:
            continue
        fields = line.split()
        if len(fields) > 2:
            raise ManifestError(f"{where} line {number}: expected 'url_or_path [output-name]', got {line!r}")
        assets.append(Asset(fields[0], fields[1] if len(fields) == 2 else default_name(fields[0])))
    return assets


def dandi_assets(listing: Any, where: str) -> tuple[list[Asset], str | None]:
    """The assets of one DANDI listing page and the URL of the next page (None: the last)."""
    next_page = None
    if isinstance(listing, dict):
        next_page = listing.get("next")
        listing = listing.get("results")
    if not isinstance(listing, list):
        raise ManifestError(f"{where}: not a DANDI asset listing (a list, or an object with 'results')")
    assets = []
    for item in listing:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise ManifestError(f"{where}: an asset without a 'path': {str(item)[:200]}")
        urls = item.get("contentUrl") or []
        url = next((u for u in urls if isinstance(u, str) and is_url(u)), None) if isinstance(urls, list) else None
        if url is None:
            raise ManifestError(f"{where}: asset {item['path']!r} has no http(s) URL in 'contentUrl'")
        assets.append(Asset(url, item["path"]))
    return assets, next_page if isinstance(next_page, str) and next_page else None


def read_text(location: str, timeout: float | None = None) -> bytes:
    """The bytes of a manifest or listing: a local file or an http(s) URL."""
    if not is_url(location):
        try:
            with open(location, "rb") as f:
                return f.read(MAX_LISTING_BYTES + 1)
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {location}: {exc}") from exc
    from lindi_core.io.deadline import DEFAULT_TIMEOUT
    from lindi_core.io.sync_http import SyncHttp

    http = SyncHttp(timeout=timeout or DEFAULT_TIMEOUT)
    try:
        data, _size = http.read(location, 0, MAX_LISTING_BYTES + 1)
    except LindiError as exc:
        raise ManifestError(f"cannot read the manifest {location}: {exc}") from exc
    finally:
        http.close()
    return data


def load_manifest(location: str | os.PathLike, timeout: float | None = None) -> list[Asset]:
    """The assets a manifest or DANDI listing (local file or URL) names, every page of it."""
    where = os.fspath(location)
    assets: list[Asset] = []
    pages = 0
    page: str | None = where
    while page is not None:
        pages += 1
        if pages > MAX_LISTING_PAGES:
            raise ManifestError(f"{where}: more than {MAX_LISTING_PAGES} pages")
        data = read_text(page, timeout)
        if len(data) > MAX_LISTING_BYTES:
            raise ManifestError(f"{page}: larger than {MAX_LISTING_BYTES} bytes")
        if data.lstrip()[:1] in (b"{", b"["):
            try:
                listing = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise ManifestError(f"{page}: not valid JSON: {exc}") from exc
            found, page = dandi_assets(listing, page)
            assets += found
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ManifestError(f"{page}: a manifest is UTF-8 text: {exc}") from exc
            assets += parse_manifest_text(text, page)
            page = None
    return assets


def assets_from_sources(sources: Iterable[str | os.PathLike]) -> list[Asset]:
    """One asset per source, named after the last part of its path."""
    return [Asset(os.fspath(s), default_name(os.fspath(s))) for s in sources]
