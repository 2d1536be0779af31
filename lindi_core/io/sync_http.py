"""Blocking HTTP range reads in the calling thread, for code that h5py calls back into.

h5py holds its global lock while it reads a Python file object. Waiting there on another
thread (an event loop) deadlocks as soon as that thread has to run a finaliser of some h5py
object, which needs the same lock. The remote file object h5py reads during translation
therefore fetches in its own thread, with the standard library, and the same rules as the
async engine: retries with backoff, Range answered or sliced from a full body (kept, so a
server that ignores Range sends the file once), resolvers (their ``resolve_sync``), no
credentials sent anywhere but where a resolver puts them. A range past the end of the file
gives the bytes up to its end: callers learn the size from the answer.
"""

from __future__ import annotations

import http.client
import random
import time
import urllib.error
import urllib.request

from lindi_core.errors import ByteSourceError
from lindi_core.io.http_source import RETRY_STATUS, _range_from_response, _Retry
from lindi_core.io.resolvers import ResolvedUrl, default_resolvers
from lindi_core.io.whole_bodies import SHARED_WHOLE_BODIES, WholeBodies


class SyncHttp:
    """Range reads with retries, following redirects, resolving URLs once."""

    def __init__(self, *, retries: int = 6, backoff: float = 0.05, timeout: float = 60.0, resolvers=None,
                 whole_bodies: WholeBodies | None = None):
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.resolvers = [r for r in (resolvers if resolvers is not None else default_resolvers())
                          if hasattr(r, "resolve_sync")]
        self._resolved: dict[str, ResolvedUrl] = {}
        self.whole_bodies = whole_bodies if whole_bodies is not None else SHARED_WHOLE_BODIES

    def resolve(self, url: str) -> ResolvedUrl:
        cached = self._resolved.get(url)
        if cached is not None and cached.expires_at > time.time():
            return cached
        for resolver in self.resolvers:
            resolved = resolver.resolve_sync(url)
            if resolved is not None:
                self._resolved[url] = resolved
                return resolved
        return ResolvedUrl(url)

    def read(self, url: str, offset: int, length: int) -> tuple[bytes, int | None]:
        """(bytes ``[offset, offset + length)``, cut at the end of the file; the total file
        size when the server said it)."""
        kept = self.whole_bodies.slice(url, offset, length)
        if kept is not None:
            return kept, self.whole_bodies.size(url)
        last_error: BaseException | None = None
        re_resolved = False
        attempt = 0
        while attempt <= self.retries:
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))
            attempt += 1
            resolved = self.resolve(url)
            headers = {**resolved.headers, "Range": f"bytes={offset}-{offset + length - 1}"}
            try:
                with urllib.request.urlopen(urllib.request.Request(resolved.url, headers=headers),
                                            timeout=self.timeout) as response:
                    body = response.read()
                    content_range = response.headers.get("Content-Range")
                    sized = response.headers.get("Content-Length") is not None
                    data = _range_from_response(response.status, content_range, body, offset, length, url,
                                                clip_at_end=True, sized=sized)
                    if response.status == 200 and sized:
                        self.whole_bodies.keep(url, body)
                    total = int(content_range.rsplit("/", 1)[1]) if content_range and "/" in content_range \
                        and content_range.rsplit("/", 1)[1] != "*" else (len(body) if response.status == 200 else None)
                    return data, total
            except urllib.error.HTTPError as exc:
                if exc.code == 403 and url in self._resolved and not re_resolved:
                    self._resolved.pop(url, None)  # an expired presigned URL: resolve again
                    re_resolved = True
                    attempt -= 1
                    continue
                if exc.code == 416:
                    return b"", None
                if exc.code not in RETRY_STATUS:
                    raise ByteSourceError(f"HTTP {exc.code} reading {url} bytes {offset}+{length}") from None
                last_error = exc
            except (_Retry, urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
                last_error = exc
        raise ByteSourceError(
            f"reading {url} bytes {offset}+{length} failed after {self.retries + 1} attempts: {last_error}")
