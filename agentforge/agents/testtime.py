"""Judge-guided test-time search nodes: best-of-N, weighted vote, beam search, lookahead.

As in HF search-and-learn (Beeching et al. 2024) and OpenR: a judge (a PRM, an LLM step grader
or an exact verifier) scores partial or full solutions; ``best-of-n`` keeps the best of N full
samples, ``weighted-vote`` sums the scores per extracted answer (PRM-weighted majority),
``beam`` expands each beam with M sampled next steps and keeps the top k by the judge's score
of the last step, ``lookahead`` scores each candidate step by a greedy rollout some steps ahead
(Snell et al. 2024). Budgets in samples and tokens stop the search early. The judge is given
the example being solved (a verifier reads its gold, an execution judge its tests); its model
calls are recorded in the trajectory (role ``judge``) and counted in the run's usage.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from agentforge.agents.spec import NodeSpec, SearchSpec
from agentforge.agents.trajectory import LLMCall, record
from agentforge.core.aio import gather_or_cancel
from agentforge.core.errors import UserError
from agentforge.judges.aggregate import aggregate
from agentforge.judges.base import Judge
from agentforge.judges.steps import split_steps

if TYPE_CHECKING:
    from agentforge.agents.graph import Agent

FINAL = re.compile(r"answer\s*(is\b|:)|\\boxed|####", re.IGNORECASE)


class _Budget:
    def __init__(self, opts: SearchSpec):
        self.samples_left = opts.max_samples if opts.max_samples is not None else 10**9
        self.tokens_left = opts.max_tokens if opts.max_tokens is not None else 10**12
        self._seen = 0

    def take(self, wanted: int) -> int:
        got = max(0, min(wanted, self.samples_left)) if self.tokens_left > 0 else 0
        self.samples_left -= got
        return got

    def spend(self, calls: list[LLMCall]) -> None:
        """Charge the completion tokens of the calls appended since the last ``spend``."""
        self.tokens_left -= sum(c.completion_tokens for c in calls[self._seen:])
        self._seen = len(calls)


async def _judge(agent: "Agent", judge: Judge, question: str, solutions: list[list[str]], how: str,
                 calls: list[LLMCall], example: Any = None) -> list[float]:
    """Aggregated judge score per solution; judge model calls are appended to ``calls``."""
    results = await judge.ascore_batch([(question, s) for s in solutions], examples=[example] * len(solutions))
    out = []
    for r in results:
        if r.usage.calls:  # an LLM judge: keep its verdicts in the trajectory (usage is measured anyway)
            call = LLMCall(node="judge", role="judge", messages=r.messages, output=r.feedback,
                           prompt_tokens=r.usage.prompt_tokens, completion_tokens=r.usage.completion_tokens,
                           latency_s=r.usage.latency_s, cost_usd=r.usage.cost_usd, cached=bool(r.usage.cached_calls))
            calls.append(call)
            record(call)
        try:
            value = aggregate(r.scores, how) if r.scores else 0.0
        except UserError:
            value = 0.0
        out.append(0.0 if value != value else value)  # NaN (nothing judged) ranks last
    return out


async def run_search(agent: "Agent", node: NodeSpec, state: dict[str, Any]) -> dict[str, Any]:
    """Execute a ``search`` node; returns the LangGraph state update."""
    opts = node.search or SearchSpec()
    example, question = state.get("example"), state["question"]
    judge = agent.judge
    visit = (state.get("visits") or {}).get(node.id, 0)
    budget, calls = _Budget(opts), []
    if opts.method in ("best-of-n", "weighted-vote"):
        text, answer, votes = await _best_of_n(agent, node, state, opts, judge, budget, calls, visit)
    else:
        text, answer, votes = await _beam(agent, node, state, opts, judge, budget, calls, visit)
    return {"outputs": {node.id: [text]}, "answers": {node.id: [answer]}, "visits": {node.id: visit + 1},
            "trajectory": calls, "draft": text, "final": answer, "final_text": text, "votes": votes}


async def _best_of_n(agent, node, state, opts, judge, budget, calls, visit):
    n = budget.take(opts.n)
    gen = node.model_copy(update={"temperature": opts.temperature})
    ctx = agent.context(node, state, 0)
    sols = await gather_or_cancel(*[agent.call_model(gen, agent.messages(gen, {**ctx, "sample": i}), sample=i,
                                                     visit=visit, answer=True, example=state.get("example"))
                                    for i in range(n)])
    calls.extend(sols)
    budget.spend(calls)
    if not sols:
        return "", None, {}
    scores = await _judge(agent, judge, state["question"], [split_steps(c.output) or [c.output] for c in sols],
                          opts.aggregate, calls, state.get("example"))
    for c, s in zip(sols, scores):
        c.score = s
    best = max(range(len(sols)), key=lambda i: scores[i])
    if opts.method == "best-of-n":
        return sols[best].output, sols[best].answer, {}
    weight: dict[str, float] = defaultdict(float)
    for c, s in zip(sols, scores):
        if c.answer is not None:
            weight[c.answer] += s
    if not weight:
        return sols[best].output, None, {}
    winner = max(weight, key=lambda a: weight[a])
    text = max((c for c in sols if c.answer == winner), key=lambda c: c.score or 0.0).output
    return text, winner, {a: round(w, 4) for a, w in weight.items()}


async def _next_steps(agent, node, state, steps, k, visit, temperature, calls):
    opts = node.search
    step_node = node.model_copy(update={"prompt": opts.step_prompt, "temperature": temperature,
                                        "max_tokens": opts.step_max_tokens, "role": "generator"})
    ctx = {**agent.context(node, state, 0), "steps": steps}
    out = await gather_or_cancel(*[agent.call_model(step_node, agent.messages(step_node, ctx), sample=j, visit=visit,
                                                    example=state.get("example")) for j in range(k)])
    calls.extend(out)
    return [c.output.strip() for c in out if c.output.strip()]


async def _rollout(agent, node, state, steps, visit, budget, calls):
    for _ in range(node.search.lookahead_steps):
        if FINAL.search(steps[-1]) or budget.take(1) == 0:
            break
        nxt = await _next_steps(agent, node, state, steps, 1, visit, 0.0, calls)
        budget.spend(calls)
        if not nxt:
            break
        steps = steps + [nxt[0]]
    return steps


async def _beam(agent, node, state, opts, judge, budget, calls, visit):
    question, example = state["question"], state.get("example")
    beams: list[list[str]] = [[]]
    finished: list[tuple[list[str], float]] = []
    open_scored: list[tuple[list[str], float]] = []
    for depth in range(opts.max_steps):
        expansions = []
        for b in beams:
            k = budget.take(opts.expansions)
            if k:
                expansions.append((b, _next_steps(agent, node, state, b, k, visit * 100 + depth, opts.temperature, calls)))
        if not expansions:
            break
        results = await gather_or_cancel(*[e[1] for e in expansions])
        budget.spend(calls)
        cands = list({tuple(b + [s]): b + [s] for (b, _), steps in zip(expansions, results) for s in steps}.values())
        if not cands:
            break
        judged = cands
        if opts.method == "lookahead":
            judged = await gather_or_cancel(*[_rollout(agent, node, state, c, visit, budget, calls) for c in cands])
        scores = await _judge(agent, judge, question, judged, opts.aggregate, calls, example)
        done = [(c, s) for c, s in zip(cands, scores) if FINAL.search(c[-1])]
        rest = sorted(((c, s) for c, s in zip(cands, scores) if not FINAL.search(c[-1])), key=lambda x: -x[1])
        finished += done
        open_scored = rest[: opts.beam_width]
        beams = [c for c, _ in open_scored]
        if len(finished) >= opts.beam_width or not beams:
            break
    pool = finished or open_scored
    if not pool:
        return "", None, {}
    best_steps, _ = max(pool, key=lambda x: x[1])
    text = "\n\n".join(best_steps)
    return text, agent.task.extract(text, example), {}
