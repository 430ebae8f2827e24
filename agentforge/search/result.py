"""What a search returns: the archive of scored candidates, the history, the best spec.

The optimizer contract (as DSPy's ``compile``) is one method::

    optimizer.optimize(spec, trainset, valset, budget) -> SearchResult(best_spec, archive, history)

The archive holds every candidate that was fully evaluated on the validation set (a candidate
cut short by the budget is not in it, so the archive is always consistent). ``pareto_front``
gives the candidates no other candidate beats on both score and cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentforge.agents import AgentSpec
from agentforge.llm.types import Usage
from agentforge.search.evaluator import EvalResult

EventKind = Literal["evaluate", "reject", "skip", "fail", "note", "stop"]


class Candidate(BaseModel):
    """One evaluated candidate.

    Attributes:
        index: order of addition (0 = the seed/baseline).
        key: the candidate key (``spec_key``) its results are stored under.
        spec: the agent. origin: which operator made it (``seed``, ``opro``, ``reflect``,
            ``fewshot``, ``propose``, ``recombine``, ``mutate``, ``meta``, ...).
        parents: keys of the candidates it was derived from. step: the search step.
        eval: its validation scores. spent: budget spent when it was added (calls, tokens, ...).
        info: level-specific data (the instruction and demos, the module configuration, the
            meta model's rationale).
    """

    index: int
    key: str
    spec: AgentSpec
    origin: str
    parents: list[str] = Field(default_factory=list)
    step: int = 0
    eval: EvalResult
    spent: dict[str, float] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)

    @property
    def score(self) -> float:
        """The validation score."""
        return self.eval.score

    def cost(self, unit: str = "tokens") -> float:
        """Mean cost per example: tokens (``tokens``) or US dollars (``usd``)."""
        return self.eval.tokens_per_example if unit == "tokens" else self.eval.cost_usd_per_example

    def brief(self) -> dict[str, Any]:
        """A one-line summary dict (name, key, score with interval, accuracy, cost)."""
        e = self.eval
        return {"index": self.index, "name": self.spec.name, "key": self.key, "origin": self.origin,
                "score": round(e.score, 4), "score_ci": [round(x, 4) for x in e.score_ci],
                "accuracy": round(e.accuracy, 4), "accuracy_ci": [round(x, 4) for x in e.accuracy_ci],
                "n": e.n, "calls_per_example": round(e.calls_per_example, 2),
                "tokens_per_example": round(e.tokens_per_example, 1)}


class HistoryEvent(BaseModel):
    """One entry of the search history.

    Attributes:
        step: the search step (0 = baseline). kind: ``evaluate`` (a candidate joined the archive),
            ``reject`` (a proposal failed validation; ``message`` holds the error fed back),
            ``skip`` (duplicate), ``fail`` (no usable proposal: malformed output, model failure),
            ``note`` or ``stop``.
        candidate: its key, for ``evaluate``/``skip``. score / best_score: its score and the best so far.
        calls, tokens, cost_usd, wall_s: budget spent at that moment.
    """

    step: int
    kind: EventKind
    message: str = ""
    candidate: str | None = None
    score: float | None = None
    best_score: float | None = None
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0


def pareto_indices(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, score) points on the Pareto front (lower cost, higher score),
    sorted by cost; of equal points the first is kept."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


class Archive:
    """The scored candidates of a search, in order of addition, unique by key."""

    def __init__(self, candidates: list[Candidate] | None = None):
        self.candidates: list[Candidate] = []
        self._by_key: dict[str, Candidate] = {}
        for c in candidates or []:
            self.add(c)

    def add(self, cand: Candidate) -> None:
        """Add a candidate (a key already present is ignored)."""
        if cand.key not in self._by_key:
            self.candidates.append(cand)
            self._by_key[cand.key] = cand

    def get(self, key: str) -> Candidate | None:
        """The candidate with ``key``, or None."""
        return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __len__(self) -> int:
        return len(self.candidates)

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.candidates)

    def ranked(self) -> list[Candidate]:
        """Best first: higher score, then lower tokens per example, then earlier."""
        return sorted(self.candidates, key=lambda c: (-c.score, c.eval.tokens_per_example, c.index))

    def best(self) -> Candidate | None:
        """The top-ranked candidate (None for an empty archive)."""
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def pareto_front(self, unit: str = "tokens") -> list[Candidate]:
        """Candidates on the cost-score Pareto front, cheapest first."""
        pts = [(c.cost(unit), c.score) for c in self.candidates]
        return [self.candidates[i] for i in pareto_indices(pts)]


class SearchResult(BaseModel):
    """The outcome of ``optimize``.

    Attributes:
        level: ``prompt``, ``module`` or ``system``.
        best_spec: the best candidate's spec (the seed's when nothing was evaluated).
        best / baseline: the best candidate and the seed's evaluation (None if the budget
            stopped the search before the seed was evaluated).
        archive: every fully evaluated candidate, in order. history: every event.
        usage: what the search spent (replayed results included). wall_s: wall time, all sessions.
        stop_reason: why it stopped (``budget: calls``, ``max candidates``, ...).
        info: the configuration (task, model, meta model, objective, budget, example ids).
    """

    level: str
    best_spec: AgentSpec
    best: Candidate | None = None
    baseline: Candidate | None = None
    archive: list[Candidate] = Field(default_factory=list)
    history: list[HistoryEvent] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    wall_s: float = 0.0
    stop_reason: str = ""
    info: dict[str, Any] = Field(default_factory=dict)

    def pareto_front(self, unit: str = "tokens") -> list[Candidate]:
        """The archive's cost-score Pareto front, cheapest first."""
        return Archive(self.archive).pareto_front(unit)

    def ranked_archive(self) -> list[Candidate]:
        """The archive best first (see ``Archive.ranked``)."""
        return Archive(self.archive).ranked()
