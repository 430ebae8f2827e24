"""The modular design space of module-level search (AgentSquare, Shang et al. 2024).

An agent is one module per slot:

* ``reasoning``: ``cot`` (Wei et al. 2022), ``plan-and-solve`` (Wang et al. 2023), ``step-back``
  (Zheng et al. 2023), ``pal`` (program-aided, Gao et al. 2022: the model writes ``solution()``,
  an ``execute`` node runs it in the sandbox, its printed result is the answer; answer tasks);
* ``refinement``: ``none``, ``self-refine`` (Madaan et al. 2023), ``reflexion`` (Shinn et al.
  2023; the model judges its attempts), ``critic`` (Gou et al. 2023: a program the model writes
  checks the answer, revise on disagreement; answer tasks), ``self-debug`` (Chen et al. 2023:
  run the visible tests, revise from the report; program tasks), ``reflexion-tests``
  (Reflexion's programming agent: attempts judged by unit tests the model wrote; program tasks);
* ``ensembling``: ``none``, ``self-consistency`` (Wang et al. 2022; with ``pal`` a vote over the
  programs' printed results, failed programs do not vote), ``debate`` (Du et al. 2023),
  ``best-of-n`` (the agent's judge picks; with ``ModuleOptions.best_of_n_judge="execution"`` an
  ``ExecutionJudge``: visible tests, or agreement with a checking program; no gold);
* ``memory``: ``none``, ``experiential`` (ExpeL exemplars), ``reflective`` (Reflexion lessons),
  ``concept`` (ExpeL insights).

``available_slots(task)`` leaves out modules for the other ``task.answer_type``
(``ANSWER_TYPES``): no self-debug for GSM8K, no pal for HumanEval. ``RULES`` forbid combinations
that cannot be built (pal with debate, critic after a vote). Space sizes: 172 configurations for
text-answer tasks (GSM8K, BBH), 204 for program tasks (HumanEval), 244 with no task given.

:func:`build_module_spec` composes a configuration into an ``AgentSpec`` from prebuilt specs and
nodes: the skeleton is the ensemble's spec (pal's spec for ``pal``; the prebuilt ``critic`` or
``self-debug`` loop with the ensemble's answer node as its solver), the reasoning module replaces
its solver prompt (step-back adds an ``abstract`` node in front), self-refine adds critic/reviser
nodes (per sample before the vote for ensembles), Reflexion sets ``trials`` with the model
(``reflexion``) or its own unit tests (``reflexion-tests``) as evaluator (an exact verifier would
read the gold answer), memory sets ``memory``. ``cot``+``critic`` is the prebuilt ``critic`` and
``pal`` the prebuilt ``pal``, so such seeds are recognized (:func:`infer_config`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentforge.agents import AgentSpec, Condition, EdgeSpec, NodeSpec, build_agent_spec
from agentforge.core.errors import SpecValidationError, UserError
from agentforge.core.templates import template_source
from agentforge.search.specs import spec_key

SLOTS: dict[str, dict[str, str]] = {
    "reasoning": {
        "cot": "one chain-of-thought solution (Wei et al. 2022)",
        "plan-and-solve": "devise a plan, then carry it out step by step (Wang et al. 2023)",
        "step-back": "first state the general principle behind the question, then solve with it (Zheng et al. 2023)",
        "pal": "write a Python program; the sandbox runs it and its printed result is the answer (Gao et al. 2022)",
    },
    "refinement": {
        "none": "no refinement",
        "self-refine": "the model critiques its solution and revises it (Madaan et al. 2023)",
        "reflexion": "the model judges its attempt; after a failure it reflects and retries (Shinn et al. 2023)",
        "critic": "a program the model writes checks the answer; revise when its result disagrees (Gou et al. 2023)",
        "self-debug": "run the code on the task's visible tests; revise from the error report (Chen et al. 2023)",
        "reflexion-tests": "the model writes unit tests first; attempts failing them are reflected on and retried "
                           "(Shinn et al. 2023)",
    },
    "ensembling": {
        "none": "a single solution",
        "self-consistency": "several sampled solutions, majority vote (Wang et al. 2022); with pal, a vote over "
                            "the programs' printed results",
        "debate": "several agents read each other's answers and update them, then vote (Du et al. 2023)",
        "best-of-n": "several sampled solutions, a judge picks the best one (search-and-learn)",
    },
    "memory": {
        "none": "no memory",
        "experiential": "recall solved similar problems as examples (ExpeL)",
        "reflective": "recall lessons written after earlier mistakes (Reflexion)",
        "concept": "general rules distilled from earlier successes and failures (ExpeL insights)",
    },
}
SLOT_NAMES = tuple(SLOTS)
DEFAULT_CONFIG = {"reasoning": "cot", "refinement": "none", "ensembling": "none", "memory": "none"}
MEMORY_KINDS = {"experiential": "experience", "reflective": "reflection", "concept": "insight"}
ANSWER_TYPES = {"pal": "text", "critic": "text", "self-debug": "program", "reflexion-tests": "program"}
"""Modules that apply to one ``task.answer_type`` only (the others apply to every task)."""
PREBUILT = {"best-of-n": "best-of-n", "pal": "pal", "critic": "critic", "self-debug": "self-debug"}
"""Modules built from a prebuilt agent; left out (with a note) when it is not registered."""
EXECUTION_BEST_OF_N = ("several sampled solutions; an execution judge picks the one that passes the most visible "
                       "tests (code) or that an independent program's result confirms (answers)")
RULES: list[tuple[tuple[str, ...], str, Callable[[dict[str, str]], bool]]] = [
    (("self-refine",), "self-refine cannot follow best-of-n (the judge's pick is final)",
     lambda c: c["refinement"] == "self-refine" and c["ensembling"] == "best-of-n"),
    (("pal",), "pal combines only with ensembling none or self-consistency and refinement none or reflexion",
     lambda c: c["reasoning"] == "pal" and (c["ensembling"] not in ("none", "self-consistency")
                                            or c["refinement"] not in ("none", "reflexion"))),
    *[((m,), f"{m} checks a single answer: ensembling none or best-of-n",
       lambda c, m=m: c["refinement"] == m and c["ensembling"] not in ("none", "best-of-n"))
      for m in ("critic", "self-debug")],
]
"""(modules concerned, why, test): configurations for which the test holds cannot be built."""


class ModuleOptions(BaseModel):
    """Sizes of the modules, small as every call counts against the budget (defaults):
    ``sc_samples`` self-consistency's samples, and pal's programs with it (3); ``temperature`` of
    ensembles (0.7); ``debate_agents``, ``debate_rounds`` (2, 1); ``best_of_n`` solutions (3);
    ``refine_iters`` revisions of self-refine, critic, self-debug (1); ``reflexion_trials``
    attempts of reflexion, reflexion-tests (2); ``best_of_n_judge``: ``"default"`` (the
    optimizer's ``agent_judge``, else the agent's LLM judge) or ``"execution"`` (the module
    search builds an ``ExecutionJudge``; no gold). The judge is not part of the spec: run a
    found best-of-n agent with ``--judge execution``."""

    model_config = ConfigDict(extra="forbid")
    sc_samples: int = Field(3, ge=2)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    debate_agents: int = Field(2, ge=2)
    debate_rounds: int = Field(1, ge=1)
    best_of_n: int = Field(3, ge=2)
    refine_iters: int = Field(1, ge=1)
    reflexion_trials: int = Field(2, ge=2)
    best_of_n_judge: Literal["default", "execution"] = "default"


def as_module_options(value: ModuleOptions | dict[str, Any] | None) -> ModuleOptions:
    """``value`` as ``ModuleOptions`` (None: the defaults; a dict, as from ``--set
    module_options={...}``, is validated).

    Raises:
        UserError: a dict with an unknown key or a value out of range (pydantic's message).
    """
    if value is None:
        return ModuleOptions()
    if isinstance(value, ModuleOptions):
        return value
    try:
        return ModuleOptions.model_validate(value)
    except ValidationError as exc:
        raise UserError(f"module_options: {exc}") from exc


def available_slots(task: Any = None, options: ModuleOptions | None = None
                    ) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The slots with the modules this installation can build for ``task`` (None: every module;
    else none for another ``task.answer_type``; ``options.best_of_n_judge="execution"``: best-of-n
    described as execution-judged), and notes on what was left out."""
    slots, notes = {k: dict(v) for k, v in SLOTS.items()}, []
    kind = getattr(task, "answer_type", None)
    if kind is not None:
        out = [m for m, k in ANSWER_TYPES.items() if k != kind]
        slots = {k: {m: d for m, d in v.items() if m not in out} for k, v in slots.items()}
        notes.append(f"modules for other kinds of task left out: {', '.join(out)} "
                     f"({getattr(task, 'name', 'the task')}'s answers are {kind})")
    for slot, options_ in slots.items():
        for module, agent in [(m, a) for m, a in PREBUILT.items() if m in options_]:
            try:
                build_agent_spec(agent)
            except Exception as exc:
                del options_[module]
                notes.append(f"{slot} option {module} skipped: no prebuilt {agent} agent ({exc})")
    if options is not None and options.best_of_n_judge == "execution" and "best-of-n" in slots["ensembling"]:
        slots["ensembling"]["best-of-n"] = EXECUTION_BEST_OF_N
    return slots, notes


def rules(slots: dict[str, dict[str, str]]) -> list[str]:
    """The combination rules that concern the modules in ``slots`` (for the meta prompt)."""
    present = {m for options in slots.values() for m in options}
    return [why for modules, why, _ in RULES if present & set(modules)]


def validate_config(config: Any, slots: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """Check a configuration; returns it with the slots in canonical order.

    Raises:
        SpecValidationError: not a dict, a missing or unknown slot, an unknown module (the message
            lists the valid ones), or a combination that cannot be built (``RULES``).
    """
    slots = slots or available_slots()[0]
    if not isinstance(config, dict):
        raise SpecValidationError(f"a configuration must be a JSON object with keys {list(slots)}")
    out = {}
    for slot, options in slots.items():
        value = config.get(slot)
        if value not in options:
            raise SpecValidationError(f"slot {slot!r}: unknown module {value!r}; valid: {', '.join(options)}")
        out[slot] = value
    for _, why, broken in RULES:
        if broken(out):
            raise SpecValidationError(f"{why}; choose another refinement or ensembling")
    return out


def combines(config: dict[str, str], slots: dict[str, dict[str, str]]) -> bool:
    """Whether ``config`` is a buildable configuration (``validate_config`` passes)."""
    try:
        validate_config(config, slots)
    except SpecValidationError:
        return False
    return True


def all_configs(slots: dict[str, dict[str, str]] | None = None) -> Iterator[dict[str, str]]:
    """Every buildable configuration, in a fixed order."""
    slots = slots or available_slots()[0]
    for values in itertools.product(*(list(v) for v in slots.values())):
        config = dict(zip(slots, values))
        try:
            yield validate_config(config, slots)
        except SpecValidationError:
            continue


def _ensemble(name: str, o: ModuleOptions) -> AgentSpec:
    if name == "self-consistency":
        return build_agent_spec("self-consistency", samples=o.sc_samples, temperature=o.temperature)
    if name == "debate":
        return build_agent_spec("debate", agents=o.debate_agents, rounds=o.debate_rounds, temperature=o.temperature)
    if name == "best-of-n":
        return build_agent_spec("best-of-n", n=o.best_of_n)
    return build_agent_spec("cot")


def _skeleton(config: dict[str, str], o: ModuleOptions) -> dict[str, Any]:
    """The graph before reasoning prompts and the other refinements: pal's, the ensemble's, or
    a grounded loop (critic, self-debug) whose solver node is the ensemble's answer node."""
    if config["reasoning"] == "pal":
        k = o.sc_samples if config["ensembling"] == "self-consistency" else 1
        return build_agent_spec("pal", samples=k, temperature=o.temperature).model_dump(mode="json")
    base = _ensemble(config["ensembling"], o).model_dump(mode="json")
    if config["refinement"] not in ("critic", "self-debug"):
        return base
    loop = build_agent_spec(config["refinement"], max_iters=o.refine_iters).model_dump(mode="json")
    answer = next(n for n in base["nodes"] if n["answer"])  # cot's solver or best-of-n's search node
    loop["nodes"] = [{**answer, "id": n["id"]} if n["id"] == loop["entry"] else n for n in loop["nodes"]]
    return loop


def _node(**kw: Any) -> dict[str, Any]:
    return NodeSpec(**kw).model_dump(mode="json")


def _edge(source: str, target: str, *when: Condition) -> dict[str, Any]:
    return EdgeSpec(source=source, target=target, when=list(when)).model_dump(mode="json")


def _self_refine(data: dict[str, Any], o: ModuleOptions) -> None:
    nodes, edges = data["nodes"], data["edges"]
    vote = next((n for n in nodes if n["kind"] == "vote"), None)
    if vote is None:  # single solver: the Self-Refine loop after it
        gen = next(n for n in nodes if n["answer"])["id"]
        data["edges"] = [e for e in edges if not (e["source"] == gen and e["target"] == "END")] + [
            _edge(gen, "feedback"),
            _edge("feedback", "END", Condition(kind="contains", node="feedback", value="STOP")),
            _edge("feedback", "refine"),
            _edge("refine", "END", Condition(kind="visits_at_least", node="refine", value=o.refine_iters)),
            _edge("refine", "feedback")]
        data["max_steps"] = len(nodes) + 2 * o.refine_iters + 2
        nodes += [_node(id="feedback", role="critic", prompt="@feedback"),
                  _node(id="refine", prompt="@refine", answer=True)]
        return
    src, k = vote["source"], next(n["samples"] for n in nodes if n["id"] == vote["source"])
    fb = template_source("@sample_feedback").replace("__SOURCE__", src)
    rv = template_source("@sample_refine").replace("__SOURCE__", src).replace("__FEEDBACK__", "critique")
    nodes += [_node(id="critique", role="critic", prompt=fb, samples=k),
              _node(id="revise", prompt=rv, samples=k, answer=True)]
    for e in edges:
        if e["source"] == src and e["target"] == vote["id"]:
            e["target"] = "critique"
    edges += [_edge("critique", "revise"), _edge("revise", vote["id"])]
    vote["source"] = "revise"
    data["max_steps"] += 2


def build_module_spec(config: dict[str, str], options: ModuleOptions | None = None, task: Any = None) -> AgentSpec:
    """Compose the AgentSpec of a configuration (see the module docstring).

    Args:
        config: one module per slot. options: module sizes (default ``ModuleOptions()``).
        task: when given, the configuration must be in ``available_slots(task)``.

    Raises:
        SpecValidationError: an invalid configuration (unknown module, one for another kind of
            task, a combination ``RULES`` forbid).
    """
    o = options or ModuleOptions()
    config = validate_config(config, available_slots(task)[0] if task is not None else SLOTS)
    data = _skeleton(config, o)
    if config["reasoning"] in ("plan-and-solve", "step-back"):
        solve = template_source("@plan_and_solve" if config["reasoning"] == "plan-and-solve" else "@step_back_solve")
        for n in data["nodes"]:
            if n["prompt"] == "@solve":
                n["prompt"] = solve
        if config["reasoning"] == "step-back":
            abstract = template_source("@step_back_abstract")
            data["nodes"].insert(0, _node(id="abstract", role="abstractor", prompt=abstract))
            data["edges"].insert(0, _edge("abstract", data["entry"]))
            data["entry"] = "abstract"
            data["max_steps"] += 1
    if config["refinement"] == "self-refine":
        _self_refine(data, o)
    elif config["refinement"] in ("reflexion", "reflexion-tests"):
        data["trials"] = o.reflexion_trials
        data["evaluator"] = "llm" if config["refinement"] == "reflexion" else "self-tests"
    if config["memory"] != "none":
        data["memory"] = sorted(set(data["memory"]) | {MEMORY_KINDS[config["memory"]]})
    data["name"] = "modular:" + "/".join(config.values())
    data["description"] = ", ".join(f"{k}={v}" for k, v in config.items())
    if config["ensembling"] == "best-of-n" and o.best_of_n_judge == "execution":
        data["description"] += " (best-of-n judged by execution: run with --judge execution)"
    data["metadata"] = {"modules": config, "module_options": o.model_dump()}
    return AgentSpec.validate_dict(data)


def infer_config(spec: AgentSpec, options: ModuleOptions | None = None,
                 slots: dict[str, dict[str, str]] | None = None) -> dict[str, str] | None:
    """The configuration whose composed spec behaves as ``spec`` (metadata first), else None."""
    meta = spec.metadata.get("modules")
    if isinstance(meta, dict):
        try:
            return validate_config(meta, slots)
        except SpecValidationError:
            pass
    key = spec_key(spec)
    for config in all_configs(slots):
        if spec_key(build_module_spec(config, options)) == key:
            return config
    return None
