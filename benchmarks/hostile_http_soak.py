"""Soak both HTTP engines with hostile and faulty answers; count wrong bytes (must be 0).

A loopback range server answers random range reads of a random file; before each read a fault
is armed at random: a 200 page that is not the file (short or longer than the file), a partial
answer naming a shifted range, a larger range or a wrong total, an endless body, an endless
whole-file answer, plus 503s, truncated bodies and connections reset mid-body at fixed rates.
Every read must return exactly the file's bytes or raise ByteSourceError; the kept whole bodies
and the local cache must never hold anything else.

    python benchmarks/hostile_http_soak.py [--reads 400] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lindi_core.errors import ByteSourceError  # noqa: E402
from lindi_core.io.cache import LocalCache  # noqa: E402
from lindi_core.io.http_source import HttpSource  # noqa: E402
from lindi_core.io.locations import Location  # noqa: E402
from lindi_core.io.sources import ByteSources  # noqa: E402
from lindi_core.io.sync_http import SyncHttp  # noqa: E402
from lindi_core.io.whole_bodies import WholeBodies  # noqa: E402
from lindi_core.testing.range_server import RangeServer, ServerFaults  # noqa: E402

KINDS = ["page_200_times", "shifted_range_times", "superset_range_times", "wrong_total_times", "endless_times",
         "endless_whole_times"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=400, help="reads per engine")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    payload = rng.randbytes(1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "f.bin"), "wb") as f:
            f.write(payload)
        faults = ServerFaults(error_rate=0.05, truncate_rate=0.05, reset_rate=0.05, seed=args.seed,
                              page=rng.randbytes(2_000_000))
        totals = {"reads": 0, "ok": 0, "errors": 0, "wrong_bytes": 0, "longest_read_s": 0.0}
        with RangeServer(tmp, faults=faults) as server:
            url = server.url_for("f.bin")
            bodies = WholeBodies(max_bytes=8 * 1024 * 1024)
            cache = LocalCache(os.path.join(tmp, "cache"))
            sync = SyncHttp(backoff=0.001, whole_bodies=bodies)
            sources = ByteSources(HttpSource(backoff=0.001, whole_bodies=bodies), cache=cache)

            def arm() -> None:
                armed = sum(getattr(server.faults, kind) for kind in KINDS)
                if armed == sum(server.stats.injected.get(k, 0) for k in KINDS) and rng.random() < 0.5:  # one at a time
                    kind = rng.choice(KINDS)
                    setattr(server.faults, kind, getattr(server.faults, kind) + 1)
                    if kind == "page_200_times" and rng.random() < 0.5:
                        server.faults.page = b"<html>log in</html>"
                    elif kind == "page_200_times":
                        server.faults.page = rng.randbytes(2_000_000)

            def check(offset: int, length: int, read) -> None:
                arm()
                began = time.monotonic()
                totals["reads"] += 1
                try:
                    data = read(offset, length)
                except ByteSourceError as exc:
                    totals["errors"] += 1
                    print(f"error (allowed; wrong bytes are not): {exc}")
                    return
                finally:
                    totals["longest_read_s"] = max(totals["longest_read_s"], time.monotonic() - began)
                expected = payload[offset : offset + length]
                totals["wrong_bytes"] += sum(a != b for a, b in zip(data, expected)) + abs(len(data) - len(expected))
                totals["ok"] += 1

            def ranges():
                for _ in range(args.reads):
                    offset = rng.randrange(len(payload) - 1)
                    yield offset, rng.randint(1, min(200_000, len(payload) - offset))

            for offset, length in ranges():
                check(offset, length, lambda o, n: sync.read(url, o, n)[0])

            async def read_async(o: int, n: int) -> bytes:
                return await sources.read(Location("http", url), o, n)

            loop = asyncio.new_event_loop()
            for offset, length in ranges():
                check(offset, length, lambda o, n: loop.run_until_complete(read_async(o, n)))
            loop.run_until_complete(sources.close())
            loop.close()
            sync.close()
            # What the cache kept must be the file's bytes too.
            cached_wrong = 0
            for offset, length in ranges():
                data = cache.get(url, offset, length)
                if data is not None:
                    cached_wrong += sum(a != b for a, b in zip(data, payload[offset : offset + length]))
            kept = bodies.get(url)
            kept_wrong = kept is not None and kept != payload
            totals["faults_injected"] = sum(server.stats.injected.values())
            totals["faults_by_kind"] = dict(server.stats.injected)
            totals["server_requests"] = server.stats.requests
            totals["junk_bytes_sent"] = server.stats.junk_bytes
            totals["cache_wrong_bytes"] = cached_wrong
            totals["kept_body_wrong"] = kept_wrong
        print(totals)
    return 0 if totals["wrong_bytes"] == 0 and not cached_wrong and not kept_wrong else 1


if __name__ == "__main__":
    sys.exit(main())
