"""What a search will spend, estimated before it runs (``agentforge optimize --estimate``).

**Probe.** The seed agent runs on the first ``k`` validation examples (default 3) and the meta
model answers one request shaped like the level's first proposal (the ``opro`` prompt with the
seed's instruction and three training problems; ``module_propose`` for modules; the system
framework and ``system_propose`` for graphs, under its JSON schema and its 1536-token cap;
``gepa_reflect`` on the probed trajectories for GEPA). The
probe uses validation examples because every search evaluates the seed on all of them first:
with the completion cache on, a search started after ``--estimate`` gets those calls from the
cache (no USD, no model time), and inside a new run the probe's rows go to the run store, from
which the search reuses them (charged to its budget once, cache or not). The meta probe cannot
be reused (its prompt holds scores known only later): it is one call outside the search, and a
real run pays it out of ``--budget-*`` (the search gets what is left) and counts it in
``summary.json``.

**Projection.** Each candidate costs ``V = n_val * a`` agent calls (``a``: the seed's calls per
example) and, for the estimate, one meta call, so a share ``1 / (V + 1)`` of calls are meta
calls. Per-call tokens, USD and wall are that mix of the probed agent and meta figures. Calls
are the smallest of ``--budget-calls``, each other budget over its per-call figure (plus the
calls in flight when it is crossed) and ``max_candidates * (V + 1) - 1`` (with no budget: the
candidates cap times the evaluation size); tokens, USD and wall are calls times their per-call
figure, plus what the probe itself spent outside the search. USD assumes a cold cache (cached
calls are free; the probe's own cache hits are priced with litellm's table). Wall per agent
call: an example's wall over its calls (for an example answered from the cache, the model time
recorded when it was paid), over the examples in flight ``min(concurrency, n_val, the model's
concurrency limit)``, the median example at the estimate, so one-time start-up costs do not
multiply; search overheads (bootstrap intervals, checkpoints) are not in it.

**Interval.** The projection again at a low end (every probed figure at its smallest; no meta
call per candidate, as few-shot and recombined candidates need none) and a high end (every
figure at its largest; agent calls ``drift`` = 2x as long: the 600-call GSM8K prompt search of
the README averaged 767 tokens a call against its seed's 388, from demonstrations; and
``meta_calls_high`` meta calls per candidate: a search stops after 5 fruitless proposals in a
row, each with up to 2 corrections at the module and system levels). It spans the spread
between questions and the proposal mix; it does not cover a search that stops early (repeated
proposals) nor, under a token budget, candidates that make many more calls per question than
the seed. The report sets the estimate beside the spend, so such misses show.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.core.errors import BudgetExceeded, ModelError
from agentforge.core.templates import template_source
from agentforge.llm import LLM
from agentforge.llm.types import Usage
from agentforge.search.budget import Budget, BudgetMeter, MeteredLLM
from agentforge.search.evaluator import Evaluator, ExampleResult, Objective
from agentforge.search.meta import render_meta
from agentforge.search.modules import DEFAULT_CONFIG, available_slots, rules
from agentforge.search.specs import answer_nodes, compact_json, proposal_schema, spec_key
from agentforge.search.store import RunStore
from agentforge.search.system_opt import grounded_example

RESOURCES = ("calls", "tokens", "cost_usd", "wall_s")


class Probe(BaseModel):
    """What the probe measured.

    Attributes:
        examples: examples the seed ran on. calls, tokens, cost_usd, wall_s: per example (the
            seed's calls, its tokens, USD, and wall seconds; see the module docstring).
        accuracy: the seed's accuracy on them. meta: one meta call's ``calls``, ``tokens``,
            ``cost_usd``, ``wall_s`` (None when the meta probe failed or the budget refused it).
        usage: everything the probe spent. extra: what of it the search does not reuse.
        wall: probe wall seconds. shared: its rows went to the search's run store.
    """

    examples: int
    calls: list[int] = Field(default_factory=list)
    tokens: list[int] = Field(default_factory=list)
    cost_usd: list[float] = Field(default_factory=list)
    wall_s: list[float] = Field(default_factory=list)
    accuracy: float = 0.0
    meta: dict[str, float] | None = None
    usage: Usage = Field(default_factory=Usage)
    extra: Usage = Field(default_factory=Usage)
    wall: float = 0.0
    shared: bool = False


class Estimate(BaseModel):
    """A projected spend: ``resource -> [estimate, low, high]`` for calls, tokens, cost_usd, wall_s.

    Attributes:
        basis: what bounds the calls (``budget: calls``, ``max candidates``, ...).
        probe: the measurements. method: one line on how it was made.
    """

    calls: list[float]
    tokens: list[float]
    cost_usd: list[float]
    wall_s: list[float]
    basis: str
    probe: Probe
    method: str = "probe projected to the budget; interval: low/high ends (agentforge.search.estimate)"


def _price(model: str, usage: Usage) -> float:
    """USD of ``usage``; cache hits (recorded as free) priced from litellm's table (0 if unknown)."""
    if not usage.cached_calls or model.startswith(("local/", "fake/")):
        return usage.cost_usd
    try:
        import litellm

        p, c = litellm.cost_per_token(model=model, prompt_tokens=usage.prompt_tokens,
                                      completion_tokens=usage.completion_tokens)
        return float(p + c)
    except Exception:  # a model litellm cannot price: what was recorded
        return usage.cost_usd


def proposal_messages(level: str, task: Any, spec: AgentSpec, trainset: Sequence[Any], accuracy: float,
                      rows: Sequence[tuple[Any, ExampleResult]] = ()) -> tuple[list[dict], dict[str, Any]]:
    """Messages shaped like the level's first proposal (``rows``: probed (example, result) pairs,
    failures first), and its sampling overrides: ``module_propose``, the system framework and
    ``system_propose``, ``gepa_reflect``, else (``prompt`` and levels added later) ``opro``."""
    name, score = str(getattr(task, "name", "task")), round(100 * accuracy, 1)
    rows = sorted(rows, key=lambda p: bool(p[1].correct))
    if level == "module":
        slots = available_slots(task)[0]
        tried = [{"config": DEFAULT_CONFIG, "score": score, "calls": 1.0, "tokens": 0}]
        return [{"role": "user", "content": render_meta("module_propose", task=name, slots=slots, rules=rules(slots),
                                                         tried=tried)}], {}
    if level == "system":
        kind = getattr(task, "answer_type", "text")
        what, grounded = grounded_example(kind)
        shown = [{"question": ex.question, "gold": ex.gold, "answer": r.answer, "output": (r.text or "")[:600]}
                 for ex, r in rows if not r.correct][:2]
        archive = [{"name": spec.name, "score": score, "lo": score, "hi": score, "calls": 1.0, "tokens": 0,
                    "json": compact_json(spec)[:4000]}]
        framework = render_meta("system_framework", example=compact_json(build_agent_spec("self-refine", max_iters=2)),
                                answer_type=kind, grounded=grounded, grounded_what=what)
        user = render_meta("system_propose", archive=archive, failures=shown, task=name,
                           parent={"name": spec.name, "score": score}, max_calls=12)
        structured = {"type": "json_schema", "json_schema": {"name": "agent_proposal", "schema": proposal_schema()}}
        return [{"role": "system", "content": framework}, {"role": "user", "content": user}], \
            {"max_tokens": 1536, "response_format": structured}
    node = next(iter(answer_nodes(spec)), None)
    instruction = template_source(node.system) if node is not None and node.system else ""
    if level == "gepa":
        shown = [{"question": ex.question[:1500], "output": (r.text or "")[:1500], "answer": r.answer,
                  "gold": str(ex.gold)[:400], "correct": bool(r.correct), "feedback": getattr(r, "feedback", "")[:1200]}
                 for ex, r in rows[:3]]
        return [{"role": "user", "content": render_meta("gepa_reflect", task=name, instruction=instruction,
                                                         examples=shown, answer_format=task.instructions)}], {}
    exemplars = [{"question": ex.question, "gold": ex.gold} for ex in list(trainset)[:3]]
    text = render_meta("opro", task=name, answer_format=getattr(task, "instructions", ""),
                       history=[{"instruction": instruction, "score": score}], exemplars=exemplars)
    return [{"role": "user", "content": text}], {}


async def aprobe(spec: AgentSpec, task: Any, llm: LLM, valset: Sequence[Any], *, level: str = "prompt",
                 trainset: Sequence[Any] = (), meta_llm: LLM | None = None, k: int = 3, judge: Any = None,
                 objective: Objective | None = None, store: RunStore | None = None, budget: Budget | None = None,
                 concurrency: int = 4, seed: int = 0, meta_temperature: float | None = 0.7) -> Probe:
    """Run the probe (see the module docstring): the seed on ``valset[:k]``, one meta call.

    ``judge``, ``objective`` and ``seed`` must be the search's, so that rows written to the
    search's ``store`` are the ones it would have made (a seed with memory probes in memory, as
    the search's learning would differ). ``budget`` caps the probe (a real run's).

    Raises:
        ValueError: ``k`` < 1 or an empty ``valset``.
    """
    if k < 1 or not valset:
        raise ValueError(f"the probe needs k >= 1 and a non-empty valset, got k={k}, {len(valset)} examples")
    examples, t0 = list(valset)[:k], time.monotonic()
    shared = store is not None and not spec.memory
    run_store = store if shared else RunStore(None)
    meter = BudgetMeter(budget)
    ev = Evaluator(task, llm, judge=judge, objective=objective, store=run_store, meter=meter,
                   concurrency=concurrency, seed=seed)
    try:
        rows = (await ev.aevaluate(spec, examples)).rows
    except BudgetExceeded:  # what finished before the budget ran out
        found = [run_store.get_result(spec_key(spec), ex.id) for ex in examples]
        rows = [ExampleResult.model_validate(r) for r in found if r and not r.get("error")]
    probe = Probe(examples=len(rows), shared=shared)
    used = [(r.usage + r.judge_usage, r) for r in rows]
    probe.calls, probe.tokens = [u.calls for u, _ in used], [u.total_tokens for u, _ in used]
    probe.cost_usd = [_price(llm.model, u) for u, _ in used]
    probe.wall_s = [u.latency_s if u.calls and u.cached_calls == u.calls else r.wall_s for u, r in used]
    probe.accuracy = statistics.fmean([float(r.correct) for r in rows]) if rows else 0.0
    by_id = {ex.id: ex for ex in examples}
    pairs = [(by_id[r.example_id], r) for r in rows if r.example_id in by_id]
    mllm = meta_llm or llm
    messages, options = proposal_messages(level, task, spec, trainset or valset, probe.accuracy, pairs)
    if meta_temperature is not None:
        options["temperature"] = meta_temperature
    t1, meta_usage = time.monotonic(), Usage()
    try:
        comp = await MeteredLLM.wrap(mllm, meter).acomplete(messages, sample_index=1, tag="meta:estimate", **options)
        meta_usage = comp.usage
        probe.meta = {"calls": 1, "tokens": meta_usage.total_tokens, "cost_usd": _price(mllm.model, meta_usage),
                      "wall_s": max(time.monotonic() - t1, meta_usage.latency_s)}
    except (BudgetExceeded, ModelError) as exc:  # a failed call is still a call; a refused one is not
        meta_usage = Usage(calls=0 if isinstance(exc, BudgetExceeded) else 1)
    probe.usage, probe.wall = meter.spent, round(time.monotonic() - t0, 3)
    probe.extra = meta_usage if shared else meter.spent
    return probe


def _pick(values: list[float], which: str, middle=statistics.fmean) -> float:
    return min(values) if which == "lo" else max(values) if which == "hi" else middle(values)


def meta_calls_high(level: str, max_failures: int = 5) -> float:
    """Most meta calls per candidate: ``max_failures`` proposal steps (the search stops after that
    many in a row without a candidate), each with up to 2 corrections at the module and system levels."""
    return float(max_failures * (3 if level in ("module", "system") else 1))


def remaining(budget: Budget, probe: Probe) -> Budget:
    """``budget`` less what ``probe`` spent outside the search (never below 0): the search's budget."""
    spent = {"max_calls": probe.extra.calls, "max_tokens": probe.extra.total_tokens,
             "max_cost_usd": probe.extra.cost_usd, "max_wall_s": probe.wall}
    return Budget(**{k: None if v is None else max(type(v)(0), type(v)(v - spent[k]))
                     for k, v in budget.model_dump().items()})


def project(probe: Probe, *, n_val: int, budget: Budget | None = None, max_candidates: int = 20,
            concurrency: int = 4, parallel_limit: int = 16, meta_high: float = 5.0, drift: float = 2.0) -> Estimate:
    """The whole run's expected spend from ``probe``, the probe's own extra spend included (see
    the module docstring).

    Args:
        n_val: validation examples (each candidate's evaluation size).
        budget: the run's limits (None: unlimited); the search gets them less the probe's extra.
        max_candidates: the archive cap. concurrency: examples in flight.
        parallel_limit: the model's calls in flight (1 for ``local/``, 16 otherwise).
        meta_high: meta calls per candidate at the interval's high end (:func:`meta_calls_high`);
            the low end has none (few-shot and recombined candidates need no proposal), the
            estimate one.
        drift: factor on the largest probed per-call agent figures at the high end (default 2).

    Raises:
        ValueError: a probe with no example (nothing to project from).
    """
    if not probe.calls:
        raise ValueError("the probe finished no example: nothing to project from")
    extra = {"calls": probe.extra.calls, "tokens": probe.extra.total_tokens, "cost_usd": probe.extra.cost_usd,
             "wall_s": probe.wall}
    left = remaining(budget or Budget(), probe)
    p = max(1, min(concurrency, n_val, parallel_limit))
    per = {"calls": [float(c) for c in probe.calls],
           "tokens": [t / max(c, 1) for t, c in zip(probe.tokens, probe.calls)],
           "cost_usd": [u / max(c, 1) for u, c in zip(probe.cost_usd, probe.calls)],
           "wall_s": [w / max(c, 1) / p for w, c in zip(probe.wall_s, probe.calls)]}
    meta = probe.meta or {k: statistics.fmean(per[k]) * (p if k == "wall_s" else 1) for k in per}
    runs: dict[str, dict[str, Any]] = {}
    for which, m, grow in (("mid", 1.0, 1.0), ("lo", 0.0, 1.0), ("hi", meta_high, drift)):
        v = n_val * max(_pick(per["calls"], which), 1e-9)
        share = m / (v + m)
        unit = {k: (1 - share) * grow * _pick(per[k], which, statistics.median if k == "wall_s" else statistics.fmean)
                + share * meta[k] for k in ("tokens", "cost_usd", "wall_s")}
        limits = {"max candidates": max_candidates * v + (max_candidates - 1) * m}
        if left.max_calls is not None:
            limits["budget: calls"] = float(left.max_calls)
        for res, lim in (("tokens", left.max_tokens), ("cost_usd", left.max_cost_usd), ("wall_s", left.max_wall_s)):
            if lim is not None and unit[res] > 0:
                limits[f"budget: {res}"] = lim / unit[res] + concurrency
        basis = min(limits, key=limits.get)
        calls = limits[basis]
        spend = {"calls": calls, **{k: calls * unit[k] for k in unit}}
        runs[which] = {**{k: spend[k] + extra[k] for k in RESOURCES}, "basis": basis}
    out = {r: [runs["mid"][r], min(x[r] for x in runs.values()), max(x[r] for x in runs.values())]
           for r in RESOURCES}
    out["calls"] = [float(math.floor(x + 1e-9)) for x in out["calls"]]
    return Estimate(**out, basis=str(runs["mid"]["basis"]), probe=probe)


def compare(estimate: dict[str, Any], actual: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Estimate against what was spent: ``resource -> {estimate, interval, actual, within, ratio}``."""
    return {r: {"estimate": estimate[r][0], "interval": estimate[r][1:], "actual": actual[r],
                "within": bool(estimate[r][1] - 1e-9 <= actual[r] <= estimate[r][2] + 1e-9),
                "ratio": round(actual[r] / estimate[r][0], 3) if estimate[r][0] else None}
            for r in RESOURCES if r in estimate and r in actual}


def fmt(resource: str, x: float) -> str:
    """``x`` of ``resource`` for people: ``$0.0123``, ``1.5 h``, ``460.1k``."""
    if resource == "cost_usd":
        return f"${x:.4f}"
    if resource == "wall_s":
        return f"{x / 3600:.1f} h" if x >= 3600 else f"{x / 60:.1f} min" if x >= 60 else f"{x:.1f} s"
    return f"{x / 1000:.1f}k" if x >= 10_000 else f"{x:.0f}"
