"""``Evaluator``: score an AgentSpec on a set of examples, resumably and within a budget.

Each (candidate, example) runs the agent once; the outcome (task-metric correctness, the judge's
aggregated step score, usage, a compact trajectory) goes to the :class:`RunStore` as soon as the
example finishes. Asking again for a stored (candidate, example) reads it back instead of calling
the model; a result paid for by an earlier session is charged to the budget (once) with its
recorded usage, so a killed search resumes without paying twice and spends as if never killed.
The candidate's score is the mean of per-example objective values with a bootstrap 95% interval
(as ADAS reports scores), see :class:`~agentforge.search.scoring.Objective`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from agentforge.agents import Agent, AgentSpec
from agentforge.agents.graph import usage_of
from agentforge.core.errors import UserError
from agentforge.judges import Judge, split_steps
from agentforge.judges.aggregate import Aggregation, aggregate
from agentforge.llm import LLM
from agentforge.llm.types import Usage
from agentforge.search.budget import BudgetExceeded, BudgetMeter, MeteredLLM
from agentforge.search.scoring import EvalResult, ExampleResult, Objective
from agentforge.search.specs import spec_key
from agentforge.search.stats import bootstrap_ci, mean
from agentforge.runner import CONFIG_ERRORS
from agentforge.search.store import RunStore

MemoryFactory = Callable[[AgentSpec, LLM, Any], Any]
"""``(spec, llm, task) -> memory module`` for specs with a non-empty ``memory`` list."""

__all__ = ["EvalResult", "Evaluator", "ExampleResult", "MemoryFactory", "Objective", "default_memory_factory",
           "run_example"]


def _compact(traj: Sequence[Any], limit: int = 2000) -> list[dict[str, Any]]:
    return [{"node": c.node, "role": c.role, "output": c.output[:limit], "answer": c.answer} for c in traj]


async def _judge_score(judge: Any, question: str, text: str, how: Aggregation) -> tuple[float, Usage]:
    steps = split_steps(text) if text.strip() else []
    if not steps:
        return 0.0, Usage()
    agrade = getattr(judge, "agrade", None)
    if agrade is not None:  # LLMJudge: keep the grading call's usage
        scores, _, comp = await agrade(question, steps)
        usage = comp.usage if comp is not None else Usage()
    else:
        scores, usage = await judge.ascore(question, steps), Usage()
    value = aggregate(scores, how) if scores else 0.0
    return (0.0 if math.isnan(value) else float(value)), usage


async def run_example(agent: Agent, task: Any, example: Any, judge: Any = None, how: Aggregation = "last",
                      learn: bool = True) -> ExampleResult:
    """Run ``agent`` on one example and score it (the unit of work every backend runs).

    ``judge`` is a Judge, a function ``example -> Judge`` (an exact verifier needs the gold), or
    None. When the agent's memory can learn (``aafter_episode``) and ``learn`` is set, it learns
    from the episode. Model failures become ``error`` rows (with the usage of the calls already
    made); configuration errors (``UserError``, template errors, forbidden model requests) raise.

    Raises:
        BudgetExceeded: the budget stopped the run (never turned into an error row).
    """
    t0 = time.perf_counter()
    try:
        res = await agent.arun(example.question, example)
        correct = bool(task.score(res.answer, example))
        row = ExampleResult(example_id=example.id, answer=res.answer, correct=correct, text=res.text[:4000],
                            usage=res.usage, trajectory=_compact(res.trajectory))
        if judge is not None:
            j = judge if isinstance(judge, Judge) else judge(example)
            try:
                row.judge_score, row.judge_usage = await _judge_score(j, example.question, res.text, how)
            except (BudgetExceeded, *CONFIG_ERRORS):
                raise
            except Exception as exc:  # keep the agent's answer and usage; the judge failed
                row.error = f"judge: {type(exc).__name__}: {exc}"[:1000]
        hook = getattr(agent.memory, "aafter_episode", None)
        if hook is not None and learn:
            await hook(example.question, example, res, correct)
    except (BudgetExceeded, *CONFIG_ERRORS):
        raise  # a misconfigured search (bad judge URL/token, broken template) must stop, not score 0
    except Exception as exc:  # one failed example must not end the search
        partial = list(getattr(exc, "partial_trajectory", []))  # calls already paid for still count
        row = ExampleResult(example_id=example.id, error=f"{type(exc).__name__}: {exc}"[:1000],
                            usage=usage_of(partial))
    row.wall_s = round(time.perf_counter() - t0, 3)
    return row


def _rebind(judge: Any, meter: BudgetMeter) -> Any:
    """A shallow copy of a model-backed judge whose LLM charges ``meter`` (factories wrapped too)."""
    if callable(judge) and not isinstance(judge, Judge):
        factory = judge
        return lambda example: _rebind(factory(example), meter)
    if isinstance(judge, Judge) and isinstance(getattr(judge, "llm", None), LLM):
        import copy

        judge = copy.copy(judge)
        judge.llm = MeteredLLM.wrap(judge.llm, meter)
    return judge


class Evaluator:
    """Runs AgentSpecs over examples and scores them (see the module docstring).

    Args:
        task: the task (answer extraction and metric).
        llm: the agents' model; wrapped so every call is metered.
        judge: optional scoring judge (``Judge`` or ``example -> Judge``); needed when
            ``objective.judge_weight > 0``.
        objective: how outcomes become scores (default: task metric).
        store: the run store (default: in memory).
        meter: the budget meter (default: unlimited).
        backend: where examples run (default ``LocalBackend(concurrency)``).
        concurrency: examples in flight for the default backend (default 4).
        memory_factory: builds the memory module of specs with a ``memory`` list (default:
            ``default_memory_factory()``: a fresh in-memory store per candidate). Such candidates
            run their examples in order, one at a time, so what they learn is reproducible (on a
            resume, examples read back from the store are not learned from again).
        agent_judge: judge for test-time ``search`` nodes (default: the Agent's ``LLMJudge``).
        ci_resamples: bootstrap resamples (default 1000). seed: bootstrap seed.

    Raises:
        UserError: ``judge_weight > 0`` without a judge.
    """

    def __init__(self, task: Any, llm: LLM, *, judge: Any = None, objective: Objective | None = None,
                 store: RunStore | None = None, meter: BudgetMeter | None = None, backend: Any = None,
                 concurrency: int = 4, memory_factory: MemoryFactory | None = None, agent_judge: Any = None,
                 ci_resamples: int = 1000, seed: int = 0):
        from agentforge.search.backends import LocalBackend

        self.task, self.objective = task, objective or Objective()
        if self.objective.judge_weight > 0 and judge is None:
            raise UserError("objective.judge_weight > 0 needs a judge (pass --judge)")
        self.meter = meter or BudgetMeter()
        self.base_llm = llm
        self.llm = MeteredLLM.wrap(llm, self.meter)
        self.judge, self.agent_judge = _rebind(judge, self.meter), _rebind(agent_judge, self.meter)
        self.store = store or RunStore(None)
        self.backend = backend or LocalBackend(concurrency)
        self.memory_factory = memory_factory
        self.ci_resamples, self.seed = ci_resamples, seed
        self._agents: dict[str, Agent] = {}
        self._seen: set[tuple[str, str]] = set()  # rows charged in this session

    def agent(self, spec: AgentSpec) -> Agent:
        """The compiled, metered agent for ``spec`` (one per candidate, memory attached)."""
        key = spec_key(spec)
        if key not in self._agents:
            memory = None
            if spec.memory:
                factory = self.memory_factory or default_memory_factory()
                memory = factory(spec, self.llm, self.task)
            self._agents[key] = Agent(spec, self.llm, self.task, memory=memory, judge=self.agent_judge)
        return self._agents[key]

    async def run_local(self, spec: AgentSpec, example: Any) -> ExampleResult:
        """Run one example in this process through the metered LLM."""
        return await run_example(self.agent(spec), self.task, example, self.judge, self.objective.judge_how)

    async def aevaluate(self, spec: AgentSpec, examples: Sequence[Any]) -> EvalResult:
        """Score one spec on ``examples`` (stored results are reused).

        Raises:
            BudgetExceeded: the budget ran out; results finished before are stored.
        """
        return (await self.aevaluate_many([spec], examples))[0]

    async def aevaluate_many(self, specs: Sequence[AgentSpec], examples: Sequence[Any]) -> list[EvalResult]:
        """Score several specs on the same examples, spreading their work over the backend."""
        if not examples:
            raise UserError("cannot evaluate on an empty set of examples")
        rows: dict[tuple[str, str], ExampleResult] = {}
        jobs: list[tuple[AgentSpec, Any]] = []
        queued: set[tuple[str, str]] = set()
        for spec in specs:
            key = spec_key(spec)
            self.store.put_spec(key, spec.to_json())
            for ex in examples:
                stored = self.store.get_result(key, ex.id)
                if stored is not None and not stored.get("error"):
                    row = ExampleResult.model_validate(stored)
                    if (key, ex.id) not in self._seen:  # paid in an earlier session: charge it once
                        self.meter.replay(row.usage + row.judge_usage)
                        self._seen.add((key, ex.id))
                    rows[(key, ex.id)] = row
                elif (key, ex.id) not in queued:
                    queued.add((key, ex.id))
                    jobs.append((spec, ex))

        def done(spec: AgentSpec, ex: Any, row: ExampleResult) -> None:
            self.store.put_result(spec_key(spec), ex.id, row.model_dump(mode="json"))
            rows[(spec_key(spec), ex.id)] = row
            self._seen.add((spec_key(spec), ex.id))

        sequential = [j for j in jobs if j[0].memory]
        for spec, ex in sequential:  # learning agents: in order, one at a time
            done(spec, ex, await self.run_local(spec, ex))
        parallel = [j for j in jobs if not j[0].memory]
        if parallel:
            await self.backend.run(self, parallel, done)
        return [self.summarize(spec_key(s), [rows[(spec_key(s), ex.id)] for ex in examples]) for s in specs]

    def evaluate(self, spec: AgentSpec, examples: Sequence[Any]) -> EvalResult:
        """Synchronous :meth:`aevaluate` (not from inside a running event loop)."""
        return asyncio.run(self.aevaluate(spec, examples))

    def summarize(self, key: str, rows: list[ExampleResult]) -> EvalResult:
        """Aggregate per-example rows into an :class:`EvalResult` (with bootstrap intervals)."""
        values = [self.objective.value(r) for r in rows]
        correct = [float(r.correct) for r in rows]
        usage = Usage.total([r.usage + r.judge_usage for r in rows])
        n = len(rows)
        judged = [r.judge_score for r in rows if r.judge_score is not None]
        ci = dict(n_resamples=self.ci_resamples, seed=self.seed)
        return EvalResult(key=key, n=n, errors=sum(1 for r in rows if r.error), score=mean(values),
                          score_ci=bootstrap_ci(values, **ci), accuracy=mean(correct),
                          accuracy_ci=bootstrap_ci(correct, **ci), judge_score=mean(judged) if judged else None,
                          calls_per_example=usage.calls / n, tokens_per_example=usage.total_tokens / n,
                          cost_usd_per_example=usage.cost_usd / n, usage=usage, rows=rows)


def default_memory_factory(embedder: Any = None) -> MemoryFactory:
    """A factory giving each candidate a fresh in-memory ``MemoryLearner`` learning ``spec.memory``.

    Args:
        embedder: the store's embedder (default: the local all-MiniLM-L6-v2 model; tests pass
            ``HashEmbedder()``).
    """

    def make(spec: AgentSpec, llm: LLM, task: Any) -> Any:
        from agentforge.memory import InMemoryMemory
        from agentforge.memory.learner import MemoryLearner

        namespace = str(getattr(task, "name", "task")).split("/")[0]
        return MemoryLearner(InMemoryMemory(None, embedder), llm, namespace=namespace, learn=spec.memory)

    return make
