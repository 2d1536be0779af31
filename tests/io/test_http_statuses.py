"""Error statuses: which are retried and which fail at once, in both HTTP engines (async
HttpSource, blocking SyncHttp) and on the roads that fetch a reference file or a container.
408, 429 and 5xx are transient; any other client error (401, 403, 404...) is the server's final
word on the URL: one request, then a ByteSourceError naming the status and the URL. A 403 on a
resolved (presigned) URL resolves it again, once."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import lindi_core
from lindi_core.errors import ByteSourceError
from lindi_core.io.http_source import HttpSource
from lindi_core.io.resolvers import DandiResolver
from lindi_core.io.retry_policy import retryable_status
from lindi_core.io.sync_http import SyncHttp
from lindi_core.io.whole_bodies import WholeBodies
from lindi_core.testing.range_server import ServerFaults

PAYLOAD = np.random.default_rng(13).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
ENGINES = ["async", "blocking"]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "p.bin").write_bytes(PAYLOAD)
    return tmp_path


async def _read_async(source: HttpSource, url: str, offset: int, length: int) -> bytes:
    try:
        return await source.read(url, offset, length)
    finally:
        await source.close()


def _read(engine: str, url: str, offset: int, length: int, **options) -> bytes:
    options = {"backoff": 0.001, "whole_bodies": WholeBodies(), **options}
    if engine == "async":
        return asyncio.run(_read_async(HttpSource(**options), url, offset, length))
    http = SyncHttp(**options)
    try:
        return http.read(url, offset, length)[0]
    finally:
        http.close()


def test_the_rule_retries_only_timeouts_throttling_and_server_errors():
    assert [s for s in range(400, 600) if retryable_status(s)] == [408, 429, *range(500, 600)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_a_client_error_fails_after_one_request(files, serve, engine, status):
    server = serve(files, faults=ServerFaults(statuses={"p.bin": [status] * 10}))
    url = server.url_for("p.bin")
    with pytest.raises(ByteSourceError) as caught:
        _read(engine, url, 100, 1000, backoff=1.0)  # a retry would wait long enough to notice
    assert server.stats.requests == 1
    assert f"HTTP {status}" in str(caught.value) and url in str(caught.value)
    assert "attempts" not in str(caught.value)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("status", [408, 429, 500, 503, 507])
def test_a_transient_status_is_retried_and_then_the_bytes_are_read(files, serve, engine, status):
    server = serve(files, faults=ServerFaults(statuses={"p.bin": [status, status]}))
    assert _read(engine, server.url_for("p.bin"), 100, 1000) == PAYLOAD[100:1100]
    assert server.stats.requests == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_a_status_that_stays_transient_fails_after_every_attempt(files, serve, engine):
    server = serve(files, faults=ServerFaults(statuses={"p.bin": [503] * 10}))
    with pytest.raises(ByteSourceError, match=r"p\.bin bytes 100\+1000 failed after 4 attempts: HTTP 503"):
        _read(engine, server.url_for("p.bin"), 100, 1000, retries=3)
    assert server.stats.requests == 4


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("refusals", [1, 2])
def test_a_403_on_a_presigned_url_resolves_it_again_once(files, serve, engine, refusals):
    server = serve(files, faults=ServerFaults(statuses={"p.bin": [403] * refusals}))
    api_url = server.api_url_for("p.bin")
    resolver = DandiResolver(api_hosts=(api_url.split("/")[2],), token=None)
    if refusals == 1:  # the URL resolved again is honoured
        assert _read(engine, api_url, 100, 1000, resolvers=[resolver]) == PAYLOAD[100:1100]
    else:  # refused again: the status, at once
        with pytest.raises(ByteSourceError, match=r"HTTP 403 reading .*/api/assets/p\.bin/download/"):
            _read(engine, api_url, 100, 1000, resolvers=[resolver], backoff=1.0)
    api = [p for p in server.stats.paths if p.startswith("/api/")]
    data = [p for p in server.stats.paths if not p.startswith("/api/")]
    assert len(api) == 2 and len(data) == 2  # resolve, 403, resolve again, read (or 403)


@pytest.mark.parametrize("name", ["r.lindi.json", "r.lindi.tar"])
@pytest.mark.parametrize("status", [401, 404])
def test_opening_a_reference_file_at_a_refused_url_fails_after_one_request(files, serve, name, status):
    server = serve(files, faults=ServerFaults(statuses={name: [status] * 10}))
    url = server.url_for(name)
    with pytest.raises(ByteSourceError, match=rf"HTTP {status} reading {url}"):
        lindi_core.LindiH5pyFile.from_lindi_file(url)
    assert server.stats.requests == 1


def test_a_reference_file_fetched_through_a_503_is_read(files, serve, make_h5):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(10)), name="d.h5")
    lindi_core.translate_to_file(path, str(files / "r.lindi.json"), progress=False)
    server = serve(files, faults=ServerFaults(statuses={"r.lindi.json": [503]}))
    f = lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("r.lindi.json"))
    np.testing.assert_array_equal(f["x"][...], np.arange(10))
    f.close()
    assert server.stats.paths[:2] == ["/r.lindi.json", "/r.lindi.json"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("status", [404, 503])
def test_a_resolver_is_retried_through_a_transient_status_only(files, serve, engine, status):
    server = serve(files, faults=ServerFaults(statuses={"api/assets/p.bin/download/": [status]}))
    api_url = server.api_url_for("p.bin")
    resolver = DandiResolver(api_hosts=(api_url.split("/")[2],), token=None)
    if status == 503:
        assert _read(engine, api_url, 100, 1000, resolvers=[resolver]) == PAYLOAD[100:1100]
        assert len(server.stats.paths) == 3  # resolve (503), resolve, read
    else:
        with pytest.raises(ByteSourceError, match=rf"resolving {api_url}: HTTP 404"):
            _read(engine, api_url, 100, 1000, resolvers=[resolver], backoff=1.0)
        assert server.stats.requests == 1


@pytest.mark.parametrize("refusals", [1, 2])
def test_a_403_on_a_presigned_url_asked_for_its_version_resolves_it_again_once(files, serve, refusals):
    # translate-many asks each source for its version before translating it.
    server = serve(files, faults=ServerFaults(statuses={"p.bin": [403] * refusals}))
    api_url = server.api_url_for("p.bin")
    http = SyncHttp(resolvers=[DandiResolver(api_hosts=(api_url.split("/")[2],), token=None)], backoff=1.0)
    if refusals == 1:
        assert http.version(api_url)["size"] == len(PAYLOAD)
    else:
        with pytest.raises(ByteSourceError, match=r"HTTP 403 asking for .*/api/assets/p\.bin/download/"):
            http.version(api_url)
    api = [p for p in server.stats.paths if p.startswith("/api/")]
    data = [p for p in server.stats.paths if not p.startswith("/api/")]
    assert len(api) == 2 and len(data) == 2  # resolve, 403, resolve again, answer (or 403)
