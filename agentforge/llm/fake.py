"""A scripted fake model for tests: a plain Python function used wherever a model id is.

Modelled on pydantic-ai's ``FunctionModel``: the function receives the chat messages and the
call's parameters and returns the assistant's text. It goes through litellm like any real
provider (as ``fake/<name>``), so the cache, retries, usage accounting and concurrency limits
are exercised exactly as in production.

Example::

    def model(messages, info):
        return "Answer: 42"

    llm = LLM(model=FunctionModel(model))   # or LLM(model=model)
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentforge.core.errors import UnknownNameError
from agentforge.llm.providers import SyncProvider, as_litellm_error, fill_response, register_provider

PROVIDER = "fake"


@dataclass
class CallInfo:
    """What a fake model function is told about the call besides the messages.

    Attributes:
        model: the fake model's name (without the ``fake/`` prefix).
        params: the optional parameters litellm passed (temperature, max_tokens, seed, stop, ...).
        sample_index: which of k samples this is (0-based); from the call's ``extra_body``.
        call_number: 0-based count of calls this function has received.
        tag: what the caller said the call is for (``LLM.acomplete(tag=...)``), e.g. ``"meta"``
            for the meta-search's proposal calls; None when untagged. Route on this, not on
            prompt wording (templates are data and change).
    """

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    sample_index: int = 0
    call_number: int = 0
    tag: str | None = None


FakeFn = Callable[[list[dict], CallInfo], "str | Awaitable[str]"]
_FUNCTIONS: dict[str, "FunctionModel"] = {}


def _count_tokens(text: str) -> int:
    return len(text.split())


class FunctionModel:
    """Wrap ``fn(messages, info) -> str`` (sync or async) as a model with id ``fake/<name>``.

    Args:
        fn: the script. It may raise to simulate a provider failure (e.g. ``litellm.Timeout``).
        name: the model name; a unique one (``fn-<random hex>``) is generated when omitted, so an
            anonymous script never shares completion-cache entries with another process's.

    Attributes:
        model_id: the litellm model id to pass wherever a model id is expected.
        calls: every (messages, CallInfo) received, in order, for assertions in tests.
    """

    def __init__(self, fn: FakeFn, name: str | None = None):
        self.fn = fn
        self.name = name or f"fn-{uuid.uuid4().hex[:12]}"
        self.calls: list[tuple[list[dict], CallInfo]] = []
        _FUNCTIONS[self.name] = self
        _ensure_registered()

    @property
    def model_id(self) -> str:
        return f"{PROVIDER}/{self.name}"

    def _info(self, params: dict[str, Any]) -> CallInfo:
        extra = params.get("extra_body") or {}
        return CallInfo(self.name, params, int(extra.get("sample_index", 0)), len(self.calls), extra.get("tag"))

    def __repr__(self) -> str:
        return f"FunctionModel({self.model_id})"


def as_model_id(model: Any) -> str:
    """Return a litellm model id for a string, a FunctionModel, or a plain callable (wrapped)."""
    if isinstance(model, str):
        return model
    if isinstance(model, FunctionModel):
        return model.model_id
    if callable(model):
        return FunctionModel(model).model_id
    raise TypeError(f"model must be a model id string, a FunctionModel or a callable, got {type(model).__name__}")


def _lookup(model: str) -> FunctionModel:
    name = model.split("/", 1)[1] if model.startswith(PROVIDER + "/") else model
    try:
        return _FUNCTIONS[name]
    except KeyError:
        raise UnknownNameError("fake model", name, _FUNCTIONS) from None


class _FakeProvider(SyncProvider):
    def _prepare(self, model, messages, params):
        fm = _lookup(model)
        info = fm._info(params)
        fm.calls.append((messages, info))
        return fm, info

    def _finish(self, model_response, model, messages, text):
        if not isinstance(text, str):
            raise as_litellm_error(TypeError(f"fake model {model!r} returned {type(text).__name__}, expected str"),
                                   model, PROVIDER)
        prompt = " ".join(str(m.get("content", "")) for m in messages)
        return fill_response(model_response, model, text, _count_tokens(prompt), _count_tokens(text))

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                   encoding, api_key, logging_obj, optional_params, *args, **kwargs):
        fm, info = self._prepare(model, messages, dict(optional_params or {}))
        try:
            out = fm.fn(messages, info)
            if inspect.isawaitable(out):
                import asyncio

                out = asyncio.run(_await(out))
        except Exception as exc:
            raise as_litellm_error(exc, model, PROVIDER) from exc
        return self._finish(model_response, model, messages, out)

    async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response,
                          print_verbose, encoding, api_key, logging_obj, optional_params, *args, **kwargs):
        fm, info = self._prepare(model, messages, dict(optional_params or {}))
        try:
            out = fm.fn(messages, info)
            if inspect.isawaitable(out):
                out = await out
        except Exception as exc:
            raise as_litellm_error(exc, model, PROVIDER) from exc
        return self._finish(model_response, model, messages, out)


async def _await(x):
    return await x


_registered = False


def _ensure_registered() -> None:
    global _registered
    if not _registered:
        register_provider(PROVIDER, _FakeProvider())
        _registered = True
