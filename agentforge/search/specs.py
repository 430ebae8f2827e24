"""Spec utilities the optimizers share: identity, safety checks, cost estimates, duplicates.

* ``spec_key``: the candidate's identity in the run store: a hash of what changes behaviour
  (nodes, edges, entry, limits, memory, trials), not of its name, description or metadata.
* ``check_renderable``: render every template against a complete dummy state, so a proposal
  that refers to an unknown variable is rejected before it costs a call.
* ``check_sees_problem``: every ``llm`` node's prompt must show the model the problem.
* ``estimate_calls``: an upper bound on model calls per question, to refuse runaway proposals
  (``execute`` nodes run programs in the sandbox and make no model call).
* ``literal``: embed text (an instruction, demonstrations) in a Jinja template verbatim.
* ``similarity``: structural equality plus prompt-text similarity, for near-duplicate skipping.
* ``proposal_schema``: the JSON schema of a system-level proposal, for constrained decoding
  (every node kind, ``execute`` with its options capped at ``EXECUTE_LIMITS``).
* ``check_execute_limits``: the same caps for proposals decoded without the schema.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re

from agentforge.agents import AgentSpec, NodeSpec
from agentforge.core.templates import render, template_names, template_source
from agentforge.core.errors import SpecValidationError

_BEHAVIOUR = ("nodes", "edges", "entry", "max_steps", "memory", "trials", "evaluator", "reflect_prompt")


def spec_key(spec: AgentSpec) -> str:
    """16 hex chars identifying the spec's behaviour (name, description, metadata ignored)."""
    data = spec.model_dump(mode="json", include=set(_BEHAVIOUR))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def literal(text: str) -> str:
    """``text`` as a Jinja template that renders to exactly ``text``.

    Raises:
        SpecValidationError: ``text`` contains ``endraw`` (it could escape the raw block).
    """
    if not any(m in text for m in ("{{", "{%", "{#")):
        return text
    if "endraw" in text:
        raise SpecValidationError("text contains 'endraw' and cannot be embedded in a template")
    return "{% raw %}" + text + "{% endraw %}"


def dummy_context(spec: AgentSpec) -> dict:
    """A run state holding every variable a node template may read (see core/templates.py)."""
    outs = {n.id: ["(output)"] for n in spec.nodes}
    return {"question": "(question)", "instructions": "(instructions)", "fewshot": "", "draft": "(draft)",
            "outputs": outs, "last": {k: v[0] for k, v in outs.items()}, "iteration": 0, "sample": 0,
            "memory": "", "own": "(own)", "peers": ["(peer)"], "candidates": ["(a)", "(b)"], "steps": [],
            "feedback": "", "persona": "(persona)"}


def check_renderable(spec: AgentSpec) -> None:
    """Render each template of ``spec`` against :func:`dummy_context`.

    Raises:
        SpecValidationError: naming the node and field whose template fails (unknown variable,
            unknown ``@template``, syntax error).
    """
    ctx = dummy_context(spec)
    fields: list[tuple[str, str | None]] = [("reflect_prompt", spec.reflect_prompt)]
    for n in spec.nodes:
        fields += [(f"node {n.id!r} system", n.system), (f"node {n.id!r} prompt", n.prompt)]
        if n.search is not None:
            fields.append((f"node {n.id!r} search.step_prompt", n.search.step_prompt))
    for where, ref in fields:
        if not ref:
            continue
        try:
            render(ref, ctx)
        except Exception as exc:
            raise SpecValidationError(f"{where}: template does not render: {type(exc).__name__}: {exc}") from None


def check_sees_problem(spec: AgentSpec) -> None:
    """Refuse an ``llm`` node whose user prompt never shows the model the problem.

    Renders each prompt against :func:`dummy_context` and looks for the question. A meta model
    writing ``"Solve step by step. @solve"`` gets literal text with no question in it (a
    ``@template`` reference must be the whole field), and its candidate would score near zero
    after paying for a full validation pass.

    Raises:
        SpecValidationError: naming the node (and the ``@name`` inside inline text, if any).
    """
    ctx = dummy_context(spec)
    for n in spec.nodes:
        if n.kind != "llm" or not n.prompt:
            continue
        if ctx["question"] in render(n.prompt, ctx):
            continue
        hint = ""
        refs = [r for r in re.findall(r"(?<![\w@])@([a-z0-9_/]+)", n.prompt) if r in template_names()]
        if refs and not n.prompt.startswith("@"):
            hint = (f"; '@{refs[0]}' inside inline text is literal text: use \"prompt\": \"@{refs[0]}\" "
                    "alone, or write the prompt with {{ question }}")
        raise SpecValidationError(f"node {n.id!r} prompt never shows the model the problem "
                                  f"(no {{{{ question }}}}){hint}")


def _node_calls(n: NodeSpec) -> int:
    if n.kind == "execute":
        return 0
    if n.kind == "vote":
        return 1 if n.tiebreak == "judge" else 0
    if n.kind == "search" and n.search is not None:
        s = n.search
        if s.method in ("best-of-n", "weighted-vote"):
            return 2 * s.n
        per_depth = s.beam_width * s.expansions * (2 + s.lookahead_steps)
        return s.max_samples * 2 if s.max_samples else per_depth * s.max_steps
    return n.samples


def estimate_calls(spec: AgentSpec) -> int:
    """Upper bound on model calls for one question.

    An acyclic graph runs each node at most once; a graph with a loop runs at most
    ``max_steps`` nodes. Search nodes count their generations and (LLM-judge) gradings,
    ``execute`` nodes none; Reflexion trials multiply the total and add a reflection between
    trials, a self-evaluation per trial (``evaluator="llm"``) or one test-writing call
    (``"self-tests"``).
    """
    calls = {n.id: _node_calls(n) for n in spec.nodes}
    graph = {n.id: [e.target for e in spec.edges if e.source == n.id] for n in spec.nodes}
    state: dict[str, int] = {}

    def cyclic(v: str) -> bool:
        state[v] = 1
        for w in graph.get(v, []):
            if w in graph and (state.get(w) == 1 or (w not in state and cyclic(w))):
                return True
        state[v] = 2
        return False

    per_run = spec.max_steps * max(calls.values()) if cyclic(spec.entry) else sum(calls.values())
    per_run = min(per_run, spec.max_steps * max(calls.values()))
    extra = 0 if spec.trials == 1 else spec.trials - 1 + {"llm": spec.trials, "self-tests": 1}.get(spec.evaluator, 0)
    return per_run * spec.trials + extra


def _texts(spec: AgentSpec) -> str:
    parts = []
    for n in spec.nodes:
        for ref in (n.system, n.prompt):
            if ref:
                try:
                    parts.append(template_source(ref))
                except Exception:
                    parts.append(ref)
    return "\n".join(parts)


def _skeleton(spec: AgentSpec) -> str:
    data = spec.model_dump(mode="json", include=set(_BEHAVIOUR))
    for n in data["nodes"]:
        n.pop("system", None), n.pop("prompt", None), n.pop("role", None)
    return json.dumps(data, sort_keys=True)


def similarity(a: AgentSpec, b: AgentSpec) -> float:
    """0.0 when the graphs differ in structure, else the similarity (0-1) of their prompt texts."""
    if _skeleton(a) != _skeleton(b):
        return 0.0
    return difflib.SequenceMatcher(None, _texts(a), _texts(b), autojunk=False).ratio()


def text_similarity(a: str, b: str) -> float:
    """Similarity (0-1) of two texts after lower-casing and collapsing whitespace."""
    na, nb = " ".join(a.lower().split()), " ".join(b.lower().split())
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


def answer_nodes(spec: AgentSpec) -> list[NodeSpec]:
    """The answer-bearing ``llm``/``search`` nodes, in spec order."""
    return [n for n in spec.nodes if n.answer and n.kind in ("llm", "search")]


def compact_json(spec: AgentSpec) -> str:
    """The spec as one-line JSON without defaults or metadata (for meta prompts)."""
    return spec.model_dump_json(exclude_defaults=True, exclude={"metadata"})


LONG_TEXT = ("prompt", "system", "step_prompt", "reflect_prompt", "description")
EXECUTE_LIMITS = {"timeout_s": 10.0, "memory_mb": 1024, "max_feedback_chars": 4000}
"""Caps on a proposed ``execute`` node's options (below ``ExecuteSpec``'s own): seconds per
program, MB per program, characters of the report later prompts see (a small model's context)."""


def check_execute_limits(spec: AgentSpec) -> None:
    """Check ``spec``'s ``execute`` nodes against ``EXECUTE_LIMITS``.

    Raises:
        SpecValidationError: naming the node, the option and the cap.
    """
    for n in spec.nodes:
        for name, cap in EXECUTE_LIMITS.items():
            value = getattr(n.execute, name) if n.execute is not None else 0
            if value > cap:
                raise SpecValidationError(f"node {n.id!r}: execute.{name} is {value}; at most {cap} in a search")


def proposal_schema(thought_chars: int = 600, max_items: int = 8, name_chars: int = 40) -> dict:
    """JSON schema of a system-level proposal ``{"thought": str, "spec": AgentSpec}``.

    Sent as ``response_format`` so that providers with structured output (OpenAI's json_schema;
    the local llama.cpp model through a grammar) can only write well-formed specs: a small model's
    usual failures (prose instead of JSON, nodes as strings, unknown fields) become impossible,
    while graph checks (edges, templates, call bounds) still run in ``parse_proposal``. The
    spec's ``metadata`` is left out (the search sets it). Every list holds at most ``max_items``
    entries (default 8), ids, names and other short strings at most ``name_chars`` characters
    (default 40; templates, ``LONG_TEXT``, are not bounded) and ``thought`` at most
    ``thought_chars`` (default 600): under a grammar a small model otherwise repeats list entries
    until it runs out of tokens and the JSON never closes. ``execute`` options keep their
    fields' ranges, capped at ``EXECUTE_LIMITS`` (``answer_from`` and ``tests`` are enums,
    ``tests_from`` a short id).
    """
    spec = AgentSpec.model_json_schema()
    defs = spec.pop("$defs", {})
    for name, cap in EXECUTE_LIMITS.items():
        defs["ExecuteSpec"]["properties"][name]["maximum"] = cap
    spec["properties"] = {k: v for k, v in spec["properties"].items() if k != "metadata"}

    def bound(node, field=""):
        if isinstance(node, list):
            for v in node:
                bound(v, field)
        if not isinstance(node, dict):
            return node
        if node.get("type") == "array":
            node.setdefault("maxItems", max_items)
        if node.get("type") == "string" and "enum" not in node and field not in LONG_TEXT:
            node.setdefault("maxLength", name_chars)
        for key, v in node.items():
            if key == "properties":
                for name, sub in v.items():
                    bound(sub, name)
            elif key != "enum":
                bound(v, field)
        return node

    return bound({"type": "object", "properties": {"thought": {"type": "string", "maxLength": thought_chars},
                                                   "spec": spec},
                  "required": ["thought", "spec"], "additionalProperties": False, "$defs": defs})
