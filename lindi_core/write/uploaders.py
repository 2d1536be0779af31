"""Uploaders: where consolidated blobs go, and the URL they are then read from.

An uploader takes a local file and a name and returns the URL (or path) of the uploaded copy.
Uploads are resumable: a destination that already holds the same bytes (same size and
SHA-256) is not sent again, and an uploader reports success only once the copy is complete,
so a reference file is never rewritten to point at a partial blob.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from typing import Protocol

from lindi_core.errors import LindiError
from lindi_core.format import temporaries


class Uploader(Protocol):
    def upload(self, local_path: str, name: str) -> str:
        """Upload ``local_path`` as ``name``; return the URL the bytes can be read from."""


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DirectoryUploader:
    """Copies blobs into a local (or mounted) folder; ``url_prefix`` names them for readers."""

    def __init__(self, directory: str | os.PathLike, url_prefix: str | None = None):
        self.directory = os.path.abspath(os.fspath(directory))
        self.url_prefix = url_prefix
        os.makedirs(self.directory, exist_ok=True)
        self.uploaded_bytes = 0

    def upload(self, local_path: str, name: str) -> str:
        target = os.path.join(self.directory, name)
        if not (os.path.exists(target) and os.path.getsize(target) == os.path.getsize(local_path)
                and sha256_of(target) == sha256_of(local_path)):
            with open(local_path, "rb") as source, temporaries.atomic_output(target) as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
            self.uploaded_bytes += os.path.getsize(local_path)
        return f"{self.url_prefix.rstrip('/')}/{name}" if self.url_prefix else target


class FsspecUploader:
    """Uploads blobs to any fsspec-writable URL prefix (``s3://bucket/prefix``, ...)."""

    def __init__(self, url_prefix: str, read_url_prefix: str | None = None, **storage_options):
        import fsspec

        self.url_prefix = url_prefix.rstrip("/")
        self.read_url_prefix = (read_url_prefix or url_prefix).rstrip("/")
        self.fs, _ = fsspec.core.url_to_fs(self.url_prefix, **storage_options)
        self.uploaded_bytes = 0

    def upload(self, local_path: str, name: str) -> str:
        remote = f"{self.url_prefix}/{name}"
        size = os.path.getsize(local_path)
        try:
            present = self.fs.exists(remote) and self.fs.size(remote) == size
        except OSError:
            present = False
        if not present:
            self.fs.put_file(local_path, remote)
            if self.fs.size(remote) != size:
                raise LindiError(f"upload of {name} to {remote} is incomplete")
            self.uploaded_bytes += size
        return f"{self.read_url_prefix}/{name}"


class CallbackUploader:
    """Any other destination: ``callback(local_path) -> url``."""

    def __init__(self, callback: Callable[[str], str]):
        self.callback = callback

    def upload(self, local_path: str, name: str) -> str:
        return self.callback(local_path)
