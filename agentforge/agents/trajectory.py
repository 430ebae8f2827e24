"""Records of a run: each model call (a trajectory step) and the run's result."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field

from agentforge.llm.types import Message, Usage


class LLMCall(BaseModel):
    """One model call inside an agent run (a step of the trajectory).

    Attributes:
        node: the spec node that made the call.
        role: the node's role label (solver, critic, debater, judge).
        sample: sample index within the node (0-based).
        visit: how many times the node had run before this call.
        messages: the chat messages sent.
        output: the model's text.
        answer: the answer extracted from ``output`` when the node is answer-bearing, else None.
        prompt_tokens, completion_tokens: as reported by the provider.
        latency_s: seconds waited for this call (0 for cache hits).
        cost_usd: the call's cost where litellm knows the price (0 for local, fake, cached).
        cached: answered from the completion cache.
        score: the judge's aggregated score of this output, for test-time search steps.
    """

    node: str
    role: str
    sample: int = 0
    visit: int = 0
    messages: list[Message]
    output: str
    answer: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cached: bool = False
    score: float | None = None


class AgentResult(BaseModel):
    """What ``Agent.arun`` returns.

    Attributes:
        answer: the final extracted answer (normalized), or None if none could be extracted.
        text: the text the answer came from (the draft, or the tie-break judge's output).
        trajectory: every model call in order of completion.
        usage: totals over the trajectory.
        votes: answer -> count (majority vote) or summed judge score (weighted vote), else {}.
        wall_s: wall-clock seconds of the run.
    """

    answer: str | None
    text: str = ""
    trajectory: list[LLMCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    votes: dict[str, float] = Field(default_factory=dict)
    wall_s: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)

    def trace(self) -> str:
        """A readable multi-line rendering of the trajectory (for ``agentforge solve``)."""
        lines = []
        for i, c in enumerate(self.trajectory, 1):
            head = f"[{i}] {c.node} ({c.role}, sample {c.sample}, visit {c.visit})"
            meta = f"{c.prompt_tokens}+{c.completion_tokens} tok, {c.latency_s:.1f}s" + (", cached" if c.cached else "")
            lines.append(f"{head} - {meta}")
            lines.extend("    " + ln for ln in c.output.strip().splitlines())
            if c.answer is not None:
                lines.append(f"    => answer: {c.answer}")
        if self.votes:
            lines.append("votes: " + ", ".join(f"{a}: {n:g}" for a, n in self.votes.items()))
        lines.append(f"final answer: {self.answer}")
        return "\n".join(lines)


_RUN_CALLS: contextvars.ContextVar[list[LLMCall] | None] = contextvars.ContextVar("agentforge_run_calls",
                                                                                    default=None)


@contextmanager
def collect_calls() -> Iterator[list[LLMCall]]:
    """Collect every trajectory step recorded (``record``) in this context, in finishing order;
    an agent run keeps one so that a failed run still returns the calls it paid for."""
    calls: list[LLMCall] = []
    token = _RUN_CALLS.set(calls)
    try:
        yield calls
    finally:
        _RUN_CALLS.reset(token)


def record(call: LLMCall) -> None:
    """Keep ``call`` in the current run's collection (no-op outside ``collect_calls``)."""
    calls = _RUN_CALLS.get()
    if calls is not None:
        calls.append(call)


def usage_of(calls: list[LLMCall]) -> Usage:
    """Usage totals over trajectory steps."""
    return Usage.total([Usage(calls=1, cached_calls=int(c.cached), prompt_tokens=c.prompt_tokens,
                              completion_tokens=c.completion_tokens, latency_s=c.latency_s, cost_usd=c.cost_usd)
                        for c in calls])
