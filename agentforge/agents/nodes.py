"""The run state of a compiled agent, its routing conditions, and the ``llm`` and ``vote`` nodes.

* ``llm`` nodes make ``samples`` concurrent model calls (the first failure cancels the rest).
* ``vote`` nodes take a majority vote over the extracted answers of ``source``'s latest outputs
  (self-consistency, Wang et al. 2022); ties go to the earliest answer or to a judge call.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypedDict

from agentforge.agents.spec import Condition, NodeSpec
from agentforge.agents.trajectory import LLMCall
from agentforge.core.aio import gather_or_cancel

if TYPE_CHECKING:
    from agentforge.agents.graph import Agent


class AnswerFormat(Protocol):
    """What an agent needs from a task (``agentforge.tasks.Task`` implements it)."""

    name: str
    instructions: str
    persona: str
    answer_type: str  # "text", or "program" when the answer is a program (HumanEval)

    def instructions_for(self, example: Any) -> str: ...

    def fewshot_for(self, example: Any) -> str: ...

    def visible_tests(self, example: Any) -> list[str]: ...

    def extract(self, text: str, example: Any = None) -> str | None: ...

    def normalize(self, answer: str, example: Any = None) -> str: ...


def _merge(a: dict, b: dict) -> dict:
    return {**(a or {}), **(b or {})}


class RunState(TypedDict, total=False):
    """LangGraph state of one run (reducers merge per-node updates)."""

    question: str
    outputs: Annotated[dict[str, list[str]], _merge]
    answers: Annotated[dict[str, list[str | None]], _merge]
    passed: Annotated[dict[str, list[bool]], _merge]
    visits: Annotated[dict[str, int], _merge]
    trajectory: Annotated[list[LLMCall], operator.add]
    draft: str
    feedback: str
    final: str | None
    final_text: str
    votes: dict[str, float]
    memory_text: str
    example: Any


def holds(c: Condition, state: RunState) -> bool:
    """Whether routing condition ``c`` holds in ``state`` (see ``Condition`` for the kinds)."""
    outs = (state.get("outputs") or {}).get(c.node) or [""]
    if c.kind == "contains":
        return str(c.value) in outs[0]
    if c.kind == "not_contains":
        return str(c.value) not in outs[0]
    if c.kind == "visits_at_least":
        return (state.get("visits") or {}).get(c.node, 0) >= int(c.value or 0)
    if c.kind in ("tests_pass", "tests_fail"):
        passed = (state.get("passed") or {}).get(c.node) or [False]
        return passed[0] if c.kind == "tests_pass" else not passed[0]
    answers = (state.get("answers") or {}).get(c.node) or []
    if c.kind == "answers_match":
        other = (state.get("answers") or {}).get(str(c.value)) or [None]
        return bool(answers) and answers[0] is not None and answers[0] == other[0]
    return len(answers) > 0 and None not in answers and len(set(answers)) == 1


def majority(answers: list[str | None]) -> tuple[list[str], dict[str, int]]:
    """Majority vote: (the answers tied for most votes in first-seen order, vote counts).

    None answers do not vote. Returns ([], {}) when nobody answered.
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return [], {}
    top = max(counts.values())
    order = list(dict.fromkeys(a for a in answers if a is not None))
    return [a for a in order if counts[a] == top], dict(counts)


async def llm_node(agent: "Agent", node: NodeSpec, state: RunState) -> dict:
    """Run an ``llm`` node: ``node.samples`` concurrent calls; returns the state update."""
    visit = (state.get("visits") or {}).get(node.id, 0)
    example = state.get("example")
    calls = await gather_or_cancel(*[
        agent.call_model(node, agent.messages(node, agent.context(node, state, i)), sample=i, visit=visit,
                         answer=node.answer, example=example)
        for i in range(node.samples)
    ])
    update: dict[str, Any] = {
        "outputs": {node.id: [c.output for c in calls]},
        "answers": {node.id: [c.answer for c in calls]},
        "visits": {node.id: visit + 1},
        "trajectory": list(calls),
    }
    if node.answer:  # the latest answer-bearing node gives the run's answer
        update["draft"] = update["final_text"] = calls[0].output
        update["final"] = calls[0].answer
    return update


async def vote_node(agent: "Agent", node: NodeSpec, state: RunState) -> dict:
    """Run a ``vote`` node over ``node.source``'s latest answers; returns the state update."""
    src = node.source or ""
    answers = (state.get("answers") or {}).get(src) or []
    outputs = (state.get("outputs") or {}).get(src) or []
    tied, counts = majority(answers)
    update: dict[str, Any] = {"votes": counts, "visits": {node.id: (state.get("visits") or {}).get(node.id, 0) + 1}}
    if not tied:
        return {**update, "final": None, "final_text": outputs[0] if outputs else ""}
    winner, text = tied[0], outputs[answers.index(tied[0])]
    if len(tied) > 1 and node.tiebreak == "judge":
        candidates = [outputs[answers.index(a)] for a in tied]
        ctx = {**agent.context(node, state, 0), "candidates": candidates}
        call = await agent.call_model(node, agent.messages(node, ctx, node.prompt or "@tiebreak"), answer=True,
                                      example=state.get("example"))
        update["trajectory"] = [call]
        if call.answer in tied:
            winner, text = call.answer, call.output
    return {**update, "final": winner, "final_text": text}
