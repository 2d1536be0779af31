"""The bridge from blocking code to the event loop the async reads run on (zarr's)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lindi_core.io import sync_bridge


async def _loop_and(value):
    return asyncio.get_running_loop(), value


async def _fail():
    raise ValueError("from the loop")


def test_run_sync_runs_on_one_loop_in_another_thread_and_raises_what_the_coroutine_raises():
    loop, value = sync_bridge.run_sync(_loop_and(7))
    again, _ = sync_bridge.run_sync(_loop_and(8))
    assert value == 7 and loop is again and not loop.is_closed()
    with pytest.raises(ValueError, match="from the loop"):
        sync_bridge.run_sync(_fail())


def test_a_close_started_before_the_loop_is_known_runs_on_it_without_waiting_here(monkeypatch):
    loop, _ = sync_bridge.run_sync(_loop_and(None))
    monkeypatch.setattr(sync_bridge, "_loop_of_process", {})  # as in a process that never ran anything
    ran_on = []

    async def close():
        ran_on.append(asyncio.get_running_loop())

    sync_bridge.close_soon(close())
    sync_bridge.wait_for_closing(timeout=10)
    assert ran_on == [loop]


def test_closing_on_the_loop_itself_does_not_wait_on_it():
    closed = threading.Event()

    async def close():
        closed.set()

    async def on_the_loop():
        assert sync_bridge.on_bridge_loop()
        sync_bridge.close_now_or_soon(close(), wait=True)  # would deadlock were it to wait
        return closed.is_set()

    assert sync_bridge.run_sync(on_the_loop()) is False  # started, not waited for
    assert closed.wait(timeout=10)
    assert not sync_bridge.on_bridge_loop()
