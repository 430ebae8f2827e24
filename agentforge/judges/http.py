"""``HTTPJudge``: a judge that scores over HTTP, against ``agentforge prm serve`` or vLLM.

``protocol="agentforge"`` speaks the protocol of ``agentforge.judges.server``
(``POST {url}/score``). ``protocol="vllm"`` speaks vLLM's pooling API, for a PRM served at
scale with ``vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling`` (``--task reward`` in
older vLLM). What is assumed of vLLM:

    POST {url}/pooling  {"model": model, "input": [prompt, ...]}
      -> {"data": [{"index": i, "data": [[p_0, p_1], ...]}, ...]}

with one row per step separator, i.e. STEP pooling with ``step_tag_id`` = the id of
``<extra_0>`` (vLLM's default for ``Qwen2ForProcessRewardModel``) and softmax applied; the
score is ``row[positive_index]`` (1 for Qwen2.5-Math-PRM: class 1 = correct; 0 for
Math-Shepherd with ``returned_token_ids`` = [+, -]). A row that is a bare number is taken as is.
The prompt is rendered client-side (the server applies no chat template to ``input``); the
default renders Qwen2.5-Math-PRM's ChatML exactly as its chat template does.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, Literal

from agentforge.core.errors import MalformedOutputError, ModelCallError, UnknownNameError, UserError
from agentforge.judges.base import Item, SyncBatchJudge
from agentforge.judges.prm_formats import QWEN_SYSTEM

PROTOCOLS = ("agentforge", "vllm")


def qwen_prm_prompt(question: str, steps: list[str], system: str = QWEN_SYSTEM) -> str:
    """Qwen2.5-Math-PRM's input as text: ChatML system/user/assistant, ``<extra_0>`` after
    each step (what ``apply_chat_template`` renders for it)."""
    body = "".join(s.replace("<extra_0>", "").strip() + "<extra_0>" for s in steps)
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            f"<|im_start|>assistant\n{body}<|im_end|>\n")


class HTTPJudge(SyncBatchJudge):
    """Scores steps by calling a judge server; implements the ``Judge`` protocol.

    Args:
        url: the server's base URL, e.g. ``"http://127.0.0.1:8000"``.
        token: bearer token, if the server wants one.
        timeout: seconds per HTTP request (default 120).
        protocol: ``"agentforge"`` (default) or ``"vllm"`` (see the module docstring).
        model: vLLM model name (sent as ``"model"`` when given).
        max_items_per_request: larger batches are sent in chunks (default 64).
        positive_index: vLLM: which entry of a step's row is P(correct) (default 1).
        render: vLLM: ``(question, steps) -> prompt`` (default ``qwen_prm_prompt``).

    Raises (from the scoring methods):
        UserError: the server refused the request: 401 token; 413 over one of the server's caps
            (the message names the cap and its value: ``max_request_bytes``,
            ``max_items_per_request``, ``max_tokens_per_request``); 422 a body it could not
            read; other 4xx.
        ModelCallError: connection failure, timeout or 5xx.
        MalformedOutputError: a response whose shape does not match the request.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 120.0, *,
                 protocol: Literal["agentforge", "vllm"] = "agentforge", model: str | None = None,
                 max_items_per_request: int = 64, positive_index: int = 1,
                 render: Callable[[str, list[str]], str] | None = None):
        if protocol not in PROTOCOLS:
            raise UnknownNameError("protocol", protocol, PROTOCOLS)
        if max_items_per_request < 1:
            raise UserError("max_items_per_request must be >= 1")
        self.url = url.rstrip("/")
        for suffix in ("/score", "/pooling"):
            self.url = self.url.removesuffix(suffix)
        self.protocol, self.model, self.timeout = protocol, model, timeout
        self.max_items_per_request = max_items_per_request
        self.positive_index = positive_index
        self.render = render or qwen_prm_prompt
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HTTPJudge({self.url!r}, protocol={self.protocol!r})"

    # -- request building and response parsing (shared by sync and async) -----------------
    def _request(self, chunk: list[Item]) -> tuple[str, dict]:
        if self.protocol == "agentforge":
            return "/score", {"items": [{"question": q, "steps": s} for q, s in chunk]}
        body: dict[str, Any] = {"input": [self.render(q, s) for q, s in chunk]}
        if self.model:
            body["model"] = self.model
        return "/pooling", body

    def _check_status(self, resp: Any) -> Any:
        if resp.status_code < 400:
            try:
                return resp.json()
            except ValueError as exc:
                raise MalformedOutputError(f"{self.url}: response is not JSON") from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        msg = f"{self.url} answered {resp.status_code}: {body.get('detail', resp.text)}"
        if resp.status_code in (401, 403):
            raise UserError(msg + " (check the judge token)")
        if resp.status_code == 413:
            raise UserError(msg + self._cap_hint(body))
        if resp.status_code == 422:
            raise UserError(msg + " (the server could not read the request: do client and server speak "
                            "the same protocol version?)")
        if resp.status_code < 500:
            raise UserError(msg)
        raise ModelCallError(msg)

    def _cap_hint(self, body: dict) -> str:
        """What to change after a 413 that names the server's cap (``agentforge prm serve`` does)."""
        cap, limit = body.get("cap"), body.get("limit")
        if not isinstance(cap, str) or isinstance(limit, bool) or not isinstance(limit, int):
            return f" (this client sends up to {self.max_items_per_request} items per request)"
        fewer = (f"HTTPJudge(max_items_per_request={limit})" if cap == "max_items_per_request"
                 else "a smaller HTTPJudge(max_items_per_request=...)")
        return (f" (server cap {cap}={limit}; this client sends up to {self.max_items_per_request} items "
                f"per request: use {fewer}, or raise the server's --{cap.replace('_', '-')})")

    def _parse(self, chunk: list[Item], data: Any) -> list[list[float]]:
        if self.protocol == "agentforge":
            rows = data.get("scores") if isinstance(data, dict) else None
        else:
            entries = data.get("data") if isinstance(data, dict) else None
            rows = None
            if isinstance(entries, list):
                entries = sorted(entries, key=lambda e: e.get("index", 0))
                rows = [[self._pick(r) for r in e.get("data", [])] for e in entries]
        if not isinstance(rows, list) or len(rows) != len(chunk):
            raise MalformedOutputError(f"{self.url}: expected scores for {len(chunk)} items, got {str(data)[:200]}")
        out = []
        for (_, steps), row in zip(chunk, rows):
            if not isinstance(row, list) or len(row) != len(steps):
                hint = (" (serve the PRM with STEP pooling and step_tag_id set, so that vLLM returns "
                        "one row per step)" if self.protocol == "vllm" else "")
                raise MalformedOutputError(f"{self.url}: expected {len(steps)} step scores, got "
                                           f"{len(row) if isinstance(row, list) else row!r}{hint}")
            try:
                out.append([math.nan if x is None else float(x) for x in row])
            except (TypeError, ValueError):
                raise MalformedOutputError(f"{self.url}: non-numeric step score in {str(row)[:200]}") from None
        return out

    def _pick(self, r: Any) -> float:
        if isinstance(r, list):
            if len(r) <= self.positive_index:
                raise MalformedOutputError(f"{self.url}: score row {r!r} has no index {self.positive_index}")
            return r[self.positive_index]
        return r

    def _chunks(self, items: list[Item]) -> list[list[Item]]:
        n = self.max_items_per_request
        return [items[i:i + n] for i in range(0, len(items), n)]

    @staticmethod
    def _merge(items: list[Item], todo: list[int], scored: list[list[float]]) -> list[list[float]]:
        out: list[list[float]] = [[] for _ in items]
        for i, s in zip(todo, scored):
            out[i] = s
        return out

    # -- sync (pooled connection; SyncBatchJudge runs it in a worker thread for async callers) --
    def score_steps(self, items: list[Item]) -> list[list[float]]:
        """Score many solutions with as few HTTP requests as ``max_items_per_request`` allows."""
        import httpx

        todo = [i for i, (_, s) in enumerate(items) if s]  # no steps -> [] without a request
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, headers=self._headers)
            client = self._client
        scored = []
        for chunk in self._chunks([items[i] for i in todo]):
            path, body = self._request(chunk)
            try:
                resp = client.post(self.url + path, json=body)
            except httpx.HTTPError as exc:
                raise ModelCallError(f"judge server {self.url} unreachable: {type(exc).__name__}: {exc}") from exc
            scored += self._parse(chunk, self._check_status(resp))
        return self._merge(items, todo, scored)

    def close(self) -> None:
        """Close the pooled sync connection (the judge stays usable; it reconnects)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> HTTPJudge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
