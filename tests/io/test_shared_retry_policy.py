"""One fault, one outcome: the async engine (HttpSource), the blocking one (SyncHttp) and DANDI
URL resolution in either follow the same retry policy, address guard and time budget
(lindi_core.io.retry_policy), whatever the road.

Each fault script runs on four roads: a URL read by each engine, and a DANDI API URL (resolved
to a presigned URL, then read) by each engine, the fault then hitting the API's answer."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from lindi_core.errors import AccessDeniedError, ByteSourceError
from lindi_core.io.address_guard import AddressGuard, AddressSpace
from lindi_core.io.http_source import HttpSource
from lindi_core.io.resolvers import DandiResolver, ResolvedUrl
from lindi_core.io.retry_policy import Retry, RetryAtOnce, RetryPolicy, retry_after
from lindi_core.io.sync_http import SyncHttp
from lindi_core.io.whole_bodies import WholeBodies
from lindi_core.testing.range_server import RangeServer, ServerFaults
from tests.io.redirects import RedirectingServer

PAYLOAD = np.random.default_rng(29).integers(0, 256, 60_000, dtype=np.uint8).tobytes()
ROADS = ["async", "blocking", "async-dandi", "blocking-dandi"]
API_PATH = "api/assets/p.bin/download/"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "p.bin").write_bytes(PAYLOAD)
    return tmp_path


def _read(road: str, server: RangeServer, offset: int = 100, length: int = 20_000, **options) -> bytes:
    """Bytes of p.bin on ``road``, by an engine made with ``options``."""
    options = {"backoff": 0.001, "whole_bodies": WholeBodies(), **options}
    if road.endswith("-dandi"):
        url = server.api_url_for("p.bin")
        options["resolvers"] = [DandiResolver(api_hosts=(url.split("/")[2],), token=None)]
    else:
        url = server.url_for("p.bin")
    return _read_url(road.split("-")[0], url, offset, length, **options)


def _read_url(engine: str, url: str, offset: int = 100, length: int = 20_000, **options) -> bytes:
    options = {"backoff": 0.001, "whole_bodies": WholeBodies(), **options}
    if engine == "async":
        async def run() -> bytes:
            source = HttpSource(**options)
            try:
                return await source.read(url, offset, length)
            finally:
                await source.close()

        return asyncio.run(run())
    http = SyncHttp(**options)
    try:
        return http.read(url, offset, length)[0]
    finally:
        http.close()


def _first_path(road: str) -> str:
    """The path the first request of ``road`` asks for: where a status fault is put."""
    return API_PATH if road.endswith("-dandi") else "p.bin"


def _asked(server: RangeServer, path: str) -> int:
    return sum(1 for p in server.stats.paths if p.split("?")[0] == "/" + path)


@pytest.mark.parametrize("road", ROADS)
@pytest.mark.parametrize("status", [500, 503])
def test_a_transient_status_then_an_answer_gives_the_bytes(files, serve, road, status):
    server = serve(files, faults=ServerFaults(statuses={_first_path(road): [status]}))
    assert _read(road, server) == PAYLOAD[100:20_100]
    assert _asked(server, _first_path(road)) == 2


@pytest.mark.parametrize("road", ROADS)
def test_a_503_with_a_retry_after_of_zero_is_asked_again(files, serve, road):
    server = serve(files, faults=ServerFaults(statuses={_first_path(road): [503]},
                                              status_headers={"Retry-After": "0"}))
    assert _read(road, server) == PAYLOAD[100:20_100]
    assert _asked(server, _first_path(road)) == 2


@pytest.mark.parametrize("road", ROADS)
def test_a_retry_after_longer_than_the_budget_ends_the_read_at_once(files, serve, road):
    # Asking again before the server said it would answer only meets the same 503; nothing
    # can be read within the budget, so the read says so after one request, on every road.
    server = serve(files, faults=ServerFaults(statuses={_first_path(road): [503] * 10},
                                              status_headers={"Retry-After": "3600"}))
    with pytest.raises(ByteSourceError, match=r"failed after 1 attempt: .*HTTP 503.*asks to wait 3600 s"):
        _read(road, server, timeout=30.0)
    assert server.stats.requests == 1


@pytest.mark.parametrize("road", ROADS)
def test_a_connection_reset_mid_body_is_read_again(files, serve, road):
    server = serve(files, faults=ServerFaults(reset_times=1))
    assert _read(road, server) == PAYLOAD[100:20_100]
    assert server.stats.injected["reset_times"] == 1
    assert _asked(server, "p.bin") == 2


class KeyResolver:
    """Resolves ``.../secret/p.bin`` to ``target``, with a key for that target's origin."""

    def __init__(self, target: str):
        self.target = target

    def _resolve(self, url: str) -> ResolvedUrl | None:
        return ResolvedUrl(self.target, {"X-Archive-Key": "k3y"}) if url.endswith("/secret/p.bin") else None

    async def resolve(self, url, session):
        return self._resolve(url)

    def resolve_sync(self, url, http, deadline):
        return self._resolve(url)


@pytest.mark.parametrize("engine", ["async", "blocking"])
def test_a_resolvers_headers_do_not_follow_a_redirect_to_another_origin(files, serve, engine):
    # aiohttp drops only Authorization and cookies on such a redirect; the blocking client
    # dropped every header the resolver gave. Both now keep them for the resolver's origin.
    other = serve(files)
    first = RedirectingServer(files, {"/moved/p.bin": other.url_for("p.bin")})
    with first:
        resolver = KeyResolver(first.url_for("moved/p.bin"))
        assert _read_url(engine, first.url_for("secret/p.bin"), resolvers=[resolver]) == PAYLOAD[100:20_100]
        assert first.stats.headers[0].get("X-Archive-Key") == "k3y"
    assert other.stats.requests == 1 and "X-Archive-Key" not in other.stats.headers[0]


@pytest.mark.parametrize("engine", ["async", "blocking"])
def test_a_redirect_loop_fails_at_once(files, serve, engine):
    # The server's final word, not a transient fault: aiohttp's error for it was retried.
    server = RedirectingServer(files, {"/loop/p.bin": "/loop/p.bin"})
    with server:
        with pytest.raises(ByteSourceError, match=r"more than 10 redirects reading .*/loop/p\.bin"):
            _read_url(engine, server.url_for("loop/p.bin"), backoff=1.0)
        assert server.stats.requests == 11


@pytest.mark.parametrize("road", ROADS)
def test_a_redirect_to_a_private_address_is_refused_on_every_road(files, serve, spaces, road):
    private = serve(files)
    spaces[private.port] = AddressSpace.PRIVATE
    public = RedirectingServer(files, {"/p.bin": private.url_for("p.bin"), "/" + API_PATH: private.url_for("p.bin")})
    with public:
        spaces[public.port] = AddressSpace.PUBLIC
        guard = AddressGuard(AddressSpace.PUBLIC, reason="the test allows public addresses only")
        with pytest.raises(AccessDeniedError, match=r"private address, and the test allows public addresses only"):
            _read(road, public, guard=guard)
        assert public.stats.requests == 1  # the redirect (or the resolution) only
    assert private.stats.requests == 0


@pytest.mark.parametrize("road", ["async-dandi", "blocking-dandi"])
def test_the_resolvers_request_goes_through_the_address_guard(files, serve, spaces, road):
    # The DANDI API host itself at an address the guard refuses: its token and request never
    # leave (the blocking engine resolved with urllib.request, past the guard).
    server = serve(files)
    spaces[server.port] = AddressSpace.PRIVATE
    guard = AddressGuard(AddressSpace.PUBLIC, reason="the test allows public addresses only")
    with pytest.raises(AccessDeniedError, match=r"private address"):
        _read(road, server, guard=guard)
    assert server.stats.requests == 0


@pytest.mark.parametrize("road", ["async-dandi", "blocking-dandi"])
def test_a_silent_archive_api_times_out_within_the_reads_budget(files, serve, road):
    # The resolution is part of the read: the blocking engine's waited 60 s per attempt.
    server = serve(files, latency=1000.0)
    began = time.monotonic()
    with pytest.raises(ByteSourceError, match=r"reading .*/api/assets/p\.bin/download/ bytes 100\+20000 timed out "
                                              r"after 1\.5 s"):
        _read(road, server, timeout=1.5)
    assert time.monotonic() - began < 6.0  # a safety net four times the budget


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("120") == 120.0
    assert retry_after(" 0 ") == 0.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: at once
    future = retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600)))
    assert future is not None and 3500 < future <= 3600
    assert retry_after(None) is None and retry_after("soon") is None and retry_after("-5") is None


def test_the_policy_waits_at_least_what_the_server_asks_and_never_for_a_retry_at_once():
    policy = RetryPolicy(retries=6, backoff=0.05)
    for retry in range(1, 7):
        assert 0.05 * 2 ** (retry - 1) * 0.5 <= policy.pause(retry, Retry("x")) < 0.05 * 2 ** (retry - 1) * 1.5
        assert policy.pause(retry, Retry("x", after=7.0)) >= 7.0
        assert policy.pause(retry, RetryAtOnce("x")) == 0.0
