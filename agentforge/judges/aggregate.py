"""Aggregating step scores into one solution score.

The four rules of the PRM literature (Lightman et al. 2023 "Let's Verify Step by Step" use
``prod`` and ``min``; Math-Shepherd uses ``min``; Hugging Face's search-and-learn recipes default
to ``last``, the PRM's score of the final step).

A NaN step score means "this step was not judged" (a PRM input cut at its maximum length, or an
outcome-only verifier's earlier steps): NaN scores are skipped, so a judge that saw only part of
a solution is aggregated over what it saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from agentforge.core.errors import UnknownNameError, UserError

Aggregation = Literal["min", "last", "prod", "mean"]
AGGREGATIONS: tuple[str, ...] = ("min", "last", "prod", "mean")


def aggregate(scores: Sequence[float], how: Aggregation = "last") -> float:
    """Reduce per-step scores (probabilities in [0, 1]) to one score.

    Args:
        scores: one score per step, in step order. NaN entries are skipped.
        how: ``"last"`` (default, search-and-learn), ``"min"``, ``"prod"`` or ``"mean"``.

    Returns:
        The aggregate, a float in [0, 1] for scores in [0, 1]; NaN if every score is NaN.

    Raises:
        UserError: ``scores`` is empty (there is nothing to aggregate: a solution with no steps
            cannot be scored).
        UnknownNameError: ``how`` is not one of ``AGGREGATIONS``.
    """
    if how not in AGGREGATIONS:
        raise UnknownNameError("aggregation", str(how), AGGREGATIONS)
    if len(scores) == 0:
        raise UserError("cannot aggregate an empty list of step scores (the solution has no steps)")
    seen = [float(s) for s in scores if not math.isnan(float(s))]
    if not seen:
        return math.nan
    if how == "last":
        return seen[-1]
    if how == "min":
        return min(seen)
    if how == "prod":
        return math.prod(seen)
    return sum(seen) / len(seen)
