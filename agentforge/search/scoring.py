"""Scores: how one example's outcome becomes a number (:class:`Objective`), the per-example
record the run store keeps (:class:`ExampleResult`) and a candidate's aggregate (:class:`EvalResult`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentforge.agents.episode import Episode
from agentforge.judges.aggregate import Aggregation
from agentforge.llm.types import Usage


class Objective(BaseModel):
    """How one example's outcome becomes a number (higher is better).

    ``value = (1 - judge_weight) * correct + judge_weight * judge_score - cost_weight * cost``,
    where ``cost`` is thousands of tokens (``cost_unit="tokens"``) or US dollars (``"usd"``) spent
    on the example. Defaults: the task metric alone.

    Attributes:
        judge_weight: weight of the judge's aggregated step score, in [0, 1] (needs a judge).
        judge_how: step-score aggregation (``last``, ``min``, ``prod``, ``mean``; default ``last``).
        cost_weight: penalty per cost unit (default 0).
        cost_unit: ``tokens`` (per 1,000) or ``usd``.
    """

    model_config = ConfigDict(extra="forbid")
    judge_weight: float = Field(0.0, ge=0.0, le=1.0)
    judge_how: Aggregation = "last"
    cost_weight: float = Field(0.0, ge=0.0)
    cost_unit: Literal["tokens", "usd"] = "tokens"

    def cost(self, usage: Usage) -> float:
        """The cost of ``usage`` in this objective's unit."""
        return usage.total_tokens / 1000.0 if self.cost_unit == "tokens" else usage.cost_usd

    def value(self, row: "ExampleResult") -> float:
        """The objective value of one example's outcome (errors count as wrong)."""
        quality = float(row.correct)
        if self.judge_weight > 0.0:
            quality = (1.0 - self.judge_weight) * quality + self.judge_weight * (row.judge_score or 0.0)
        return quality - self.cost_weight * self.cost(row.usage + row.judge_usage)


class ExampleResult(BaseModel):
    """One example's outcome (what the run store keeps).

    Attributes:
        example_id, answer (extracted), correct (task metric), text (the final solution text).
        judge_score: the judge's aggregated step score, or None without a judge.
        usage: the agent's calls; ``judge_usage``: the scoring judge's calls.
        trajectory: compact steps ``{node, role, output, answer}`` (no prompts).
        feedback: what grounded the outcome besides the metric, in words: the sandbox's reports
            of the agent's ``execute`` nodes and the scoring judge's feedback ("" if none).
        error: ``"Type: message"`` when the run failed (such rows are run again on resume).
    """

    example_id: str
    answer: str | None = None
    correct: bool = False
    text: str = ""
    judge_score: float | None = None
    usage: Usage = Field(default_factory=Usage)
    judge_usage: Usage = Field(default_factory=Usage)
    trajectory: list[dict[str, Any]] = Field(default_factory=list)
    feedback: str = ""
    error: str | None = None
    wall_s: float = 0.0


class EvalResult(BaseModel):
    """A candidate's scores on a set of examples.

    Attributes:
        key: the candidate key (``spec_key``). n: examples. errors: examples that failed.
        score, score_ci: mean objective value and its bootstrap 95% interval.
        accuracy, accuracy_ci: mean task-metric correctness and its interval.
        judge_score: mean judge score (None without a judge).
        calls/tokens/cost_usd_per_example: mean spend per example; usage: the total.
        rows: the per-example results (not serialized).
    """

    key: str
    n: int
    errors: int = 0
    score: float
    score_ci: tuple[float, float]
    accuracy: float
    accuracy_ci: tuple[float, float]
    judge_score: float | None = None
    calls_per_example: float = 0.0
    tokens_per_example: float = 0.0
    cost_usd_per_example: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    rows: list[ExampleResult] = Field(default_factory=list, exclude=True)


def _compact(traj: Sequence[Any], limit: int = 2000) -> list[dict[str, Any]]:
    return [{"node": c.node, "role": c.role, "output": c.output[:limit], "answer": c.answer} for c in traj]


def example_result(ep: Episode) -> ExampleResult:
    """The run store's record of an episode (a compact trajectory, no prompts)."""
    reports = [f"[{node}] {text}" for node, text in (ep.metadata.get("execution") or {}).items()]
    feedback = "\n".join([*reports, *([f"[judge] {ep.judge_feedback}"] if ep.judge_feedback else [])])
    return ExampleResult(example_id=ep.example_id, answer=ep.answer, correct=ep.correct, text=ep.text[:4000],
                         judge_score=ep.judge_score, usage=ep.usage, judge_usage=ep.judge_usage,
                         trajectory=_compact(ep.trajectory), feedback=feedback[:3000], error=ep.error,
                         wall_s=ep.wall_s)
