"""Digests of the files in a folder, to show which files a write left untouched."""

from __future__ import annotations

import hashlib
import os


def file_digests(folder: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every file below ``folder`` but hidden ones (locks), by relative path."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if not name.startswith("."):
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found
