"""Prompt-level search: the instruction and demonstrations of the answer-bearing nodes.

A candidate is the seed spec with (a) the system prompt of its answer-bearing nodes replaced by
an instruction and (b) optionally worked demonstrations in front of the first one's prompt. Each
step applies one operator, in turn, to the best candidate so far (the parent):

* ``opro``: the meta model sees earlier instructions with their scores, worst to best, plus a
  few training problems, and writes a new instruction (OPRO, Yang et al. 2023, "Large Language
  Models as Optimizers").
* ``reflect``: the parent runs on a minibatch of training problems; the meta model reads the
  failing trajectories (question, solution, answer, gold), diagnoses them in words and rewrites
  the instruction (reflective prompt mutation with textual feedback, as GEPA, Agrawal et al.
  2025, and TextGrad, Yuksekgonul et al. 2024).
* ``fewshot``: demonstrations bootstrapped from the parent's *successful* training trajectories
  (DSPy's BootstrapFewShot, Khattab et al. 2023); no meta-model call.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from agentforge.agents import AgentSpec
from agentforge.core.templates import template_source
from agentforge.core.errors import SpecValidationError, UserError
from agentforge.search.base import Optimizer
from agentforge.search.demos import demo_block
from agentforge.search.meta import render_meta
from agentforge.search.parse import extract_instruction, extract_tagged
from agentforge.search.result import Candidate
from agentforge.search.specs import answer_nodes, literal, text_similarity

OPERATORS = ("opro", "reflect", "fewshot")


class PromptOptimizer(Optimizer):
    """Prompt-level optimizer (see the module docstring).

    Args:
        task, llm, **kwargs: see :class:`~agentforge.search.base.Optimizer`.
        operators: operators applied in turn (default ``opro``, ``reflect``, ``fewshot``).
        demos: demonstrations per fewshot candidate (default 3).
        minibatch: training problems the parent runs on per ``reflect``/``fewshot`` step (default 8).
        failures_shown: failing trajectories shown to the meta model (default 3).
        history_shown: scored instructions shown to OPRO (default 10, the best ones).
        exemplars: training problems (with gold answers) shown to OPRO (default 3).
        max_instruction_chars: longer proposed instructions are malformed (default 1500).
        duplicate_threshold: instruction similarity (same demos) at which a proposal is a
            near-duplicate and skipped (default 0.95).

    Raises:
        UserError: an unknown operator, or (at ``optimize``) a seed spec with no answer-bearing node.
    """

    level = "prompt"

    def __init__(self, task: Any, llm: Any, *, operators: Sequence[str] = OPERATORS, demos: int = 3,
                 minibatch: int = 8, failures_shown: int = 3, history_shown: int = 10, exemplars: int = 3,
                 max_instruction_chars: int = 1500, duplicate_threshold: float = 0.95, **kwargs: Any):
        super().__init__(task, llm, **kwargs)
        bad = [op for op in operators if op not in OPERATORS]
        if bad or not operators:
            raise UserError(f"unknown prompt operator(s) {bad}; valid: {list(OPERATORS)}")
        self.operators, self.demos, self.minibatch_size = list(operators), demos, minibatch
        self.failures_shown, self.history_shown, self.exemplars = failures_shown, history_shown, exemplars
        self.max_instruction_chars, self.duplicate_threshold = max_instruction_chars, duplicate_threshold

    def options(self) -> dict[str, Any]:
        """The prompt-level options (part of the resume check)."""
        return {"operators": self.operators, "demos": self.demos, "minibatch": self.minibatch_size,
                "failures_shown": self.failures_shown, "history_shown": self.history_shown,
                "exemplars": self.exemplars}

    def prepare(self) -> None:
        """Find the answer-bearing nodes whose prompts are optimized (UserError if none)."""
        self.targets = [n.id for n in answer_nodes(self.seed_spec)]
        if not self.targets:
            raise UserError(f"spec {self.seed_spec.name!r} has no answer-bearing node whose prompt could be optimized")

    def seed_info(self, spec: AgentSpec) -> dict[str, Any]:
        """The seed's instruction (its answer node's system prompt) and no demos."""
        node = next(n for n in spec.nodes if n.id == self.targets[0])
        return {"instruction": template_source(node.system) if node.system else "", "demos": []}

    # ---- candidates ------------------------------------------------------------------------------
    def build(self, instruction: str, demos: list[dict[str, str]], step: int) -> AgentSpec:
        """The seed spec with ``instruction`` as the answer nodes' system prompt and ``demos``.

        Raises:
            SpecValidationError: the text cannot be embedded (see ``literal``).
        """
        data = self.seed_spec.model_dump(mode="json")
        for node in data["nodes"]:
            if node["id"] not in self.targets:
                continue
            node["system"] = literal(instruction) if instruction.strip() else None
            if demos and node["id"] == self.targets[0]:
                node["prompt"] = literal(demo_block(demos)) + "\n\n" + template_source(node["prompt"])
        data["name"] = f"{self.seed_spec.name}+prompt{step}"
        data["metadata"] = {**data.get("metadata", {}),
                            "search": {"level": "prompt", "step": step, "demos": [d["id"] for d in demos]}}
        return AgentSpec.validate_dict(data)

    async def step(self, step: int) -> str | None:
        """Apply the step's operator to the best candidate; skip near-duplicates; evaluate the rest."""
        op = self.operators[(step - 1) % len(self.operators)]
        parent = self.archive.best()
        if parent is None:
            return "no candidate to improve"
        made = await getattr(self, f"_{op}")(parent, step)
        if made is None:
            return None
        instruction, demos, note = made
        for c in self.archive:
            if [d["id"] for d in c.info.get("demos", [])] == [d["id"] for d in demos] and \
                    text_similarity(c.info.get("instruction", ""), instruction) >= self.duplicate_threshold:
                self.skip(f"{op}: near-duplicate of candidate #{c.index}", c.key)
                return None
        try:
            spec = self.build(instruction, demos, step)
        except SpecValidationError as exc:
            self.fail(f"{op}: {exc}")
            return None
        await self.add(spec, op, [parent.key], {"instruction": instruction, "demos": demos, "note": note})
        return None

    # ---- operators -------------------------------------------------------------------------------
    async def _opro(self, parent: Candidate, step: int) -> tuple[str, list, str]:
        scores: dict[str, float] = {}
        for c in self.archive:  # each instruction once, with its best score
            text = c.info.get("instruction", "")
            scores[text] = max(scores.get(text, float("-inf")), c.score)
        ranked = sorted(scores.items(), key=lambda kv: kv[1])[-self.history_shown:]
        history = [{"instruction": text, "score": round(100 * score, 1)} for text, score in ranked]
        exemplars = [{"question": ex.question, "gold": ex.gold} for ex in self.minibatch(step, self.exemplars)]
        text = render_meta("opro", task=self.config["task"], answer_format=getattr(self.task, "instructions", ""),
                           history=history, exemplars=exemplars)
        reply = await self.meta.ask([{"role": "user", "content": text}], tag=f"opro-{step}", sample_index=step)
        return extract_instruction(reply, self.max_instruction_chars), list(parent.info.get("demos", [])), ""

    async def _reflect(self, parent: Candidate, step: int) -> tuple[str, list, str] | None:
        rows = await self.train_rows(parent.spec, self.minibatch(step, self.minibatch_size))
        failures = [(ex, r) for ex, r in rows if not r.correct][: self.failures_shown]
        if not failures:
            self.log("note", "reflect: the parent solved its whole minibatch; proposing with opro instead")
            return await self._opro(parent, step)
        shown = [{"question": ex.question, "gold": ex.gold, "answer": r.answer,
                  "output": (r.text or r.error or "")[:1200]} for ex, r in failures]
        text = render_meta("reflect", task=self.config["task"], instruction=parent.info.get("instruction", ""),
                           failures=shown)
        reply = await self.meta.ask([{"role": "user", "content": text}], tag=f"reflect-{step}", sample_index=step)
        instruction = extract_instruction(reply, self.max_instruction_chars)
        feedback = reply.split("<instruction>")[0].strip() if extract_tagged(reply, "instruction") else ""
        return instruction, list(parent.info.get("demos", [])), feedback[:800]

    async def _fewshot(self, parent: Candidate, step: int) -> tuple[str, list, str] | None:
        rows = await self.train_rows(parent.spec, self.minibatch(step, self.minibatch_size))
        wins = [(ex, r) for ex, r in rows if r.correct and r.text.strip()]
        if not wins:
            self.fail("fewshot: no successful training trajectory to bootstrap demonstrations from")
            return None
        rng = random.Random(f"{self.seed}-fewshot-{step}")
        chosen = rng.sample(wins, min(self.demos, len(wins)))
        order = {ex.id: i for i, ex in enumerate(self.trainset)}
        chosen.sort(key=lambda p: order.get(p[0].id, 0))
        demos = [{"id": ex.id, "question": ex.question, "solution": r.text[:1500]} for ex, r in chosen]
        return parent.info.get("instruction", ""), demos, f"{len(demos)} demonstrations from {len(wins)} successes"
