"""Turning the URL a reference names into the URL to read, with the right credentials.

Some archives answer byte-range reads only after a redirect: the DANDI Archive's API URLs
(``https://api.dandiarchive.org/api/assets/<id>/download/``) redirect to presigned S3 URLs that
expire. Resolving once and caching the target (until it expires) saves a round trip per read.

Credentials go only where they belong: :class:`DandiResolver` sends the ``DANDI_API_KEY``
token to the DANDI API hosts alone, asks them *not* to follow the redirect, and reads from
the storage host it is sent to without any credentials. Other resolvers can be registered
with :func:`register_resolver`.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from lindi_core.errors import ByteSourceError
from lindi_core.io.range_answers import Retry, retryable_status

DEFAULT_TTL = 600.0


@dataclass(frozen=True)
class ResolvedUrl:
    """Where to read, which headers to send there, and until when this holds."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: float = float("inf")


class UrlResolver(Protocol):
    """Resolves the URLs it recognises; returns None for the others."""

    async def resolve(self, url: str, session: aiohttp.ClientSession) -> ResolvedUrl | None: ...


class DandiResolver:
    """Resolves DANDI API download URLs to the presigned storage URLs they redirect to."""

    def __init__(self, api_hosts: tuple[str, ...] = ("api.dandiarchive.org", "api-staging.dandiarchive.org",
                                                    "api.sandbox.dandiarchive.org"),
                 token: str | None = None, token_env: str = "DANDI_API_KEY", scheme_hosts: tuple[str, ...] = ()):
        self.api_hosts = tuple(api_hosts) + tuple(scheme_hosts)
        self._token = token
        self.token_env = token_env

    def _matches(self, url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        host = parts.netloc.lower()
        # The token goes out only encrypted (or to this machine's loopback, which no network sees).
        secure = parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1")
        return secure and host in self.api_hosts and "/download" in parts.path

    @property
    def token(self) -> str | None:
        return self._token if self._token is not None else os.environ.get(self.token_env) or None

    async def resolve(self, url: str, session: aiohttp.ClientSession) -> ResolvedUrl | None:
        if not self._matches(url):
            return None
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            if response.status not in (301, 302, 303, 307, 308) or "Location" not in response.headers:
                if response.status < 400:
                    return ResolvedUrl(url, headers)  # served directly by the API host
                if retryable_status(response.status):
                    raise Retry(f"resolving {url}: HTTP {response.status}")
                raise ByteSourceError(f"resolving {url}: HTTP {response.status}")
            target = urllib.parse.urljoin(url, response.headers["Location"])
        return ResolvedUrl(target, {}, time.time() + presigned_lifetime(target))


    def resolve_sync(self, url: str) -> ResolvedUrl | None:
        """:meth:`resolve` without an event loop (for code that h5py calls back into)."""
        if not self._matches(url):
            return None
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        request = urllib.request.Request(url, headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=60):
                return ResolvedUrl(url, headers)  # served directly by the API host
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                target = urllib.parse.urljoin(url, exc.headers["Location"])
                return ResolvedUrl(target, {}, time.time() + presigned_lifetime(target))
            if retryable_status(exc.code):
                raise Retry(f"resolving {url}: HTTP {exc.code}") from None
            raise ByteSourceError(f"resolving {url}: HTTP {exc.code}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report redirects instead of following them (credentials must not follow)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def presigned_lifetime(url: str, default: float = DEFAULT_TTL) -> float:
    """Seconds a presigned URL stays valid (from its ``X-Amz-Expires``), with a safety margin."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    expires = query.get("X-Amz-Expires") or query.get("x-amz-expires")
    if expires:
        try:
            return max(0.0, float(expires[0]) * 0.8)
        except ValueError:
            pass
    return default


_registered: list[UrlResolver] = []


def register_resolver(resolver: UrlResolver) -> None:
    """Add a resolver consulted (before the DANDI one) by every HTTP source created afterwards."""
    _registered.append(resolver)


def unregister_resolver(resolver: UrlResolver) -> None:
    _registered.remove(resolver)


def default_resolvers() -> list[UrlResolver]:
    return [*_registered, DandiResolver()]
