"""gather_or_cancel: results in order, the first failure raised as is and its siblings cancelled."""

from __future__ import annotations

import asyncio

import pytest

from agentforge.core.aio import gather_or_cancel


def test_results_keep_the_order_of_the_awaitables():
    async def value(x, delay):
        await asyncio.sleep(delay)
        return x

    assert asyncio.run(gather_or_cancel(value(1, 0.05), value(2, 0.0), value(3, 0.02))) == [1, 2, 3]


def test_first_failure_is_raised_unwrapped_and_siblings_are_cancelled_before_it_propagates():
    cancelled = []

    async def slow(i):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise

    async def boom():
        await asyncio.sleep(0.01)
        raise KeyError("first")

    async def main():
        with pytest.raises(KeyError, match="first"):
            await gather_or_cancel(slow(0), boom(), slow(1))
        return sorted(cancelled)  # already unwound when the error reached us

    assert asyncio.run(main()) == [0, 1]
