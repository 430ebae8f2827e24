"""System-level search: the meta model writes whole new agent graphs (AgentSpec JSON).

ADAS Meta Agent Search (Hu et al. 2024): a meta model is shown the archive of discovered agents
with their scores and asked for a new, better agent; every proposal is evaluated and archived.
Here agents are :class:`~agentforge.agents.AgentSpec` data, not code: a proposal is parsed as
JSON and validated (schema and graph checks, every template rendered against a dummy state, an
upper bound on model calls per question). An invalid proposal is rejected and the validation
error fed back to the meta model, which may correct it (``max_retries``); proposals that match an
archived agent (same behaviour, or same structure with near-identical prompts) are skipped.
Nothing the meta model writes is ever executed.

As in AFlow (Zhang et al. 2024), each step modifies a parent chosen among the best candidates
with a soft-mixed probability (uniform mixed with a softmax of scores), and the proposal prompt
shows the parent's failures on training problems (the execution feedback AFlow uses).

The framework description covers every node kind, ``execute`` included (model-written programs
run in the sandbox: program-aided answers, PAL, Gao et al. 2022; checks, CRITIC, Gou et al.
2023; visible tests, Self-Debug, Chen et al. 2023), and the conditions on their results
(``answers_match``, ``tests_pass``, ``tests_fail``); besides the self-refine example it shows a
grounded one for the task's kind (:func:`grounded_example`).
"""

from __future__ import annotations

import math
import random
from typing import Any

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.core.errors import MalformedOutputError, SpecValidationError
from agentforge.search.base import Optimizer
from agentforge.search.meta import render_meta
from agentforge.search.parse import extract_json_object
from agentforge.search.result import Candidate
from agentforge.search.specs import (check_execute_limits, check_renderable, check_sees_problem, compact_json,
                                     estimate_calls, proposal_schema)


def grounded_example(answer_type: str) -> tuple[str, str]:
    """(what it shows, compact spec JSON) of the grounded example the meta model sees: for
    program tasks (``answer_type == "program"``) self-debug with one revision, else pal with 3
    programs and a vote over their printed results."""
    if answer_type == "program":
        return ("code, run the visible tests, fix from the report once",
                compact_json(build_agent_spec("self-debug", max_iters=1)))
    return ("program-aided: 3 programs run, vote over their printed results",
            compact_json(build_agent_spec("pal", samples=3)))


def parse_proposal(text: str, step: int, max_calls: int, answer_type: str | None = None,
                   require_problem: bool = True) -> tuple[AgentSpec, str]:
    """A validated AgentSpec (and the meta model's rationale) from a proposal reply.

    Accepts ``{"thought": ..., "spec": {...}}`` or a bare spec object; a missing name becomes
    ``meta-<step>``. ``answer_type``: the task's (``"text"`` refuses test-based evaluators,
    which need answers that are programs); None skips that check.

    Raises:
        MalformedOutputError: no JSON object in the reply.
        SpecValidationError: the spec is invalid, a template does not render, an ``llm`` node's
            prompt never shows the problem, it retries with the
            gold-reading ``verifier`` evaluator (or a test-based one on a text task), an
            ``execute`` option exceeds ``EXECUTE_LIMITS``, or it may make more than ``max_calls``
            model calls per question (the message says which).
    """
    obj = extract_json_object(text, want=("spec", "nodes"))
    data = obj["spec"] if isinstance(obj.get("spec"), dict) else obj
    thought = str(obj.get("thought", "")) if data is not obj else ""
    data = {k: v for k, v in data.items() if k != "thought"}
    data.setdefault("name", f"meta-{step}")
    spec = AgentSpec.validate_dict(data)
    check_renderable(spec)
    if require_problem:
        check_sees_problem(spec)
    check_execute_limits(spec)
    if spec.trials > 1 and spec.evaluator == "verifier":
        raise SpecValidationError('trials > 1 with evaluator "verifier" reads the gold answer between attempts; '
                                  'use "evaluator": "llm"')
    if spec.trials > 1 and answer_type == "text" and spec.evaluator in ("visible-tests", "self-tests"):
        raise SpecValidationError(f'evaluator "{spec.evaluator}" runs the answer as a program, but this task\'s '
                                  'answers are text; use "evaluator": "llm"')
    calls = estimate_calls(spec)
    if calls > max_calls:
        raise SpecValidationError(f"the agent may make up to {calls} model calls per problem; the limit is {max_calls} "
                                  "(fewer samples, rounds or loop iterations)")
    meta = {**spec.metadata, "search": {"level": "system", "step": step}}
    return spec.model_copy(update={"metadata": meta}), thought[:1000]


class SystemOptimizer(Optimizer):
    """System-level optimizer (see the module docstring).

    Args:
        task, llm, **kwargs: see :class:`~agentforge.search.base.Optimizer`
            (``meta_max_tokens`` defaults to 1536 here: specs are long).
        max_retries: corrected proposals asked for after an invalid one (default 2).
        archive_shown: best candidates shown to the meta model, and parents to choose from (default 5).
        minibatch: training problems the parent runs on for failure feedback (default 4; 0: none).
        failures_shown: failures shown (default 2).
        max_calls_per_example: proposals that may exceed it are rejected (default 12).
        duplicate_threshold: prompt similarity at which a same-structure proposal is skipped (0.95).
        max_reply_shown: characters of an invalid reply shown back with its error (default 2000;
            only the latest one is, so retries stay inside a 4k-token context).
        structured: ask the meta model for output that follows the proposal's JSON schema
            (``response_format``, see :func:`~agentforge.search.specs.proposal_schema`; default
            True). The local model then decodes under a grammar; providers without structured
            output ignore it (litellm drops it) and the reply is parsed as before.
        alpha, mix: parent choice: softmax sharpness over scores (default 10) and the uniform
            share (default 0.3).
        require_problem: reject a proposal with an ``llm`` node whose prompt never shows the
            problem (:func:`~agentforge.search.specs.check_sees_problem`; default True). Off, such
            a candidate pays for a validation pass and scores near zero (measured: a 1.5B-written
            ``"Let's solve this problem step by step. @solve"`` scored 0.05 against cot's 0.35).
    """

    level = "system"

    def __init__(self, task: Any, llm: Any, *, max_retries: int = 2, archive_shown: int = 5, minibatch: int = 4,
                 failures_shown: int = 2, max_calls_per_example: int = 12, duplicate_threshold: float = 0.95,
                 max_reply_shown: int = 2000, structured: bool = True, alpha: float = 10.0, mix: float = 0.3,
                 require_problem: bool = True, **kwargs: Any):
        kwargs.setdefault("meta_max_tokens", 1536)
        super().__init__(task, llm, **kwargs)
        self.max_retries, self.archive_shown, self.minibatch_size = max_retries, archive_shown, minibatch
        self.failures_shown, self.max_calls = failures_shown, max_calls_per_example
        self.duplicate_threshold, self.alpha, self.mix = duplicate_threshold, alpha, mix
        self.max_reply_shown, self.structured, self.require_problem = max_reply_shown, structured, require_problem
        self._format = {"type": "json_schema", "json_schema": {"name": "agent_proposal", "schema": proposal_schema()}}

    def options(self) -> dict[str, Any]:
        """The system-level options (part of the resume check)."""
        return {"max_retries": self.max_retries, "archive_shown": self.archive_shown, "minibatch": self.minibatch_size,
                "failures_shown": self.failures_shown, "max_calls_per_example": self.max_calls,
                "alpha": self.alpha, "mix": self.mix, "meta_max_tokens": self.meta_max_tokens,
                "structured": self.structured, **({"require_problem": True} if self.require_problem else {})}

    def select_parent(self, step: int) -> Candidate:
        """AFlow's soft-mixed choice among the ``archive_shown`` best candidates."""
        top = self.archive.ranked()[: self.archive_shown]
        best = max(c.score for c in top)
        weights = [math.exp(self.alpha * (c.score - best)) for c in top]
        total = sum(weights)
        probs = [self.mix / len(top) + (1 - self.mix) * w / total for w in weights]
        return random.Random(f"{self.seed}-parent-{step}").choices(top, weights=probs)[0]

    async def _prompt(self, parent: Candidate, step: int) -> list[dict[str, str]]:
        rows = await self.train_rows(parent.spec, self.minibatch(step, self.minibatch_size))
        wrong = [(ex, r) for ex, r in rows if not r.correct][: self.failures_shown]
        failures = [{"question": ex.question, "gold": ex.gold, "answer": r.answer,
                     "output": (r.text or r.error or "")[:600]} for ex, r in wrong]
        archive = [{"name": c.spec.name, "score": round(100 * c.score, 1), "lo": round(100 * c.eval.score_ci[0], 1),
                    "hi": round(100 * c.eval.score_ci[1], 1), "calls": round(c.eval.calls_per_example, 1),
                    "tokens": round(c.eval.tokens_per_example), "json": compact_json(c.spec)[:4000]}
                   for c in self.archive.ranked()[: self.archive_shown]]
        kind = getattr(self.task, "answer_type", "text")
        what, grounded = grounded_example(kind)
        framework = render_meta("system_framework", example=compact_json(build_agent_spec("self-refine", max_iters=2)),
                                answer_type=kind, grounded=grounded, grounded_what=what)
        user = render_meta("system_propose", archive=archive, failures=failures, task=self.config["task"],
                           parent={"name": parent.spec.name, "score": round(100 * parent.score, 1)},
                           max_calls=self.max_calls)
        return [{"role": "system", "content": framework}, {"role": "user", "content": user}]

    async def step(self, step: int) -> str | None:
        """Ask for a new spec from a chosen parent; validate, feed errors back, skip near-duplicates."""
        if not self.archive:
            return "no candidate to improve"
        parent = self.select_parent(step)
        prompt = await self._prompt(parent, step)
        messages = prompt
        for attempt in range(self.max_retries + 1):
            reply = await self.meta.ask(messages, tag=f"system-{step}-{attempt}", sample_index=step * 10 + attempt,
                                        response_format=self._format if self.structured else None)
            try:
                spec, thought = parse_proposal(reply, step, self.max_calls, getattr(self.task, "answer_type", None),
                                               self.require_problem)
            except (MalformedOutputError, SpecValidationError) as exc:
                self.reject(f"proposal (attempt {attempt + 1}): {exc}")
                # only the latest failed reply (its head) goes back: a small model's rambling
                # replies would otherwise pile up past its context window within two retries
                shown = reply if len(reply) <= self.max_reply_shown else \
                    reply[: self.max_reply_shown] + "\n[... reply cut here ...]"
                messages = prompt + [{"role": "assistant", "content": shown}, {"role": "user", "content": render_meta(
                    "fix", error=str(exc), what='one corrected JSON object {"thought": ..., "spec": ...}')}]
                continue
            twin = self.near_duplicate(spec, self.duplicate_threshold)
            if twin is not None:
                self.skip(f"proposal {spec.name!r} is a near-duplicate of candidate #{twin.index} ({twin.spec.name})",
                          twin.key)
                return None
            await self.add(spec, "meta", [parent.key], {"thought": thought, "attempts": attempt + 1})
            return None
        self.fail(f"no valid proposal after {self.max_retries + 1} attempts")
        return None
