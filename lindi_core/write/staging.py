"""``StagingArea``: a local folder where new chunks wait until they are uploaded.

Each chunk a writable file produces is written here as a file of its own (atomically: a
temporary name, then a rename; the temporaries of a writer killed meanwhile are removed when
the staging area is opened again), and the reference file points at it by absolute path until
:meth:`lindi_core.LindiH5pyFile.upload` consolidates and uploads it. Nothing is deleted on
exit: staged data is never thrown away implicitly; :meth:`cleanup` removes it when asked.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid

from lindi_core.format import temporaries
from lindi_core.format.refs import ChunkRef

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StagingArea:
    """A folder of staged chunk files (``chunks/``) and consolidated blobs (``blobs/``)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = os.path.abspath(os.fspath(directory))
        for part in ("chunks", "blobs"):
            os.makedirs(os.path.join(self.directory, part), exist_ok=True)
            temporaries.remove_stale_in(os.path.join(self.directory, part))  # of writers killed here

    @classmethod
    def create(cls, base_dir: str | os.PathLike) -> StagingArea:
        """A new staging folder inside ``base_dir``."""
        os.makedirs(base_dir, exist_ok=True)
        return cls(tempfile.mkdtemp(prefix="staging-", dir=os.fspath(base_dir)))

    def __enter__(self) -> StagingArea:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def store_chunk(self, key: str, data: bytes) -> ChunkRef:
        """Write one chunk to its own file and return a reference to it."""
        name = f"{_UNSAFE.sub('_', key)[-120:]}.{uuid.uuid4().hex[:12]}"
        path = os.path.join(self.directory, "chunks", name)
        temporaries.write_bytes(path, data, unique_name=True)
        return ChunkRef(path, 0, len(data))

    def contains(self, path: str) -> bool:
        """Whether ``path`` (a chunk reference target) lies in this staging area."""
        return os.path.isabs(path) and os.path.commonpath([self.directory, os.path.abspath(path)]) == self.directory

    def cleanup(self) -> None:
        """Delete the staging folder and everything in it."""
        shutil.rmtree(self.directory, ignore_errors=True)

