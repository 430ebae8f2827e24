"""The ``Judge`` contract: score the steps of a solution.

A judge answers one question about each step of a solution: the probability that the step is
correct. Process reward models (``PRMJudge``, ``HTTPJudge``), LLM judges and exact verifiers
(``VerifierJudge``) all implement it, so search and test-time search take any of them.

A subclass overrides ``score`` or ``score_batch`` (or both; each default is written in terms of
the other). ``ascore``/``ascore_batch`` default to running the sync method in a worker thread;
judges with real async I/O (``HTTPJudge``) override them.
"""

from __future__ import annotations

import asyncio
from abc import ABC
from collections.abc import Sequence

from agentforge.core.errors import UserError
from agentforge.judges.aggregate import Aggregation, aggregate
from agentforge.judges.steps import SplitMode, split_steps

Item = tuple[str, list[str]]


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


def check_items(items: object) -> list[Item]:
    """Validate a batch: a list of ``(question, steps)`` pairs.

    Raises:
        UserError: ``items`` is not a list of pairs, or a pair is invalid (see ``check_item``).
    """
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise UserError(f"items must be a list of (question, steps) pairs, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise UserError(f"items[{i}] must be a (question, steps) pair")
        out.append(check_item(item[0], item[1]))
    return out


class Judge(ABC):
    """Scores the steps of solutions; each score is the probability that the step is correct.

    Scores are floats in [0, 1], one per step, in step order. A judge may return NaN for a
    step it did not judge (a PRM input cut at its maximum length; an outcome-only verifier's
    earlier steps); ``aggregate`` skips NaN. A solution with no steps gets ``[]``.

    Subclasses override ``score`` or ``score_batch`` (at least one).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.score is Judge.score and cls.score_batch is Judge.score_batch:
            raise TypeError(f"{cls.__name__} must override Judge.score or Judge.score_batch")

    def score(self, question: str, steps: list[str]) -> list[float]:
        """Score each step of one solution.

        Args:
            question: the problem statement.
            steps: the solution's steps (see ``split_steps``).

        Returns:
            ``len(steps)`` floats in [0, 1] (or NaN for an unjudged step).

        Raises:
            UserError: bad argument types.
            ModelError: the underlying model or server failed.
        """
        return self.score_batch([(question, steps)])[0]

    def score_batch(self, items: list[Item]) -> list[list[float]]:
        """Score many solutions; ``result[i]`` is ``score(*items[i])``.

        Judges backed by a model batch the work; the default scores one item at a time.

        Raises:
            UserError: bad argument types.
            ModelError: the underlying model or server failed.
        """
        return [self.score(q, s) for q, s in check_items(items)]

    async def ascore(self, question: str, steps: list[str]) -> list[float]:
        """Async ``score`` (default: ``score_batch`` in a worker thread)."""
        return (await self.ascore_batch([(question, steps)]))[0]

    async def ascore_batch(self, items: list[Item]) -> list[list[float]]:
        """Async ``score_batch`` (default: the sync method in a worker thread)."""
        return await asyncio.to_thread(self.score_batch, items)

    def score_solution(
        self, question: str, text: str, how: Aggregation = "last", split: SplitMode = "auto"
    ) -> float:
        """Score a whole written solution: ``aggregate(score(question, split_steps(text)), how)``.

        Args:
            question: the problem statement.
            text: the solution as one string.
            how: aggregation rule (default ``"last"``, as in search-and-learn).
            split: step-splitting mode passed to ``split_steps``.

        Raises:
            UserError: ``text`` has no steps (empty), or an unknown ``how``/``split``.
        """
        steps = split_steps(text, split)
        if not steps:
            raise UserError("cannot score an empty solution (no steps in text)")
        return aggregate(self.score(question, steps), how)

    async def ascore_solution(
        self, question: str, text: str, how: Aggregation = "last", split: SplitMode = "auto"
    ) -> float:
        """Async ``score_solution`` (same arguments, same errors)."""
        steps = split_steps(text, split)
        if not steps:
            raise UserError("cannot score an empty solution (no steps in text)")
        return aggregate(await self.ascore(question, steps), how)
