"""Answers that are not the bytes asked for: a 200 page that is not the file, partial answers
naming another range, endless bodies. Both engines (async HttpSource, blocking SyncHttp) must
return exactly the file's bytes or a clear error, never keep or cache a wrong answer, and
never read a body past the length it must have."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import lindi_core
from lindi_core.errors import ByteSourceError
from lindi_core.io.cache import LocalCache
from lindi_core.io.http_source import HttpSource
from lindi_core.io.sources import ByteSources
from lindi_core.io.sync_http import SyncHttp
from lindi_core.io.whole_bodies import WholeBodies
from lindi_core.testing.range_server import ServerFaults

DATA = (np.arange(400_000, dtype="<i4") * 7).reshape(4000, 100)
PAYLOAD = np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
SHORT_PAGE = b"<html><body>Please log in</body></html>"
LONG_PAGE = b"<html>" + b"proxy says no " * 200_000 + b"</html>"  # longer than the files: slices "work"


@pytest.fixture
def files(tmp_path, make_h5):
    make_h5(lambda f: f.create_dataset("x", data=DATA, chunks=(100, 100), compression="gzip"), name="d.h5")
    (tmp_path / "p.bin").write_bytes(PAYLOAD)
    return tmp_path


def _read_all(rfs, *, cache: LocalCache | None = None, whole_bodies: WholeBodies | None = None) -> np.ndarray:
    http = HttpSource(merge_gap=0, max_merged=1, max_concurrency=2, backoff=0.001,
                      whole_bodies=whole_bodies or WholeBodies())
    f = lindi_core.LindiH5pyFile(lindi_core.ReferenceStore(rfs, sources=ByteSources(http=http, cache=cache)))
    try:
        return f["x"][...]
    finally:
        f.close()


async def _read_async(source: HttpSource, url: str, offset: int, length: int) -> bytes:
    try:
        return await source.read(url, offset, length)
    finally:
        await source.close()


def _async_read(url: str, offset: int, length: int, **options) -> bytes:
    options.setdefault("whole_bodies", WholeBodies())
    return asyncio.run(_read_async(HttpSource(backoff=0.001, **options), url, offset, length))


@pytest.mark.parametrize("page", [SHORT_PAGE, LONG_PAGE], ids=["short page", "long page"])
@pytest.mark.parametrize("when", ["first answer", "after the size is known"])
def test_a_page_answered_once_never_poisons_the_url_nor_the_cache(files, serve, tmp_path, page, when):
    clean = serve(files)
    rfs = lindi_core.translate(clean.url_for("d.h5"))
    server = serve(files, faults=ServerFaults(page=page))
    rfs.urls[:] = [server.url_for("d.h5")]
    cache = LocalCache(tmp_path / "cache")
    http = HttpSource(merge_gap=0, max_merged=1, max_concurrency=1, backoff=0.001, whole_bodies=WholeBodies())
    f = lindi_core.LindiH5pyFile(lindi_core.ReferenceStore(rfs, sources=ByteSources(http=http, cache=cache)))
    if when == "after the size is known":
        np.testing.assert_array_equal(f["x"][0], DATA[0])
    server.faults.page_200_times = 1
    np.testing.assert_array_equal(f["x"][...], DATA)
    assert server.stats.injected == {"page_200_times": 1}
    np.testing.assert_array_equal(f["x"][...], DATA)  # later reads of the URL: the file, not the page
    f.close()
    # What went into the cache is the file's bytes: a later reader served by the cache alone.
    server.stop()
    np.testing.assert_array_equal(_read_all(rfs, cache=LocalCache(tmp_path / "cache")), DATA)


@pytest.mark.parametrize("page", [SHORT_PAGE, LONG_PAGE], ids=["short page", "long page"])
@pytest.mark.parametrize("when", ["first answer", "after the size is known"])
def test_blocking_reads_through_a_page_answered_once_are_the_file(files, serve, page, when):
    server = serve(files, faults=ServerFaults(page=page))
    url = server.url_for("p.bin")
    bodies = WholeBodies()
    http = SyncHttp(backoff=0.001, whole_bodies=bodies)
    if when == "after the size is known":
        assert http.read(url, 0, 1000) == (PAYLOAD[:1000], len(PAYLOAD))
    server.faults.page_200_times = 1
    for offset in (5, 70_000, 250_000, 5):
        data, total = http.read(url, offset, 40)
        assert data == PAYLOAD[offset : offset + 40] and total == len(PAYLOAD)
    assert server.stats.injected == {"page_200_times": 1}
    assert bodies.size(url) is None  # nothing kept: the page is not the file
    http.close()


def test_a_server_that_always_sends_a_page_for_a_known_file_is_a_clear_error(files, serve):
    server = serve(files, faults=ServerFaults(page=LONG_PAGE))
    url = server.url_for("p.bin")
    http = SyncHttp(retries=3, backoff=0.001, whole_bodies=WholeBodies())
    assert http.read(url, 0, 10)[0] == PAYLOAD[:10]
    server.faults.page_200_times = 100
    with pytest.raises(ByteSourceError, match=r"p\.bin bytes 100\+10 failed after 4 attempts: whole-file answer"):
        http.read(url, 100, 10)
    http.close()
    with pytest.raises(ByteSourceError, match=r"p\.bin bytes 100\+10 failed after 4 attempts: whole-file answer"):
        _known_then_read(url, 100, 10)


def _known_then_read(url: str, offset: int, length: int) -> bytes:
    async def run() -> bytes:
        source = HttpSource(retries=3, backoff=0.001, whole_bodies=WholeBodies())
        source.sizes.learn(url, len(PAYLOAD))
        return await _read_async(source, url, offset, length)

    return asyncio.run(run())


WRONG_RANGES = ["shifted_range_times", "superset_range_times", "wrong_total_times"]


@pytest.mark.parametrize("kind", WRONG_RANGES)
@pytest.mark.parametrize("offset", [0, 1000, len(PAYLOAD) - 40])
def test_a_wrong_content_range_is_retried_in_both_engines(files, serve, kind, offset):
    server = serve(files, faults=ServerFaults(**{kind: 1}))
    url = server.url_for("p.bin")
    assert _async_read(url, offset, 40) == PAYLOAD[offset : offset + 40]
    http = SyncHttp(backoff=0.001, whole_bodies=WholeBodies())
    # A wrong total in the very first answer cannot be told from the truth: the size is known
    # first (the blocking engine returns it).
    assert http.read(url, 0, 10)[0] == PAYLOAD[:10]
    server.faults = ServerFaults(**{kind: 2})  # one more of the same for the blocking engine
    assert http.read(url, offset, 40) == (PAYLOAD[offset : offset + 40], len(PAYLOAD))
    http.close()
    assert server.stats.injected == {kind: 2}


@pytest.mark.parametrize("kind", WRONG_RANGES)
def test_wrong_content_ranges_without_end_are_a_clear_error(files, serve, kind):
    server = serve(files)
    url = server.url_for("p.bin")
    source = HttpSource(retries=2, backoff=0.001, whole_bodies=WholeBodies())
    http = SyncHttp(retries=2, backoff=0.001, whole_bodies=WholeBodies())

    async def read_twice() -> None:
        try:
            assert await source.read(url, 0, 10) == PAYLOAD[:10]
            assert await source.read(url, 10, 10) == PAYLOAD[10:20]  # the size is settled from now on
            setattr(server.faults, kind, 1000)
            await source.read(url, 1000, 40)
        finally:
            await source.close()

    with pytest.raises(ByteSourceError, match=r"p\.bin bytes 1000\+40 failed after 3 attempts: .*(range|bytes)"):
        asyncio.run(read_twice())
    setattr(server.faults, kind, 0)
    assert http.read(url, 0, 10)[0] == PAYLOAD[:10]
    assert http.read(url, 10, 10)[0] == PAYLOAD[10:20]
    setattr(server.faults, kind, 2000)
    with pytest.raises(ByteSourceError, match=r"p\.bin bytes 1000\+40 failed after 3 attempts: .*(range|bytes)"):
        http.read(url, 1000, 40)
    http.close()


def test_an_endless_body_is_cut_off_and_retried_in_both_engines(files, serve):
    server = serve(files, faults=ServerFaults(endless_times=1))
    url = server.url_for("p.bin")
    assert _async_read(url, 1000, 5000) == PAYLOAD[1000:6000]
    server.faults.endless_times = 2
    http = SyncHttp(backoff=0.001, whole_bodies=WholeBodies())
    assert http.read(url, 1000, 5000)[0] == PAYLOAD[1000:6000]
    http.close()
    assert server.stats.injected == {"endless_times": 2}
    # The reader hung up at the first byte too many: what left the server is what fits in
    # the socket buffers, not the GiB it would send.
    assert server.stats.junk_bytes < 64 * 1024 * 1024


@pytest.mark.parametrize("size_known", [True, False], ids=["size known", "size unknown"])
def test_an_endless_whole_file_answer_is_cut_off_and_retried_in_both_engines(files, serve, size_known):
    # No length said, the file and then junk: read up to the file's known size or, unknown, up
    # to the budget of kept bodies, never further.
    server = serve(files)
    url = server.url_for("p.bin")
    bodies = WholeBodies(max_bytes=4 * 1024 * 1024)
    source = HttpSource(backoff=0.001, whole_bodies=bodies)
    http = SyncHttp(backoff=0.001, whole_bodies=bodies)
    if size_known:
        source.sizes.learn(url, len(PAYLOAD))
        http.sizes.learn(url, len(PAYLOAD))
    server.faults.endless_whole_times = 1
    assert asyncio.run(_read_async(source, url, 1000, 5000)) == PAYLOAD[1000:6000]
    server.faults.endless_whole_times = 2
    assert http.read(url, 1000, 5000)[0] == PAYLOAD[1000:6000]
    http.close()
    assert server.stats.injected == {"endless_whole_times": 2}
    assert server.stats.junk_bytes < 64 * 1024 * 1024
    assert bodies.size(url) is None


def test_a_compressed_reference_file_is_read_whole(files, serve, tmp_path):
    # Web servers gzip whole JSON files for clients that accept it: the Content-Length is the
    # compressed one, the body handed over is not.
    server = serve(files)
    lindi_core.translate_to_file(server.url_for("d.h5"), tmp_path / "d.lindi.json")
    compressing = serve(files, compress=True)
    f = lindi_core.LindiH5pyFile.from_lindi_file(compressing.url_for("d.lindi.json"))
    np.testing.assert_array_equal(f["x"][7], DATA[7])
    f.close()
    assert any("gzip" in h.get("Accept-Encoding", "") and "Range" not in h for h in compressing.stats.headers)


def test_a_wrong_total_in_the_very_first_answer_does_not_poison_the_url(files, serve):
    """The first answer's total is taken provisionally; two later answers agreeing on the true
    size overrule it, in both engines, instead of every later read failing."""
    for engine in ("async", "blocking"):
        server = serve(files, faults=ServerFaults(wrong_total_times=1))
        url = server.url_for("p.bin")
        if engine == "async":
            async def reads(url: str) -> list[bytes]:
                source = HttpSource(backoff=0.001, whole_bodies=WholeBodies())
                try:
                    return [await source.read(url, offset, 40) for offset in (0, 1000, 5000, 1000)]
                finally:
                    await source.close()

            got = asyncio.run(reads(url))
        else:
            http = SyncHttp(backoff=0.001, whole_bodies=WholeBodies())
            got = [http.read(url, offset, 40)[0] for offset in (0, 1000, 5000, 1000)]
            assert http.read(url, 0, 10)[1] == len(PAYLOAD)  # the size it settled on is the file's
            http.close()
        assert got == [PAYLOAD[o : o + 40] for o in (0, 1000, 5000, 1000)]
        assert server.stats.injected == {"wrong_total_times": 1}


def test_a_size_said_twice_is_settled_and_a_changed_file_is_an_error(files, serve):
    server = serve(files)
    url = server.url_for("p.bin")
    http = SyncHttp(retries=2, backoff=0.001, whole_bodies=WholeBodies())
    assert http.read(url, 0, 10)[0] == PAYLOAD[:10]
    assert http.read(url, 10, 10)[0] == PAYLOAD[10:20]
    server.faults = ServerFaults(wrong_total_times=10)  # the file now says it has grown, every time
    with pytest.raises(ByteSourceError, match="bytes, earlier"):
        http.read(url, 20, 10)
    http.close()
