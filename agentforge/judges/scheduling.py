"""Fair cross-request micro-batching for the judge server (``agentforge.judges.server``).

Every request is a queue of items. One worker builds each ``judge.ascore_batch`` call of at most
``max_batch_items`` items by taking chunks of at most ``chunk_items`` items from the waiting
requests in rounds, least-served request first (items handed out so far, then arrival order):

    request A (20,000 items, 5,000 served)   -> 32, 32, ...  (fills what is left of the batch)
    request B (1 item, just arrived)          -> 1            (first: it has been served least)

so a small request's items go into the very next batch even while a huge one is being scored
(its wait is bounded by about two batches), and the huge request still fills every batch
(cross-request merging, the throughput win, is kept). Scores are written back into each
request's own slots and the request is answered, in item order, once all its items are scored.

Error isolation: a merged call that fails is retried per request share, and only the requests
whose share fails again get the error (the rest of their items are dropped, never scored).
A request whose client went away (its future cancelled) is dropped before its next chunk.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field

from agentforge.core.errors import UserError
from agentforge.judges.base import Item, Judge

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Request:
    """One submitted request: its items, their scores so far, and how many were handed out."""

    items: list[Item]
    future: asyncio.Future
    seq: int
    scores: list = field(default_factory=list)
    next: int = 0  # items handed to batches so far (they are contiguous: items[:next])
    left: int = 0  # items not scored yet

    def __post_init__(self) -> None:
        self.scores = [None] * len(self.items)
        self.left = len(self.items)

    @property
    def waiting(self) -> int:
        """Items not yet handed to a batch."""
        return len(self.items) - self.next


Share = tuple[_Request, int, int]  # (request, start, end): items[start:end] of that request


@dataclass
class MicroBatcher:
    """Merges concurrently submitted items into few, fairly shared ``judge.ascore_batch`` calls.

    Attributes:
        judge: the judge to call (one call in flight at a time).
        max_wait_s: how long the worker waits for more items when it has fewer than
            ``max_batch_items`` (default 0.005 s).
        max_batch_items: most items in one ``ascore_batch`` call (default 256).
        chunk_items: most items one request gets per round of a batch (default 32); smaller is
            fairer, larger keeps a request's items together.
        calls / requests: ``ascore_batch`` calls made and requests answered (stats, tests).

    Raises:
        UserError: ``max_batch_items`` or ``chunk_items`` below 1.
    """

    judge: Judge
    max_wait_s: float = 0.005
    max_batch_items: int = 256
    chunk_items: int = 32
    calls: int = 0
    requests: int = 0
    _active: list[_Request] = field(default_factory=list, repr=False)
    _inflight: list[_Request] = field(default_factory=list, repr=False)
    _wake: asyncio.Event | None = field(default=None, repr=False)
    _task: asyncio.Task | None = field(default=None, repr=False)
    _seq: itertools.count = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        if self.max_batch_items < 1 or self.chunk_items < 1:
            raise UserError(f"max_batch_items and chunk_items must be >= 1, got {self.max_batch_items} and "
                            f"{self.chunk_items}")

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._worker())

    async def stop(self) -> None:
        """Stop the worker; requests not answered yet fail with ``RuntimeError``."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for r in [*self._active, *self._inflight]:
            if not r.future.done():
                r.future.set_exception(RuntimeError("server shutting down"))
        self._active.clear()

    async def submit(self, items: list[Item]) -> list[list[float]]:
        """Queue ``items`` and wait for their step scores (``len(items)`` lists, in order).

        Raises:
            whatever the judge raised for this request's share (other requests are unaffected).
        """
        if not items:
            return []
        req = _Request(list(items), asyncio.get_running_loop().create_future(), next(self._seq))
        self._active.append(req)
        self._wake.set()
        return await req.future  # cancelling the caller cancels the future: the worker drops it

    # -- the worker ---------------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            await self._wait_for_work()
            shares = self._take()
            if not shares:
                continue
            self._inflight = [r for r, _, _ in shares]
            try:
                await self._run(shares)
            except Exception as exc:  # noqa: BLE001 - a bug here must not hang every client
                log.exception("judge batcher failed")
                for r, _, _ in shares:
                    self._fail(r, exc)
            self._inflight = []

    async def _wait_for_work(self) -> None:
        loop = asyncio.get_running_loop()
        self._prune()
        while not self._active:
            self._wake.clear()
            await self._wake.wait()
            self._prune()
        deadline = loop.time() + self.max_wait_s
        while sum(r.waiting for r in self._active) < self.max_batch_items:
            left = deadline - loop.time()
            if left <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                break
        self._prune()

    def _prune(self) -> None:
        """Drop requests already answered (failed) or whose client went away."""
        self._active = [r for r in self._active if not r.future.done() and r.waiting]

    def _take(self) -> list[Share]:
        """Up to ``max_batch_items`` items: ``chunk_items`` per request per round, least served first."""
        budget = self.max_batch_items
        order = sorted(self._active, key=lambda r: (r.next, r.seq))
        start = {id(r): r.next for r in order}
        progressed = True
        while budget > 0 and progressed:
            progressed = False
            for r in order:
                n = min(self.chunk_items, r.waiting, budget)
                if n > 0:
                    r.next += n
                    budget -= n
                    progressed = True
        self._active = [r for r in self._active if r.waiting]
        return [(r, start[id(r)], r.next) for r in order if r.next > start[id(r)]]

    async def _score(self, items: list[Item]) -> list[list[float]]:
        self.calls += 1
        results = await self.judge.ascore_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"judge returned {len(results)} results for {len(items)} items")
        return [r.scores for r in results]

    async def _run(self, shares: list[Share]) -> None:
        items = [it for r, s, e in shares for it in r.items[s:e]]
        try:
            scores = await self._score(items)
        except Exception as exc:  # noqa: BLE001 - answered per request below
            if len({id(r) for r, _, _ in shares}) == 1:
                self._fail(shares[0][0], exc)
                return
            for r, s, e in shares:  # one bad request must not fail the others merged with it
                if r.future.done():
                    continue
                try:
                    self._fill(r, s, await self._score(r.items[s:e]))
                except Exception as exc2:  # noqa: BLE001
                    self._fail(r, exc2)
            return
        k = 0
        for r, s, e in shares:
            self._fill(r, s, scores[k:k + e - s])
            k += e - s

    def _fill(self, r: _Request, start: int, scores: list[list[float]]) -> None:
        if r.future.done():
            return
        r.scores[start:start + len(scores)] = scores
        r.left -= len(scores)
        if r.left == 0:
            self.requests += 1
            r.future.set_result(r.scores)

    def _fail(self, r: _Request, exc: BaseException) -> None:
        r.next = len(r.items)  # hand out nothing more of it
        if not r.future.done():
            self.requests += 1
            r.future.set_exception(exc)
