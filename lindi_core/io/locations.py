"""Where a chunk reference points, and whether the library may go there.

A reference file names its targets as http(s) URLs, ``file://`` URLs, or local paths (absolute,
or relative to the reference file's own folder). A reference file fetched from a URL is
untrusted: by default it may point only at http(s) URLs, never at local files, so a hostile
file cannot make the library read (and hand back) ``/etc/passwd``.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from lindi_core.errors import AccessDeniedError, ByteSourceError


@dataclass(frozen=True)
class Location:
    """A resolved target: ``kind`` is ``"http"``, ``"local"`` or ``"fsspec"``; ``where`` a URL or an
    absolute path."""

    kind: str
    where: str


@dataclass(frozen=True)
class LocationPolicy:
    """Resolves the targets of one reference file.

    ``base_dir`` is the folder of a local reference file (relative paths resolve there);
    ``allow_local`` whether local files may be read at all.
    """

    base_dir: str | None = None
    allow_local: bool = True

    def resolve(self, target: str) -> Location:
        if target.startswith(("http://", "https://")):
            return Location("http", target)
        if "://" in target:
            scheme = target.split("://", 1)[0]
            if scheme != "file":
                return self._fsspec(scheme, target)
            path = urllib.parse.unquote(urllib.parse.urlparse(target).path)
        else:
            path = target
        if not self.allow_local:
            raise AccessDeniedError(
                f"reference target {target!r} is a local file, and this reference file came from a URL; "
                "pass allow_local=True to trust it"
            )
        if not os.path.isabs(path):
            if self.base_dir is None:
                raise ByteSourceError(f"relative reference target {target!r} has no folder to resolve against")
            path = os.path.join(self.base_dir, path)
        return Location("local", os.path.normpath(path))

    def _fsspec(self, scheme: str, target: str) -> Location:
        """Other URL schemes (``s3://``, ``gs://``, ``memory://`` ...) go through fsspec. They
        read with the user's own credentials, so an untrusted reference file may not use them."""
        import fsspec

        if scheme not in fsspec.available_protocols():
            raise ByteSourceError(f"unsupported URL scheme {scheme!r} in reference target {target!r}")
        if not self.allow_local:
            raise AccessDeniedError(
                f"reference target {target!r} uses {scheme}://, which reads with your own credentials, and this "
                "reference file came from a URL; pass allow_local=True to trust it"
            )
        return Location("fsspec", target)
