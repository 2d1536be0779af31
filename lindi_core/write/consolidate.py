"""Consolidating staged chunks into a few large blobs, and uploading them.

Thousands of small staged chunk files would make thousands of uploads. Before uploading, the
staged chunks that a reference file system uses are concatenated into blobs of at most
``blob_size`` bytes (a blob is named by the SHA-256 of its content, so rerunning after a crash
produces the same names and uploads only what is missing). References are rewritten to the
uploaded blobs only after every blob is uploaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Container
from dataclasses import dataclass

import numpy as np

from lindi_core.format import temporaries
from lindi_core.format.keys import join_key
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.write.staging import StagingArea
from lindi_core.write.uploaders import Uploader

DEFAULT_BLOB_SIZE = 256 * 1024 * 1024


@dataclass(frozen=True)
class UploadReport:
    chunks: int
    blobs: int
    bytes: int


def staged_refs(rfs: ReferenceFileSystem, staging: StagingArea,
                only: Container[str] | None = None) -> list[tuple[str, ChunkRef]]:
    """Every chunk reference of ``rfs`` that points into the staging area (and, with ``only``,
    is one of those paths: for a reference file from a URL, the chunks this process staged, so
    that it cannot name another session's staged files into an upload or a copy)."""
    def staged(url: str) -> bool:
        return staging.contains(url) and (only is None or url in only)

    found = []
    for key, ref in list(rfs.loose_refs.items()):
        if staged(ref.url):
            found.append((key, ref))
    for array_path, table in rfs.tables.items():
        staged_ids = [i for i, url in enumerate(rfs.urls) if staged(url)]
        if not staged_ids:
            continue
        linear, url_ids = table.present_columns()[:2]
        for cell in linear[np.isin(url_ids, staged_ids)].tolist():
            found.append((join_key(array_path, table.chunk_name(cell)), rfs._table_ref(table, cell)))
    return found


def upload_staged(rfs: ReferenceFileSystem, staging: StagingArea, uploader: Uploader,
                  blob_size: int = DEFAULT_BLOB_SIZE, only: Container[str] | None = None) -> UploadReport:
    """Consolidate the staged chunks ``rfs`` uses into blobs, upload them, rewrite the refs
    (``only``: see :func:`staged_refs`)."""
    refs = staged_refs(rfs, staging, only)
    groups: list[list[tuple[str, ChunkRef]]] = []
    size = 0
    for item in refs:
        if not groups or size + item[1].length > blob_size:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += item[1].length
    rewrites: list[tuple[str, ChunkRef]] = []
    total = 0
    uploaded = []
    for group in groups:
        contents = []
        offsets = []
        position = 0
        for _key, ref in group:
            with open(ref.url, "rb") as f:
                f.seek(ref.offset)
                data = f.read(ref.length)
            offsets.append(position)
            contents.append(data)
            position += len(data)
        blob = b"".join(contents)
        name = f"blob-{hashlib.sha256(blob).hexdigest()[:32]}.bin"
        local = os.path.join(staging.directory, "blobs", name)
        if not os.path.exists(local):
            temporaries.write_bytes(local, blob, unique_name=True)
        uploaded.append((local, name, group, offsets, len(blob)))
    for local, name, group, offsets, length in uploaded:
        url = uploader.upload(local, name)
        total += length
        rewrites.extend((key, ChunkRef(url, offset, ref.length, ref.filter_mask))
                        for (key, ref), offset in zip(group, offsets))
    for key, ref in rewrites:  # only now: every blob is complete at its destination
        rfs.set_ref(key, ref)
    return UploadReport(len(refs), len(uploaded), total)
