"""The pieces of GEPA-style search (``agentforge.search.gepa``): components of a candidate, the
Pareto-front parent weights, lineages and the system-aware merge, and the feedback shown to the
reflection (Agrawal et al. 2025).

A candidate's *components* are a dict: ``instruction`` (the system prompt of its model-writing
nodes; "" keeps each module's own), when the seed is a module configuration ``config`` (module per
slot, see ``agentforge.search.modules``), and optionally ``demos``: verified demonstrations
``{"for": reasoning module or "seed", "items": [...]}`` (``agentforge.search.demos``), shown only
while the reasoning module they were written by is the candidate's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentforge.agents import AgentSpec
from agentforge.search.demos import WRITER_ROLES, with_demos
from agentforge.search.modules import ModuleOptions, available_slots, build_module_spec, infer_config
from agentforge.search.result import Candidate
from agentforge.search.specs import literal

def components_of(spec: AgentSpec, task: Any, options: ModuleOptions | None) -> dict[str, Any]:
    """The seed's components: its module configuration (when ``options`` is given and the spec is
    one) and an empty instruction (each node keeps its own system prompt)."""
    comps: dict[str, Any] = {"instruction": ""}
    if options is not None:
        config = infer_config(spec, options, available_slots(task, options)[0])
        if config is not None:
            comps["config"] = config
    return comps


def apply_components(seed: AgentSpec, comps: dict[str, Any], task: Any, step: int, origin: str,
                     options: ModuleOptions | None = None) -> AgentSpec:
    """The spec of ``comps``: the configuration's composed spec (else the seed), with the
    instruction as the system prompt of every model-writing node.

    Raises:
        SpecValidationError: an invalid configuration or an instruction that cannot be embedded.
    """
    base = build_module_spec(comps["config"], options, task=task) if "config" in comps else seed
    data = base.model_dump(mode="json")
    if comps.get("instruction", "").strip():
        for node in data["nodes"]:
            if node["kind"] == "llm" and node["role"] in WRITER_ROLES:
                node["system"] = literal(comps["instruction"])
    data["name"] = f"{seed.name}+gepa{step}"
    data["metadata"] = {**data.get("metadata", {}), "search": {"level": "gepa", "step": step, "origin": origin}}
    spec = AgentSpec.validate_dict(data)
    demos = comps.get("demos") or {}
    if demos.get("items") and demos.get("for") == demos_key(comps):
        spec = with_demos(spec, demos["items"])
    return spec


def demos_key(comps: dict[str, Any]) -> str:
    """What demonstrations must have been written by to be shown: the reasoning module of
    ``comps["config"]``, or ``"seed"`` when the candidate is no module configuration."""
    return str(comps["config"].get("reasoning", "seed")) if "config" in comps else "seed"


def pareto_weights(scores: Sequence[Sequence[float]]) -> list[int]:
    """Parent-selection weights of GEPA: per candidate, the number of examples it is best on,
    after removing candidates dominated by others (every example it is best on, another
    surviving candidate is best on too). ``scores[c][i]`` is candidate c's score on example i.

    Returns:
        One non-negative int per candidate; at least one is positive when any candidate exists.
    """
    if not scores:
        return []
    n = min(len(s) for s in scores)
    fronts = []
    for i in range(n):
        best = max(s[i] for s in scores)
        fronts.append({c for c, s in enumerate(scores) if s[i] == best})
    alive = set(range(len(scores)))
    order = sorted(alive, key=lambda c: sum(scores[c][:n]))  # try to drop the weakest first
    changed = True
    while changed:
        changed = False
        for c in order:
            if c not in alive:
                continue
            mine = [f for f in fronts if c in f]
            if mine and all(any(o != c and o in alive for o in f) for f in mine):
                alive.discard(c)
                changed = True
                break
    return [sum(1 for f in fronts if c in f) if c in alive else 0 for c in range(len(scores))]


def lineage(cand: Candidate, by_key: dict[str, Candidate]) -> list[str]:
    """``cand``'s key then its ancestors' keys, nearest first (breadth first over parents)."""
    out, queue = [], [cand.key]
    while queue:
        key = queue.pop(0)
        if key in out or key not in by_key:
            continue
        out.append(key)
        queue.extend(by_key[key].parents)
    return out


def merge_components(base: dict[str, Any], a: dict[str, Any], b: dict[str, Any],
                     prefer_a: bool = True) -> dict[str, Any] | None:
    """System-aware merge: each component (and each module slot) from the side that changed it
    since the common ancestor ``base``; the preferred side when both did. None when the result
    equals ``a`` or ``b`` (nothing new to try)."""

    def pick(x: Any, y: Any, old: Any) -> Any:
        if x == old:
            return y
        if y == old:
            return x
        return x if prefer_a else y

    merged: dict[str, Any] = {"instruction": pick(a.get("instruction", ""), b.get("instruction", ""),
                                                  base.get("instruction", ""))}
    if "config" in base or "config" in a or "config" in b:
        old = base.get("config") or a.get("config") or b.get("config")
        ca, cb = a.get("config", old), b.get("config", old)
        merged["config"] = {slot: pick(ca[slot], cb[slot], old[slot]) for slot in old}
    if any(c.get("demos") for c in (base, a, b)):
        merged["demos"] = pick(a.get("demos"), b.get("demos"), base.get("demos"))
        if not merged["demos"]:
            del merged["demos"]
    strip = [{k: v for k, v in c.items() if k in ("instruction", "config", "demos")} for c in (a, b)]
    return None if merged in strip else merged


def describe_rows(rows: Sequence[tuple[Any, Any]], shown: int) -> list[dict[str, Any]]:
    """What the reflection reads about a minibatch: per example the question, the agent's
    solution, its answer, the gold check and the grounded feedback (failures first)."""
    ordered = sorted(rows, key=lambda p: bool(p[1].correct))[:shown]
    return [{"question": ex.question[:1500], "output": (r.text or r.error or "")[:1500], "answer": r.answer,
             "gold": ex.gold if len(str(ex.gold)) < 400 else str(ex.gold)[:400] + "...",
             "correct": bool(r.correct), "feedback": r.feedback[:1200]} for ex, r in ordered]
