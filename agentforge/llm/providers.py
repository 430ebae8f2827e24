"""In-process litellm providers: registration and the response plumbing they share.

litellm routes ``model="<provider>/<name>"`` to a ``litellm.CustomLLM`` registered in
``litellm.custom_provider_map`` for both ``completion`` and ``acompletion``. AgentForge
registers two: ``local`` (llama.cpp, see ``agentforge.llm.local``) and ``fake`` (scripted
functions for tests, see ``agentforge.llm.fake``). Registration keeps any entries the user
added for their own providers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentforge.core.settings import offline_env

offline_env("litellm")
import litellm  # noqa: E402
from litellm import CustomLLM
from litellm.types.utils import Choices, Message, ModelResponse
from litellm.types.utils import Usage as LiteUsage

_REGISTERED: dict[str, CustomLLM] = {}


def register_provider(name: str, handler: CustomLLM) -> None:
    """Register ``handler`` as litellm provider ``name`` (idempotent; replaces a previous one)."""
    _REGISTERED[name] = handler
    others = [p for p in (litellm.custom_provider_map or []) if p.get("provider") not in _REGISTERED]
    litellm.custom_provider_map = others + [
        {"provider": n, "custom_handler": h} for n, h in _REGISTERED.items()
    ]
    try:  # make litellm pick up the new map now (the call exists in current litellm versions)
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
    except Exception:  # pragma: no cover - older/newer litellm: it reads the map lazily
        pass


def fill_response(
    model_response: ModelResponse, model: str, text: str | list[str], prompt_tokens: int, completion_tokens: int
) -> ModelResponse:
    """Write text(s) and token counts into the ModelResponse litellm hands a custom provider.

    ``text`` is one completion, or a list of them for a request with ``n`` > 1 (one choice each;
    ``completion_tokens`` is then their total, ``prompt_tokens`` the prompt once, as OpenAI counts).
    """
    texts = [text] if isinstance(text, str) else list(text)
    model_response.choices[0].message.content = texts[0]
    model_response.choices[0].finish_reason = "stop"
    for i, extra in enumerate(texts[1:], start=1):
        model_response.choices.append(Choices(index=i, finish_reason="stop",
                                              message=Message(content=extra, role="assistant")))
    model_response.model = model
    model_response.usage = LiteUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )
    return model_response


def sample_seed(seed: int | None, sample_index: int) -> int | None:
    """The seed of sample ``sample_index`` derived from a base seed (None stays None)."""
    if seed is None:
        return None
    return (int(seed) * 1_000_003 + sample_index) % (2**31 - 1)


def as_litellm_error(exc: BaseException, model: str, provider: str) -> BaseException:
    """Map an exception raised inside an in-process provider for litellm.

    litellm exceptions pass through (a fake model raises ``litellm.Timeout`` to simulate a
    transient failure). Anything else (a missing GGUF, a bug in a scripted model, a llama.cpp
    error) becomes ``litellm.BadRequestError``, which the client does not retry: litellm would
    otherwise report it as a retryable connection error. The original exception stays in the
    chain (``__cause__``), and ``LLM`` re-raises an AgentForge error found there as itself, so a
    ``ModelNotAvailableError`` from the local provider reaches the caller with its type.
    """
    if isinstance(exc, litellm.exceptions.APIError) or type(exc).__module__.startswith("litellm"):
        return exc
    return litellm.BadRequestError(f"{type(exc).__name__}: {exc}", model=model, llm_provider=provider)


class SyncProvider(CustomLLM):
    """A CustomLLM whose work is a blocking ``generate``; ``acompletion`` runs it in a thread.

    Subclasses implement ``generate(model, messages, params) -> (text, prompt_tokens,
    completion_tokens)``. A request for ``n`` choices (DSPy's COPRO asks for several instructions
    in one call) runs ``generate`` n times; choice ``i`` > 0 gets ``params["choice_index"] = i``
    so a seeded provider can draw a distinct sample for it.

    Raises (as litellm errors): ``BadRequestError`` for ``n`` < 1 or a failure inside ``generate``.
    """

    def generate(self, model: str, messages: list[dict], params: dict[str, Any]) -> tuple[str, int, int]:
        raise NotImplementedError

    def generate_choices(self, model: str, messages: list[dict], params: dict[str, Any]) -> tuple[list[str], int, int]:
        """``params["n"]`` completions (default 1): (texts, prompt tokens once, completion tokens summed)."""
        n = int(params.get("n") or 1)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        texts, prompt_tokens, completion_tokens = [], 0, 0
        for i in range(n):
            text, pt, ct = self.generate(model, messages, {**params, "choice_index": i} if i else params)
            texts.append(text)
            prompt_tokens, completion_tokens = prompt_tokens or pt, completion_tokens + ct
        return texts, prompt_tokens, completion_tokens

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                   encoding, api_key, logging_obj, optional_params, *args, **kwargs):
        try:
            texts, pt, ct = self.generate_choices(model, messages, dict(optional_params or {}))
        except Exception as exc:
            raise as_litellm_error(exc, model, type(self).__name__) from exc
        return fill_response(model_response, model, texts, pt, ct)

    async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response,
                          print_verbose, encoding, api_key, logging_obj, optional_params, *args, **kwargs):
        try:
            texts, pt, ct = await asyncio.to_thread(self.generate_choices, model, messages, dict(optional_params or {}))
        except Exception as exc:
            raise as_litellm_error(exc, model, type(self).__name__) from exc
        return fill_response(model_response, model, texts, pt, ct)
