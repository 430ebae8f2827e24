"""Concurrency helper: run sibling coroutines together, and stop them all when one fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

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
