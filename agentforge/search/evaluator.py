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

from agentforge.agents import Agent, AgentMemory, AgentSpec, run_example
from agentforge.core.errors import UserError
from agentforge.judges.base import Judge
from agentforge.llm import LLM
from agentforge.llm.observers import observe_calls
from agentforge.llm.types import Usage
from agentforge.memory.inmemory import InMemoryMemory
from agentforge.memory.learning import MemoryLearner
from agentforge.search.backends import LocalBackend
from agentforge.search.budget import BudgetMeter
from agentforge.search.scoring import EvalResult, ExampleResult, Objective, example_result
from agentforge.search.specs import spec_key
from agentforge.core.stats import bootstrap_ci, mean
from agentforge.search.store import RunStore

MemoryFactory = Callable[[AgentSpec, LLM, Any], AgentMemory]
"""``(spec, llm, task) -> memory module`` for specs with a non-empty ``memory`` list."""

__all__ = ["EvalResult", "Evaluator", "ExampleResult", "MemoryFactory", "Objective", "default_memory_factory",
           "example_result"]


class Evaluator:
    """Runs AgentSpecs over examples and scores them (see the module docstring).

    Every model call made while an example runs (the agent's, its judge's, the scoring judge's,
    a memory learner's) is checked and charged by ``meter`` (a call observer), so nothing needs
    wrapping.

    Args:
        task: the task (answer extraction and metric).
        llm: the agents' model.
        judge: optional scoring judge; needed when ``objective.judge_weight > 0``.
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

    def __init__(self, task: Any, llm: LLM, *, judge: Judge | None = None, objective: Objective | None = None,
                 store: RunStore | None = None, meter: BudgetMeter | None = None, backend: Any = None,
                 concurrency: int = 4, memory_factory: MemoryFactory | None = None, agent_judge: Judge | None = None,
                 ci_resamples: int = 1000, seed: int = 0):
        self.task, self.objective = task, objective or Objective()
        if self.objective.judge_weight > 0 and judge is None:
            raise UserError("objective.judge_weight > 0 needs a judge (pass --judge)")
        self.meter = meter or BudgetMeter()
        self.base_llm = self.llm = llm
        self.judge, self.agent_judge = judge, agent_judge
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
        """Run one example in this process, every model call charged to the meter.

        Raises:
            BudgetExceeded: the meter refused a call.
        """
        with observe_calls(self.meter):
            ep = await run_example(self.agent(spec), example, judge=self.judge, how=self.objective.judge_how)
        return example_result(ep)

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

    def make(spec: AgentSpec, llm: LLM, task: Any) -> AgentMemory:
        namespace = str(getattr(task, "name", "task")).split("/")[0]
        return MemoryLearner(InMemoryMemory(None, embedder), llm, namespace=namespace, learn=spec.memory)

    return make
