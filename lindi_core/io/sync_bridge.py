"""The one bridge from blocking code to the event loop the library's async reads run on.

zarr-python 3 runs every store call on its own event loop, in a background thread; our byte
sources (aiohttp sessions, the cache's flusher) are made on that loop and must be used and closed
there. So blocking code (the h5py facade, translation, closing a file) runs coroutines on zarr's
loop, through :func:`run_sync`. zarr's ``zarr.core.sync.sync`` is the only route to that loop it
offers to other code; this module is the only place that calls it, so that a change of zarr's
loop handling is met here once.

Closing has two needs ``sync`` does not meet: a file collected by a garbage collection running on
zarr's own loop cannot wait on that loop, and a finalizer must not wait on another thread at all.
:func:`close_soon` starts the close and returns; :func:`wait_for_closing` waits, at exit, for
those started.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from zarr.core.sync import SyncError, sync

T = TypeVar("T")

_CLOSING: set = set()  # closes under way: tasks on the loop, futures of other threads
_loop_of_process: dict[int, asyncio.AbstractEventLoop] = {}  # pid -> zarr's loop, as last found


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on zarr's event loop and return its result (or raise its exception); from
    any thread, also one running another loop (Jupyter's), never from zarr's loop itself."""
    if os.getpid() not in _loop_of_process:
        _find_loop()  # once per process, so that closing from a finalizer need not wait to find it
    return sync(coro, timeout=timeout)


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _find_loop() -> asyncio.AbstractEventLoop:
    """zarr's loop, found by running on it, and remembered."""
    try:
        loop = sync(_running_loop())
    except SyncError:  # called on it
        loop = asyncio.get_running_loop()
    _loop_of_process.clear()
    _loop_of_process[os.getpid()] = loop
    return loop


def _known_loop() -> asyncio.AbstractEventLoop | None:
    """zarr's loop as last found in this process; None if not found yet, or if zarr has replaced
    it since (after its exit hook closed it)."""
    loop = _loop_of_process.get(os.getpid())
    return None if loop is None or loop.is_closed() else loop


def _bridge_loop() -> asyncio.AbstractEventLoop:
    return _known_loop() or _find_loop()


def on_bridge_loop() -> bool:
    """Whether this code runs on zarr's loop (where it must not wait for the loop)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return running is _bridge_loop()


def close_soon(coro: Coroutine[Any, Any, Any]) -> None:
    """Start ``coro`` (a close) on zarr's loop without waiting for it; :func:`wait_for_closing`
    waits for the ones started from other threads."""
    if on_bridge_loop():
        task = asyncio.get_running_loop().create_task(coro)
        _CLOSING.add(task)  # the loop keeps only a weak reference to its tasks
        task.add_done_callback(_CLOSING.discard)
        return
    loop = _known_loop()
    if loop is not None:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    else:
        # Finding the loop means waiting for it, which this thread may not do (a finalizer may
        # have interrupted it holding a lock the loop needs): a thread of its own waits instead.
        future = concurrent.futures.Future()

        def close() -> None:
            try:
                future.set_result(run_sync(coro))
            except BaseException as exc:  # handed to whoever waits, as a future's would be
                future.set_exception(exc)

        threading.Thread(target=close, name="lindi-close", daemon=True).start()
    _CLOSING.add(future)
    future.add_done_callback(_CLOSING.discard)


def close_now_or_soon(coro: Coroutine[Any, Any, Any], *, wait: bool = True) -> None:
    """Run a close and wait for it, or only start it: when ``wait`` is false, or on zarr's own
    loop, which must not wait on itself (a file collected by a garbage collection that ran
    there): the close then runs as soon as the loop gets to it."""
    if wait and not on_bridge_loop():
        run_sync(coro)
    else:
        close_soon(coro)


def wait_for_closing(timeout: float) -> None:
    """Wait up to ``timeout`` seconds for the closes started from other threads with
    :func:`close_soon` (at exit, so that no connection is left for the interpreter to complain
    about)."""
    pending = [f for f in list(_CLOSING) if isinstance(f, concurrent.futures.Future)]
    if pending:
        concurrent.futures.wait(pending, timeout=timeout)
