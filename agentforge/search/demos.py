"""Verified demonstrations: worked examples bootstrapped from trajectories the metric accepted.

A demonstration is ``{"id", "question", "solution"}``: a training question and the text one
model-writing step wrote for it (a chain of thought, a program) in a trajectory whose final
answer the task metric scored correct against the gold answer. This is DSPy's BootstrapFewShot
(Khattab et al. 2023, "DSPy: Compiling Declarative Language Model Calls into Self-Improving
Pipelines") with the check made strict: a trajectory with several writer steps (voted samples,
debate turns) gives a demonstration only from a step whose own extracted answer equals the
verified final answer, so a wrong sample outvoted by right ones is never shown as an example.
For programs the check is the sandbox run that produced the answer (PAL, Gao et al. 2023, shows
its programs as few-shot examples).

Demonstrations go in front of the prompt of one node, the *target*: the entry node when it
writes text, else the first model-writing node (``demo_target``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from agentforge.agents import AgentSpec
from agentforge.core.templates import template_source
from agentforge.search.specs import literal

WRITER_ROLES = ("solver", "programmer", "debater", "reviser", "debugger")
"""Roles of the nodes that write a solution (a demonstration's source and target)."""


def demo_target(spec: AgentSpec) -> str | None:
    """Id of the node demonstrations are shown to: the entry node when it is a model-writing
    node (kind ``llm``, a writer role), else the first such node in ``spec.nodes``; None when the
    spec has none."""
    writers = [n for n in spec.nodes if n.kind == "llm" and n.role in WRITER_ROLES]
    entry = [n for n in writers if n.id == spec.entry]
    return (entry or writers)[0].id if writers else None


def verified_solution(row: Any) -> str | None:
    """The solution text of a correct trajectory that can serve as a demonstration, or None.

    ``row`` is an :class:`~agentforge.search.scoring.ExampleResult`. Accepted: its only writer
    step, or the first writer step whose own answer equals the row's final answer. None when the
    row is wrong, failed, or no step can be shown to carry the verified answer."""
    if not row.correct or row.error:
        return None
    steps = [s for s in row.trajectory if s.get("role") in WRITER_ROLES and str(s.get("output", "")).strip()]
    if len(steps) == 1:
        return str(steps[0]["output"]).strip()
    for s in steps:
        if s.get("answer") is not None and str(s["answer"]) == str(row.answer):
            return str(s["output"]).strip()
    return None


def bootstrap_demos(rows: Sequence[tuple[Any, Any]], k: int, *, seed: Any = 0,
                    max_chars: int = 1500) -> list[dict[str, str]]:
    """Up to ``k`` verified demonstrations from ``(example, ExampleResult)`` rows.

    Args:
        rows: training examples with their results (any order).
        k: demonstrations wanted (>= 1).
        seed: seeds which verified rows are drawn when there are more than ``k`` (default 0).
        max_chars: a longer solution is not used (default 1500 characters).

    Returns:
        ``[{"id", "question", "solution"}]`` in the rows' order; fewer than ``k`` (maybe none)
        when fewer rows are verified.

    Raises:
        ValueError: ``k`` < 1.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    found = []
    for i, (ex, row) in enumerate(rows):
        text = verified_solution(row)
        if text and len(text) <= max_chars:
            found.append((i, {"id": ex.id, "question": ex.question, "solution": text}))
    chosen = random.Random(str(seed)).sample(found, k) if len(found) > k else found
    return [d for _, d in sorted(chosen, key=lambda p: p[0])]


def demo_block(demos: Sequence[dict[str, str]]) -> str:
    """The text shown before the prompt: ``Worked examples:`` then each question and solution."""
    body = "\n\n".join(f"Question: {d['question']}\n{d['solution'].strip()}" for d in demos)
    return f"Worked examples:\n\n{body}"


def with_demos(spec: AgentSpec, demos: Sequence[dict[str, str]], node_id: str | None = None) -> AgentSpec:
    """``spec`` with ``demos`` in front of the prompt of ``node_id`` (default ``demo_target``);
    ``spec`` itself when ``demos`` is empty. ``metadata["demos"]`` records their ids.

    Raises:
        ValueError: no node to show them to, or ``node_id`` names no node.
        SpecValidationError: a demonstration cannot be embedded (see ``literal``).
    """
    if not demos:
        return spec
    target = node_id or demo_target(spec)
    data = spec.model_dump(mode="json")
    node = next((n for n in data["nodes"] if n["id"] == target), None)
    if node is None:
        raise ValueError(f"spec {spec.name!r} has no model-writing node to show demonstrations to"
                         if target is None else f"spec {spec.name!r} has no node {target!r}")
    prompt = template_source(node["prompt"]) if node["prompt"] else "{{ question }}"
    node["prompt"] = literal(demo_block(demos)) + "\n\n" + prompt
    data["metadata"] = {**data.get("metadata", {}), "demos": [d["id"] for d in demos]}
    return AgentSpec.validate_dict(data)
