"""Where a chunk reference points, and whether the library may go there.

A reference file names its targets as http(s) URLs, ``file://`` URLs, or local paths (absolute,
or relative to the reference file's own folder). A reference file fetched from a URL is
untrusted: by default it may point only at http(s) URLs, never at local files, so a hostile
file cannot make the library read (and hand back) ``/etc/passwd``. Nor may it make the library
connect to addresses more private than the one it came from (:mod:`lindi_core.io.address_guard`):
``reach`` is the most private address space its URLs may lead to.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from lindi_core.errors import AccessDeniedError, ByteSourceError
from lindi_core.io.address_guard import AddressGuard, AddressSpace


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
    ``allow_local`` whether local files may be read at all; ``reach`` the most private network
    address space http(s) targets may lead to (loopback: any).
    """

    base_dir: str | None = None
    allow_local: bool = True
    reach: AddressSpace = AddressSpace.LOOPBACK

    def address_guard(self) -> AddressGuard | None:
        """The guard of the connections made for this reference file (None: unrestricted)."""
        return None if self.reach == AddressSpace.LOOPBACK else AddressGuard.for_reference_file(self.reach)

    def resolve(self, target: str) -> Location:
        if target.startswith(("http://", "https://")):
            guard = self.address_guard()
            if guard is not None:
                guard.check_url(target)
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
