"""Every network read ends within its time budget (``timeout=``), retries included: a silent
server and one trickling bytes fail by the deadline, through every public entry point."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest

import lindi_core
from lindi_core.cli import main
from lindi_core.errors import LindiError
from lindi_core.io.http_source import HttpSource
from lindi_core.io.sync_http import SyncHttp
from lindi_core.io.whole_bodies import WholeBodies
from lindi_core.testing.range_server import ServerFaults

DATA = np.arange(20_000, dtype="<i8").reshape(200, 100)
SILENT = 1000.0  # seconds the server waits before answering: it never does, as far as a test can tell
TIMEOUT = 1.5
BOUND = 6.0  # seconds: a safety net four times the budget; the old engine took 7 budgets (or forever)


@pytest.fixture
def files(tmp_path, make_h5):
    make_h5(lambda f: f.create_dataset("x", data=DATA, chunks=(20, 100)), name="d.h5")
    (tmp_path / "p.bin").write_bytes(bytes(range(256)) * 100)
    return tmp_path


def _async_read(url: str, timeout: float) -> bytes:
    async def run() -> bytes:
        source = HttpSource(timeout=timeout, whole_bodies=WholeBodies())
        try:
            return await source.read(url, 100, 40)
        finally:
            await source.close()

    return asyncio.run(run())


def _sync_read(url: str, timeout: float) -> bytes:
    http = SyncHttp(timeout=timeout, whole_bodies=WholeBodies())
    try:
        return http.read(url, 100, 40)[0]
    finally:
        http.close()


def _fails_in_time(call, match: str = r"timed out") -> float:
    began = time.monotonic()
    with pytest.raises(LindiError, match=match):
        call()
    elapsed = time.monotonic() - began
    assert elapsed < BOUND
    return elapsed


@pytest.mark.parametrize("engine", [_async_read, _sync_read], ids=["async", "blocking"])
@pytest.mark.parametrize("server_kind", ["silent", "trickling"])
def test_a_read_from_a_silent_or_trickling_server_times_out_within_its_budget(files, serve, engine, server_kind):
    server = serve(files, latency=SILENT) if server_kind == "silent" else \
        serve(files, faults=ServerFaults(trickle=2.0))  # 2 bytes a second: 40 bytes in 20 s
    url = server.url_for("p.bin")
    elapsed = _fails_in_time(lambda: engine(url, TIMEOUT),
                             match=rf"reading {url} bytes 100\+40 timed out after {TIMEOUT:g} s")
    assert elapsed >= TIMEOUT * 0.9  # the budget was used, not cut short


def test_files_open_through_the_facade_read_within_their_timeout(files, serve, tmp_path):
    server = serve(files)
    url = server.url_for("d.h5")
    lindi_core.translate_to_file(url, tmp_path / "d.lindi.json", timeout=1.0)
    f = lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("d.lindi.json"), timeout=1.0)
    g = lindi_core.LindiH5pyFile.from_hdf5_file(url, timeout=1.0)
    np.testing.assert_array_equal(f["x"][0], DATA[0])
    np.testing.assert_array_equal(g["x"][0], DATA[0])
    server.latency = SILENT  # the server goes silent while the files are open
    _fails_in_time(lambda: f["x"][100])
    _fails_in_time(lambda: g["x"][100])
    f.close()
    g.close()


def test_opening_and_translating_honour_the_timeout(files, serve, tmp_path):
    server = serve(files, latency=SILENT)
    url = server.url_for("d.h5")
    _fails_in_time(lambda: lindi_core.LindiH5pyFile.from_lindi_file(server.url_for("d.lindi.json"), timeout=1.0))
    _fails_in_time(lambda: lindi_core.LindiH5pyFile.from_hdf5_file(url, timeout=1.0))
    _fails_in_time(lambda: lindi_core.translate_to_file(url, tmp_path / "again.lindi.json", timeout=1.0))
    assert not (tmp_path / "again.lindi.json").exists()


def test_the_cli_timeout_option(files, serve, tmp_path, capsys):
    server = serve(files, latency=SILENT)
    began = time.monotonic()
    assert main(["translate", server.url_for("d.h5"), "-o", str(tmp_path / "d.lindi.json"), "--timeout", "1.5",
                 "--no-progress"]) == 1
    assert time.monotonic() - began < BOUND
    assert "timed out after 1.5 s" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["translate", "x.h5", "-o", "y.json", "--timeout", "0"])


@pytest.mark.parametrize("engine", [_async_read, _sync_read], ids=["async", "blocking"])
def test_headers_trickling_in_time_out_too(engine):
    # Never silent for long (a byte every 0.1 s), never done: each socket wait is short, their
    # sum is not. The server gives up after 15 s, so an engine without a deadline fails the
    # test instead of hanging.
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 206 Partial Content\r\nX-Slow: ")
            for _ in range(150):
                if done.wait(0.1):
                    return
                try:
                    conn.sendall(b"a")
                except OSError:
                    return

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/p.bin"
    try:
        _fails_in_time(lambda: engine(url, TIMEOUT), match=rf"reading {url} bytes 100\+40 timed out after")
    finally:
        done.set()
        listener.close()
