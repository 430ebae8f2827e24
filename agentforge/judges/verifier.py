"""``VerifierJudge``: an outcome-only judge built from a programmatic check.

An exact verifier (a task's answer check, a unit-test run) knows whether a *solution* is right,
not which step went wrong. Following the outcome-reward convention (ORM; Cobbe et al. 2021,
"Training Verifiers to Solve Math Word Problems"), its verdict is put on the last step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from agentforge.core.errors import UserError
from agentforge.judges.base import Item, Judge, check_items


class VerifierJudge(Judge):
    """Outcome-only judge: ``check(question, solution_text) -> bool`` on the whole solution.

    ``score(question, steps)`` returns ``len(steps)`` floats: the last is ``1.0`` if
    ``check(question, "\\n\\n".join(steps))`` is true, else ``0.0``; the earlier steps get
    ``prefix_score`` (default NaN: "not judged", which ``aggregate`` skips, so ``min``, ``last``,
    ``prod`` and ``mean`` all equal the outcome). Pass ``prefix_score=1.0`` to get plain floats
    (then ``min``/``prod``/``last`` still equal the outcome; ``mean`` dilutes it).
    No steps -> ``[]`` (``check`` is not called).

    Args:
        check: the verdict function, e.g. a task's exact-answer check. Exceptions it raises
            propagate unchanged.
        prefix_score: the score of every step but the last.
        name: a label for logs and reports (default: ``check.__name__``).

    Raises:
        UserError: ``check`` is not callable, or ``prefix_score`` is outside [0, 1] (NaN is allowed).
    """

    def __init__(
        self,
        check: Callable[[str, str], bool],
        *,
        prefix_score: float = math.nan,
        name: str | None = None,
    ):
        if not callable(check):
            raise UserError(f"VerifierJudge needs a callable check, got {type(check).__name__}")
        if not math.isnan(prefix_score) and not 0.0 <= prefix_score <= 1.0:
            raise UserError(f"prefix_score must be in [0, 1] or NaN, got {prefix_score}")
        self.check = check
        self.prefix_score = float(prefix_score)
        self.name = name or getattr(check, "__name__", "verifier")

    def score_batch(self, items: list[Item]) -> list[list[float]]:
        """Apply ``check`` to each solution; see the class docstring for the score layout."""
        out = []
        for question, steps in check_items(items):
            if not steps:
                out.append([])
                continue
            verdict = 1.0 if self.check(question, "\n\n".join(steps)) else 0.0
            out.append([self.prefix_score] * (len(steps) - 1) + [verdict])
        return out

    def __repr__(self) -> str:
        return f"VerifierJudge({self.name})"
