"""Compile an ``AgentSpec`` to a LangGraph ``StateGraph`` and run it: the ``Agent`` class.

Each spec node becomes one async LangGraph node; an ``llm`` node's ``samples`` calls run
concurrently, so a debate round costs one model latency, not n (the first failed call cancels
the others). Routing conditions are evaluated by ``_route`` from the data in the spec, never by
executing text.
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections import Counter
from typing import Annotated, Any, Protocol, TypedDict

from langgraph.errors import GraphRecursionError
from langgraph.graph import END as LG_END
from langgraph.graph import START, StateGraph

from agentforge.agents.prompts import render
from agentforge.agents.spec import END, AgentSpec, Condition, NodeSpec
from agentforge.agents.trajectory import AgentResult, LLMCall
from agentforge.core.aio import gather_or_cancel
from agentforge.llm import LLM
from agentforge.llm.types import Usage


class AnswerFormat(Protocol):
    """What an agent needs from a task: the answer instruction, extraction and normalization."""

    instructions: str

    def extract(self, text: str, example: Any = None) -> str | None: ...

    def normalize(self, answer: str, example: Any = None) -> str: ...


def _merge(a: dict, b: dict) -> dict:
    return {**(a or {}), **(b or {})}


class RunState(TypedDict, total=False):
    question: str
    outputs: Annotated[dict[str, list[str]], _merge]
    answers: Annotated[dict[str, list[str | None]], _merge]
    visits: Annotated[dict[str, int], _merge]
    trajectory: Annotated[list[LLMCall], operator.add]
    draft: str
    final: str | None
    final_text: str
    votes: dict[str, int]
    memory_text: str
    example: Any


def usage_of(calls: list[LLMCall]) -> Usage:
    """Usage totals over trajectory steps."""
    return Usage.total([Usage(calls=1, cached_calls=int(c.cached), prompt_tokens=c.prompt_tokens,
                              completion_tokens=c.completion_tokens, latency_s=c.latency_s, cost_usd=c.cost_usd)
                        for c in calls])


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


class Agent:
    """A compiled agent: ``spec`` + ``llm`` + a task's answer format.

    Args:
        spec: the validated AgentSpec.
        llm: the model configuration every node uses (nodes may override temperature/max_tokens).
        task: answer instructions, extraction and normalization (a ``agentforge.tasks.Task``).
        judge: for ``search`` nodes: a ``Judge``, or a function ``example -> Judge`` (an exact
            verifier needs the example's gold); default ``LLMJudge(llm)``.
        memory: optional memory module with ``retrieve(question, example) -> str`` (e.g. a
            ``agentforge.memory.MemoryLearner``); its text reaches templates as ``{{ memory }}``.

    ``await agent.arun(question)`` returns an ``AgentResult``. Model failures propagate as
    ``ModelCallError``; a template referring to an unknown variable raises ``jinja2.UndefinedError``.
    An exception leaving a run carries ``partial_trajectory``: the calls of the nodes that finished.
    """

    def __init__(self, spec: AgentSpec, llm: LLM, task: AnswerFormat, memory: Any = None, judge: Any = None):
        self.spec, self.llm, self.task, self.memory = spec, llm, task, memory
        self.judge = judge
        self._nodes = {n.id: n for n in spec.nodes}
        self.graph = self._compile()

    # ---- compile ---------------------------------------------------------------------------
    def _compile(self):
        g = StateGraph(RunState)
        for node in self.spec.nodes:
            g.add_node(node.id, self._make_node(node))
        g.add_edge(START, self.spec.entry)
        for nid in self._nodes:
            out = [e for e in self.spec.edges if e.source == nid]
            if len(out) == 1:
                g.add_edge(nid, LG_END if out[0].target == END else out[0].target)
            else:
                targets = {e.target: (LG_END if e.target == END else e.target) for e in out}
                g.add_conditional_edges(nid, self._router(nid), targets)
        return g.compile()

    def _router(self, nid: str):
        edges = [e for e in self.spec.edges if e.source == nid]

        def route(state: RunState) -> str:
            for e in edges:
                if e.when and any(self._holds(c, state) for c in e.when):
                    return e.target
            return next(e.target for e in edges if not e.when)

        return route

    def _holds(self, c: Condition, state: RunState) -> bool:
        outs = (state.get("outputs") or {}).get(c.node) or [""]
        if c.kind == "contains":
            return str(c.value) in outs[0]
        if c.kind == "not_contains":
            return str(c.value) not in outs[0]
        if c.kind == "visits_at_least":
            return (state.get("visits") or {}).get(c.node, 0) >= int(c.value or 0)
        answers = (state.get("answers") or {}).get(c.node) or []
        return len(answers) > 0 and None not in answers and len(set(answers)) == 1

    def _make_node(self, node: NodeSpec):
        async def run_node(state: RunState) -> dict:
            if node.kind == "search":
                from agentforge.agents.testtime import run_search

                return await run_search(self, node, state)
            return await (self._llm_node(node, state) if node.kind == "llm" else self._vote_node(node, state))

        return run_node

    def judge_for(self, example: Any):
        """The judge for ``example`` (see the ``judge`` argument)."""
        from agentforge.judges import Judge

        if self.judge is None:
            from agentforge.judges.llm_judge import LLMJudge

            self.judge = LLMJudge(self.llm)
        return self.judge if isinstance(self.judge, Judge) else self.judge(example)

    # ---- node bodies -------------------------------------------------------------------------
    def _context(self, node: NodeSpec, state: RunState, sample: int) -> dict[str, Any]:
        outputs = state.get("outputs") or {}
        ctx: dict[str, Any] = {
            "question": state["question"],
            "instructions": self._instructions(state.get("example")),
            "fewshot": getattr(self.task, "fewshot", "") or "",
            "draft": state.get("draft", ""),
            "outputs": outputs,
            "last": {k: (v[0] if v else "") for k, v in outputs.items()},
            "iteration": (state.get("visits") or {}).get(node.id, 0),
            "sample": sample,
            "memory": state.get("memory_text", ""),
            "own": "",
            "peers": [],
        }
        if node.peers_from:
            prev = outputs.get(node.peers_from) or []
            ctx["own"] = prev[sample] if sample < len(prev) else (prev[0] if prev else "")
            ctx["peers"] = [p for j, p in enumerate(prev) if j != sample]
        return ctx

    def _instructions(self, example: Any) -> str:
        per_example = getattr(self.task, "instructions_for", None)
        if per_example is not None and example is not None:
            return per_example(example)
        return self.task.instructions

    def _messages(self, node: NodeSpec, ctx: dict[str, Any], prompt: str | None = None) -> list[dict]:
        msgs = []
        if node.system:
            msgs.append({"role": "system", "content": render(node.system, ctx)})
        msgs.append({"role": "user", "content": render(prompt or node.prompt or "", ctx)})
        return msgs

    async def _call(self, node: NodeSpec, msgs: list[dict], sample: int, visit: int, answer: bool,
                    example: Any = None) -> LLMCall:
        """One model call for ``node``, recorded as a trajectory step."""
        overrides = {k: v for k, v in (("temperature", node.temperature), ("max_tokens", node.max_tokens)) if v is not None}
        comp = await self.llm.acomplete(msgs, sample_index=visit * 1000 + sample, **overrides)
        ans = self.task.extract(comp.text, example) if answer else None
        return LLMCall(node=node.id, role=node.role, sample=sample, visit=visit, messages=msgs, output=comp.text,
                       answer=ans, prompt_tokens=comp.usage.prompt_tokens, completion_tokens=comp.usage.completion_tokens,
                       latency_s=0.0 if comp.cached else comp.usage.latency_s, cost_usd=comp.usage.cost_usd,
                       cached=comp.cached)

    async def _llm_node(self, node: NodeSpec, state: RunState) -> dict:
        visit = (state.get("visits") or {}).get(node.id, 0)
        calls = await gather_or_cancel(*[
            self._call(node, self._messages(node, self._context(node, state, i)), i, visit, node.answer,
                       state.get("example"))
            for i in range(node.samples)
        ])
        update: dict[str, Any] = {
            "outputs": {node.id: [c.output for c in calls]},
            "answers": {node.id: [c.answer for c in calls]},
            "visits": {node.id: visit + 1},
            "trajectory": list(calls),
        }
        if node.answer:
            update["draft"] = calls[0].output
        return update

    async def _vote_node(self, node: NodeSpec, state: RunState) -> dict:
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
            ctx = {**self._context(node, state, 0), "candidates": candidates}
            call = await self._call(node, self._messages(node, ctx, node.prompt or "@tiebreak"), 0, 0, True,
                                    state.get("example"))
            update["trajectory"] = [call]
            if call.answer in tied:
                winner, text = call.answer, call.output
        return {**update, "final": winner, "final_text": text}

    # ---- run ---------------------------------------------------------------------------------
    async def arun(self, question: str, example: Any = None) -> AgentResult:
        """Run the agent on one question (with ``spec.trials > 1``, Reflexion-style retries)."""
        if self.spec.trials > 1:
            from agentforge.agents.reflexion import run_trials

            return await run_trials(self, question, example)
        memory_text = (self.memory.retrieve(question, example) or "") if self.memory is not None else ""
        return await self.run_graph(question, example, memory_text)

    async def run_graph(self, question: str, example: Any = None, memory_text: str = "") -> AgentResult:
        """One pass through the graph with ``memory_text`` as ``{{ memory }}``."""
        t0 = time.perf_counter()
        init: RunState = {"question": question, "outputs": {}, "answers": {}, "visits": {}, "trajectory": [],
                          "memory_text": memory_text, "example": example}
        state: dict = dict(init)
        truncated = False
        try:  # stream full states so that a run stopped at max_steps keeps what was paid for
            async for snapshot in self.graph.astream(init, {"recursion_limit": self.spec.max_steps},
                                                     stream_mode="values"):
                state = snapshot
        except GraphRecursionError:
            truncated = True
        except Exception as exc:  # let callers account for the calls already paid for
            exc.partial_trajectory = list(state.get("trajectory", []))  # type: ignore[attr-defined]
            raise
        traj: list[LLMCall] = state.get("trajectory", [])
        if "final" in state:
            answer, text = state.get("final"), state.get("final_text", "")
        else:
            text = state.get("draft", "")
            answer = self.task.extract(text, example) if text else None
        return AgentResult(answer=answer, text=text, trajectory=traj, usage=usage_of(traj),
                           votes=state.get("votes") or {}, wall_s=time.perf_counter() - t0,
                           metadata={"truncated": True} if truncated else {})

    def run(self, question: str, example: Any = None) -> AgentResult:
        """Synchronous ``arun`` (not from inside a running event loop)."""
        return asyncio.run(self.arun(question, example))
