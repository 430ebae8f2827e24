"""Async helpers: run sibling coroutines together and stop them all when one fails; run a
coroutine from sync code safely, even inside a running event loop (Jupyter)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def gather_or_cancel(*aws: Awaitable[T]) -> list[T]:
    """Await ``aws`` concurrently and return their results in order, like ``asyncio.gather``.

    Unlike ``asyncio.gather``, the first exception cancels the siblings still running (their
    model calls are not paid for nothing) and is re-raised as is, not wrapped in an
    ``ExceptionGroup`` as ``asyncio.TaskGroup`` would; the siblings have finished unwinding when
    it propagates. Cancelling the caller cancels them all too.
    """
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, inside or outside a running event loop.

    Outside a loop this is ``asyncio.run``. Inside one (a Jupyter cell, an async framework calling
    sync code) the coroutine runs on a fresh loop in a worker thread and this call blocks until
    it finishes, so the sync API works everywhere; the context (contextvars) is carried over.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    ctx = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentforge-sync") as pool:
        return pool.submit(ctx.run, asyncio.run, coro).result()
