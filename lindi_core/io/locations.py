"""Where a chunk reference points, and whether the library may go there.

A reference file names its targets as http(s) URLs, ``file://`` URLs, or local paths (absolute,
or relative to the reference file's own folder). A reference file fetched from a URL is
untrusted: by default it may point only at http(s) URLs, never at local files, so a hostile
file cannot make the library read (and hand back) ``/etc/passwd``. Nor may it make the library
connect to addresses more private than the one it came from (:mod:`lindi_core.io.address_guard`):
``reach`` is the most private address space its URLs may lead to. Every opener takes these
decisions from :meth:`LocationPolicy.for_source`; :func:`is_url` says what is a URL.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from lindi_core.errors import AccessDeniedError, ByteSourceError
from lindi_core.io.address_guard import AddressGuard, AddressSpace, url_space

_URL_PREFIXES = ("http://", "https://")


def is_url(text: str) -> bool:
    """Whether ``text`` names an http(s) URL (the scheme in any case, as URLs allow); anything
    else is a local path, or a URL of another scheme (fsspec's)."""
    return text[:8].lower().startswith(_URL_PREFIXES)


def name_of(path_or_url: str) -> str:
    """The file name part of a local path or an http(s) URL: a URL's path, without its query
    (a presigned URL's signature) or fragment, so that names are judged by what they end in."""
    return urllib.parse.urlsplit(path_or_url).path if is_url(path_or_url) else path_or_url


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

    @classmethod
    def for_source(cls, source: str | None, *, allow_local: bool | None = None, allow_private_network: bool = False,
                   reach: AddressSpace = AddressSpace.LOOPBACK, fetched_with: AddressGuard | None = None,
                   base_dir: str | None = None) -> LocationPolicy:
        """The trust of a file opened from ``source``: the one decision every opener makes.

        * A local path (or ``source=None``: references the caller handed over, resolved in
          ``base_dir``) is trusted: it may read local files unless ``allow_local=False``.
        * A file at an http(s) URL may not read local files unless ``allow_local=True``. Fetched
          with ``fetched_with`` (a reference file), it may not reach addresses more private than
          the one it came from, unless ``allow_private_network`` or ``allow_local`` trusts it.
        * ``reach`` caps the addresses whatever the rest says: a file opened on behalf of another
          gets that one's.
        """
        if source is None or not is_url(source):
            folder = base_dir if source is None else os.path.dirname(os.path.abspath(source))
            return cls(base_dir=folder, allow_local=True if allow_local is None else allow_local, reach=reach)
        if fetched_with is not None and not cls.trusts_network(allow_local, allow_private_network):
            # Where the file really came from: the address connected to (a fresh DNS answer could
            # say anything), or, when it came from memory, where its name leads.
            origin = fetched_with.origin if fetched_with.origin is not None else url_space(source)
            reach = min(reach, origin)
        return cls(base_dir=None, allow_local=bool(allow_local), reach=reach)

    @staticmethod
    def trusts_network(allow_local: bool | None, allow_private_network: bool) -> bool:
        """Whether the user lifted the address rule for a file from a URL (``allow_local=True``
        trusts it as a local file, which lifts it too)."""
        return allow_private_network or bool(allow_local)

    @classmethod
    def fetch_guard(cls, *, allow_local: bool | None = None, allow_private_network: bool = False,
                    reach: AddressSpace = AddressSpace.LOOPBACK) -> AddressGuard:
        """The guard of fetching a reference file from a URL: a redirect may not lead somewhere
        more private than the URL named, unless the file is trusted; never beyond ``reach``."""
        if cls.trusts_network(allow_local, allow_private_network):
            return AddressGuard(reach)
        return AddressGuard.for_named_url(reach)

    def address_guard(self) -> AddressGuard | None:
        """The guard of the connections made for this reference file (None: unrestricted)."""
        return None if self.reach == AddressSpace.LOOPBACK else AddressGuard.for_reference_file(self.reach)

    def resolve(self, target: str) -> Location:
        if is_url(target):
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
