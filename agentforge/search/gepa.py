"""GEPA-style search: reflective evolution over a Pareto front of per-example scores.

After GEPA (Agrawal et al. 2025, "GEPA: Reflective Prompt Evolution Can Outperform Reinforcement
Learning"), over AgentSpecs. A candidate is a set of *components*: the instruction (system
prompt) of every model-writing node and, when the seed is a module configuration, the module
chosen in each slot (reasoning, refinement, ensembling; grounded modules included). Each step:

1. **Select** a parent from the Pareto front of per-example validation scores: for every
   validation example, the candidates with the best score on it; candidates dominated by
   another are dropped; a parent is sampled with probability proportional to the number of
   examples it is best on (so a candidate best on a few hard examples survives even when its
   mean is not the best).
2. **Reflect**: run the parent on a minibatch of training examples; the meta model reads each
   trajectory with its feedback text (the gold check when the task metric is the objective,
   the sandbox's reports of program runs, the scoring judge's words) and rewrites *one*
   component, chosen round-robin: a new instruction, or another module for one slot. When the
   meta model keeps the slot's current module, or names one already tried from this parent
   while others are untried, a module not yet tried there is drawn at random instead, and once
   all are tried the least tried one, so a module that lost a noisy minibatch test is tested
   again on another minibatch (``explore_untried``; our addition:
   small meta models keep the current module most of the time, so grounded modules are never
   tried otherwise). Only modules that combine with the other slots' modules are offered.
   An instruction rewrite that copies a word run, a proper name or an identifier from a
   minibatch problem, or repeats the current instruction, is dropped before it is tested
   (``reject_specific``; our addition: small meta models write advice about one problem or
   return the instruction they were given, ``agentforge.search.specificity``).
3. **Accept** only if the child beats the parent on that same minibatch (sum of objective
   values), or ties it with some success at no more than ``tie_token_ratio`` of its tokens (a
   Pareto improvement on score and cost; our addition: on GSM8K pal ties cot on small
   minibatches at about 0.6x its tokens, and pal is the step to pal with self-consistency, the
   module pair 17 points above cot); then it is evaluated on the whole validation set and joins
   the archive. A tie is no evidence either way: child and parent then run on as many further
   training examples and are judged on both minibatches together (``extend_ties``; our addition,
   a two-stage race in the spirit of F-Race, Birattari et al. 2002: on GSM8K pal with 5 voted
   programs once tied pal 1 vs 1 on a hard 8-question minibatch and was dropped). Module
   mutations are tested on a larger minibatch (``module_minibatch``, default 8; our addition:
   on GSM8K a module 17 points better than cot passes a strict 3-question test with
   probability 0.47 and an 8-question one with 0.75, ``benchmarks/bench_gepa_acceptance.py``).
4. **Demonstrations** (``demos=K``, off by default; our addition, after DSPy's BootstrapFewShot):
   a step of the round-robin that calls no meta model: up to K *verified* demonstrations
   (``agentforge.search.demos``: a step whose answer the gold check accepted) are drawn from the
   parent's training trajectories so far and put in front of its writer prompt; the child is
   tested against the parent on training examples that are not among the demonstrations (a
   demonstration's own question would prove nothing), then as any child. Demonstrations are a
   component: kept by later rewrites, merged, and dropped when the reasoning module changes.
5. **Merge** (every ``merge_every`` steps, when possible): two front candidates from different
   lineages with a common ancestor are combined component by component, each taking the value
   that changed from the ancestor (system-aware merge); accepted on the same minibatch test.

Budget, run store, resume and reports are the shared ones (``Optimizer``).
"""

from __future__ import annotations

import random
from typing import Any

from agentforge.agents import AgentSpec
from agentforge.core.errors import (MalformedOutputError, SpecValidationError, TemplateError, TemplateLimitError,
                                    UserError)
from agentforge.core.templates import render, template_source
from agentforge.search.base import Optimizer
from agentforge.search.demos import bootstrap_demos
from agentforge.search.gepa_parts import (WRITER_ROLES, apply_components, components_of, demos_key, describe_rows,
                                          lineage, merge_components, pareto_weights)
from agentforge.search.meta import render_meta
from agentforge.search.modules import SLOTS, ModuleOptions, as_module_options, available_slots, combines
from agentforge.search.parse import extract_json_object
from agentforge.search.result import Candidate
from agentforge.search.scoring import ExampleResult
from agentforge.search.specificity import same_instruction, specific_copy
from agentforge.search.specs import spec_key


def minibatch_tokens(rows: list[Any]) -> int:
    """Tokens (agent and scoring judge, prompt and completion) spent on a minibatch's rows."""
    return sum(r.usage.total_tokens + r.judge_usage.total_tokens for _, r in rows)


class GEPAOptimizer(Optimizer):
    """GEPA-style optimizer (see the module docstring).

    Args:
        task, llm, **kwargs: see :class:`~agentforge.search.base.Optimizer`.
        minibatch: training examples per reflection and acceptance test (default 3, as GEPA).
        module_minibatch: the same for module mutations (default 8; set it equal to ``minibatch`` for
            GEPA's single minibatch size).
        explore_untried: when the meta model keeps a slot's module or repeats one tried from this
            parent, try an untried module of that slot instead, or once all are tried the least
            tried one (default True). Off, such a step is skipped.
        tie_token_ratio: also accept a child that ties its parent on the minibatch (with at least one
            success) when it spends at most this fraction of the parent's tokens there (default 0.8;
            None: strict gain only, as GEPA).
        extend_ties: when a child ties its parent on the minibatch (and is not accepted as a cheaper
            tie), run both on as many further training examples (the next ones in the rotation, none
            of the minibatch's) and decide on the sum over both (default True; False: a tie is a
            loss, as GEPA).
        merge_every: try a merge every this many steps (default 4; 0 turns merging off).
        modules: search module choices too when the seed is a module configuration (default True).
        module_options: module sizes for module components (``ModuleOptions`` or a dict of its
            fields, as `--set module_options={"sc_samples": 5}` gives).
        max_instruction_chars: longer proposed instructions are malformed (default 1500).
        examples_shown: trajectories shown to the reflection (default 3).
        reject_specific: drop an instruction rewrite that copies a word run, a proper name or an
            identifier from a minibatch problem, or that repeats the current instruction, before
            testing it (default True; see ``agentforge.search.specificity``); False tests every
            rewrite, as GEPA.
        structured: decode the meta model's replies under a JSON schema (default True; see
            ``_format``); off, the reply is parsed as it comes.
        memory_modules: also search the memory slot (default False: learning candidates run their
            examples one at a time and their memory calls eat the budget).
        demos: verified demonstrations per ``demos`` step (default 0: no such step, GEPA's
            instruction-only search); tested on ``module_minibatch`` examples.
    """

    level = "gepa"

    def __init__(self, task: Any, llm: Any, *, minibatch: int = 3, module_minibatch: int = 8, merge_every: int = 4,
                 modules: bool = True, module_options: ModuleOptions | dict[str, Any] | None = None,
                 max_instruction_chars: int = 1500,
                 examples_shown: int = 3, structured: bool = True, memory_modules: bool = False,
                 explore_untried: bool = True, tie_token_ratio: float | None = 0.8, extend_ties: bool = True,
                 reject_specific: bool = True, demos: int = 0, **kwargs: Any):
        super().__init__(task, llm, **kwargs)
        if minibatch < 1 or module_minibatch < 1 or merge_every < 0 or demos < 0:
            raise UserError(f"gepa: need minibatch >= 1, module_minibatch >= 1, merge_every >= 0 and demos >= 0, "
                            f"got {minibatch}, {module_minibatch}, {merge_every}, {demos}")
        if tie_token_ratio is not None and not 0 < tie_token_ratio <= 1:
            raise UserError(f"gepa: tie_token_ratio must be in (0, 1] or None, got {tie_token_ratio}")
        self.tie_token_ratio, self.extend_ties = tie_token_ratio, extend_ties
        self.minibatch_size, self.merge_every, self.use_modules = minibatch, merge_every, modules
        self.module_minibatch, self.explore_untried = module_minibatch, explore_untried
        self.tried: dict[tuple[str, str], dict[str, int]] = {}  # (parent, slot) -> module -> tests
        self.module_options = as_module_options(module_options)
        self.max_instruction_chars, self.examples_shown = max_instruction_chars, examples_shown
        self.structured, self.memory_modules = structured, memory_modules
        self.reject_specific, self.demos = reject_specific, demos

    def options(self) -> dict[str, Any]:
        """The GEPA options (part of the resume check)."""
        out = {"minibatch": self.minibatch_size, "module_minibatch": self.module_minibatch,
               "explore_untried": self.explore_untried, "merge_every": self.merge_every, "modules": self.use_modules,
               "module_options": self.module_options.model_dump(), "structured": self.structured,
               "memory_modules": self.memory_modules}
        if self.tie_token_ratio is not None:  # absent when off, so stores written before the option resume
            out["tie_token_ratio"] = self.tie_token_ratio
        if self.extend_ties:  # likewise absent when off
            out["extend_ties"] = True
        if self.reject_specific:  # likewise
            out["reject_specific"] = True
        if self.demos:  # likewise
            out["demos"] = self.demos
        return out

    def prepare(self) -> None:
        """The seed's components (UserError when it has no model-writing node to rewrite)."""
        self.seed_components = components_of(self.seed_spec, self.task, self.module_options if self.use_modules
                                              else None)
        self.slots = available_slots(self.task, self.module_options)[0] if "config" in self.seed_components else {}
        self.component_names = ["instruction", *(f"module:{s}" for s in self.slots if len(self.slots[s]) > 1
                                                 and (s != "memory" or self.memory_modules)),
                                *(["demos"] if self.demos else [])]
        self.rng = random.Random(f"{self.seed}-gepa")

    def seed_info(self, spec: AgentSpec) -> dict[str, Any]:
        """The seed's components."""
        return {"components": self.seed_components}

    # ---- the loop ------------------------------------------------------------------------------
    async def step(self, step: int) -> str | None:
        """One GEPA step: a merge every ``merge_every`` steps when possible, else a reflection."""
        if self.merge_every and step % self.merge_every == 0 and await self._merge(step):
            return None
        parent = self._select()
        name = self.component_names[(step - 1) % len(self.component_names)]
        if name == "demos":
            await self._bootstrap(parent, step)
            return None
        batch = self.minibatch(step, self.minibatch_size if name == "instruction" else self.module_minibatch)
        rows = await self.train_rows(parent.spec, batch)
        try:
            components = await self._reflect(parent, name, rows, step)
        except MalformedOutputError as exc:
            self.fail(f"reflect {name}: {exc}")
            return None
        if components is None:
            return None
        origin = f"explore:{name}" if components.pop("explored", False) else f"reflect:{name}"
        await self._try(components, [parent], origin, batch, rows, step)
        return None

    def _select(self) -> Candidate:
        cands = list(self.archive)
        weights = pareto_weights([[self.objective.value(r) for r in c.eval.rows] for c in cands])
        return self.rng.choices(cands, weights=weights)[0]

    async def _try(self, components: dict[str, Any], parents: list[Candidate], origin: str, batch: list[Any],
                   parent_rows: list[Any], step: int) -> Candidate | None:
        """Build the child, test it on the minibatch against the (best) parent, then archive it."""
        try:
            spec = apply_components(self.seed_spec, components, self.task, step, origin,
                                    self.module_options if "config" in components else None)
        except (SpecValidationError, UserError, ValueError) as exc:
            self.fail(f"{origin}: {exc}")
            return None
        known = self.archive.get(spec_key(spec))
        if known is not None:
            self.skip(f"{origin}: same agent as candidate #{known.index}", known.key)
            return None
        child_rows = await self.train_rows(spec, batch)
        old, new, old_tok, new_tok = self._tally(parent_rows, child_rows)
        if new == old and not self._cheaper_tie(old, new, old_tok, new_tok) and self.extend_ties:
            shown = set(spec.metadata.get("demos") or ())
            more = [ex for ex in self._extension(batch) if ex.id not in shown]
            if more:  # a tie is no evidence either way: race both on the next training examples
                ref = max(parents, key=lambda c: c.score)
                o2, n2, ot2, nt2 = self._tally(await self.train_rows(ref.spec, more),
                                               await self.train_rows(spec, more))
                old, new, old_tok, new_tok = old + o2, new + n2, old_tok + ot2, new_tok + nt2
                origin = f"{origin} (tie, extended to {len(batch) + len(more)} examples)"
        cheaper_tie = self._cheaper_tie(old, new, old_tok, new_tok)
        if new <= old and not cheaper_tie:
            self.fail(f"{origin}: no gain on the minibatch ({new:.2f} vs {old:.2f}; {new_tok:,} vs {old_tok:,} tokens)")
            return None
        if cheaper_tie:
            origin = f"{origin} (tie at {new_tok:,} vs {old_tok:,} tokens)"
        return await self.add(spec, origin, [p.key for p in parents], {"components": components})

    def _tally(self, parent_rows: list[Any], child_rows: list[Any]) -> tuple[float, float, int, int]:
        """(parent score, child score, parent tokens, child tokens) summed over paired minibatch rows."""
        value = self.objective.value
        return (sum(value(r) for _, r in parent_rows), sum(value(r) for _, r in child_rows),
                minibatch_tokens(parent_rows), minibatch_tokens(child_rows))

    def _cheaper_tie(self, old: float, new: float, old_tok: int, new_tok: int) -> bool:
        return (self.tie_token_ratio is not None and new == old and new > 0
                and new_tok <= self.tie_token_ratio * old_tok)

    def _extension(self, batch: list[Any]) -> list[Any]:
        """The training examples after ``batch`` in the rotation, as many as it has, none of them in it."""
        n, ids = len(self.trainset), [id(e) for e in self.trainset]
        if not batch or len(batch) >= n or id(batch[0]) not in ids:
            return []
        start = ids.index(id(batch[0])) + len(batch)
        return [self.trainset[(start + i) % n] for i in range(min(len(batch), n - len(batch)))]

    async def _reflect(self, parent: Candidate, name: str, rows: list[Any], step: int) -> dict[str, Any] | None:
        comps = dict(parent.info.get("components") or self.seed_components)
        shown = describe_rows(rows, self.examples_shown)
        if name == "instruction":
            current = comps.get("instruction") or self._default_instruction(parent.spec)
            text = render_meta("gepa_reflect", task=self.config["task"], instruction=current, examples=shown,
                               answer_format=self.task.instructions)
            reply = await self.meta.ask([{"role": "user", "content": text}], tag=f"gepa-{step}", sample_index=step,
                                        response_format=self._format("diagnosis", "instruction"))
            got = extract_json_object(reply, ("instruction",))
            instruction = str(got.get("instruction") or "").strip()
            if not instruction or len(instruction) > self.max_instruction_chars:
                raise MalformedOutputError(f"no usable instruction (empty or over {self.max_instruction_chars} chars)")
            if self.reject_specific and same_instruction(instruction, current):
                self.skip("reflect:instruction: the rewrite repeats the current instruction; not tested")
                return None
            copied = specific_copy(instruction, [ex.question for ex, _ in rows],
                                   allowed=f"{current}\n{self.task.instructions}") if self.reject_specific else None
            if copied is not None:
                self.fail(f"reflect:instruction: problem-specific rewrite (copies {copied} from a minibatch "
                          "problem); not tested")
                return None
            comps["instruction"], comps["note"] = instruction, str(got.get("diagnosis", ""))[:600]
            return comps
        slot = name.split(":", 1)[1]
        config = dict(comps["config"])
        choices = {m: SLOTS[slot][m] for m in self.slots[slot] if combines({**config, slot: m}, self.slots)}
        if len(choices) < 2:
            self.skip(f"reflect:{name}: no other {slot} module combines with {config}")
            return None
        text = render_meta("gepa_module", task=self.config["task"], slot=slot, current=config[slot], choices=choices,
                           config=config, examples=shown)
        reply = await self.meta.ask([{"role": "user", "content": text}], tag=f"gepa-{step}", sample_index=step,
                                    response_format=self._format("reason", "choice", sorted(choices)))
        choice = str(extract_json_object(reply, ("choice",)).get("choice", "")).strip()
        if choice not in choices:
            raise MalformedOutputError(f"no valid choice for slot {slot} (one of {sorted(choices)}) in the reply")
        tried = self.tried.setdefault((parent.key, slot), {})
        current = config[slot]
        others = [m for m in sorted(choices) if m != current]
        untried_left = any(m not in tried for m in others)
        if choice == current or (choice in tried and (untried_left or not self.explore_untried)):
            if not self.explore_untried:
                self.skip(f"reflect:{name}: kept {choice}" if choice == current else
                          f"reflect:{name}: {choice} already tried from this parent")
                return None
            fewest = min(tried.get(m, 0) for m in others)
            pick = self.rng.choice([m for m in others if tried.get(m, 0) == fewest])
            what = "an untried module" if fewest == 0 else f"the least tried module (tried {fewest}x)"
            named = "kept" if choice == current else "tried"
            comps["note"], comps["explored"] = f"meta model named {choice} ({named}); {what} instead", True
            choice = pick
        tried[choice] = tried.get(choice, 0) + 1
        comps["config"] = {**config, slot: choice}
        if slot == "reasoning":  # demonstrations written by another reasoning module do not fit
            comps.pop("demos", None)
        return comps

    async def _bootstrap(self, parent: Candidate, step: int) -> None:
        """The ``demos`` step: verified demonstrations from the parent's training trajectories
        (this step's minibatch run first, so the pool grows), tested on other training examples."""
        await self.train_rows(parent.spec, self.minibatch(step, self.module_minibatch))
        pool = []
        for ex in self.trainset:
            got = self.store.get_result(parent.key, ex.id)
            if got is not None and not got.get("error"):
                pool.append((ex, ExampleResult.model_validate(got)))
        items = bootstrap_demos(pool, self.demos, seed=f"{self.seed}-demos-{step}")
        if not items:
            self.fail(f"demos: no verified trajectory among the parent's {len(pool)} training rows")
            return
        comps = {k: v for k, v in (parent.info.get("components") or self.seed_components).items() if k != "note"}
        ids = [d["id"] for d in items]
        if [d["id"] for d in (comps.get("demos") or {}).get("items", [])] == ids:
            self.skip(f"demos: the parent already shows {', '.join(ids)}")
            return
        comps["demos"] = {"for": demos_key(comps), "items": items}
        comps["note"] = f"{len(items)} verified demonstrations from {sum(r.correct for _, r in pool)} correct " \
                        f"of {len(pool)} training rows"
        start = ((step - 1) * self.module_minibatch) % max(1, len(self.trainset))
        rotation = self.trainset[start:] + self.trainset[:start]
        batch = [ex for ex in rotation if ex.id not in ids][: self.module_minibatch]
        await self._try(comps, [parent], "bootstrap:demos", batch, await self.train_rows(parent.spec, batch), step)

    async def _merge(self, step: int) -> bool:
        """Try a system-aware merge of two front candidates from different lineages."""
        front = [c for c, w in zip(self.archive, pareto_weights([[self.objective.value(r) for r in c.eval.rows]
                                                                  for c in self.archive])) if w > 0]
        by_key = {c.key: c for c in self.archive}
        pairs = [(a, b) for i, a in enumerate(front) for b in front[i + 1:]
                 if a.key not in lineage(b, by_key) and b.key not in lineage(a, by_key)]
        self.rng.shuffle(pairs)
        for a, b in pairs:
            common = [k for k in lineage(a, by_key) if k in lineage(b, by_key)]
            if not common:
                continue
            base = by_key[common[0]]
            merged = merge_components(base.info.get("components") or self.seed_components,
                                      a.info.get("components") or {}, b.info.get("components") or {},
                                      prefer_a=a.score >= b.score)
            if merged is None:
                continue
            batch = self.minibatch(step, self.minibatch_size)
            best = max((a, b), key=lambda c: c.score)
            await self._try(merged, [a, b], "merge", batch, await self.train_rows(best.spec, batch), step)
            return True
        return False

    def _format(self, why: str, what: str, enum: list[str] | None = None) -> dict[str, Any] | None:
        """The reply's JSON schema (``{why: text, what: text or one of enum}``), decoded under it
        where the provider supports structured output (a llama.cpp grammar on local models), so a
        small meta model's reply always closes and parses; None when ``structured`` is off."""
        if not self.structured:
            return None
        target: dict[str, Any] = {"type": "string", "enum": enum} if enum else {
            "type": "string", "minLength": 10, "maxLength": self.max_instruction_chars}
        schema = {"type": "object", "properties": {why: {"type": "string", "maxLength": 600}, what: target},
                  "required": [why, what], "additionalProperties": False}
        return {"type": "json_schema", "json_schema": {"name": f"gepa_{what}", "schema": schema}}

    def _default_instruction(self, spec: AgentSpec) -> str:
        """The system prompt a writer node of ``spec`` shows the model (the task's persona filled in)."""
        node = next((n for n in spec.nodes if n.kind == "llm" and n.system and n.role in WRITER_ROLES), None)
        if node is None:
            return ""
        try:
            return render(node.system, {"persona": self.task.persona})
        except (TemplateError, TemplateLimitError):  # a system prompt reading other run state: show its source
            return template_source(node.system)

