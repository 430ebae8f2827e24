"""Module-level search over the modular design space (AgentSquare, Shang et al. 2024).

A candidate is one module per slot (see :mod:`agentforge.search.modules`). The search evaluates
the seed and the plain configuration (cot, no refinement, no ensemble, no memory), then
alternates two operators, as AgentSquare's module recombination:

* ``propose``: the meta model sees every slot's modules with descriptions and every evaluated
  configuration with its score and cost, and proposes a new configuration as JSON (module
  swaps on the best one). A reply that is not valid (unknown slot or module, impossible
  combination, already evaluated) is rejected and the error fed back, up to ``max_retries``.
* ``recombine``: crossover of the two best configurations (each slot from one parent); when
  all children were evaluated, a single-slot mutation of the best; when those are exhausted, an
  unevaluated configuration at random.

(AgentSquare's performance predictor, which screens proposals with an LLM, is not used: every
proposal is evaluated for real, within the budget.)

The space is the task's (``available_slots(task)``): grounded modules (pal, critic, self-debug,
reflexion-tests; see :mod:`agentforge.search.modules`) only where they apply, and the meta model
is told which combinations are impossible. With ``ModuleOptions(best_of_n_judge="execution")``
best-of-n candidates are judged by execution (:class:`RunExecutionJudge`, passed to the
evaluator as the agents' judge) instead of by the model itself.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

from agentforge.agents import AgentSpec
from agentforge.core.errors import MalformedOutputError, SpecValidationError, UserError
from agentforge.judges.base import Item, Judge, JudgeResult
from agentforge.judges.execution import ExecutionJudge
from agentforge.search.base import Optimizer
from agentforge.search.meta import render_meta
from agentforge.search.modules import (DEFAULT_CONFIG, ModuleOptions, all_configs, as_module_options, available_slots,
                                       build_module_spec, infer_config, rules, validate_config)
from agentforge.search.parse import extract_json_object
from agentforge.search.result import Candidate


def _ck(config: dict[str, str]) -> tuple[str, ...]:
    return tuple(config.values())


class RunExecutionJudge(Judge):
    """An :class:`~agentforge.judges.execution.ExecutionJudge` made afresh for every scoring call
    (one search node run: one question, its n solutions), so each candidate pays for its own
    checking program on answer tasks (one model call per question and run) instead of reusing
    one another candidate paid for: cost per candidate stays comparable and a resumed search
    pays as a fresh one. Program tasks need no model call (the task's visible tests).

    Args:
        task: the task. llm: the model writing checking programs (answer tasks).
        timeout_s: wall-clock limit per program run in seconds (default 5).
    """

    def __init__(self, task: Any, llm: Any, timeout_s: float = 5.0):
        self.task, self.llm, self.timeout_s = task, llm, timeout_s
        self.name = f"execution-judge({getattr(task, 'name', 'task')})"

    async def ascore_batch(self, items: Sequence[Item], *, examples: Sequence[Any] | None = None) -> list[JudgeResult]:
        """Score solutions by execution (see ``ExecutionJudge``)."""
        judge = ExecutionJudge(self.task, self.llm, timeout_s=self.timeout_s)
        return await judge.ascore_batch(items, examples=examples)


class ModuleOptimizer(Optimizer):
    """Module-level optimizer (see the module docstring).

    Args:
        task, llm, **kwargs: see :class:`~agentforge.search.base.Optimizer`.
        module_options: module sizes (samples, agents, rounds, trials; small by default) and
            best-of-n's judge (``best_of_n_judge="execution"``: a :class:`RunExecutionJudge`).
        max_retries: corrected proposals asked for after an invalid one (default 2).

    Raises:
        UserError: ``best_of_n_judge="execution"`` together with an explicit ``agent_judge``.
    """

    level = "module"

    def __init__(self, task: Any, llm: Any, *, module_options: ModuleOptions | dict[str, Any] | None = None,
                 max_retries: int = 2, **kwargs: Any):
        options = as_module_options(module_options)
        if options.best_of_n_judge == "execution":
            if kwargs.get("agent_judge") is not None:
                raise UserError("module_options.best_of_n_judge='execution' builds the agents' judge; do not also "
                                "pass agent_judge")
            kwargs["agent_judge"] = RunExecutionJudge(task, llm)
        super().__init__(task, llm, **kwargs)
        self.module_options, self.max_retries = options, max_retries

    def options(self) -> dict[str, Any]:
        """The module-level options (part of the resume check; the judge only when not default,
        so searches stored before it existed still resume)."""
        mo = self.module_options.model_dump()
        if mo["best_of_n_judge"] == "default":
            del mo["best_of_n_judge"]
        return {"module_options": mo, "max_retries": self.max_retries}

    def prepare(self) -> None:
        """The task's buildable slots (notes on left-out modules go to the history)."""
        self.slots, notes = available_slots(self.task, self.module_options)
        self.tried: set[tuple[str, ...]] = set()
        for note in notes:
            self.log("note", note)

    def seed_info(self, spec: AgentSpec) -> dict[str, Any]:
        """The seed's configuration when it is one of the space's agents (else None)."""
        config = infer_config(spec, self.module_options, self.slots)
        if config is not None:
            self.tried.add(_ck(config))
        return {"modules": config}

    def _modular(self) -> list[Candidate]:
        return [c for c in self.archive.ranked() if c.info.get("modules")]

    async def _try(self, config: dict[str, str], origin: str, parents: list[str], why: str = "") -> None:
        self.tried.add(_ck(config))
        spec = build_module_spec(config, self.module_options)
        await self.add(spec, origin, parents, {"modules": config, "why": why})

    async def step(self, step: int) -> str | None:
        """The plain configuration first (if the seed is not modular), then propose / recombine in turn."""
        modular = self._modular()
        if not modular:
            await self._try(dict(DEFAULT_CONFIG), "init", [self.archive.candidates[0].key] if self.archive else [])
            return None
        if step % 2 == 0:
            await self._propose(step, modular[0])
            return None
        return await self._recombine(step, modular)

    # ---- operators ---------------------------------------------------------------------------------
    async def _propose(self, step: int, best: Candidate) -> None:
        rows = [{"config": c.info["modules"], "score": round(100 * c.score, 1),
                 "calls": round(c.eval.calls_per_example, 1), "tokens": round(c.eval.tokens_per_example)}
                for c in self._modular()]
        messages = [{"role": "user", "content": render_meta("module_propose", task=self.config["task"],
                                                            slots=self.slots, rules=rules(self.slots),
                                                            tried=rows)}]
        for attempt in range(self.max_retries + 1):
            reply = await self.meta.ask(messages, tag=f"module-{step}-{attempt}", sample_index=step * 10 + attempt)
            try:
                obj = extract_json_object(reply, want=tuple(self.slots))
                merged = {**best.info["modules"], **{k: obj[k] for k in self.slots if k in obj}}
                config = validate_config(merged, self.slots)
                if _ck(config) in self.tried:
                    raise SpecValidationError(f"configuration {config} was already evaluated; propose one that is not "
                                              "in the list")
            except (MalformedOutputError, SpecValidationError) as exc:
                self.reject(f"module proposal (attempt {attempt + 1}): {exc}")
                messages = messages + [{"role": "assistant", "content": reply},
                                       {"role": "user", "content": render_meta(
                                           "fix", error=str(exc), what="one JSON object with the four slots")}]
                continue
            await self._try(config, "propose", [best.key], str(obj.get("why", ""))[:500])
            return
        self.fail(f"module proposal: no valid new configuration after {self.max_retries + 1} attempts")

    async def _recombine(self, step: int, modular: list[Candidate]) -> str | None:
        rng = random.Random(f"{self.seed}-recombine-{step}")
        best = modular[0].info["modules"]
        children, origin, parents = [], "recombine", [c.key for c in modular[:2]]
        if len(modular) >= 2:
            other = modular[1].info["modules"]
            for mask in itertools.product((0, 1), repeat=len(self.slots)):
                child = {s: (best if m == 0 else other)[s] for s, m in zip(self.slots, mask)}
                children.append(child)
        children = [c for c in self._valid(children) if _ck(c) not in self.tried]
        if not children:
            origin, parents = "mutate", [modular[0].key]
            children = [{**best, s: o} for s in self.slots for o in self.slots[s]]
            children = [c for c in self._valid(children) if _ck(c) not in self.tried]
        if not children:
            origin = "explore"
            children = [c for c in all_configs(self.slots) if _ck(c) not in self.tried]
        if not children:
            return "every configuration of the module space was evaluated"
        await self._try(rng.choice(children), origin, parents)
        return None

    def _valid(self, configs: list[dict[str, str]]) -> list[dict[str, str]]:
        out, seen = [], set()
        for c in configs:
            try:
                c = validate_config(c, self.slots)
            except SpecValidationError:
                continue
            if _ck(c) not in seen:
                seen.add(_ck(c))
                out.append(c)
        return out
