"""Evaluation backends: where the (candidate, example) jobs of an evaluation run.

* :class:`LocalBackend` (default): asyncio in this process, ``concurrency`` examples in flight.
  The budget is a hard stop per call: once it is exhausted no job starts, and jobs in flight
  finish only if they need no further call.
* :class:`RayBackend` (``pip install agentforge[ray]``): each job is a Ray task, so candidate
  evaluations spread over a cluster. Workers rebuild the agent from the spec JSON and the model
  configuration; results come back to the driver, which stores them and charges the budget.
  The budget is checked before each job is submitted (a job in flight finishes), so a Ray
  search may overshoot by at most ``max_in_flight`` examples. The jobs are the same, so the
  results are the same as the local backend's (for deterministic models).

A backend's ``run(evaluator, jobs, done)`` calls ``done(spec, example, row)`` as each job
finishes and raises ``BudgetExceeded`` after the last job in flight when the budget stopped it.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agentforge.agents import Agent, AgentSpec, run_example
from agentforge.core.errors import BudgetExceeded, UnknownNameError, UserError
from agentforge.core.extras import require
from agentforge.llm import LLM
from agentforge.search.scoring import ExampleResult, example_result

if TYPE_CHECKING:
    from agentforge.search.evaluator import Evaluator

Job = tuple[AgentSpec, Any]
Done = Callable[[AgentSpec, Any, ExampleResult], None]
BACKENDS = ("local", "ray")


class Backend(ABC):
    """Runs evaluation jobs (see the module docstring)."""

    name = "backend"

    @abstractmethod
    async def run(self, evaluator: "Evaluator", jobs: Sequence[Job], done: Done) -> None:
        """Run ``jobs``, calling ``done`` for each finished one.

        Raises:
            BudgetExceeded: the budget stopped the work (finished jobs were delivered first).
        """


class LocalBackend(Backend):
    """asyncio in this process with at most ``concurrency`` examples in flight (default 4).

    Raises:
        UserError: ``concurrency`` < 1.
    """

    name = "local"

    def __init__(self, concurrency: int = 4):
        if concurrency < 1:
            raise UserError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency

    async def run(self, evaluator: "Evaluator", jobs: Sequence[Job], done: Done) -> None:
        """Run ``jobs`` concurrently; after a BudgetExceeded no job starts, then it is raised."""
        sem = asyncio.Semaphore(self.concurrency)
        stopped: list[BudgetExceeded] = []

        async def one(spec: AgentSpec, ex: Any) -> None:
            async with sem:
                if stopped:
                    return
                try:
                    row = await evaluator.run_local(spec, ex)
                except BudgetExceeded as exc:
                    stopped.append(exc)
                    return
                done(spec, ex, row)

        tasks = [asyncio.ensure_future(one(s, e)) for s, e in jobs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
        if stopped:
            raise stopped[0]


def require_ray() -> Any:
    """Import Ray.

    Raises:
        MissingExtraError: Ray is not installed (the message gives the install command).
    """
    return require("ray", "ray", "the ray backend (or use --backend local)")


def _worker_job(payload: dict[str, Any], spec_json: str, example: Any) -> dict[str, Any]:
    """Ray task body: rebuild the agent and run one example (in the worker's own event loop)."""
    spec = AgentSpec.validate_json(spec_json)
    llm = LLM.model_validate(payload["llm"])
    agent = Agent(spec, llm, payload["task"], judge=payload["agent_judge"])
    ep = asyncio.run(run_example(agent, example, judge=payload["judge"], how=payload["how"]))
    return example_result(ep).model_dump(mode="json")


class RayBackend(Backend):
    """Spread jobs over a Ray cluster (see the module docstring).

    Args:
        address: cluster address for ``ray.init`` (default: connect to or start a local one).
        max_in_flight: jobs submitted at once (default 64).
        num_cpus: CPUs reserved per job (default 1).
        init_kwargs: further ``ray.init`` arguments.

    Models must be reachable from the workers (a provider id or a ``local/`` model present on
    each node); in-process ``fake/`` test models are not. Candidates with memory run locally.

    Raises:
        UserError: Ray is not installed.
    """

    name = "ray"

    def __init__(self, address: str | None = None, max_in_flight: int = 64, num_cpus: float = 1.0,
                 init_kwargs: dict[str, Any] | None = None):
        self.ray = require_ray()
        self.address, self.max_in_flight, self.num_cpus = address, max_in_flight, num_cpus
        self.init_kwargs = init_kwargs or {}
        self._remote = None

    def _ensure(self) -> Any:
        if not self.ray.is_initialized():
            self.ray.init(address=self.address, ignore_reinit_error=True, **self.init_kwargs)
        if self._remote is None:
            self._remote = self.ray.remote(num_cpus=self.num_cpus)(_worker_job)
        return self._remote

    async def run(self, evaluator: "Evaluator", jobs: Sequence[Job], done: Done) -> None:
        """Submit ``jobs`` as Ray tasks (checking the budget before each), collect, charge, store."""
        ray, remote = self.ray, self._ensure()
        payload = ray.put({"llm": evaluator.base_llm.model_dump(), "task": evaluator.task, "judge": evaluator.judge,
                           "agent_judge": evaluator.agent_judge, "how": evaluator.objective.judge_how})
        queue, pending = list(jobs), {}
        stop: BudgetExceeded | None = None
        while queue or pending:
            while queue and stop is None and len(pending) < self.max_in_flight:
                try:
                    evaluator.meter.check()
                except BudgetExceeded as exc:
                    stop = exc
                    break
                spec, ex = queue.pop(0)
                pending[remote.remote(payload, spec.to_json(), ex)] = (spec, ex)
            if stop is not None:
                queue.clear()
            if not pending:
                break
            ready, _ = await asyncio.to_thread(ray.wait, list(pending), num_returns=1)
            for ref in ready:
                spec, ex = pending.pop(ref)
                row = ExampleResult.model_validate(await asyncio.to_thread(ray.get, ref))
                evaluator.meter.charge(row.usage + row.judge_usage)
                done(spec, ex, row)
        if stop is not None:
            raise stop


def make_backend(name: str, concurrency: int = 4, **options: Any) -> Backend:
    """A backend by name: ``local`` (asyncio) or ``ray``.

    Raises:
        UnknownNameError: an unknown name. UserError: ``ray`` without Ray installed.
    """
    if name == "local":
        return LocalBackend(concurrency)
    if name == "ray":
        return RayBackend(max_in_flight=max(concurrency, 1), **options)
    raise UnknownNameError("backend", name, BACKENDS)
