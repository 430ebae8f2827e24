"""The ``Judge`` contract: score the steps of a solution.

Every judge (a process reward model, a judge behind HTTP, an LLM step grader, an exact verifier,
an execution judge) answers one call::

    result = await judge.ascore(question, steps, example=example)   # -> JudgeResult

``result.scores`` holds, per step, the probability that the step is correct; ``result.usage``
the model calls the judge made (zero for a PRM or a verifier); ``result.feedback`` what the judge
can say in words (an LLM judge's verdicts, a program's output, a failing test), which loops such
as GEPA's reflection read. ``example`` is the task example being solved: judges that need its
gold (an exact verifier) or its tests (an execution judge) take them from there, so callers
never build per-example judges.

A subclass overrides ``ascore`` or ``ascore_batch`` (or both; each default is written in terms of
the other). Judges whose work is synchronous (a PRM forward pass) implement ``ascore_batch`` by
running it in a worker thread. ``score`` and ``score_batch`` are the sync forms; they work inside
a running event loop too.
"""

from __future__ import annotations

import asyncio
from abc import ABC
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from agentforge.core.aio import gather_or_cancel, run_sync
from agentforge.core.errors import UserError
from agentforge.judges.aggregate import Aggregation, aggregate
from agentforge.judges.steps import SplitMode, split_steps
from agentforge.llm.types import Usage

Item = tuple[str, list[str]]


class JudgeResult(BaseModel):
    """What a judge says about one solution.

    Attributes:
        scores: ``len(steps)`` floats in [0, 1], one per step, in step order; NaN for a step the
            judge did not judge (a PRM input cut at its maximum length; an outcome-only
            verifier's earlier steps), which ``aggregate`` skips. ``[]`` for no steps.
        usage: the model calls the judge made for this solution (zero for non-LLM judges).
        feedback: the judge's words about the solution ("" when it has none).
        messages: the messages an LLM judge sent (for traces; empty otherwise).
    """

    scores: list[float]
    usage: Usage = Field(default_factory=Usage)
    feedback: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)

    def value(self, how: Aggregation = "last") -> float:
        """The aggregated score (``aggregate(scores, how)``; NaN when nothing was judged)."""
        return aggregate(self.scores, how) if self.scores else float("nan")


def check_item(question: object, steps: object) -> Item:
    """Validate one ``(question, steps)`` pair and return it as ``(str, list[str])``.

    Raises:
        UserError: ``question`` is not a string, or ``steps`` is not a list/tuple of strings.
    """
    if not isinstance(question, str):
        raise UserError(f"question must be a str, got {type(question).__name__}")
    if isinstance(steps, str) or not isinstance(steps, Sequence):
        raise UserError(
            "steps must be a list of str (use agentforge.judges.split_steps(text) to split "
            f"a solution), got {type(steps).__name__}"
        )
    bad = [i for i, s in enumerate(steps) if not isinstance(s, str)]
    if bad:
        raise UserError(f"steps[{bad[0]}] must be a str, got {type(steps[bad[0]]).__name__}")
    return question, list(steps)


def check_items(items: object, examples: Sequence[Any] | None = None) -> list[Item]:
    """Validate a batch: a list of ``(question, steps)`` pairs (and ``examples`` of equal length).

    Raises:
        UserError: ``items`` is not a list of pairs, a pair is invalid (see ``check_item``), or
            ``examples`` has another length.
    """
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise UserError(f"items must be a list of (question, steps) pairs, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise UserError(f"items[{i}] must be a (question, steps) pair")
        out.append(check_item(item[0], item[1]))
    if examples is not None and len(examples) != len(out):
        raise UserError(f"got {len(out)} items but {len(examples)} examples")
    return out


class Judge(ABC):
    """Scores the steps of solutions (see the module docstring).

    Subclasses override ``ascore`` or ``ascore_batch`` (at least one).

    Attributes:
        name: a label for logs, reports and run records (default: the class name).
    """

    name: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.ascore is Judge.ascore and cls.ascore_batch is Judge.ascore_batch:
            raise TypeError(f"{cls.__name__} must override Judge.ascore or Judge.ascore_batch")

    @property
    def label(self) -> str:
        """A stable label (no memory addresses): ``name``, else the class name."""
        return self.name or type(self).__name__

    async def ascore(self, question: str, steps: list[str], *, example: Any = None) -> JudgeResult:
        """Score each step of one solution.

        Args:
            question: the problem statement.
            steps: the solution's steps (see ``split_steps``).
            example: the task example being solved (a verifier reads its gold, an execution
                judge its tests); None when there is none.

        Returns:
            A ``JudgeResult`` with ``len(steps)`` scores.

        Raises:
            UserError: bad argument types, or a judge that needs ``example`` got None.
            ModelError: the underlying model or server failed.
        """
        return (await self.ascore_batch([(question, steps)], examples=[example]))[0]

    async def ascore_batch(self, items: Sequence[Item], *, examples: Sequence[Any] | None = None) -> list[JudgeResult]:
        """Score many solutions; ``result[i]`` is ``ascore(*items[i], example=examples[i])``.

        The default scores the items concurrently (the first failure cancels the rest); judges
        backed by a model batch them.

        Raises:
            UserError: bad argument types; ``examples`` of another length than ``items``.
            ModelError: the underlying model or server failed.
        """
        checked = check_items(items, examples)
        exs = list(examples) if examples is not None else [None] * len(checked)
        return list(await gather_or_cancel(*[self.ascore(q, s, example=e) for (q, s), e in zip(checked, exs)]))

    def score(self, question: str, steps: list[str], *, example: Any = None) -> JudgeResult:
        """Sync ``ascore`` (works inside a running event loop too)."""
        return run_sync(self.ascore(question, steps, example=example))

    def score_batch(self, items: Sequence[Item], *, examples: Sequence[Any] | None = None) -> list[JudgeResult]:
        """Sync ``ascore_batch`` (works inside a running event loop too)."""
        return run_sync(self.ascore_batch(items, examples=examples))

    async def ascore_solution(self, question: str, text: str, *, example: Any = None, how: Aggregation = "last",
                              split: SplitMode = "auto") -> tuple[float, JudgeResult]:
        """Score a whole written solution: (``aggregate(scores, how)``, the ``JudgeResult``).

        Raises:
            UserError: ``text`` has no steps (empty), or an unknown ``how``/``split``.
        """
        steps = split_steps(text, split)
        if not steps:
            raise UserError("cannot score an empty solution (no steps in text)")
        result = await self.ascore(question, steps, example=example)
        return aggregate(result.scores, how), result

    def score_solution(self, question: str, text: str, *, example: Any = None, how: Aggregation = "last",
                       split: SplitMode = "auto") -> float:
        """Sync ``ascore_solution``, returning the aggregated score only."""
        return run_sync(self.ascore_solution(question, text, example=example, how=how, split=split))[0]


class SyncBatchJudge(Judge):
    """A judge whose work is a blocking ``score_steps(items) -> list[list[float]]`` (a PRM forward
    pass, an HTTP request made with a sync client): ``ascore_batch`` runs it in a worker thread.
    """

    def score_steps(self, items: list[Item]) -> list[list[float]]:
        """Step scores for each item (blocking). Subclasses implement it."""
        raise NotImplementedError

    async def ascore_batch(self, items: Sequence[Item], *, examples: Sequence[Any] | None = None) -> list[JudgeResult]:
        """``score_steps`` in a worker thread; usage is zero (no chat model calls)."""
        checked = check_items(items, examples)
        scores = await asyncio.to_thread(self.score_steps, checked)
        return [JudgeResult(scores=s) for s in scores]

    def score_batch(self, items: Sequence[Item], *, examples: Sequence[Any] | None = None) -> list[JudgeResult]:
        """``score_steps`` in this thread (no event loop involved)."""
        return [JudgeResult(scores=s) for s in self.score_steps(check_items(items, examples))]

    def score(self, question: str, steps: list[str], *, example: Any = None) -> JudgeResult:
        """One solution through ``score_steps`` in this thread."""
        return self.score_batch([(question, steps)], examples=[example])[0]
