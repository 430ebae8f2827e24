"""Break-even: after how many queries a search has paid for itself.

The question arXiv 2510.06711 asks of automated agent design (does it pay?): a search is a
one-off cost, and the agent it finds earns it back, if at all, a query at a time. Per cost unit
(tokens, US dollars or wall seconds), against a baseline agent, on the held-out questions:

* the baseline's cost per correct answer ``c = base cost per question / base accuracy``, what
  the baseline pays for one correct answer, and so what one extra correct answer is worth;
* the value of the found agent per query ``v = delta_acc * c - delta_cost``, where
  ``delta_acc = found accuracy - base accuracy`` and ``delta_cost = found cost per question -
  base cost per question`` (the found agent's extra inference cost, negative when cheaper);
* the break-even ``N = ceil(search cost / v)`` queries.

``N`` is ``never`` when the paired 95% interval of ``delta_acc`` (paired bootstrap over the
same questions, :func:`agentforge.core.stats.paired_difference`) does not lie above zero (no
established gain: a gain that might be zero pays nothing back), or when ``v <= 0`` (each query's
extra cost eats its gain). A baseline that solved no question has an unbounded cost per correct
answer: an established gain then pays at once (``N = 0``). The search cost is what the search
spent (its ``summary.json`` calls, tokens, USD, wall), not the held-out evaluation.
"""

from __future__ import annotations

import math
from typing import Any

DEFINITION = ("N = search cost / (delta_acc * base cost per correct - delta cost per query), base cost per correct "
              "= base cost per question / base accuracy; 'never' when the paired 95% CI of delta_acc does not lie "
              "above 0 or the denominator is not positive (after arXiv 2510.06711)")
UNITS = {"tokens": "tokens_per_question", "cost_usd": "cost_usd_per_question", "wall_s": "wall_s_per_question"}


def break_even(search_cost: float, *, base_accuracy: float, found_accuracy: float, base_cost_per_q: float,
               found_cost_per_q: float, delta_ci: tuple[float, float] | list[float]) -> dict[str, Any]:
    """Queries after which the search has paid for itself (see the module docstring).

    Args:
        search_cost: what the search spent, in the unit of the per-question costs.
        base_accuracy, found_accuracy: held-out accuracies in [0, 1].
        base_cost_per_q, found_cost_per_q: mean cost per question of each agent.
        delta_ci: paired 95% interval of ``found - base`` accuracy.

    Returns:
        ``queries`` (int, or None for never), ``verdict`` (``"N queries"``, ``"never"``),
        ``reason``, and the parts: ``delta_accuracy``, ``base_cost_per_correct`` (None when
        unbounded), ``delta_cost_per_query``, ``value_per_query``, ``search_cost``.

    Raises:
        ValueError: a negative or non-finite search cost.
    """
    if not math.isfinite(search_cost) or search_cost < 0:
        raise ValueError(f"search cost must be a finite number >= 0, got {search_cost}")
    d_acc, d_cost = found_accuracy - base_accuracy, found_cost_per_q - base_cost_per_q
    out: dict[str, Any] = {"search_cost": search_cost, "delta_accuracy": round(d_acc, 4),
                           "delta_accuracy_ci": [round(x, 4) for x in delta_ci],
                           "delta_cost_per_query": d_cost, "base_cost_per_correct": None, "value_per_query": None}

    def never(reason: str) -> dict[str, Any]:
        return {**out, "queries": None, "verdict": "never", "reason": reason}

    if not delta_ci[0] > 0:
        return never(f"the paired 95% CI of the accuracy gain [{delta_ci[0]:+.3f}, {delta_ci[1]:+.3f}] "
                     "does not lie above 0")
    if base_accuracy <= 0:
        return {**out, "queries": 0, "verdict": "0 queries",
                "reason": "the baseline solved no question: its cost per correct answer is unbounded"}
    per_correct = base_cost_per_q / base_accuracy
    value = d_acc * per_correct - d_cost
    out.update(base_cost_per_correct=per_correct, value_per_query=value)
    if value <= 0:
        return never(f"the extra cost per query ({d_cost:.4g}) is at least the gain's worth "
                     f"({d_acc:.3f} x {per_correct:.4g})")
    n = math.ceil(search_cost / value - 1e-9)
    return {**out, "queries": n, "verdict": f"{n} queries",
            "reason": f"{search_cost:.4g} / ({d_acc:.3f} x {per_correct:.4g} {'-' if d_cost >= 0 else '+'} "
                      f"{abs(d_cost):.4g})"}


def table(search: dict[str, float], heldout: dict[str, Any]) -> dict[str, Any]:
    """Break-even of the found agent against every baseline of a held-out comparison.

    Args:
        search: the search's spend: ``tokens``, ``cost_usd``, ``wall_s``.
        heldout: :func:`agentforge.search.baselines.acompare`'s result.

    Returns:
        ``{"definition", "rows": [{"baseline", "unit", **break_even(...)}]}``; USD rows only
        when the search or the arms cost money (local and fake models are free).
    """
    rows = {r["arm"]: r for r in heldout["rows"]}
    found = rows["found"]
    priced = search.get("cost_usd", 0) > 0 or any(r["cost_usd_per_question"] > 0 for r in rows.values())
    out = []
    for arm, diff in heldout["found_vs"].items():
        base = rows[arm]
        for unit, key in UNITS.items():
            if unit == "cost_usd" and not priced:
                continue
            out.append({"baseline": arm, "unit": unit,
                        **break_even(float(search.get(unit, 0.0)), base_accuracy=base["accuracy"],
                                     found_accuracy=found["accuracy"], base_cost_per_q=base[key],
                                     found_cost_per_q=found[key], delta_ci=diff["diff_ci"])})
    return {"definition": DEFINITION, "rows": out}
