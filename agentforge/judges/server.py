"""Serving a judge over HTTP (``agentforge prm serve``), with cross-request micro-batching.

Protocol (``HTTPJudge`` speaks it):

    POST /score   {"items": [{"question": str, "steps": [str, ...]}, ...]}
               -> {"scores": [[float | null, ...], ...]}    (null = NaN: a step not judged)
    GET  /health  -> {"status": "ok"}

Requests that arrive together, from any number of clients, are merged into one
``judge.ascore_batch`` call: a single worker takes the first queued request, waits up to
``max_batch_wait_ms`` for more (or until ``max_batch_items``), scores them all at once in a
worker thread, and answers each request with its share. A PRM's dynamic batching then packs the
merged items on the GPU. This is the "continuous batching" idea of LLM servers (Orca, vLLM)
at request granularity.

Safety (see DESIGN.md): binds 127.0.0.1 unless told otherwise; an optional bearer token
(401 without it); bodies over ``max_request_bytes`` are refused with 413 before being parsed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from agentforge.core.errors import UserError
from agentforge.judges.base import Item, Judge

log = logging.getLogger(__name__)
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ScoreItem(BaseModel):
    """One input of ``POST /score``."""

    question: str
    steps: list[str]


class ScoreRequest(BaseModel):
    """The body of ``POST /score``."""

    items: list[ScoreItem]


@dataclass
class _Pending:
    items: list[Item]
    future: asyncio.Future


@dataclass
class MicroBatcher:
    """Merges concurrently submitted items into few ``judge.ascore_batch`` calls.

    Attributes:
        judge: the judge to call (only ever from one worker thread at a time).
        max_wait_s: how long the worker waits for more requests after the first one.
        max_batch_items: stop merging once a batch has this many items.
        calls / requests: ``ascore_batch`` calls made and requests answered (for tests, stats).
    """

    judge: Judge
    max_wait_s: float = 0.005
    max_batch_items: int = 256
    calls: int = 0
    requests: int = 0
    _queue: asyncio.Queue | None = field(default=None, repr=False)
    _task: asyncio.Task | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._worker())

    async def stop(self) -> None:
        """Stop the worker; requests still queued are failed."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self._queue is not None and not self._queue.empty():
            p = self._queue.get_nowait()
            if not p.future.done():
                p.future.set_exception(RuntimeError("server shutting down"))

    async def submit(self, items: list[Item]) -> list[list[float]]:
        """Queue ``items`` and wait for their scores."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(items, future))
        return await future

    async def _collect(self) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        n = len(batch[0].items)
        deadline = loop.time() + self.max_wait_s
        while n < self.max_batch_items:
            try:
                if self._queue.empty():
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    p = await asyncio.wait_for(self._queue.get(), left)
                else:
                    p = self._queue.get_nowait()
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            batch.append(p)
            n += len(p.items)
        return batch

    async def _score(self, items: list[Item]) -> list[list[float]]:
        self.calls += 1
        return [r.scores for r in await self.judge.ascore_batch(items)]

    async def _worker(self) -> None:
        while True:
            batch = await self._collect()
            try:
                scores = await self._score([it for p in batch for it in p.items])
            except Exception as exc:  # noqa: BLE001 - answered per request below
                if len(batch) == 1:
                    self._answer(batch[0], exc=exc)
                    continue
                for p in batch:  # one bad request must not fail the others merged with it
                    try:
                        self._answer(p, await self._score(p.items))
                    except Exception as exc2:  # noqa: BLE001
                        self._answer(p, exc=exc2)
                continue
            k = 0
            for p in batch:
                self._answer(p, scores[k:k + len(p.items)])
                k += len(p.items)

    def _answer(self, p: _Pending, scores=None, exc: BaseException | None = None) -> None:
        self.requests += 1
        if p.future.done():  # the client went away
            return
        if exc is not None:
            p.future.set_exception(exc)
        else:
            p.future.set_result(scores)


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(judge: Judge, *, token: str | None = None, max_batch_wait_ms: float = 5,
               max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, max_batch_items: int = 256) -> FastAPI:
    """Build the FastAPI app serving ``judge`` (see the module docstring for the protocol).

    ``app.state.batcher`` is the ``MicroBatcher`` (its ``calls`` counts ``ascore_batch`` calls).

    Status codes: 401 missing/wrong bearer token; 413 body over ``max_request_bytes``;
    422 body that is not the documented JSON; 400 a ``UserError`` from the judge; 500 any other
    judge failure (the message says what failed).
    """
    batcher = MicroBatcher(judge, max_batch_wait_ms / 1000.0, max_batch_items)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="AgentForge judge", lifespan=lifespan)
    app.state.batcher = batcher
    too_big = (f"request body over the limit of {max_request_bytes} bytes; send fewer items per "
               "request (or start the server with a larger --max-request-bytes)")

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.post("/score")
    async def score(request: Request):
        if token is not None:
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            return _error(413, too_big)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                return _error(413, too_big)
        try:
            req = ScoreRequest.model_validate_json(bytes(body))
        except ValidationError as exc:
            return _error(422, f"bad request body: {exc}")
        items = [(it.question, it.steps) for it in req.items]
        try:
            scores = await batcher.submit(items) if items else []
        except UserError as exc:
            return _error(400, str(exc))
        except Exception as exc:  # noqa: BLE001
            log.exception("judge failed")
            return _error(500, f"judge failed: {type(exc).__name__}: {exc}")
        return {"scores": [[None if math.isnan(x) else x for x in row] for row in scores]}

    return app


def serve(judge: Judge, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          max_batch_wait_ms: float = 5, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
          max_batch_items: int = 256, log_level: str = "info") -> None:
    """Serve ``judge`` over HTTP until interrupted (blocks). Backs ``agentforge prm serve``.

    Args:
        judge: any ``Judge`` (typically a ``PRMJudge``).
        host: bind address (default loopback only; binding elsewhere without a token logs a warning).
        port: TCP port.
        token: if set, requests need ``Authorization: Bearer <token>``.
        max_batch_wait_ms: how long to wait for more requests to merge (default 5 ms).
        max_request_bytes: larger bodies get 413 (default 4 MiB).
        max_batch_items: most items merged into one ``ascore_batch`` call.
        log_level: uvicorn log level.
    """
    import uvicorn

    if host not in LOOPBACK and token is None:
        log.warning("serving the judge on %s without a token: anyone who can reach it can use it", host)
    app = create_app(judge, token=token, max_batch_wait_ms=max_batch_wait_ms,
                     max_request_bytes=max_request_bytes, max_batch_items=max_batch_items)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class BackgroundServer:
    """``serve`` in a daemon thread, for tests, benchmarks and notebooks; a context manager.

    ``port=0`` picks a free port; ``url`` is the base URL to give ``HTTPJudge``;
    ``batcher`` exposes the merge statistics. ``stop()`` shuts the server down.

    Raises:
        RuntimeError: the server did not start within ``start_timeout`` seconds.
    """

    def __init__(self, judge: Judge, host: str = "127.0.0.1", port: int = 0, *,
                 start_timeout: float = 30.0, **app_kwargs):
        import socket
        import threading
        import time

        import uvicorn

        self.app = create_app(judge, **app_kwargs)
        self.batcher: MicroBatcher = self.app.state.batcher
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        daemon=True, name="agentforge-judge-server")
        self._thread.start()
        deadline = time.monotonic() + start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"judge server on {self.url} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread (at most 10 s)."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
