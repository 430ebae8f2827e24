"""``Optimizer``: the contract and the loop every search level shares.

``optimize(spec, trainset, valset, budget) -> SearchResult`` (one method, program in, program
out, as DSPy's ``compile``). The seed spec is evaluated first (the baseline); then each step a
subclass proposes candidates (``step``), which are evaluated on ``valset`` and archived. Training
examples feed the proposals (failing and successful trajectories); validation scores rank the
candidates. The search stops at the budget (a hard stop: the archive keeps only fully evaluated
candidates), at ``max_candidates``, after ``max_failures`` proposals in a row that gave nothing
new, or at ``max_steps``. With a persistent store it resumes where a killed run stopped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar


from agentforge.agents import AgentSpec
from agentforge.core.errors import MalformedOutputError, ModelError, UserError
from agentforge.llm import LLM
from agentforge.core.errors import BudgetExceeded
from agentforge.search.budget import Budget, BudgetMeter
from agentforge.search.evaluator import Evaluator, ExampleResult, MemoryFactory, Objective
from agentforge.search.meta import MetaModel
from agentforge.search.result import Archive, Candidate, EventKind, HistoryEvent, SearchResult
from agentforge.search.selection import SeenScore, check_selection, pick, search_budget, seen_score
from agentforge.search.specs import similarity, spec_key
from agentforge.search.store import RunStore

log = logging.getLogger("agentforge.search")


class Optimizer(ABC):
    """Base class of the prompt-, module- and system-level optimizers.

    Args:
        task: the task (answer format and metric).
        llm: the agents' model.
        meta_llm: the proposing model (default: ``llm``).
        judge: optional scoring judge (``Judge`` or ``example -> Judge``), see :class:`Objective`.
        objective: how outcomes become scores (default: task metric).
        store: a :class:`RunStore`, a path to one, or None (in memory: no resume).
        resume: reuse a store that already holds this search (default False: such a store is
            refused, so two searches never mix).
        backend: evaluation backend (default ``LocalBackend(concurrency)``).
        concurrency: examples in flight (default 4).
        seed: seeds parent choice, demonstrations and bootstrap intervals (default 0).
        max_candidates: archive size at which the search stops (default 20).
        max_steps: proposal steps at most (default ``3 * max_candidates``).
        max_failures: proposals in a row without a new candidate before stopping (default 5).
        memory_factory, agent_judge: see :class:`Evaluator`.
        meta_temperature, meta_max_tokens: sampling of the meta model (default 0.7, its own cap).
        on_event: callback ``(event, optimizer)`` after each history event (progress bars).
        checkpoint: callback ``(SearchResult)`` after each new candidate (write files as you go).
        select_on: how the returned candidate is chosen: ``"val"`` (default) the best validation
            score; ``"seen"`` a final race of the ``select_top`` best on validation over the
            training and validation sets together, run on the ``select_reserve`` share of the
            budget kept for it (see ``agentforge.search.selection``).
        select_reserve: share of every budget limit kept for the race (default 0.2; ``"seen"`` only).
        select_top: candidates in the race (default 3).

    Raises:
        UserError: ``max_candidates`` or ``max_failures`` below 1; bad selection options.
    """

    level: ClassVar[str] = "base"

    def __init__(self, task: Any, llm: LLM, *, meta_llm: LLM | None = None, judge: Any = None,
                 objective: Objective | None = None, store: RunStore | str | Path | None = None,
                 resume: bool = False, backend: Any = None, concurrency: int = 4, seed: int = 0,
                 max_candidates: int = 20, max_steps: int | None = None, max_failures: int = 5,
                 memory_factory: MemoryFactory | None = None, agent_judge: Any = None,
                 meta_temperature: float | None = 0.7, meta_max_tokens: int | None = None,
                 on_event: Callable[[HistoryEvent, "Optimizer"], None] | None = None,
                 checkpoint: Callable[[SearchResult], None] | None = None, select_on: str = "val",
                 select_reserve: float = 0.2, select_top: int = 3):
        if max_candidates < 1 or max_failures < 1:
            raise UserError("max_candidates and max_failures must be >= 1")
        check_selection(select_on, select_reserve, select_top)
        self.select_on, self.select_reserve, self.select_top = select_on, select_reserve, select_top
        self.race: list[SeenScore] = []
        self.race_pick: str | None = None
        self.task, self.llm, self.meta_llm = task, llm, meta_llm or llm
        self.judge, self.objective = judge, objective or Objective()
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.resume, self.backend, self.concurrency, self.seed = resume, backend, concurrency, seed
        self.max_candidates, self.max_failures = max_candidates, max_failures
        self.max_steps = max_steps if max_steps is not None else 3 * max_candidates
        self.memory_factory, self.agent_judge = memory_factory, agent_judge
        self.meta_temperature, self.meta_max_tokens = meta_temperature, meta_max_tokens
        self.on_event, self.checkpoint = on_event, checkpoint
        self.archive, self.history = Archive(), []
        self.meter = BudgetMeter()
        self.step_no, self.failures = 0, 0

    # ---- the contract ------------------------------------------------------------------------
    def optimize(self, spec: AgentSpec, trainset: Sequence[Any], valset: Sequence[Any],
                 budget: Budget | None = None) -> SearchResult:
        """Synchronous :meth:`aoptimize` (not from inside a running event loop)."""
        return asyncio.run(self.aoptimize(spec, trainset, valset, budget))

    async def aoptimize(self, spec: AgentSpec, trainset: Sequence[Any], valset: Sequence[Any],
                        budget: Budget | None = None) -> SearchResult:
        """Search from ``spec``; returns the archive, the history and the best spec.

        Raises:
            UserError: an empty ``valset``; a store holding another search (or this one without
                ``resume``); options the level cannot use (e.g. a spec with no answer node).
        """
        if not valset:
            raise UserError("optimize needs a non-empty valset")
        self.seed_spec, self.trainset, self.valset = spec, list(trainset), list(valset)
        self.config = self.describe()
        self.store.bind(self.config, self.resume)
        full = budget or Budget()
        racing = self.select_on == "seen"
        loop_budget = search_budget(full, self.select_reserve) if racing else full
        self.meter = BudgetMeter(loop_budget, wall_offset_s=self.store.wall_s())
        self.evaluator = Evaluator(self.task, self.llm, judge=self.judge, objective=self.objective, store=self.store,
                                   meter=self.meter, backend=self.backend, concurrency=self.concurrency,
                                   memory_factory=self.memory_factory, agent_judge=self.agent_judge, seed=self.seed)
        self.meta = MetaModel(self.meta_llm, self.store, self.meter, self.meta_temperature, self.meta_max_tokens)
        self.archive, self.history, self.step_no, self.failures = Archive(), [], 0, 0
        self.race, self.race_pick = [], None
        self.rng = random.Random(self.seed)
        self._wall_mark, reason = time.monotonic(), "done"
        try:
            self.prepare()
            await self.add(spec, "seed", info=self.seed_info(spec))
            reason = await self._loop()
        except BudgetExceeded as exc:
            reason = f"budget: {exc.resource}"
        finally:
            self._flush_wall()
        if racing:
            self.meter.budget = full
            try:
                await self._race_on_seen()
            finally:
                self._flush_wall()
        self.log("stop", reason)
        result = self.result(reason)
        if self.checkpoint is not None:
            self.checkpoint(result)
        return result

    async def _loop(self) -> str:
        while True:
            if len(self.archive) >= self.max_candidates:
                return "max candidates"
            if self.failures >= self.max_failures:
                return f"{self.failures} proposals in a row gave no new candidate"
            if self.step_no >= self.max_steps:
                return "max steps"
            self.step_no += 1
            try:
                stop = await self.step(self.step_no)
            except MalformedOutputError as exc:
                self.fail(f"malformed meta-model output: {exc}")
                continue
            except ModelError as exc:
                self.fail(f"meta-model call failed: {exc}")
                continue
            finally:
                self._flush_wall()
            if stop:
                return stop

    async def _race_on_seen(self) -> None:
        """The final race of ``select_on="seen"``: the ``select_top`` best on validation run on the
        training set; the best mean over both sets becomes the returned candidate. A candidate
        the rest of the budget cannot finish is left out (the race keeps the ones before it)."""
        top = self.archive.ranked()[: self.select_top]
        if len(top) < 2 or not self.trainset:
            return
        for rank, cand in enumerate(top):
            try:
                shown = set(cand.spec.metadata.get("demos") or ())  # its demonstrations' questions prove nothing
                rows = await self.train_rows(cand.spec, [ex for ex in self.trainset if ex.id not in shown])
            except BudgetExceeded as exc:
                self.log("note", f"race on seen examples: budget ({exc.resource}) ran out on #{cand.index}; "
                                 "it and the ones after it are left out")
                break
            s = seen_score(cand, rank, [r for _, r in rows], self.objective.value)
            self.race.append(s)
            self.log("note", f"race on seen examples: #{s.index} {s.name}: {s.seen_mean:.3f} over {s.n_train} "
                             f"training + {s.n_val} validation (train {s.train_mean:.3f}, val {s.val_mean:.3f}), "
                             f"{s.tokens_per_example:.0f} tokens/example", s.key, s.seen_mean)
        if len(self.race) >= 2:
            won = pick(self.race)
            self.race_pick = won.key
            self.log("note", f"race on seen examples: returns #{won.index} {won.name} (validation rank {won.val_rank})",
                     won.key, won.seen_mean)

    def _flush_wall(self) -> None:
        """Store the wall seconds since the last flush, so a killed session still counts its time."""
        now = time.monotonic()
        self.store.add_wall(now - self._wall_mark)
        self._wall_mark = now

    # ---- for subclasses ------------------------------------------------------------------------
    def prepare(self) -> None:  # noqa: B027 (optional hook)
        """Check the seed spec and set up level state (raise UserError for unusable input)."""

    def options(self) -> dict[str, Any]:
        """Level options that change what is proposed (part of the resume check)."""
        return {}

    def seed_info(self, spec: AgentSpec) -> dict[str, Any]:
        """Level-specific info recorded on the seed candidate."""
        return {}

    @abstractmethod
    async def step(self, step: int) -> str | None:
        """Propose and evaluate candidates (via :meth:`add`); return a stop reason to end the search."""

    # ---- helpers -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The search configuration a resume must match."""
        sampling = ("temperature", "max_tokens", "top_p", "seed", "stop")
        return {"level": self.level, "task": str(getattr(self.task, "name", type(self.task).__name__)),
                "model": self.llm.model, "meta_model": self.meta_llm.model, "seed_spec": spec_key(self.seed_spec),
                "sampling": {k: getattr(self.llm, k) for k in sampling},
                "meta_sampling": {k: getattr(self.meta_llm, k) for k in sampling},
                "judge": self.judge.label if self.judge is not None else None,
                "train": [ex.id for ex in self.trainset], "val": [ex.id for ex in self.valset],
                "objective": self.objective.model_dump(), "seed": self.seed, "options": self.options(),
                **({"selection": {"on": "seen", "reserve": self.select_reserve, "top": self.select_top}}
                   if self.select_on == "seen" else {})}  # absent by default, so older stores resume

    async def add(self, spec: AgentSpec, origin: str, parents: Sequence[str] = (),
                  info: dict[str, Any] | None = None) -> Candidate | None:
        """Evaluate ``spec`` on the validation set and archive it (None for a duplicate key)."""
        key = spec_key(spec)
        if key in self.archive:
            self.skip(f"{origin}: same agent as candidate #{self.archive.get(key).index}", key)
            return None
        ev = await self.evaluator.aevaluate(spec, self.valset)
        cand = Candidate(index=len(self.archive), key=key, spec=spec, origin=origin, parents=list(parents),
                         step=self.step_no, eval=ev, spent=self.meter.snapshot(), info=info or {})
        self.archive.add(cand)
        self.failures = 0
        lo, hi = ev.score_ci
        self.log("evaluate", f"#{cand.index} {origin}: {spec.name} score {ev.score:.3f} [{lo:.3f}, {hi:.3f}] "
                             f"acc {ev.accuracy:.3f}, {ev.calls_per_example:.1f} calls/example", key, ev.score)
        if self.checkpoint is not None:
            self.checkpoint(self.result("running"))
        return cand

    async def train_rows(self, spec: AgentSpec, examples: Sequence[Any]) -> list[tuple[Any, ExampleResult]]:
        """Run ``spec`` on training examples (stored results reused): (example, result) pairs."""
        if not examples:
            return []
        ev = await self.evaluator.aevaluate(spec, examples)
        return list(zip(examples, ev.rows))

    def minibatch(self, step: int, size: int) -> list[Any]:
        """A rotating window of ``size`` training examples for step ``step`` (all if fewer)."""
        n = len(self.trainset)
        if n == 0 or size <= 0:
            return []
        if size >= n:
            return list(self.trainset)
        start = ((step - 1) * size) % n
        return [self.trainset[(start + i) % n] for i in range(size)]

    def near_duplicate(self, spec: AgentSpec, threshold: float) -> Candidate | None:
        """An archived candidate with the same structure and prompt texts at least ``threshold`` similar."""
        for c in self.archive:
            if similarity(spec, c.spec) >= threshold:
                return c
        return None

    def log(self, kind: EventKind, message: str = "", candidate: str | None = None,
            score: float | None = None) -> HistoryEvent:
        """Record a history event (and tell ``on_event``)."""
        best = self.archive.best()
        snap = self.meter.snapshot()
        ev = HistoryEvent(step=self.step_no, kind=kind, message=message, candidate=candidate, score=score,
                          best_score=best.score if best else None, calls=snap["calls"], tokens=snap["tokens"],
                          cost_usd=snap["cost_usd"], wall_s=snap["wall_s"])
        self.history.append(ev)
        log.info("[%s step %d] %s: %s", self.level, self.step_no, kind, message)
        if self.on_event is not None:
            self.on_event(ev, self)
        return ev

    def fail(self, message: str) -> None:
        """A proposal step that produced nothing (counts toward ``max_failures``)."""
        self.failures += 1
        self.log("fail", message)

    def skip(self, message: str, key: str | None = None) -> None:
        """A duplicate proposal (counts toward ``max_failures``)."""
        self.failures += 1
        self.log("skip", message, key)

    def reject(self, message: str) -> None:
        """A proposal that failed validation (its error is fed back; the step may retry)."""
        self.log("reject", message)

    def result(self, stop_reason: str) -> SearchResult:
        """The current :class:`SearchResult`."""
        best = self.archive.get(self.race_pick) if self.race_pick else self.archive.best()
        baseline = next((c for c in self.archive if c.origin == "seed"), None)
        race = {"race": [s.model_dump() for s in self.race]} if self.race else {}
        info = {**race, **getattr(self, "config", {}), "meta_calls": self.meta.calls if hasattr(self, "meta") else 0,
                "meta_calls_replayed": self.meta.replayed if hasattr(self, "meta") else 0,
                "budget": self.meter.budget.model_dump()}
        return SearchResult(level=self.level, best_spec=best.spec if best else self.seed_spec, best=best,
                            baseline=baseline, archive=list(self.archive), history=list(self.history),
                            usage=self.meter.spent, wall_s=round(self.meter.wall_s, 3), stop_reason=stop_reason,
                            info=info)
