"""Compile an ``AgentSpec`` to a LangGraph ``StateGraph`` and run it: the ``Agent`` class.

Each spec node becomes one async LangGraph node; an ``llm`` node's ``samples`` calls run
concurrently, so a debate round costs one model latency, not n (the first failed call cancels
the others). Routing conditions are evaluated by ``route`` from the data in the spec, never by
executing text. Node kinds other than ``llm`` and ``vote`` live in their own modules
(``search``: ``agentforge.agents.testtime``; ``execute``: ``agentforge.agents.execute``).

Every call an agent run pays for is kept: each finished model call is recorded as it finishes
(even when a sibling then fails, a judge then fails or a later Reflexion trial fails), and the
run's usage is measured at the model layer, so judge calls count too. A failed run raises
``AgentRunError`` whose ``partial`` holds all of it.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.errors import GraphRecursionError
from langgraph.graph import END as LG_END
from langgraph.graph import START, StateGraph

from agentforge.agents import execute, reflexion, testtime
from agentforge.agents.memory import AgentMemory
from agentforge.agents.nodes import AnswerFormat, RunState, holds, llm_node, vote_node
from agentforge.agents.prebuilt import build_agent_spec
from agentforge.agents.spec import END, AgentSpec, NodeSpec
from agentforge.agents.trajectory import AgentResult, LLMCall, collect_calls, record, usage_of
from agentforge.core.aio import run_sync
from agentforge.core.errors import AgentRunError, UserError
from agentforge.core.settings import settings
from agentforge.core.templates import render
from agentforge.judges.base import Judge
from agentforge.judges.llm_judge import LLMJudge
from agentforge.llm import LLM
from agentforge.llm.observers import UsageLedger, observe_calls
from agentforge.sandbox import Executor, default_executor
from agentforge.tasks.base import Example, Task

class Agent:
    """A compiled agent: a spec, a model, an answer format, optional memory and judge.

    Args:
        spec: an ``AgentSpec``, or the name of a prebuilt agent (``"cot"``, ``"debate"``, ...)
            built with ``**options`` (``Agent("debate", agents=5)``).
        llm: the model every node uses (nodes may override temperature/max_tokens): an ``LLM``,
            a model id string, or None for ``model`` / ``$AGENTFORGE_MODEL`` / the embedded default.
        task: the answer format (instructions, extraction, normalization), a
            ``agentforge.tasks.Task``; default: a free-form task (``Answer: ...`` lines, ``\\boxed{}``).
        model: a model id (same as passing it as ``llm``).
        memory: an ``AgentMemory`` (e.g. ``MemoryLearner``); its text reaches templates as
            ``{{ memory }}``.
        judge: the judge of test-time ``search`` nodes (default ``LLMJudge(llm)``); it is given
            each example, so an exact verifier reads the gold from there.
        executor: the sandbox that runs model-written programs for ``execute`` nodes and
            test-based Reflexion (default: ``agentforge.sandbox.default_executor()``).
        **options: options of the prebuilt agent named by ``spec``.

    Raises:
        UnknownNameError: an unknown prebuilt agent or option (the message lists the valid ones).
        UserError: ``options`` with a spec object, or both ``llm`` and ``model``.

    ``await agent.arun(question)`` (or ``agent.run_sync(question)``, which also works inside
    Jupyter) returns an ``AgentResult``. A run that fails raises ``AgentRunError`` carrying the
    partial result (every paid call); its ``cause`` is the original error (``ModelCallError``,
    ``TemplateError``, ...).
    """

    def __init__(self, spec: AgentSpec | str, llm: LLM | str | None = None, task: AnswerFormat | None = None, *,
                 model: str | None = None, memory: AgentMemory | None = None, judge: Judge | None = None,
                 executor: Executor | None = None, **options: Any):
        if isinstance(spec, str):
            spec = build_agent_spec(spec, **options)
        elif options:
            raise UserError(f"options {sorted(options)} only apply to a prebuilt agent named by a string")
        if llm is not None and model is not None:
            raise UserError("pass the model either as llm or as model=, not both")
        llm = llm if llm is not None else model
        self.llm = llm if isinstance(llm, LLM) else LLM(model=llm or settings().model)
        self.spec, self.memory = spec, memory
        self.task: AnswerFormat = task if task is not None else Task("free-form", [])
        self._judge = judge
        self.executor = executor or default_executor()
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
                if e.when and any(holds(c, state) for c in e.when):
                    return e.target
            return next(e.target for e in edges if not e.when)

        return route

    def _make_node(self, node: NodeSpec):
        body = {"llm": llm_node, "vote": vote_node, "search": testtime.run_search,
                "execute": execute.run_execute}[node.kind]

        async def run_node(state: RunState) -> dict:
            return await body(self, node, state)

        return run_node

    @property
    def judge(self) -> Judge:
        """The judge of ``search`` nodes (created on first use: ``LLMJudge(llm)`` by default)."""
        if self._judge is None:
            self._judge = LLMJudge(self.llm)
        return self._judge

    # ---- what nodes use ----------------------------------------------------------------------
    def context(self, node: NodeSpec, state: RunState, sample: int) -> dict[str, Any]:
        """The template variables of ``node``'s sample ``sample`` in ``state`` (see
        ``agentforge.core.templates`` for the list)."""
        outputs = state.get("outputs") or {}
        example = state.get("example")
        ctx: dict[str, Any] = {
            "question": state["question"],
            "persona": self.task.persona,
            "instructions": self.task.instructions_for(example) if example is not None else self.task.instructions,
            "fewshot": self.task.fewshot_for(example) if example is not None else "",
            "draft": state.get("draft", ""),
            "outputs": outputs,
            "last": {k: (v[0] if v else "") for k, v in outputs.items()},
            "iteration": (state.get("visits") or {}).get(node.id, 0),
            "sample": sample,
            "memory": state.get("memory_text", ""),
            "feedback": state.get("feedback", ""),
            "own": "",
            "peers": [],
        }
        if node.peers_from:
            prev = outputs.get(node.peers_from) or []
            ctx["own"] = prev[sample] if sample < len(prev) else (prev[0] if prev else "")
            ctx["peers"] = [p for j, p in enumerate(prev) if j != sample]
        return ctx

    def messages(self, node: NodeSpec, ctx: dict[str, Any], prompt: str | None = None) -> list[dict]:
        """The chat messages of ``node`` rendered against ``ctx`` (``prompt`` overrides the node's)."""
        msgs = []
        if node.system:
            msgs.append({"role": "system", "content": render(node.system, ctx)})
        msgs.append({"role": "user", "content": render(prompt or node.prompt or "", ctx)})
        return msgs

    async def call_model(self, node: NodeSpec, msgs: list[dict], *, sample: int = 0, visit: int = 0,
                         answer: bool = False, example: Any = None) -> LLMCall:
        """One model call for ``node``, recorded as a trajectory step of the current run.

        ``answer`` extracts the task's answer from the output. The step is kept even when the
        run later fails (see the module docstring).

        Raises:
            ModelCallError / BudgetExceeded / UserError: from the model layer.
        """
        overrides = {k: v for k, v in (("temperature", node.temperature), ("max_tokens", node.max_tokens)) if v is not None}
        comp = await self.llm.acomplete(msgs, sample_index=visit * 1000 + sample, **overrides)
        ans = self.task.extract(comp.text, example) if answer else None
        call = LLMCall(node=node.id, role=node.role, sample=sample, visit=visit, messages=msgs, output=comp.text,
                       answer=ans, prompt_tokens=comp.usage.prompt_tokens, completion_tokens=comp.usage.completion_tokens,
                       latency_s=0.0 if comp.cached else comp.usage.latency_s, cost_usd=comp.usage.cost_usd,
                       cached=comp.cached)
        record(call)
        return call

    # ---- run ---------------------------------------------------------------------------------
    async def arun(self, question: str | Example, example: Any = None) -> AgentResult:
        """Run the agent on one question (with ``spec.trials > 1``, Reflexion-style retries).

        Args:
            question: the question text, or an ``Example`` (its question is asked and it is the
                example judges and verifiers see).
            example: the task example the question comes from (optional).

        Raises:
            AgentRunError: the run failed; ``partial`` has every call paid for so far.
            UserError: bad arguments.
        """
        if isinstance(question, Example):
            question, example = question.question, question
        if not isinstance(question, str):
            raise UserError(f"question must be a str or an Example, got {type(question).__name__}")
        ledger = UsageLedger()
        t0 = time.perf_counter()
        try:
            with observe_calls(ledger), collect_calls() as calls:
                if self.spec.trials > 1:
                    result = await reflexion.run_trials(self, question, example)
                else:
                    memory_text = (self.memory.retrieve(question, example) or "") if self.memory is not None else ""
                    result = await self.run_graph(question, example, memory_text)
        except AgentRunError:
            raise
        except Exception as exc:
            partial = AgentResult(answer=None, trajectory=list(calls), usage=ledger.total(),
                                  wall_s=time.perf_counter() - t0)
            raise AgentRunError(f"{self.spec.name}: {type(exc).__name__}: {exc}", partial, exc) from exc
        return result.model_copy(update={"usage": ledger.total(), "wall_s": time.perf_counter() - t0})

    async def run_graph(self, question: str, example: Any = None, memory_text: str = "") -> AgentResult:
        """One pass through the graph with ``memory_text`` as ``{{ memory }}`` (no retries).

        The result's ``usage`` covers its trajectory; ``arun`` replaces it with the run's total
        as measured at the model layer (judge calls included).
        """
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
        traj: list[LLMCall] = state.get("trajectory", [])
        if "final" in state:
            answer, text = state.get("final"), state.get("final_text", "")
        else:
            text = state.get("draft", "")
            answer = self.task.extract(text, example) if text else None
        metadata: dict[str, Any] = {"truncated": True} if truncated else {}
        reports = {n.id: outs[0] for n in self.spec.nodes if n.kind == "execute"
                   and (outs := (state.get("outputs") or {}).get(n.id))}
        if reports:  # what the sandbox said, for feedback-driven search (GEPA) and traces
            metadata["execution"] = reports
        return AgentResult(answer=answer, text=text, trajectory=traj, usage=usage_of(traj),
                           votes=state.get("votes") or {}, wall_s=time.perf_counter() - t0, metadata=metadata)

    def run_sync(self, question: str | Example, example: Any = None) -> AgentResult:
        """Synchronous ``arun``; works inside a running event loop (Jupyter) too."""
        return run_sync(self.arun(question, example))

    run = run_sync
