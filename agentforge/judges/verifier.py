"""``VerifierJudge``: an outcome-only judge built from a programmatic check.

An exact verifier (a task's answer check against the gold, a unit-test run) knows whether a
*solution* is right, not which step went wrong. Following the outcome-reward convention (ORM;
Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems"), its verdict is put on the
last step. A verifier that reads the gold answer is an oracle: use it for upper bounds only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from agentforge.core.errors import UserError
from agentforge.judges.base import Judge, JudgeResult, check_item


class VerifierJudge(Judge):
    """Outcome-only judge: ``check(solution_text, example) -> bool`` on the whole solution.

    ``ascore(question, steps, example=...)`` returns ``len(steps)`` scores: the last is ``1.0``
    if ``check("\\n\\n".join(steps), example)`` is true, else ``0.0``; the earlier steps get
    ``prefix_score`` (default NaN: "not judged", which ``aggregate`` skips, so ``min``, ``last``,
    ``prod`` and ``mean`` all equal the outcome). Pass ``prefix_score=1.0`` to get plain floats.
    No steps -> ``[]`` (``check`` is not called).

    Args:
        check: the verdict function. Exceptions it raises propagate unchanged.
        prefix_score: the score of every step but the last.
        name: a label for logs and reports (default: ``check.__name__``).
        needs_example: raise ``UserError`` when scored without an example (a gold check).

    Raises:
        UserError: ``check`` is not callable, or ``prefix_score`` is outside [0, 1] (NaN is allowed).
    """

    def __init__(self, check: Callable[[str, Any], bool], *, prefix_score: float = math.nan,
                 name: str | None = None, needs_example: bool = False):
        if not callable(check):
            raise UserError(f"VerifierJudge needs a callable check, got {type(check).__name__}")
        if not math.isnan(prefix_score) and not 0.0 <= prefix_score <= 1.0:
            raise UserError(f"prefix_score must be in [0, 1] or NaN, got {prefix_score}")
        self.check = check
        self.prefix_score = float(prefix_score)
        self.name = name or getattr(check, "__name__", "verifier")
        self.needs_example = needs_example

    @classmethod
    def for_task(cls, task: Any) -> "VerifierJudge":
        """The task's exact answer check against the example's gold (an oracle: upper bounds only)."""
        return cls(lambda text, example: bool(task.check(text, example)), name=f"{task.name}-verifier",
                   needs_example=True)

    async def ascore(self, question: str, steps: list[str], *, example: Any = None) -> JudgeResult:
        """Apply ``check`` to the solution; see the class docstring for the score layout."""
        question, steps = check_item(question, steps)
        if not steps:
            return JudgeResult(scores=[])
        if example is None and self.needs_example:
            raise UserError(f"{self.name} needs the example (its gold answer) to score a solution")
        ok = bool(self.check("\n\n".join(steps), example))
        return JudgeResult(scores=[self.prefix_score] * (len(steps) - 1) + [1.0 if ok else 0.0],
                           feedback="correct" if ok else "incorrect")

    def __repr__(self) -> str:
        return f"VerifierJudge({self.name})"
