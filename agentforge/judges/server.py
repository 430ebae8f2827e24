"""Serving a judge over HTTP (``agentforge prm serve``), with fair cross-request micro-batching.

Protocol (``HTTPJudge`` speaks it):

    POST /score   {"items": [{"question": str, "steps": [str, ...]}, ...]}
               -> {"scores": [[float | null, ...], ...]}    (null = NaN: a step not judged)
    GET  /health  -> {"status": "ok"}

Requests that arrive together, from any number of clients, are merged into few
``judge.ascore_batch`` calls of at most ``max_batch_items`` items, shared fairly between requests
(``agentforge.judges.scheduling``: a small request is not stuck behind a huge one). A PRM's
dynamic batching then packs the merged items on the GPU: the "continuous batching" idea of LLM
servers (Orca, vLLM) at request granularity.

Limits, all checked before anything is scored; a refusal is JSON ``{"detail": str}`` and, for
413, also ``"cap"`` (the limit's name), ``"limit"`` (its value) and ``"got"``:

    401  missing or wrong bearer token (``/score``, and the docs when they are on)
    413  body over ``max_request_bytes`` (checked while reading), more than
         ``max_items_per_request`` items, or more than ``max_tokens_per_request`` tokens
         (see ``token_counter``: the judge's tokenizer when it has one, else characters / 4)
    422  a body that is not the documented JSON

Safety (see DESIGN.md): binds 127.0.0.1 unless told otherwise; an optional bearer token;
``/docs``, ``/redoc`` and ``/openapi.json`` are off unless ``docs=True`` (then behind the token).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from agentforge.core.errors import UserError
from agentforge.judges.base import Judge
from agentforge.judges.scheduling import MicroBatcher
from agentforge.judges.server_checks import check_bind_address, load_token, token_counter

log = logging.getLogger(__name__)
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_ITEMS_PER_REQUEST = 1024
DEFAULT_MAX_TOKENS_PER_REQUEST = 1024 * 1024
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

__all__ = ["BackgroundServer", "MicroBatcher", "check_bind_address", "create_app", "load_token", "serve",
           "token_counter"]


class ScoreItem(BaseModel):
    """One input of ``POST /score``."""

    question: str
    steps: list[str]


class ScoreRequest(BaseModel):
    """The body of ``POST /score``."""

    items: list[ScoreItem]


def _error(status: int, detail: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _too_large(cap: str, limit: int, got: int, unit: str, advice: str) -> JSONResponse:
    flag = "--" + cap.replace("_", "-")
    return _error(413, f"request has {got} {unit}, over the limit of {limit} {unit.split(' (')[0]} per request "
                       f"({flag}); {advice}, or start the server with a larger {flag}", cap=cap, limit=limit, got=got)


def create_app(judge: Judge, *, token: str | None = None, max_batch_wait_ms: float = 5,
               max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, max_batch_items: int = 256,
               max_items_per_request: int = DEFAULT_MAX_ITEMS_PER_REQUEST,
               max_tokens_per_request: int = DEFAULT_MAX_TOKENS_PER_REQUEST, chunk_items: int = 32,
               docs: bool = False) -> FastAPI:
    """Build the FastAPI app serving ``judge`` (see the module docstring for protocol and limits).

    Args:
        judge: any ``Judge``.
        token: if set, ``/score`` (and the docs) need ``Authorization: Bearer <token>``.
        max_batch_wait_ms: how long to wait for more items to merge (default 5 ms).
        max_request_bytes: larger bodies get 413 (default 4 MiB).
        max_batch_items: most items in one ``ascore_batch`` call (default 256).
        max_items_per_request: more items get 413 (default 1,024).
        max_tokens_per_request: more tokens (``token_counter``) get 413 (default 1,048,576).
        chunk_items: most items one request adds to a batch per round (default 32; fairness).
        docs: serve ``/docs``, ``/redoc`` and ``/openapi.json`` (default off).

    ``app.state.batcher`` is the ``MicroBatcher`` (``calls``: ``ascore_batch`` calls made);
    ``app.state.token_counting`` says how tokens are counted. A judge's ``UserError`` is a 400,
    any other judge failure a 500 whose message says what failed. With ``docs`` and a token, the
    docs need the header too (``curl -H "Authorization: Bearer ..." .../openapi.json``).

    Raises:
        UserError: a limit below 1.
    """
    limits = {"max_request_bytes": max_request_bytes, "max_items_per_request": max_items_per_request,
              "max_tokens_per_request": max_tokens_per_request}
    if bad := {k: v for k, v in limits.items() if v < 1}:
        raise UserError(f"limits must be >= 1, got {bad}")
    batcher = MicroBatcher(judge, max_batch_wait_ms / 1000.0, max_batch_items, chunk_items)
    count_tokens, how = token_counter(judge)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="AgentForge judge", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher, app.state.token_counting = batcher, how
    too_big = (f"request body over the limit of {max_request_bytes} bytes; send fewer items per "
               "request (or start the server with a larger --max-request-bytes)")

    def refused(request: Request) -> JSONResponse | None:
        if token is None:
            return None
        given = request.headers.get("authorization", "")
        if secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.post("/score")
    async def score(request: Request):
        if (denied := refused(request)) is not None:
            return denied
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            return _error(413, too_big, cap="max_request_bytes", limit=max_request_bytes, got=int(length))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                return _error(413, too_big, cap="max_request_bytes", limit=max_request_bytes, got=len(body))
        try:
            req = ScoreRequest.model_validate_json(bytes(body))
        except ValidationError as exc:
            return _error(422, f"bad request body: {str(exc)[:2000]}")
        items = [(it.question, it.steps) for it in req.items]
        if len(items) > max_items_per_request:
            return _too_large("max_items_per_request", max_items_per_request, len(items), "items",
                              "send fewer items per request")
        n_tokens = await asyncio.to_thread(count_tokens, items) if "tokenizer" in how else count_tokens(items)
        if n_tokens > max_tokens_per_request:
            return _too_large("max_tokens_per_request", max_tokens_per_request, n_tokens, f"tokens ({how})",
                              "send fewer or shorter items per request")
        try:
            scores = await batcher.submit(items)
        except UserError as exc:
            return _error(400, str(exc))
        except Exception as exc:  # noqa: BLE001
            log.exception("judge failed")
            return _error(500, f"judge failed: {type(exc).__name__}: {exc}")
        return {"scores": [[None if math.isnan(x) else x for x in row] for row in scores]}

    if docs:
        _add_docs(app, refused)
    return app


def _add_docs(app: FastAPI, refused: Callable[[Request], JSONResponse | None]) -> None:
    """``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``, each behind ``refused``."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    pages = {"/openapi.json": lambda: JSONResponse(app.openapi()),
             "/docs": lambda: get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs"),
             "/redoc": lambda: get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")}
    def guarded(page: Callable[[], object]) -> Callable:
        async def route(request: Request):
            return refused(request) or page()

        return route

    for path, page in pages.items():
        app.add_api_route(path, guarded(page), methods=["GET"], include_in_schema=False)


def serve(judge: Judge, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          max_batch_wait_ms: float = 5, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
          max_batch_items: int = 256, log_level: str = "info", **limits) -> None:
    """Serve ``judge`` over HTTP until interrupted (blocks). Backs ``agentforge prm serve``.

    Args:
        judge: any ``Judge`` (typically a ``PRMJudge``).
        host: bind address (default loopback only; binding elsewhere without a token logs a warning).
        port: TCP port, 1-65535.
        token: if set, requests need ``Authorization: Bearer <token>`` (see ``load_token``).
        max_batch_wait_ms, max_request_bytes, max_batch_items: see ``create_app``.
        log_level: uvicorn log level.
        **limits: ``max_items_per_request``, ``max_tokens_per_request``, ``chunk_items``, ``docs``
            (see ``create_app``).

    Raises:
        UserError: a bad ``host``/``port`` (``check_bind_address``), before anything binds.
    """
    import uvicorn

    check_bind_address(host, port)
    if host not in LOOPBACK and token is None:
        log.warning("serving the judge on %s without a token: anyone who can reach it can use it", host)
    app = create_app(judge, token=token, max_batch_wait_ms=max_batch_wait_ms,
                     max_request_bytes=max_request_bytes, max_batch_items=max_batch_items, **limits)
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
