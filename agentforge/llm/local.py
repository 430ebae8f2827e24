"""The embedded local provider: GGUF models run in-process by llama-cpp-python.

Model ids: ``local/<name>`` for a model in the registry (``agentforge models list``), or
``local/<path>.gguf`` for any GGUF file (``local//abs/model.gguf`` for an absolute path).
The chat template is read from the GGUF itself.

Concurrency: a llama.cpp context is not thread-safe, so each model is loaded once per process
and its calls are **serialized** by a per-model lock (concurrent async callers queue; the
model uses all configured threads for each call, which on a CPU is faster overall than
splitting cores across several contexts). Threads default to ``os.cpu_count()`` and are set
with ``AGENTFORGE_THREADS``; the context length with ``AGENTFORGE_N_CTX`` (default 4096).

Sampling parameters are always passed explicitly in the OpenAI sense (``repeat_penalty=1.0``,
``top_k=0``, ``min_p=0.0`` unless given), so results compare across providers.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

import litellm

from agentforge.core.errors import UserError
from agentforge.core.extras import require
from agentforge.core.settings import settings
from agentforge.llm.models import resolve_model_path
from agentforge.llm.providers import SyncProvider, register_provider, sample_seed

PROVIDER = "local"
_ENGINES: dict[Path, "_Engine"] = {}
_ENGINES_LOCK = threading.Lock()


class _Engine:
    """One loaded llama.cpp model and the lock that serializes its calls."""

    def __init__(self, path: Path, n_threads: int, n_ctx: int):
        Llama = require("llama_cpp", "local", "the embedded local model (local/...)").Llama

        self.path = path
        self.lock = threading.Lock()
        self.llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                           n_threads_batch=n_threads, verbose=False)


def n_threads() -> int:
    """Threads llama.cpp uses per call: ``$AGENTFORGE_THREADS`` or the CPU count."""
    return settings().threads or os.cpu_count() or 1


def get_engine(model: str) -> _Engine:
    """Load (once per process) and return the engine for a ``local/`` model name or GGUF path.

    Raises:
        UnknownNameError: not a registered name and not a .gguf path.
        ModelNotAvailableError: registered but not pulled; the message gives the pull command.
    """
    path = resolve_model_path(model).resolve()
    with _ENGINES_LOCK:
        if path not in _ENGINES:
            _ENGINES[path] = _Engine(path, n_threads(), settings().n_ctx)
        return _ENGINES[path]


def _sample_seed(params: dict[str, Any]) -> int:
    extra = params.get("extra_body") or {}
    base = params.get("seed")
    seed = sample_seed(0 if base is None else int(base), int(extra.get("sample_index", 0)))
    choice = int(params.get("choice_index") or 0)  # choice i of an n > 1 request: its own stream
    return seed if choice == 0 else sample_seed(seed + 7919, choice)


def _response_format(fmt: Any) -> dict[str, Any] | None:
    """OpenAI's ``response_format`` as llama-cpp-python takes it (a JSON grammar, with the schema
    when there is one), or None.

    Raises:
        UserError: a format other than ``json_schema``, ``json_object`` or ``text``.
    """
    if not fmt:
        return None
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return {"type": "json_object", **({"schema": grammar_safe(schema)} if schema else {})}
    if kind == "json_object":
        return {"type": "json_object", **({"schema": grammar_safe(fmt["schema"])} if fmt.get("schema") else {})}
    if kind == "text":
        return None
    raise UserError(f"response_format type {kind!r} is not supported by the local model; "
                    "use json_schema, json_object or text")


MAX_GRAMMAR_REPEAT = 600
"""Longest string-length bound kept in a grammar. llama.cpp expands ``minLength``/``maxLength``
into nested repetitions; far past that it refuses the grammar and the process can crash
(seen: ``maxLength`` 1500 segfaulted), so longer bounds are dropped (the reply is still JSON of
the schema's shape, bounded by ``max_tokens``)."""


def grammar_safe(schema: Any) -> Any:
    """``schema`` with string length bounds over ``MAX_GRAMMAR_REPEAT`` removed (recursively)."""
    if isinstance(schema, dict):
        out = {k: grammar_safe(v) for k, v in schema.items()}
        for bound in ("minLength", "maxLength"):
            if isinstance(out.get(bound), int) and out[bound] > MAX_GRAMMAR_REPEAT:
                out.pop(bound)
        return out
    if isinstance(schema, list):
        return [grammar_safe(v) for v in schema]
    return schema


class LocalProvider(SyncProvider):
    """litellm provider ``local``: runs chat completions on an embedded llama.cpp model."""

    def generate(self, model: str, messages: list[dict], params: dict[str, Any]) -> tuple[str, int, int]:
        engine = get_engine(model)
        kwargs = dict(
            messages=messages,
            temperature=float(params.get("temperature", 0.0) if params.get("temperature") is not None else 0.0),
            top_p=float(params.get("top_p") or 1.0),
            top_k=int(params.get("top_k") or 0),
            min_p=float(params.get("min_p") or 0.0),
            repeat_penalty=float(params.get("repeat_penalty") or 1.0),
            max_tokens=int(params.get("max_tokens") or 512),
            stop=params.get("stop") or None,
            seed=_sample_seed(params),
        )
        if fmt := _response_format(params.get("response_format")):  # grammar-constrained JSON
            kwargs["response_format"] = fmt
        with engine.lock:
            try:
                out = engine.llama.create_chat_completion(**kwargs)
            except ValueError as exc:  # llama.cpp reports an over-long prompt as ValueError
                if "context" in str(exc).lower() or "tokens exceed" in str(exc).lower():
                    raise litellm.ContextWindowExceededError(str(exc), model=model, llm_provider=PROVIDER) from exc
                raise
        text = out["choices"][0]["message"].get("content") or ""
        usage = out.get("usage") or {}
        return text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


def close_all() -> None:
    """Free every loaded model (registered with ``atexit`` so llama.cpp frees before teardown)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            try:
                engine.llama.close()
            except Exception:
                pass
        _ENGINES.clear()


atexit.register(close_all)
_registered = False


def ensure_registered() -> None:
    """Register the ``local`` provider with litellm (idempotent)."""
    global _registered
    if not _registered:
        register_provider(PROVIDER, LocalProvider())
        _registered = True
