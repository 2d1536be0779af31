"""What the examples share: a sample file served on this machine, for runs without a URL, and a
summary of where a reference file's chunk references point.

Run without arguments, each example writes lindi-core's sample NWB file (pynwb), serves its
folder on 127.0.0.1 with the Range server the tests use, and works on that URL exactly as it
would on a file in the cloud, so every example runs offline on a fresh clone.
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import h5py

import lindi_core
from lindi_core.samples import write_sample_nwb
from lindi_core.testing.range_server import RangeServer

SAMPLE_NAME = "sample.nwb"


@dataclass
class ServedSample:
    url: str  # what the example works on
    server: RangeServer  # its ``stats`` count the requests made to it
    path: str  # the NWB file on disk


@contextmanager
def served_sample(*, sidecar: bool = False) -> Iterator[ServedSample]:
    """Serve a new sample NWB file on 127.0.0.1; yield its URL, the server and the file's path.

    With ``sidecar=True`` the URL is the one of ``sample.nwb.lindi.json``, a reference file
    translated from the served NWB file by URL (so its chunk references name that URL) and served
    beside it. The server's ``stats`` count the requests made to it (reset before yielding)."""
    with tempfile.TemporaryDirectory(prefix="lindi-core-example-") as folder:
        path = write_sample_nwb(os.path.join(folder, SAMPLE_NAME))
        # The server runs in a thread of this process: garbage collected there that finalises an
        # h5py object would wait for h5py's lock, held here while h5py reads from that server.
        gc.collect()
        with RangeServer(folder) as server:
            url = server.url_for(SAMPLE_NAME)
            print(f"(no URL given: serving lindi-core's sample NWB file, {os.path.getsize(path):,} bytes, at {url})")
            if sidecar:
                lindi_core.translate_to_file(url, path + ".lindi.json", progress=False)
                url = server.url_for(SAMPLE_NAME + ".lindi.json")
            server.stats.reset()
            yield ServedSample(url, server, path)


def is_reference_file(url_or_path: str) -> bool:
    """Whether the name is one of a reference file (else it is taken for an HDF5 file)."""
    return url_or_path.rstrip("/").endswith((".lindi.json", ".lindi.tar", ".lindi.d"))


def largest_dataset(group: h5py.Group) -> str:
    """The path of the numeric dataset with the most elements (what an example reads by default)."""
    found: list[tuple[int, str]] = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and obj.shape and obj.dtype.kind in "iuf":
            found.append((obj.size, name))

    group.visititems(visit)
    if not found:
        raise SystemExit(f"{group.file.filename} holds no numeric dataset to read")
    return max(found)[1]


def references_by_url(rfs: lindi_core.ReferenceFileSystem) -> dict[str, tuple[int, int]]:
    """For each URL (or path) chunk references point into: (number of chunks, bytes)."""
    totals: dict[str, list[int]] = {}
    for table in rfs.tables.values():
        _, url_ids, _, lengths, _ = table.present_columns()
        for url_id, length in zip(url_ids.tolist(), lengths.tolist()):
            entry = totals.setdefault(rfs.urls[url_id], [0, 0])
            entry[0] += 1
            entry[1] += length
    for ref in rfs.loose_refs.values():
        entry = totals.setdefault(ref.url, [0, 0])
        entry[0] += 1
        entry[1] += ref.length
    return {url: (count, size) for url, (count, size) in totals.items()}


def print_references(rfs: lindi_core.ReferenceFileSystem, indent: str = "   ") -> None:
    for url, (count, size) in references_by_url(rfs).items():
        print(f"{indent}{count} chunks, {size:,} bytes -> {url}")
