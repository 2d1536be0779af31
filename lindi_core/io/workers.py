"""Blocking work (SQLite, file reads, decoding) handed from the event loop to worker threads,
also while the interpreter exits.

``concurrent.futures`` refuses new work once the interpreter has begun to exit (its hook runs
in ``threading._shutdown``, before ``atexit`` hooks and before the non-daemon threads have
finished): a file closed at exit, or read by a thread still running after the main thread
returned, would fail with "cannot schedule new futures after interpreter shutdown". From then
on the work runs in the calling thread (the event loop's) instead: slower, never refused.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


def in_worker(executor: Executor | None, func: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
    """A future of ``func(*args, **kwargs)`` run in ``executor`` (None: the loop's default one),
    or run here and now when the executor takes no more work (the interpreter is exiting)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    try:
        return loop.run_in_executor(executor, call)
    except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
        done: asyncio.Future[T] = loop.create_future()
        try:
            done.set_result(call())
        except BaseException as exc:  # the caller's await raises it, as from a worker
            if not isinstance(exc, Exception):
                raise
            done.set_exception(exc)
        return done


async def to_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread`` that still works while the interpreter exits."""
    return await in_worker(None, func, *args, **kwargs)
