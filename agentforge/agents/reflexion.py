"""Reflexion trials (Shinn et al. 2023): attempt, evaluate, reflect, retry.

``run_trials`` runs the agent's graph up to ``spec.trials`` times. After each attempt an
evaluator judges it (the task's exact answer check where the example has a gold answer, or the
model itself with ``@self_evaluate``); on failure the model writes a self-reflection (``@reflect``)
that every later attempt sees in ``{{ memory }}``, after whatever the memory module retrieved.
The result carries ``metadata["trials"]`` (answer and verdict per attempt) and
``metadata["reflections"]`` (the texts, which a ``MemoryLearner`` stores).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentforge.agents.graph import usage_of
from agentforge.agents.spec import NodeSpec
from agentforge.agents.trajectory import AgentResult, LLMCall

if TYPE_CHECKING:
    from agentforge.agents.graph import Agent

_EVAL = NodeSpec(id="evaluate", role="evaluator", system=None, prompt="@self_evaluate", temperature=0.0)


async def _evaluate(agent: "Agent", question: str, example: Any, res: AgentResult, trial: int) -> tuple[bool, list[LLMCall]]:
    if agent.spec.evaluator == "verifier" and example is not None and getattr(example, "gold", None) is not None:
        return bool(agent.task.score(res.answer, example)), []
    ctx = {"question": question, "draft": res.text}
    call = await agent._call(_EVAL, agent._messages(_EVAL, ctx), 0, trial, False, example)
    last = (call.output.strip().splitlines() or [""])[-1].upper()
    return ("CORRECT" in last and "INCORRECT" not in last), [call]


async def run_trials(agent: "Agent", question: str, example: Any = None) -> AgentResult:
    """Run Reflexion trials with ``agent`` (see the module docstring); returns the last attempt."""
    spec = agent.spec
    base = (agent.memory.retrieve(question, example) or "") if agent.memory is not None else ""
    reflect = NodeSpec(id="reflect", role="reflector", system=None, prompt=spec.reflect_prompt)
    calls: list[LLMCall] = []
    trials: list[dict[str, Any]] = []
    reflections: list[str] = []
    wall = 0.0
    res = AgentResult(answer=None)
    for t in range(spec.trials):
        memory = base
        if reflections:
            own = "\n".join(f"- Attempt {i}: {r.strip()}" for i, r in enumerate(reflections, 1))
            memory = (base + "\n\n" if base else "") + f"Your earlier attempts at this question failed. Reflections:\n{own}"
        res = await agent.run_graph(question, example, memory)
        wall += res.wall_s
        calls += res.trajectory
        correct, eval_calls = await _evaluate(agent, question, example, res, t)
        calls += eval_calls
        trials.append({"trial": t + 1, "answer": res.answer, "correct": correct})
        if correct or t == spec.trials - 1:
            break
        ctx = {"question": question, "draft": res.text, "feedback": ""}
        call = await agent._call(reflect, agent._messages(reflect, ctx), 0, t, False, example)
        calls.append(call)
        reflections.append(call.output)
    return AgentResult(answer=res.answer, text=res.text, trajectory=calls, usage=usage_of(calls), votes=res.votes,
                       wall_s=wall, metadata={"trials": trials, "reflections": reflections})
