"""The modular design space of module-level search (AgentSquare, Shang et al. 2024).

An agent is one module per slot:

* ``reasoning``: ``cot`` (Wei et al. 2022), ``plan-and-solve`` (Wang et al. 2023),
  ``step-back`` (Zheng et al. 2023: state the principle first, then solve with it);
* ``refinement``: ``none``, ``self-refine`` (Madaan et al. 2023), ``reflexion`` (Shinn et al. 2023);
* ``ensembling``: ``none``, ``self-consistency`` (Wang et al. 2022), ``debate`` (Du et al. 2023),
  ``best-of-n`` (judge-picked, when the prebuilt exists);
* ``memory``: ``none``, ``experiential`` (ExpeL exemplars), ``reflective`` (Reflexion lessons),
  ``concept`` (ExpeL insights).

:func:`build_module_spec` composes a configuration into an ``AgentSpec`` from prebuilt specs and
nodes: the ensemble's spec is the skeleton, the reasoning module replaces its solver prompt (and
step-back adds an ``abstract`` node in front), self-refine adds critic/reviser nodes (per sample
before the vote for ensembles), Reflexion sets ``trials`` with the model as its own evaluator
(an exact verifier would read the gold answer and inflate the score), memory sets ``memory``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentforge.agents import AgentSpec, Condition, EdgeSpec, NodeSpec, build_agent_spec
from agentforge.core.errors import SpecValidationError
from agentforge.core.templates import template_source
from agentforge.search.specs import spec_key

SLOTS: dict[str, dict[str, str]] = {
    "reasoning": {
        "cot": "one chain-of-thought solution (Wei et al. 2022)",
        "plan-and-solve": "devise a plan, then carry it out step by step (Wang et al. 2023)",
        "step-back": "first state the general principle behind the question, then solve with it (Zheng et al. 2023)",
    },
    "refinement": {
        "none": "no refinement",
        "self-refine": "the model critiques its solution and revises it (Madaan et al. 2023)",
        "reflexion": "the model judges its attempt; after a failure it reflects and retries (Shinn et al. 2023)",
    },
    "ensembling": {
        "none": "a single solution",
        "self-consistency": "several sampled solutions, majority vote (Wang et al. 2022)",
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


class ModuleOptions(BaseModel):
    """Sizes of the modules (kept small: every call counts against the search budget)."""

    model_config = ConfigDict(extra="forbid")
    sc_samples: int = Field(3, ge=2)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    debate_agents: int = Field(2, ge=2)
    debate_rounds: int = Field(1, ge=1)
    best_of_n: int = Field(3, ge=2)
    refine_iters: int = Field(1, ge=1)
    reflexion_trials: int = Field(2, ge=2)


def available_slots() -> tuple[dict[str, dict[str, str]], list[str]]:
    """The slots with the modules this installation can build, and notes on what was left out."""
    slots = {k: dict(v) for k, v in SLOTS.items()}
    notes = []
    try:
        build_agent_spec("best-of-n")
    except Exception as exc:
        del slots["ensembling"]["best-of-n"]
        notes.append(f"ensembling option best-of-n skipped: no prebuilt best-of-n agent ({exc})")
    return slots, notes


def validate_config(config: Any, slots: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """Check a configuration; returns it with the slots in canonical order.

    Raises:
        SpecValidationError: not a dict, a missing or unknown slot, an unknown module (the message
            lists the valid ones), or a combination that cannot be built.
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
    if out["refinement"] == "self-refine" and out["ensembling"] == "best-of-n":
        raise SpecValidationError("self-refine cannot follow best-of-n (the judge's pick is final); "
                                  "choose another refinement or ensembling")
    return out


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


def build_module_spec(config: dict[str, str], options: ModuleOptions | None = None) -> AgentSpec:
    """Compose the AgentSpec of a configuration (see the module docstring).

    Raises:
        SpecValidationError: an invalid configuration.
    """
    config = validate_config(config, SLOTS)
    o = options or ModuleOptions()
    data = _ensemble(config["ensembling"], o).model_dump(mode="json")
    if config["reasoning"] != "cot":
        solve = template_source("@plan_and_solve" if config["reasoning"] == "plan-and-solve" else "@step_back_solve")
        for n in data["nodes"]:
            if n["prompt"] == "@solve":
                n["prompt"] = solve
        if config["reasoning"] == "step-back":
            data["nodes"].insert(0, _node(id="abstract", role="abstractor", prompt=template_source("@step_back_abstract")))
            data["edges"].insert(0, _edge("abstract", data["entry"]))
            data["entry"] = "abstract"
            data["max_steps"] += 1
    if config["refinement"] == "self-refine":
        _self_refine(data, o)
    elif config["refinement"] == "reflexion":
        data["trials"], data["evaluator"] = o.reflexion_trials, "llm"
    if config["memory"] != "none":
        data["memory"] = sorted(set(data["memory"]) | {MEMORY_KINDS[config["memory"]]})
    data["name"] = "modular:" + "/".join(config.values())
    data["description"] = ", ".join(f"{k}={v}" for k, v in config.items())
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
