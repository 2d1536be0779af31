"""Turning the URL a reference names into the URL to read, with the right credentials.

Some archives answer byte-range reads only after a redirect: the DANDI Archive's API URLs
(``https://api.dandiarchive.org/api/assets/<id>/download/``) redirect to presigned S3 URLs that
expire. Resolving once and caching the target (until it expires) saves a round trip per read.

Credentials go only where they belong: :class:`DandiResolver` sends the ``DANDI_API_KEY``
token to the DANDI API hosts alone, does *not* follow the redirect, and reads from the storage
host it is sent to without any credentials. Other resolvers can be registered with
:func:`register_resolver`.

A resolver's request is made by the engine that reads (the async client, or the blocking one
of :mod:`lindi_core.io.blocking_http`): through its address guard, within the read's time
budget, retried by the same policy (:mod:`lindi_core.io.retry_policy`); no third HTTP stack.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import aiohttp

from lindi_core.io.retry_policy import status_failure

if TYPE_CHECKING:  # the blocking client runs resolvers; resolvers only name it
    from lindi_core.io.blocking_http import BlockingHttp
    from lindi_core.io.deadline import Deadline

DEFAULT_TTL = 600.0
REDIRECT_TTL = 300.0  # how long a plain redirect's target is read directly
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port: the headers a resolver gives for one
    (credentials) may go to the other (both HTTP clients follow this rule on redirects)."""
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(other)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


@dataclass(frozen=True)
class ResolvedUrl:
    """Where to read, which headers to send there, and until when this holds."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: float = float("inf")


class UrlResolver(Protocol):
    """Resolves the URLs it recognises; returns None for the others. A resolver that the
    blocking engine can run too also has ``resolve_sync(url, http, deadline)`` (see
    :meth:`DandiResolver.resolve_sync`)."""

    async def resolve(self, url: str, session: aiohttp.ClientSession) -> ResolvedUrl | None: ...


class ResolvedUrls:
    """What each URL read resolved to (by a resolver, or a plain redirect), until it expires:
    one engine's memory of it, and the rule of when a refusal means it expired."""

    def __init__(self) -> None:
        self._resolved: dict[str, ResolvedUrl] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> ResolvedUrl | None:
        with self._lock:
            cached = self._resolved.get(url)
        return cached if cached is not None and cached.expires_at > time.time() else None

    def keep(self, url: str, resolved: ResolvedUrl) -> None:
        with self._lock:
            self._resolved[url] = resolved

    def redirected(self, url: str, resolved: ResolvedUrl, final_url: str) -> None:
        """A read of ``resolved`` ended at ``final_url`` after redirects: when ``url`` was read
        as named (no resolver), read from the target directly for a while."""
        if resolved.url == url:
            self.keep(url, ResolvedUrl(final_url, {}, time.time() + REDIRECT_TTL))

    def refused(self, url: str, resolved: ResolvedUrl) -> bool:
        """A 403 from ``resolved``: whether it may be an expired presigned (or redirect) URL,
        which is then forgotten so that ``url`` is resolved again."""
        with self._lock:
            if resolved.url == url and url not in self._resolved:
                return False
            self._resolved.pop(url, None)
            return True


class DandiResolver:
    """Resolves DANDI API download URLs to the presigned storage URLs they redirect to.

    Both engines make the same request (:meth:`request_headers`, redirects not followed, the
    body not read) through their own client, guard and deadline, and read its answer by the
    same rule (:meth:`answer`)."""

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

    def request_headers(self, url: str) -> dict[str, str] | None:
        """The headers of the request that resolves ``url``; None for a URL not resolved here."""
        if not self._matches(url):
            return None
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def answer(self, url: str, sent: dict[str, str], status: int, headers: Mapping[str, str]) -> ResolvedUrl:
        """What the API's answer to the request for ``url`` (with headers ``sent``) means: a
        redirect to a presigned URL (read without credentials), the file served by the API host
        itself, or a failure (:func:`~lindi_core.io.retry_policy.status_failure`)."""
        if status in REDIRECT_STATUS and headers.get("Location"):
            target = urllib.parse.urljoin(url, headers["Location"])
            return ResolvedUrl(target, {}, time.time() + presigned_lifetime(target))
        if status < 400:
            return ResolvedUrl(url, sent)  # served directly by the API host
        raise status_failure(status, headers, f"resolving {url}: HTTP {status}", f"resolving {url}: HTTP {status}")

    async def resolve(self, url: str, session: aiohttp.ClientSession) -> ResolvedUrl | None:
        sent = self.request_headers(url)
        if sent is None:
            return None
        async with session.get(url, headers=sent, allow_redirects=False) as response:
            return self.answer(url, sent, response.status, response.headers)

    def resolve_sync(self, url: str, http: BlockingHttp, deadline: Deadline) -> ResolvedUrl | None:
        """:meth:`resolve` through the blocking client (for code that h5py calls back into)."""
        sent = self.request_headers(url)
        if sent is None:
            return None

        def answer(status: int, headers: Mapping[str, str], _body: Iterator[bytes]) -> ResolvedUrl:
            return self.answer(url, sent, status, headers)

        return http.get(url, sent, deadline, answer, follow_redirects=False).answer


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
