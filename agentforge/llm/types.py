"""Value types of the model layer: chat messages, usage records and completions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Message = dict[str, Any]
"""An OpenAI-style chat message: ``{"role": "system"|"user"|"assistant", "content": str}``."""


class Usage(BaseModel):
    """Token, cost and latency accounting for one or more model calls.

    Attributes:
        calls: number of model calls (cache hits included).
        cached_calls: how many of those were answered from the on-disk cache (no cost, no tokens
            billed again; their tokens are still counted so reruns report the same totals).
        prompt_tokens: prompt tokens as reported by the provider.
        completion_tokens: completion tokens as reported by the provider.
        cost_usd: cost in US dollars where litellm knows the model's price, else 0.0
            (local and fake models are free).
        latency_s: wall-clock seconds spent waiting for the model, summed over calls.
    """

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            latency_s=self.latency_s + other.latency_s,
        )

    @property
    def total_tokens(self) -> int:
        """prompt_tokens + completion_tokens."""
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def total(cls, usages: list[Usage]) -> Usage:
        """Sum a list of usage records (an empty list gives zeros)."""
        out = cls()
        for u in usages:
            out = out + u
        return out


class Completion(BaseModel):
    """The result of one model call.

    Attributes:
        text: the assistant message content ("" if the model returned nothing).
        usage: accounting for this call (``calls == 1``).
        model: the model id the call went to, in litellm form.
        cached: True when answered from the on-disk cache.
        logprobs: per-token log-probabilities where the provider returned them, else None.
    """

    text: str
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    cached: bool = False
    logprobs: list[dict[str, Any]] | None = None
