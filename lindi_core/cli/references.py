"""A file's reference file system as the reference commands see it (``info``, ``verify``,
``diff``): loaded through the file facade, whatever the file kind, and summed up per source URL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from lindi_core.cli.common import open_file
from lindi_core.format.refs import ReferenceFileSystem


def load(path_or_url: str, timeout: float | None = None) -> ReferenceFileSystem:
    """The reference file system of any file the commands take (an HDF5 file is translated)."""
    from lindi_core.format.jsonio import from_json_dict

    with open_file(path_or_url, timeout=timeout) as f:
        return from_json_dict(f.to_reference_file_system())


@dataclass
class UrlUse:
    """What the chunk refs of one file ask of one source URL."""

    refs: int = 0
    bytes: int = 0
    end: int = 0  # the furthest byte any ref reaches (exclusive)


@dataclass
class Summary:
    metadata_keys: int
    groups: int
    arrays: int
    inline_chunks: int
    inline_bytes: int
    urls: dict[str, UrlUse] = field(default_factory=dict)

    @property
    def referenced_chunks(self) -> int:
        return sum(use.refs for use in self.urls.values())

    @property
    def referenced_bytes(self) -> int:
        return sum(use.bytes for use in self.urls.values())


def summarize(rfs: ReferenceFileSystem) -> Summary:
    """Counts of a reference file system's keys and, per source URL, the refs into it."""
    counts = np.zeros(len(rfs.urls), dtype=np.int64)
    sizes = np.zeros(len(rfs.urls), dtype=np.int64)
    ends = np.zeros(len(rfs.urls), dtype=np.int64)
    for table in rfs.tables.values():
        _, url_index, offset, length, _ = table.present_columns()
        if len(url_index) == 0:
            continue
        url_index = url_index.astype(np.int64)
        np.add.at(counts, url_index, 1)
        np.add.at(sizes, url_index, length.astype(np.int64))
        np.maximum.at(ends, url_index, offset.astype(np.int64) + length.astype(np.int64))
    urls = {url: UrlUse(int(counts[i]), int(sizes[i]), int(ends[i])) for i, url in enumerate(rfs.urls) if counts[i]}
    for ref in rfs.loose_refs.values():
        use = urls.setdefault(ref.url, UrlUse())
        use.refs += 1
        use.bytes += max(ref.length, 0)
        use.end = max(use.end, ref.offset + max(ref.length, 0))
    return Summary(
        metadata_keys=len(rfs.metadata),
        groups=sum(1 for key in rfs.metadata if key == ".zgroup" or key.endswith("/.zgroup")),
        arrays=sum(1 for key in rfs.metadata if key == ".zarray" or key.endswith("/.zarray")),
        inline_chunks=len(rfs.inline),
        inline_bytes=sum(len(v) for v in rfs.inline.values()),
        urls=dict(sorted(urls.items())),
    )


def describe_summary(summary: Summary, generation_metadata: dict) -> list[str]:
    lines = [f"groups: {summary.groups}", f"arrays: {summary.arrays}",
             f"metadata keys: {summary.metadata_keys}",
             f"inline chunks: {summary.inline_chunks} ({summary.inline_bytes:,} bytes)",
             f"referenced chunks: {summary.referenced_chunks} ({summary.referenced_bytes:,} bytes "
             f"in {len(summary.urls)} source(s))"]
    for url, use in summary.urls.items():
        lines.append(f"  {url}: {use.refs} chunks, {use.bytes:,} bytes")
    lines.append("generation metadata: " + json.dumps(generation_metadata, sort_keys=True, default=str))
    return lines
