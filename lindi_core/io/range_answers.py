"""Which answers to a range request carry the bytes asked for: one rule for both HTTP engines.

The async engine (:mod:`lindi_core.io.http_source`) and the blocking one
(:mod:`lindi_core.io.sync_http`) do their own I/O but judge every answer here, so that a
server's answer means the same to both.

Partial answers (206). The ``Content-Range`` must name exactly the range asked for, starting
at its first byte and ending at its last, or cut at the end of the file when its total says so
(a reference past the end of the file: a permanent error, or the bytes up to the end where the
caller asked for that). A range that starts elsewhere, a larger range containing the one asked
for, a range cut short mid-file, a total that differs from the size known for the file or a
``Content-Length`` that differs from the range are wrong answers: retried like other transient
faults (a proxy or a cache in between can answer wrongly once), then a clear error. The body
is read up to the length of the range and not one byte more.

Whole-file answers (200 to a request with ``Range``). A server that ignores ``Range`` sends the
whole file; so does a proxy's login page or a server's error page, with status 200 and a
``Content-Length`` that matches its own (wrong) body. Slicing such a body would give wrong
values, and keeping it (:mod:`lindi_core.io.whole_bodies`) or caching what was sliced from it
(``LocalCache``) would make every later read wrong. So:

- The size of each file is learned from the ``Content-Range`` totals of partial answers (a
  server that honours ``Range`` speaks of the file) and from confirmed whole-file answers. A
  later answer naming another size is wrong (retried, then an error): a file that changes on
  its server while open is not read as a mix of two versions. Nothing can tell a wrong total
  in the very first answer from the truth (the bytes of that answer are still checked against
  the range asked for), so a size said once is provisional: when two later answers agree on
  another, the first was the wrong one and theirs counts. A size said twice is settled.
- When the size is known, a whole-file answer is the file only if its ``Content-Length`` and
  the bytes that arrive both equal that size; anything else is retried (its body is not even
  read when its ``Content-Length`` already disagrees) and reading stops at the first byte too
  many.
- When the size is not known yet, one whole-file answer proves nothing: it is neither used
  nor kept, only its length and SHA-256 are noted, and the request is made again at once. A
  partial answer then teaches the size (and the 200 was a fluke); a second whole-file answer of
  the same length and digest confirms the size, and only that one is used and may be kept. A
  server that really ignores ``Range`` thus sends its file twice, once per open file; an
  error page sent once is never taken for the file. (A server that sends the same page on
  every request cannot be told from a file that small, by any client.)
- A whole-file answer is read up to its known or declared size (without either, up to the
  budget of kept bodies), never further.

Error answers. 408, 429 and 5xx are transient (retried); any other status from 400 up is the
server's final word on that URL and fails at once (:mod:`lindi_core.io.retry_policy`, which
also decides how a wrong answer is retried).

A request without ``Range`` (the whole of a small file, e.g. a reference file) is answered by
the file: its 200 needs no confirmation, only a body as long as it says.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

from lindi_core.errors import ByteSourceError
from lindi_core.io.retry_policy import Retry, RetryAtOnce

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class BodyPlan:
    """How to read the body of an answer judged by its status and headers."""

    whole: bool  # a whole-file answer (status 200)
    limit: int  # the most bytes it may carry: one more is refused
    expected: int | None  # the exact length it must have, where known
    start: int  # the bytes asked for are [start, stop) of the body
    stop: int | None  # None: to its end
    keep: bool  # buffer the whole body: a whole-file answer to a range request, small enough to be kept
    unconfirmed: bool  # a whole-file answer while the file's size is not known yet


class FileSizes:
    """The size of each file, as learned from the answers of one engine; judges answers.

    One per engine (one open file, one translation): a file replaced on its server between two
    opens is learned again. Safe to share between threads."""

    def __init__(self) -> None:
        self._known: dict[str, int] = {}
        self._said: dict[str, dict[int, int]] = {}  # url -> size -> how many answers said it
        self._candidates: dict[str, tuple[int, bytes]] = {}  # url -> (length, digest) of an unconfirmed 200
        self._lock = threading.Lock()

    def known(self, url: str) -> int | None:
        with self._lock:
            return self._known.get(url)

    def learn(self, url: str, total: int) -> None:
        """The server says ``url`` has ``total`` bytes; raises :class:`Retry` when that differs
        from what it said before."""
        with self._lock:
            said = self._said.setdefault(url, {})
            said[total] = said.get(total, 0) + 1
            known = self._known.setdefault(url, total)
            if known != total and said.get(known, 0) < 2 <= said[total]:
                self._known[url] = known = total  # the first answer's total was the wrong one
        if known != total:
            raise Retry(f"the server says {url} has {total} bytes, earlier {known}")

    def plan(self, url: str, status: int, content_range: str | None, content_length: int | None,
             offset: int, length: int, *, ranged: bool, clip_at_end: bool, budget: int) -> BodyPlan:
        """How to read an answer of ``status`` to a read of ``length`` bytes at ``offset``
        (``length < 0``: to the end), before its body is read; raises :class:`Retry` for an
        answer that cannot be the one asked for and :class:`ByteSourceError` for a range past
        the end of the file. ``ranged``: the request had a ``Range`` header."""
        where = f"{url} bytes {offset}+{length}"
        if status == 206:
            carried = self._check_content_range(url, content_range, offset, length, where, clip_at_end)
            if carried is None:  # no Content-Range: only a body of the length asked for will do
                if length < 0:
                    raise Retry(f"partial answer without Content-Range for {where}")
                carried = length
            if content_length is not None and content_length != carried:
                raise Retry(f"partial answer of {content_length} bytes for a range of {carried}")
            return BodyPlan(False, carried, carried, 0, carried, False, False)
        if status != 200:
            raise ByteSourceError(f"unexpected HTTP status {status} reading {where}")
        known = self.known(url)
        if known is not None and content_length is not None and content_length != known:
            raise Retry(f"whole-file answer of {content_length} bytes for {url}, which has {known}")
        declared = known if known is not None else content_length
        unconfirmed = ranged and known is None
        if declared is not None and length >= 0 and offset + length > declared and not clip_at_end \
                and not unconfirmed:
            raise ByteSourceError(f"{url} ends at byte {declared}, before byte {offset + length}")
        limit = declared if declared is not None else budget
        stop = None if length < 0 else offset + length
        return BodyPlan(True, limit, declared, offset, stop, ranged and limit <= budget, unconfirmed)

    def _check_content_range(self, url: str, content_range: str | None, offset: int, length: int, where: str,
                             clip_at_end: bool) -> int | None:
        """The length of the range a 206 carries, when it says (None when it does not)."""
        if not content_range:
            return None
        match = _CONTENT_RANGE.fullmatch(content_range.strip())
        if match is None:
            raise Retry(f"server answered range {content_range!r} for {where}")
        first, last = int(match.group(1)), int(match.group(2))
        total = None if match.group(3) == "*" else int(match.group(3))
        wrong = Retry(f"server answered range {content_range!r} for {where}")
        if first != offset or last < first or (total is not None and last >= total):
            raise wrong
        if total is not None:
            self.learn(url, total)
        carried = last + 1 - first
        if length < 0:
            if total is None or last + 1 != total:
                raise wrong  # asked for everything to the end
            return carried
        if carried > length:
            raise wrong  # a larger range containing the one asked for: not what was asked
        if carried < length:
            if total is None or last + 1 != total:
                raise wrong  # cut short before the end of the file
            if not clip_at_end:
                raise ByteSourceError(f"{url} ends at byte {total}, before byte {offset + length}")
        return carried

    def accept_whole(self, url: str, plan: BodyPlan, body: WholeBody, *, clip_at_end: bool) -> bytes:
        """The bytes asked for out of a whole-file answer read completely; raises
        :class:`Retry` for a body cut short or one not confirmed yet."""
        received = body.received
        if plan.expected is not None and received != plan.expected:
            raise Retry(f"whole-file answer of {received} bytes, {plan.expected} expected")
        if plan.unconfirmed:
            seen = (received, body.digest())
            with self._lock:
                confirmed = self._candidates.get(url) == seen
                if confirmed:
                    del self._candidates[url]
                    self._known.setdefault(url, received)
                    said = self._said.setdefault(url, {})
                    said[received] = said.get(received, 0) + 2  # two answers of the same bytes
                else:
                    self._candidates[url] = seen
            if not confirmed:
                raise RetryAtOnce(f"a whole-file answer of {received} bytes for {url} is not confirmed yet")
            if self.known(url) != received:
                raise Retry(f"whole-file answer of {received} bytes for {url}, which has {self.known(url)}")
        data = body.wanted()
        if plan.stop is not None and len(data) != plan.stop - plan.start and not clip_at_end:
            raise ByteSourceError(f"{url} ends at byte {received}, before byte {plan.stop}")
        return data


class WholeBody:
    """The body of a whole-file answer, fed piece by piece as it arrives: refused past its
    limit, hashed, the bytes asked for copied out (the whole kept only where it may be kept)."""

    def __init__(self, plan: BodyPlan):
        self.plan = plan
        self.received = 0
        self._hash = hashlib.sha256() if plan.unconfirmed else None
        self._whole = bytearray() if plan.keep else None
        self._part = bytearray()

    def feed(self, piece: bytes | memoryview) -> None:
        begin, end = self.received, self.received + len(piece)
        if end > self.plan.limit:
            raise Retry(f"whole-file answer longer than {self.plan.limit} bytes")
        if self._hash is not None:
            self._hash.update(piece)
        if self._whole is not None:
            self._whole += piece
        else:
            lo = max(begin, self.plan.start)
            hi = end if self.plan.stop is None else min(end, self.plan.stop)
            if lo < hi:
                self._part += piece[lo - begin : hi - begin]
        self.received = end

    def digest(self) -> bytes:
        return self._hash.digest() if self._hash is not None else b""

    def whole(self) -> bytes | None:
        """The whole body, where it was kept."""
        return bytes(self._whole) if self._whole is not None else None

    def wanted(self) -> bytes:
        if self._whole is not None:
            return bytes(self._whole[self.plan.start : self.plan.stop])
        return bytes(self._part)


def check_partial_body(received: int, plan: BodyPlan) -> None:
    """Raises :class:`Retry` for a partial body cut short."""
    if received != plan.expected:
        raise Retry(f"short body: {received} of {plan.expected} bytes")
