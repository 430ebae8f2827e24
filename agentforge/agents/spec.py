"""``AgentSpec``: an agent as data (JSON-serializable), compiled to a LangGraph graph.

An agent is a small graph of nodes:

* ``llm`` nodes make ``samples`` concurrent model calls, each rendering a ``system`` and a
  ``prompt`` Jinja template (sandboxed) against the run state; ``answer=True`` marks nodes whose
  output carries a candidate answer (it becomes the current *draft*); ``peers_from`` gives
  sample ``i`` its own previous output (``own``) and the other samples' outputs (``peers``)
  from another node, which is how debate rounds read each other (Du et al. 2023).
* ``vote`` nodes take a majority vote over the extracted answers of ``source``'s latest outputs
  (self-consistency, Wang et al. 2022); ties go to the earliest answer or to a judge call.
* ``search`` nodes run judge-guided test-time search (best-of-N, weighted vote, beam, lookahead).
* ``execute`` nodes run the programs in ``source``'s latest outputs in the sandbox (never in the
  framework's process), optionally against tests (the task's visible tests, or tests another
  node wrote); the execution report becomes ``{{ feedback }}`` for the next nodes, and the
  program's printed output can be the answer (program-aided reasoning, PAL: Gao et al. 2022).
  Only code the *task's model* wrote is executed; a spec itself is data and never runs.

Edges run ``source -> target`` (``"END"`` ends the run). A source may have several edges: those
with a ``when`` list are tried in order, the first whose conditions hold (any of them) is taken,
and exactly one unconditional edge is the default. Conditions are data too (``contains``,
``not_contains``, ``visits_at_least``, ``answers_agree``, ``answers_match``, ``tests_pass``,
``tests_fail``): nothing in a spec is ever executed as code, so the meta-search can propose
specs safely.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentforge.agents.spec_options import Condition, ExecuteSpec, SearchSpec
from agentforge.core.datafiles import parse_json, read_text
from agentforge.core.errors import SpecValidationError
from agentforge.core.templates import check_template

END = "END"

__all__ = ["END", "AgentSpec", "Condition", "EdgeSpec", "ExecuteSpec", "NodeSpec", "SearchSpec"]


class NodeSpec(BaseModel):
    """One node. See the module docstring for the meaning of each kind.

    Attributes:
        id: unique name (letters, digits, ``_`` and ``-``).
        kind: ``llm`` or ``vote``.
        role: free-form label recorded in the trajectory (``solver``, ``critic``, ``debater``).
        system: system-prompt template: ``@name`` for a file in ``agentforge/prompts``
            (``name.j2``) or inline Jinja text; None for no system message.
        prompt: user-prompt template, same forms (required for ``llm`` nodes; for ``vote`` nodes
            the tie-break judge's prompt).
        samples: concurrent calls (k for self-consistency, n agents for debate); default 1.
        temperature: overrides the LLM's temperature for this node (None keeps it).
        max_tokens: overrides the LLM's max_tokens for this node.
        answer: the output carries a candidate answer (becomes the draft).
        peers_from: node whose latest outputs become ``own``/``peers`` for sample i.
        source: for ``vote``: the node whose latest outputs are voted on.
        tiebreak: for ``vote``: ``first`` (earliest answer wins) or ``judge`` (one model call).
        search: for ``search``: the test-time search options (``SearchSpec``); ``prompt`` is
            the full-solution prompt (best-of-n) and ``search.step_prompt`` the next-step prompt.
        execute: for ``execute``: the execution options (``ExecuteSpec``); ``source`` names the
            node whose latest outputs hold the programs (one run per sample).
    """

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    kind: Literal["llm", "vote", "search", "execute"] = "llm"
    role: str = "solver"
    system: str | None = "@system"
    prompt: str | None = None
    samples: int = Field(1, ge=1, le=64)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    answer: bool = False
    peers_from: str | None = None
    source: str | None = None
    tiebreak: Literal["first", "judge"] = "first"
    search: SearchSpec | None = None
    execute: ExecuteSpec | None = None


class EdgeSpec(BaseModel):
    """``source -> target``, taken when any condition in ``when`` holds (always if empty)."""

    model_config = ConfigDict(extra="forbid")
    source: str
    target: str
    when: list[Condition] = Field(default_factory=list)


class AgentSpec(BaseModel):
    """A whole agent: nodes, edges, entry node and free-form metadata.

    Attributes:
        name: the agent's name (``cot``, ``debate``, or anything a search invents).
        description: one line for humans and for the meta-search.
        nodes: the nodes, ids unique.
        edges: the edges; every node but those leading only to END needs an outgoing edge.
        entry: the first node.
        max_steps: cap on node executions per run (LangGraph recursion limit), default 50.
        memory: the memory modules (``experience``, ``reflection``, ``insight``) the agent learns
            with when a memory store is attached (``agentforge run --memory URI``; ``--learn``
            overrides); retrieved text reaches prompts as ``{{ memory }}``.
        trials: Reflexion (Shinn et al. 2023): attempts per question; after a failed attempt the
            model writes a self-reflection that the next attempt sees (default 1: no retries).
        evaluator: how an attempt is judged between trials: ``verifier`` (the task's answer
            check against the gold, as Reflexion's exact-match evaluator: an oracle), ``llm``
            (the model judges its own solution with ``@self_evaluate``), ``visible-tests`` (the
            program runs against the task's visible tests) or ``self-tests`` (against unit tests
            the model wrote first, as Reflexion's programming agent); see
            ``agentforge.agents.reflexion``.
        reflect_prompt: the self-reflection template (default ``@reflect``).
        metadata: anything else (options the spec was built with, search provenance).

    Raises:
        SpecValidationError (from ``validate_json``/``load``), naming the bad node or edge.
    """

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    nodes: list[NodeSpec]
    edges: list[EdgeSpec]
    entry: str
    max_steps: int = Field(50, ge=1, le=1000)
    memory: list[Literal["experience", "reflection", "insight"]] = Field(default_factory=list)
    trials: int = Field(1, ge=1, le=10)
    evaluator: Literal["verifier", "llm", "visible-tests", "self-tests"] = "verifier"
    reflect_prompt: str = "@reflect"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_graph(self) -> "AgentSpec":
        ids = [n.id for n in self.nodes]
        if not ids:
            raise ValueError("spec has no nodes")
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate node id(s): {dupes}")
        known = set(ids)
        kinds = {n.id: n.kind for n in self.nodes}
        if self.entry not in known:
            raise ValueError(f"entry {self.entry!r} is not a node; nodes: {ids}")
        for n in self.nodes:
            where = f"node {n.id!r}"
            if n.kind == "llm" and not n.prompt:
                raise ValueError(f"{where}: llm node needs a prompt")
            if n.kind == "search" and (n.search is None or not n.prompt):
                raise ValueError(f"{where}: search node needs a prompt and search options")
            if n.kind == "search":
                try:
                    check_template(n.search.step_prompt)
                except Exception as exc:
                    raise ValueError(f"{where}: bad step_prompt template: {exc}") from None
            if n.kind in ("vote", "execute") and n.source not in known:
                raise ValueError(f"{where}: {n.kind} source {n.source!r} is not a node")
            if n.kind == "execute" and n.execute is not None and n.execute.tests_from not in (None, *known):
                raise ValueError(f"{where}: tests_from {n.execute.tests_from!r} is not a node")
            if n.peers_from is not None and n.peers_from not in known:
                raise ValueError(f"{where}: peers_from {n.peers_from!r} is not a node")
            for field in ("system", "prompt"):
                text = getattr(n, field)
                if text:
                    try:
                        check_template(text)
                    except Exception as exc:
                        raise ValueError(f"{where}: bad {field} template: {exc}") from None
        try:
            check_template(self.reflect_prompt)
        except Exception as exc:
            raise ValueError(f"reflect_prompt: bad template: {exc}") from None
        for i, e in enumerate(self.edges):
            where = f"edge {i} ({e.source} -> {e.target})"
            if e.source not in known:
                raise ValueError(f"{where}: unknown source {e.source!r}")
            if e.target not in known and e.target != END:
                raise ValueError(f"{where}: unknown target {e.target!r}")
            for c in e.when:
                if c.node not in known:
                    raise ValueError(f"{where}: condition on unknown node {c.node!r}")
                if c.kind == "answers_match" and c.value not in known:
                    raise ValueError(f"{where}: answers_match against unknown node {c.value!r}")
                if c.kind in ("tests_pass", "tests_fail") and kinds[c.node] != "execute":
                    raise ValueError(f"{where}: {c.kind} needs an execute node, {c.node!r} is {kinds[c.node]}")
        for nid in ids:
            out = [e for e in self.edges if e.source == nid]
            default = [e for e in out if not e.when]
            if not out:
                raise ValueError(f"node {nid!r} has no outgoing edge (add one to END)")
            if len(default) != 1:
                raise ValueError(f"node {nid!r} needs exactly one unconditional edge, has {len(default)}")
        return self

    # ---- JSON ------------------------------------------------------------------------------
    def to_json(self, indent: int = 2) -> str:
        """The spec as JSON text (round-trips through ``AgentSpec.validate_json``)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def validate_json(cls, text: str) -> "AgentSpec":
        """Parse and validate JSON text.

        Raises:
            SpecValidationError: invalid JSON or an invalid graph; the message names the problem.
        """
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise SpecValidationError(_describe(exc)) from None

    @classmethod
    def validate_dict(cls, data: dict[str, Any]) -> "AgentSpec":
        """Validate a dict (as ``validate_json``)."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecValidationError(_describe(exc)) from None

    @classmethod
    def load(cls, path: str | Path) -> "AgentSpec":
        """Read a spec from a JSON file.

        Raises:
            SpecValidationError: no such file, or an invalid spec (naming the file).
            DataFormatError: bytes that are not UTF-8, invalid or too deeply nested JSON.
        """
        p = Path(path)
        if not p.is_file():
            raise SpecValidationError(f"{p}: no such spec file" + (" (it is a folder)" if p.is_dir() else ""))
        try:
            return cls.validate_dict(parse_json(read_text(p, "spec file"), p))
        except SpecValidationError as exc:
            raise SpecValidationError(f"{p}: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write the spec as JSON."""
        Path(path).write_text(self.to_json())

    def hash(self) -> str:
        """A short content hash (sha256 of canonical JSON, 16 hex chars), stable across runs."""
        canon = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canon.encode()).hexdigest()[:16]


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = err.get("msg", "").removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "invalid AgentSpec: " + "; ".join(parts)
