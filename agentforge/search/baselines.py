"""Compute-matched baselines on held-out questions (``agentforge optimize --heldout N``).

A search's winner is compared, on questions no search saw, with what the same compute buys
without a search (Snell et al. 2024 compare test-time methods at matched compute the same way):

* ``found``: the search's best agent;
* ``cot``: one chain-of-thought call (Wei et al. 2022);
* ``self-consistency``: ``k`` chains at temperature 0.7 with a majority vote (Wang et al. 2022),
  where ``k = round(found tokens per question / cot tokens per question)``, at least 1, both
  measured on these held-out questions: the baseline spends about what the found agent spends;
* ``best-of-n`` (only when the search had a ``--judge``): ``n = k`` sampled solutions, the
  search's judge picks one (its grading tokens come on top and are reported).

Each arm reports accuracy with a bootstrap 95% interval, tokens, calls, USD and wall seconds per
question (a question whose calls were served from the completion cache counts at the latency
recorded when they were made, since its wall time here is a cache read), and the paired
difference against ``cot`` (paired bootstrap 95% interval and McNemar's exact p,
:func:`agentforge.core.stats.paired_difference`); the found agent also against the matched
baselines. Results go to a run store, so a rerun pays for nothing twice.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from typing import Any

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.core.errors import UserError
from agentforge.core.stats import paired_difference
from agentforge.llm import LLM
from agentforge.llm.types import Usage
from agentforge.search.evaluator import EvalResult, Evaluator
from agentforge.search.store import RunStore

MATCH_RULE = ("k = round(found tokens/question / cot tokens/question), at least 1, on the held-out questions; "
              "self-consistency samples k chains at temperature 0.7, best-of-n draws n = k for the judge")


def matched_k(found_tokens_per_q: float, cot_tokens_per_q: float) -> int:
    """Samples for the compute-matched baseline: ``round(found / cot)``, at least 1.

    Args:
        found_tokens_per_q, cot_tokens_per_q: mean tokens per question of the found agent and of
            cot on the same questions (a cot that spent nothing gives 1).
    """
    if not cot_tokens_per_q or cot_tokens_per_q <= 0:
        return 1
    return max(1, int(round(found_tokens_per_q / cot_tokens_per_q)))


def question_wall(row: Any) -> float:
    """Wall seconds of one held-out question: as measured, or, when any of its calls (agent or
    judge) came from the completion cache, the summed latency recorded for its calls when they were
    made (a cache read costs about nothing, the question did not)."""
    cached = row.usage.cached_calls + row.judge_usage.cached_calls
    return row.usage.latency_s + row.judge_usage.latency_s if cached else row.wall_s


def _row(arm: str, spec: AgentSpec, ev: EvalResult) -> dict[str, Any]:
    walls = [question_wall(r) for r in ev.rows]
    return {"arm": arm, "agent": spec.name, "n": ev.n, "errors": ev.errors, "accuracy": round(ev.accuracy, 4),
            "accuracy_ci": [round(x, 4) for x in ev.accuracy_ci],
            "tokens_per_question": round(ev.tokens_per_example, 1),
            "calls_per_question": round(ev.calls_per_example, 2),
            "cost_usd_per_question": round(ev.cost_usd_per_example, 8),
            "wall_s_per_question": round(statistics.fmean(walls), 3) if walls else 0.0}


def _correct(ev: EvalResult) -> list[bool]:
    return [bool(r.correct) for r in ev.rows]


async def acompare(found: AgentSpec, task: Any, llm: LLM, examples: Sequence[Any], *, judge: Any = None,
                   store: RunStore | None = None, judge_store: RunStore | None = None, concurrency: int = 4,
                   seed: int = 0) -> dict[str, Any]:
    """Evaluate the found agent and the baselines on ``examples`` (see the module docstring).

    Args:
        found: the search's best spec. task, llm: the search's task and agents' model.
        examples: the held-out questions. judge: the search's judge (adds the best-of-n arm).
        store: run store of the found/cot/self-consistency rows (default in memory);
            judge_store: of the best-of-n rows (apart: the store keys rows by spec, not judge).
        concurrency: examples in flight. seed: bootstrap seed.

    Returns:
        ``{"n", "k", "rule", "rows": [...], "found_vs": {arm: paired difference}, "usage"}``;
        each row has ``arm``, ``agent``, ``accuracy`` and ``accuracy_ci``, per-question
        ``tokens``/``calls``/``cost_usd``/``wall_s`` and ``vs_cot`` (this arm minus cot, paired).

    Raises:
        UserError: no examples.
    """
    if not examples:
        raise UserError("the held-out comparison needs at least one question (--heldout N)")
    ev = Evaluator(task, llm, store=store or RunStore(None), concurrency=concurrency, seed=seed)
    cot_spec = build_agent_spec("cot")
    cot = await ev.aevaluate(cot_spec, examples)
    got = await ev.aevaluate(found, examples)
    k = matched_k(got.tokens_per_example, cot.tokens_per_example)
    sc_spec = build_agent_spec("self-consistency", samples=k)
    arms = [("found", found, got), ("cot", cot_spec, cot),
            (f"self-consistency k={k}", sc_spec, await ev.aevaluate(sc_spec, examples))]
    if judge is not None:
        jev = Evaluator(task, llm, agent_judge=judge, store=judge_store or RunStore(None), concurrency=concurrency,
                        seed=seed)
        bon_spec = build_agent_spec("best-of-n", n=k)
        arms.append((f"best-of-n n={k}", bon_spec, await jev.aevaluate(bon_spec, examples)))
    rows = []
    for arm, spec, res in arms:
        row = _row(arm, spec, res)
        row["vs_cot"] = None if arm == "cot" else paired_difference(_correct(cot), _correct(res), seed=seed)
        rows.append(row)
    found_vs = {arm: paired_difference(_correct(res), _correct(got), seed=seed) for arm, _, res in arms[1:]}
    usage = Usage.total([res.usage for _, _, res in arms])
    return {"n": len(examples), "k": k, "rule": MATCH_RULE, "rows": rows, "found_vs": found_vs,
            "usage": usage.model_dump()}


def compare(found: AgentSpec, task: Any, llm: LLM, examples: Sequence[Any], **options: Any) -> dict[str, Any]:
    """Synchronous :func:`acompare` (not from inside a running event loop)."""
    return asyncio.run(acompare(found, task, llm, examples, **options))
