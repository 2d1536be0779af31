"""The HTTP engine: merged and concurrent range reads, faults, redirects, resolvers, credentials."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import ByteSourceError
from lindi_core.io.coalesce import plan
from lindi_core.io.http_source import HttpSource
from lindi_core.io.resolvers import DandiResolver, register_resolver, unregister_resolver
from lindi_core.io.sources import ByteSources
from lindi_core.io.whole_bodies import WholeBodies
from lindi_core.testing.range_server import ServerFaults

DATA = (np.arange(400_000, dtype="<i4") * 7).reshape(4000, 100)


@pytest.fixture
def served(tmp_path, make_h5, serve):
    make_h5(lambda f: f.create_dataset("x", data=DATA, chunks=(100, 100), compression="gzip"), name="d.h5")
    return serve


def _open(rfs, http: HttpSource) -> tuple[zarr.Group, lindi_core.ReferenceStore]:
    store = lindi_core.ReferenceStore(rfs, sources=ByteSources(http=http))
    return zarr.open_group(store, mode="r"), store


def test_plan_merges_close_ranges_within_the_size_bound():
    merged = plan([(0, 10), (200, 10), (15, 5), (5000, 10)], max_gap=100, max_size=1000)
    assert [(m.start, m.stop, m.members) for m in merged] == [(0, 20, (0, 2)), (200, 210, (1,)),
                                                              (5000, 5010, (3,))]
    assert len(plan([(0, 600), (600, 600)], max_gap=10, max_size=1000)) == 2


def test_a_slice_over_many_chunks_is_few_merged_requests(tmp_path, served):
    server = served(tmp_path)
    rfs = lindi_core.translate(server.url_for("d.h5"))
    store = lindi_core.ReferenceStore(rfs, sources=ByteSources(http=HttpSource()))
    f = lindi_core.LindiH5pyFile(store)
    server.stats.reset()
    np.testing.assert_array_equal(f["x"][...], DATA)  # 40 chunks, next to each other in the file
    assert server.stats.requests == 1
    server.stats.reset()
    np.testing.assert_array_equal(f["x"][::500, 3], DATA[::500, 3])
    assert server.stats.requests == 0  # chunks read a moment ago come from memory
    f.close()
    f = lindi_core.LindiH5pyFile(lindi_core.ReferenceStore(rfs, sources=ByteSources(http=HttpSource())))
    server.stats.reset()
    np.testing.assert_array_equal(f["x"][::500, 3], DATA[::500, 3])  # 8 chunks, far apart
    assert 1 <= server.stats.requests <= 8
    f.close()


def test_zarr_alone_also_merges_the_reads_it_issues_together(tmp_path, served):
    server = served(tmp_path)
    rfs = lindi_core.translate(server.url_for("d.h5"))
    root, store = _open(rfs, HttpSource())
    server.stats.reset()
    np.testing.assert_array_equal(root["x"][...], DATA)
    assert 1 <= server.stats.requests < len(rfs.tables["x"])
    store.close()


def test_requests_run_concurrently_up_to_the_limit(tmp_path, served):
    server = served(tmp_path, latency=0.05)
    rfs = lindi_core.translate(server.url_for("d.h5"))
    root, store = _open(rfs, HttpSource(merge_gap=0, max_merged=1, max_concurrency=4))  # no merging
    server.stats.reset()
    np.testing.assert_array_equal(root["x"][0:2000], DATA[0:2000])
    assert server.stats.requests == 20
    assert 2 <= server.stats.max_in_flight <= 4
    store.close()


@pytest.mark.parametrize("faults", [ServerFaults(error_rate=0.25, seed=3), ServerFaults(reset_rate=0.25, seed=4),
                                    ServerFaults(truncate_rate=0.25, seed=5), ServerFaults(ignore_range=True)])
def test_data_read_through_faults_is_identical(tmp_path, served, faults):
    clean = served(tmp_path)
    rfs = lindi_core.translate(clean.url_for("d.h5"))
    flaky = served(tmp_path, faults=faults)
    rfs.urls[:] = [flaky.url_for("d.h5")]
    root, store = _open(rfs, HttpSource(merge_gap=0, max_merged=1))
    np.testing.assert_array_equal(root["x"][...], DATA)
    store.close()


def test_the_retry_budget_ends_in_a_clear_error(tmp_path, served):
    clean = served(tmp_path)
    rfs = lindi_core.translate(clean.url_for("d.h5"))
    broken = served(tmp_path, faults=ServerFaults(error_rate=1.0))
    rfs.urls[:] = [broken.url_for("d.h5")]
    root, store = _open(rfs, HttpSource(retries=2, backoff=0.001))
    with pytest.raises(ByteSourceError, match=r"d\.h5 bytes \d+\+\d+ failed after 3 attempts"):
        root["x"][0]
    store.close()


def test_api_urls_resolve_once_and_send_the_token_only_to_the_api_host(tmp_path, served):
    server = served(tmp_path)
    api_url = server.api_url_for("d.h5")
    rfs = lindi_core.translate(server.url_for("d.h5"), ref_url=api_url)
    host = api_url.split("/")[2]
    resolver = DandiResolver(api_hosts=(host,), token="secret-token")
    root, store = _open(rfs, HttpSource(resolvers=[resolver], merge_gap=0, max_merged=1))
    server.stats.reset()
    np.testing.assert_array_equal(root["x"][0:1000], DATA[0:1000])
    api_requests = [h for p, h in zip(server.stats.paths, server.stats.headers) if p.startswith("/api/")]
    data_requests = [h for p, h in zip(server.stats.paths, server.stats.headers) if not p.startswith("/api/")]
    assert len(api_requests) == 1 and len(data_requests) == 10
    assert api_requests[0].get("Authorization") == "token secret-token"
    assert all("Authorization" not in h for h in data_requests)
    store.close()


def test_an_expired_presigned_url_is_resolved_again(tmp_path, served):
    # The URL claims an hour of life, the server stops honouring it after 1.5 s: a 403.
    server = served(tmp_path, presign_ttl=1.5, advertised_ttl=3600)
    api_url = server.api_url_for("d.h5")
    rfs = lindi_core.translate(server.url_for("d.h5"), ref_url=api_url)
    resolver = DandiResolver(api_hosts=(api_url.split("/")[2],), token=None)
    root, store = _open(rfs, HttpSource(resolvers=[resolver]))
    np.testing.assert_array_equal(root["x"][0], DATA[0])
    time.sleep(1.6)
    server.stats.reset()
    np.testing.assert_array_equal(root["x"][3999], DATA[3999])
    assert sum(p.startswith("/api/") for p in server.stats.paths) == 1  # resolved once more after the 403
    assert len(server.stats.paths) == 3  # expired read, resolution, read
    store.close()


def test_registered_resolvers_are_consulted(tmp_path, served):
    server = served(tmp_path)
    from lindi_core.io.resolvers import ResolvedUrl

    class Rename:
        async def resolve(self, url, session):
            return ResolvedUrl(url.replace("/alias/", "/")) if "/alias/" in url else None

    resolver = Rename()
    register_resolver(resolver)
    try:
        rfs = lindi_core.translate(server.url_for("d.h5"), ref_url=server.url + "/alias/d.h5")
        root, store = _open(rfs, HttpSource())
        np.testing.assert_array_equal(root["x"][5], DATA[5])
        store.close()
    finally:
        unregister_resolver(resolver)


def test_redirects_are_followed_once_and_then_read_directly(tmp_path, served):
    server = served(tmp_path)
    rfs = lindi_core.translate(server.url_for("d.h5"), ref_url=server.url + "/redirect/d.h5")
    root, store = _open(rfs, HttpSource(merge_gap=0, max_merged=1))
    server.stats.reset()
    np.testing.assert_array_equal(root["x"][0], DATA[0])
    np.testing.assert_array_equal(root["x"][1000], DATA[1000])
    assert server.stats.paths == ["/redirect/d.h5", "/d.h5", "/d.h5"]
    store.close()


def test_a_server_that_ignores_range_sends_the_file_once(tmp_path, served):
    clean = served(tmp_path)
    rfs = lindi_core.translate(clean.url_for("d.h5"))
    ignoring = served(tmp_path, faults=ServerFaults(ignore_range=True))
    rfs.urls[:] = [ignoring.url_for("d.h5")]
    root, store = _open(rfs, HttpSource(merge_gap=0, max_merged=1, max_concurrency=1))
    np.testing.assert_array_equal(root["x"][...], DATA)  # 40 chunks, each its own range
    assert ignoring.stats.requests == 2  # the first whole-file answer is confirmed by a second one
    np.testing.assert_array_equal(root["x"][::7, 5], DATA[::7, 5])
    assert ignoring.stats.requests == 2
    store.close()


def test_concurrent_reads_from_a_server_that_ignores_range_download_the_file_once(tmp_path, served):
    clean = served(tmp_path)
    rfs = lindi_core.translate(clean.url_for("d.h5"))
    ignoring = served(tmp_path, faults=ServerFaults(ignore_range=True), latency=0.02)
    rfs.urls[:] = [ignoring.url_for("d.h5")]

    class CountingBodies(WholeBodies):
        downloads = 0

        def keep(self, url, body):
            CountingBodies.downloads += 1
            super().keep(url, body)

    root, store = _open(rfs, HttpSource(merge_gap=0, max_merged=1, max_concurrency=8, whole_bodies=CountingBodies()))
    np.testing.assert_array_equal(root["x"][...], DATA)
    # Up to 8 requests leave together (of 40 chunks); all but one hang up once they see a
    # whole-file answer, and every later read is a slice of the one kept.
    assert CountingBodies.downloads == 1
    assert ignoring.stats.requests <= 16  # two rounds: one whole-file answer, then its confirmation
    ignoring.stats.reset()
    np.testing.assert_array_equal(root["x"][1234], DATA[1234])
    assert ignoring.stats.requests == 0
    store.close()


def test_translating_through_a_server_that_ignores_range_is_one_request(tmp_path, served):
    ignoring = served(tmp_path, faults=ServerFaults(ignore_range=True))
    rfs = lindi_core.translate(ignoring.url_for("d.h5"))
    assert ignoring.stats.requests == 2  # the file, and the answer confirming it is the file
    f = lindi_core.LindiH5pyFile(lindi_core.ReferenceStore(rfs, sources=ByteSources(http=HttpSource())))
    np.testing.assert_array_equal(f["x"][10:20], DATA[10:20])
    f.close()


def test_a_file_smaller_than_one_metadata_block_translates_over_http(tmp_path, make_h5, serve):
    path = make_h5(lambda f: f.create_dataset("small", data=np.arange(10, dtype="<i8")), name="tiny.h5")
    assert (tmp_path / "tiny.h5").stat().st_size < 64 * 1024
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("tiny.h5"))
    f = lindi_core.LindiH5pyFile(lindi_core.ReferenceStore(rfs, sources=ByteSources(http=HttpSource())))
    np.testing.assert_array_equal(f["small"][...], np.arange(10))
    f.close()
    assert path


def test_a_reference_past_the_end_of_the_file_is_a_clear_error_without_retries(tmp_path, served):
    import asyncio

    server = served(tmp_path)
    url = server.url_for("d.h5")
    size = (tmp_path / "d.h5").stat().st_size
    source = HttpSource(retries=4)

    async def read_past_end():
        try:
            return await source.read(url, size - 10, 100)
        finally:
            await source.close()

    with pytest.raises(ByteSourceError, match=rf"ends at byte {size}, before byte {size + 90}"):
        asyncio.run(read_past_end())
    assert server.stats.requests == 1


def test_a_server_too_slow_to_answer_is_an_error_that_says_so(tmp_path, served):
    rfs = lindi_core.translate(served(tmp_path).url_for("d.h5"))
    slow = served(tmp_path, latency=2.0)
    rfs.urls[:] = [slow.url_for("d.h5")]
    root, store = _open(rfs, HttpSource(retries=1, backoff=0.001, timeout=0.2))
    with pytest.raises(ByteSourceError, match=r"failed after 2 attempts: timed out"):
        root["x"][0]
    store.close()
