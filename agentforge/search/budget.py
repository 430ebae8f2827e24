"""Search budgets: LLM calls, tokens, US dollars and wall time, each a hard stop.

A :class:`BudgetMeter` is shared by everything a search runs (agent calls, judge calls, meta-model
calls). Every model call goes through a :class:`MeteredLLM`, which asks the meter for room
*before* the call (``before_call``) and charges the call's usage after it. When a limit is
reached the next call raises :class:`BudgetExceeded` instead of being made, so calls never
exceed ``max_calls`` (calls already in flight count against it). Tokens, cost and wall time are
known only after a call, so they stop the search at the first call that finds them at or over
the limit (overshoot: at most the calls in flight at that moment).

Results replayed from the run store on resume are charged with their recorded usage
(``replay``), so a resumed search spends, and stops, exactly as an uninterrupted one would.
Calls answered by the completion cache count as calls too: the budget measures the work the
search does, which keeps a search reproducible whether or not the cache is warm.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from agentforge.core.errors import BudgetExceeded
from agentforge.llm import LLM
from agentforge.llm.types import Completion, Message, Usage

RESOURCES = ("calls", "tokens", "cost_usd", "wall_s")


class Budget(BaseModel):
    """Hard limits of one search; ``None`` means unlimited.

    Attributes:
        max_calls: model calls (agent, judge and meta-model calls together).
        max_tokens: prompt + completion tokens.
        max_cost_usd: US dollars as litellm prices them (local and fake models are free).
        max_wall_s: wall-clock seconds, summed over the sessions of a resumed search.
    """

    model_config = ConfigDict(extra="forbid")
    max_calls: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)
    max_cost_usd: float | None = Field(None, ge=0.0)
    max_wall_s: float | None = Field(None, ge=0.0)

    def limits(self) -> dict[str, float]:
        """The limited resources: name (one of ``RESOURCES``) -> limit."""
        pairs = zip(RESOURCES, (self.max_calls, self.max_tokens, self.max_cost_usd, self.max_wall_s))
        return {k: float(v) for k, v in pairs if v is not None}



class BudgetMeter:
    """Tracks what a search has spent against a :class:`Budget`.

    Args:
        budget: the limits (default: none).
        wall_offset_s: wall seconds spent by earlier sessions of a resumed search.

    Attributes:
        spent: usage charged so far (live calls and replayed results).
        in_flight: calls started and not finished.
    """

    def __init__(self, budget: Budget | None = None, wall_offset_s: float = 0.0):
        self.budget = budget or Budget()
        self.spent = Usage()
        self.in_flight = 0
        self.wall_offset_s = wall_offset_s
        self._t0 = time.monotonic()

    @property
    def wall_s(self) -> float:
        """Wall seconds: this session's plus ``wall_offset_s``."""
        return self.wall_offset_s + time.monotonic() - self._t0

    def used(self) -> dict[str, float]:
        """Spent per resource (calls include those in flight)."""
        return {"calls": self.spent.calls + self.in_flight, "tokens": self.spent.total_tokens,
                "cost_usd": self.spent.cost_usd, "wall_s": self.wall_s}

    def fraction(self) -> float:
        """The largest used/limit ratio over the limited resources (0.0 when unlimited)."""
        used = self.used()
        return max((used[k] / v if v else 1.0 for k, v in self.budget.limits().items()), default=0.0)

    def _exhausted(self) -> BudgetExceeded | None:
        used = self.used()
        for k, limit in self.budget.limits().items():
            if used[k] >= limit:
                return BudgetExceeded(k, used[k], limit)
        return None

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` when no further call would be allowed."""
        exc = self._exhausted()
        if exc is not None:
            raise exc

    def before_call(self) -> None:
        """Reserve one call; raises :class:`BudgetExceeded` (reserving nothing) when out of budget."""
        self.check()
        self.in_flight += 1

    def after_call(self, usage: Usage | None) -> None:
        """Release a reservation and charge the call (``None``: a failed call, counted as one call)."""
        self.in_flight = max(0, self.in_flight - 1)
        self.charge(usage if usage is not None else Usage(calls=1))

    def charge(self, usage: Usage) -> None:
        """Add ``usage`` to what was spent."""
        self.spent = self.spent + usage

    def replay(self, usage: Usage) -> None:
        """Charge a result recorded by an earlier session (no call is made).

        Raises:
            BudgetExceeded: the budget was already exhausted before this result, or the result
                takes the calls over ``max_calls`` (a resume with a smaller budget stops where an
                uninterrupted search with that budget would have stopped).
        """
        self.check()
        limit = self.budget.max_calls
        if limit is not None and self.spent.calls + self.in_flight + usage.calls > limit:
            raise BudgetExceeded("calls", self.spent.calls + self.in_flight, limit)
        self.charge(usage)

    def snapshot(self) -> dict[str, Any]:
        """Spent so far, rounded, for history records and reports."""
        return {"calls": self.spent.calls, "tokens": self.spent.total_tokens,
                "cost_usd": round(self.spent.cost_usd, 6), "wall_s": round(self.wall_s, 3)}


class MeteredLLM(LLM):
    """An :class:`~agentforge.llm.LLM` whose every call is checked and charged by a meter.

    Build with :meth:`wrap`. ``with_options`` keeps the meter, so judges that copy the LLM
    (``LLMJudge``) stay metered. ``acomplete`` raises :class:`BudgetExceeded` before calling the
    model when the budget is exhausted.
    """

    _meter: BudgetMeter | None = PrivateAttr(default=None)

    @classmethod
    def wrap(cls, llm: LLM, meter: BudgetMeter) -> "MeteredLLM":
        """A metered copy of ``llm`` (same configuration) charging ``meter``."""
        out = cls.model_validate(llm.model_dump())
        out._meter = meter
        return out

    @property
    def meter(self) -> BudgetMeter | None:
        """The meter this LLM charges."""
        return self._meter

    def with_options(self, **updates: Any) -> "MeteredLLM":
        """A metered copy with some fields replaced."""
        return MeteredLLM.wrap(LLM.model_validate({**self.model_dump(), **updates}), self._meter)

    async def acomplete(self, messages: list[Message], *, sample_index: int = 0, **overrides: Any) -> Completion:
        """``LLM.acomplete`` behind the budget (raises :class:`BudgetExceeded` when out of budget)."""
        if self._meter is None:
            return await super().acomplete(messages, sample_index=sample_index, **overrides)
        self._meter.before_call()
        comp = None
        try:
            comp = await super().acomplete(messages, sample_index=sample_index, **overrides)
        finally:
            self._meter.after_call(comp.usage if comp is not None else None)
        return comp
