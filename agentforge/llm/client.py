"""``LLM``: the one door every model call goes through (litellm underneath).

It owns retries with exponential backoff (timeouts, rate limits, connection and 5xx errors),
a per-model concurrency limit, the on-disk completion cache, and token/cost/latency
accounting. Model ids are litellm's (``openai/gpt-4o-mini``, ``ollama/qwen2.5``, ...) plus
``local/<name>`` for the embedded llama.cpp model and ``fake/<name>`` for scripted test models
(a ``FunctionModel`` or a plain function may be passed as ``model``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentforge.core.errors import AgentForgeError, ModelCallError, ModelRequestsForbiddenError, UserError
from agentforge.core.settings import offline_env
from agentforge.llm import fake, local
from agentforge.llm.cache import CompletionCache, cache_enabled, cache_key
from agentforge.llm.observers import active_observers
from agentforge.llm.providers import sample_seed
from agentforge.llm.types import Completion, Message, Usage

offline_env("litellm")  # litellm fetches a price map from the internet on import unless told not to
import litellm  # noqa: E402

litellm.suppress_debug_info = True
logging.getLogger("LiteLLM").setLevel(logging.ERROR)

ALLOW_MODEL_REQUESTS = True
"""Global guard: when False, only ``fake/`` models may be called (unit tests set it)."""

SAMPLING_KEYS = ("temperature", "max_tokens", "top_p", "seed", "stop", "top_k", "min_p", "repeat_penalty",
                 "response_format")
RETRYABLE = (
    litellm.Timeout,
    litellm.RateLimitError,
    litellm.APIConnectionError,
    litellm.ServiceUnavailableError,
    litellm.InternalServerError,
    litellm.BadGatewayError,
)
IN_PROCESS = ("local/", "fake/")
_SECRET = re.compile(r"key|token|secret|password|header|auth", re.IGNORECASE)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, litellm.ContextWindowExceededError):
        return False
    if isinstance(exc, RETRYABLE):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(exc, litellm.APIError) and isinstance(status, int) and status >= 500


_SEMAPHORES: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]" = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def model_requests_allowed(allowed: bool):
    """Temporarily set ``ALLOW_MODEL_REQUESTS`` (e.g. ``with model_requests_allowed(False):``)."""
    global ALLOW_MODEL_REQUESTS
    old, ALLOW_MODEL_REQUESTS = ALLOW_MODEL_REQUESTS, allowed
    try:
        yield
    finally:
        ALLOW_MODEL_REQUESTS = old


class LLM(BaseModel):
    """A model configuration with sync and async chat calls.

    Attributes:
        model: litellm model id, or a ``FunctionModel``/callable (converted to ``fake/<name>``).
        temperature: sampling temperature (default 0.0, greedy).
        max_tokens: completion token cap (default 512).
        top_p: nucleus sampling mass, None for the provider default.
        seed: base seed; sample ``i`` of a call uses ``sample_seed(seed, i)`` where the provider
            supports seeds (providers that do not are sent no seed).
        stop: stop sequences.
        timeout: seconds per attempt (default 120).
        retries: extra attempts after a retryable failure (default 3), exponential backoff
            starting at ``backoff_s`` seconds (default 1.0, capped at 30).
        max_concurrency: calls in flight per model and event loop; default 1 for ``local/``
            (llama.cpp serializes anyway) and 16 otherwise.
        cache: use the on-disk completion cache (default: on for real models unless
            ``AGENTFORGE_CACHE=0``; off for ``fake/`` models, whose scripts change between runs).
        cache_dir: cache folder, default ``$AGENTFORGE_HOME/cache/completions``.
        extra: further litellm keyword arguments (``api_base``, ...); part of cache keys except
            secret-like ones (key, token, secret, password, header, auth); never in ``repr``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str
    temperature: float = 0.0
    max_tokens: int = 512
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float = 120.0
    retries: int = 3
    backoff_s: float = 1.0
    max_concurrency: int | None = None
    cache: bool | None = None
    cache_dir: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, repr=False)

    @field_validator("model", mode="before")
    @classmethod
    def _model_id(cls, v: Any) -> str:
        return fake.as_model_id(v)

    def with_options(self, **updates: Any) -> "LLM":
        """A copy with some fields replaced (validated)."""
        return LLM.model_validate({**self.model_dump(), **updates})

    # ---- calls ---------------------------------------------------------------------------
    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        params = {k: getattr(self, k, None) for k in ("temperature", "max_tokens", "top_p", "seed", "stop")}
        params.update({k: v for k, v in overrides.items() if k in SAMPLING_KEYS})
        unknown = set(overrides) - set(SAMPLING_KEYS)
        if unknown:
            raise UserError(f"unknown sampling option(s) {sorted(unknown)}; valid: {list(SAMPLING_KEYS)}")
        return {k: v for k, v in params.items() if v is not None}

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        per_loop = _SEMAPHORES.setdefault(loop, {})
        limit = self.max_concurrency or (1 if self.model.startswith("local/") else 16)
        key = f"{self.model}\x1f{limit}"
        if key not in per_loop:
            per_loop[key] = asyncio.Semaphore(limit)
        return per_loop[key]

    def _use_cache(self) -> bool:
        if self.cache is None:
            return not self.model.startswith("fake/") and cache_enabled()
        return self.cache and cache_enabled()

    async def acomplete(self, messages: list[Message], *, sample_index: int = 0, tag: str | None = None,
                        **overrides: Any) -> Completion:
        """Run one chat completion.

        Every observer active in the caller's context (``agentforge.llm.observers``: budget
        meters, an agent run's usage ledger) sees the call, cache hits included.

        Args:
            messages: OpenAI-style messages.
            sample_index: which of k samples this is; part of the cache key and the seed.
            tag: what the call is for (``"meta"`` for the meta-search's proposal calls); scripted
                fake models receive it in ``CallInfo.tag`` and route on it. Not part of the
                request a provider sees, nor of the cache key.
            **overrides: sampling parameters for this call only (temperature, max_tokens, ...,
                ``response_format``: OpenAI's ``{"type": "json_schema", "json_schema": {"name": ...,
                "schema": {...}}}`` or ``{"type": "json_object"}``; the local provider enforces it
                with a llama.cpp grammar, remote providers as litellm maps it).

        Returns:
            Completion with text and usage (calls=1).

        Raises:
            ModelCallError: the provider failed after all retries, or failed in a way retrying
                cannot fix (bad request, context window exceeded, authentication).
            ModelRequestsForbiddenError: a non-fake model while ``ALLOW_MODEL_REQUESTS`` is False.
            UserError: an unknown sampling option; typed errors raised inside an in-process
                provider (``ModelNotAvailableError``, ``UnknownNameError``) come out as themselves.
            BudgetExceeded: an active budget meter refused the call.
        """
        if not ALLOW_MODEL_REQUESTS and not self.model.startswith("fake/"):
            raise ModelRequestsForbiddenError(f"real model call to {self.model!r} while ALLOW_MODEL_REQUESTS is False")
        if self.model.startswith("local/"):
            local.ensure_registered()
        params = self._params(overrides)
        observers = active_observers()
        for obs in observers:
            obs.before_call()
        comp: Completion | None = None
        try:
            comp = await self._complete(messages, params, sample_index, tag)
        finally:
            for obs in observers:
                obs.after_call(comp.usage if comp is not None else None)
        return comp

    async def _complete(self, messages: list[Message], params: dict[str, Any], sample_index: int,
                        tag: str | None) -> Completion:
        use_cache = self._use_cache()
        keyed = dict(params)
        public_extra = {k: v for k, v in self.extra.items() if not _SECRET.search(k)}
        if public_extra:  # e.g. api_base: the same model id behind two servers must not share entries
            keyed["extra"] = public_extra
        key = cache_key(self.model, messages, keyed, sample_index) if use_cache else ""
        store = CompletionCache(self.cache_dir) if use_cache else None
        if store is not None and (hit := store.get(key)) is not None:
            return hit
        async with self._semaphore():
            comp = await self._call_with_retries(messages, params, sample_index, tag)
        if store is not None:
            store.set(key, comp)
        return comp

    async def _call_with_retries(self, messages, params, sample_index, tag=None) -> Completion:
        attempt = 0
        while True:
            t0 = time.perf_counter()
            try:
                if self.model.startswith(IN_PROCESS):  # our providers derive per-sample seeds themselves
                    kwargs = {"extra_body": {"sample_index": sample_index, "tag": tag}}
                else:  # remote: per-sample seed; drop parameters a provider does not take (e.g. seed)
                    kwargs = {"drop_params": True}
                    if "seed" in params:
                        params = {**params, "seed": sample_seed(params["seed"], sample_index)}
                resp = await litellm.acompletion(model=self.model, messages=messages, timeout=self.timeout,
                                                 **kwargs, **params, **self.extra)
                return _to_completion(self.model, resp, time.perf_counter() - t0)
            except AgentForgeError:
                raise
            except Exception as exc:
                typed = _typed_cause(exc)
                if typed is not None:  # raised inside an in-process provider: keep its type
                    raise typed from exc
                if not _retryable(exc):  # bad request, auth, a provider bug: retrying cannot help
                    raise ModelCallError(f"{self.model}: {type(exc).__name__}: {exc}") from exc
                if attempt >= self.retries:
                    raise ModelCallError(f"{self.model}: {type(exc).__name__} after {attempt + 1} attempt(s): {exc}") from exc
                await asyncio.sleep(min(30.0, self.backoff_s * 2**attempt))
                attempt += 1

    def complete(self, messages: list[Message], *, sample_index: int = 0, **overrides: Any) -> Completion:
        """Synchronous ``acomplete`` (must not be called from inside a running event loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.acomplete(messages, sample_index=sample_index, **overrides))
        raise UserError("LLM.complete() called inside a running event loop; use `await llm.acomplete(...)`")


def _typed_cause(exc: BaseException) -> AgentForgeError | None:
    """The AgentForge error an in-process provider raised, found in ``exc``'s cause/context chain
    (litellm wraps whatever a custom provider raises)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, AgentForgeError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _to_completion(model: str, resp: Any, latency: float) -> Completion:
    choice = resp.choices[0]
    text = (choice.message.content or "") if choice.message else ""
    u = getattr(resp, "usage", None)
    cost = 0.0
    if not model.startswith(("local/", "fake/")):
        try:
            cost = float(litellm.completion_cost(completion_response=resp) or 0.0)
        except Exception:
            cost = 0.0
    logprobs = None
    lp = getattr(choice, "logprobs", None)
    if lp is not None and getattr(lp, "content", None):
        logprobs = [c.model_dump() if hasattr(c, "model_dump") else dict(c) for c in lp.content]
    usage = Usage(
        calls=1,
        prompt_tokens=int(getattr(u, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(u, "completion_tokens", 0) or 0),
        cost_usd=cost,
        latency_s=latency,
    )
    return Completion(text=text, usage=usage, model=model, logprobs=logprobs)
