"""Reflexion trials (Shinn et al. 2023): attempt, evaluate, reflect, retry.

``run_trials`` runs the agent's graph up to ``spec.trials`` times. After each attempt an
evaluator judges it (``spec.evaluator``):

* ``verifier``: the task's exact answer check against the gold (Reflexion's exact-match
  setting). Each retry then knows it failed: an **oracle** upper bound, label it so.
* ``llm``: the model judges its own solution (``@self_evaluate``); no gold needed.
* ``visible-tests``: the attempt's program runs against the task's visible tests (HumanEval's
  docstring examples) in the sandbox; never the hidden ones.
* ``self-tests``: before the first attempt the model writes its own unit tests
  (``@write_tests``), and each attempt's program runs against them (Reflexion's programming
  agent); the visible tests are added when the task has them.

On failure the model writes a self-reflection (``@reflect``, which sees the evaluator's feedback:
the failing test, the traceback) that every later attempt sees in ``{{ memory }}``, after
whatever the memory module retrieved. The result carries ``metadata["trials"]`` (answer and
verdict per attempt) and ``metadata["reflections"]`` (the texts, which a ``MemoryLearner``
stores).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentforge.agents.execute import program_of, tests_in
from agentforge.agents.spec import NodeSpec
from agentforge.agents.trajectory import AgentResult, LLMCall
from agentforge.sandbox import Limits

if TYPE_CHECKING:
    from agentforge.agents.graph import Agent

_EVAL = NodeSpec(id="evaluate", role="evaluator", system=None, prompt="@self_evaluate", temperature=0.0)
_TESTS = NodeSpec(id="write_tests", role="tester", system=None, prompt="@write_tests", temperature=0.0)


async def _evaluate(agent: "Agent", question: str, example: Any, res: AgentResult, trial: int,
                    tests: list[str]) -> tuple[bool, str, list[LLMCall]]:
    """(verdict, feedback text, evaluator calls) for one attempt."""
    kind = agent.spec.evaluator
    if kind == "verifier" and example is not None:
        return bool(agent.task.score(res.answer, example)), "", []
    if kind in ("visible-tests", "self-tests"):
        program = program_of(agent, res.text, example)
        if program is None:
            return False, "No program found in the attempt.", []
        run = await agent.executor.arun(program, tests, limits=Limits(wall_s=5.0, cpu_s=5.0))
        return run.passed, run.feedback(1500), []
    ctx = {"question": question, "draft": res.text}
    call = await agent.call_model(_EVAL, agent.messages(_EVAL, ctx), visit=trial, example=example)
    last = (call.output.strip().splitlines() or [""])[-1].upper()
    return ("CORRECT" in last and "INCORRECT" not in last), "", [call]


async def _tests(agent: "Agent", question: str, example: Any) -> tuple[list[str], list[LLMCall]]:
    kind = agent.spec.evaluator
    tests = list(agent.task.visible_tests(example)) if kind in ("visible-tests", "self-tests") and example else []
    if kind != "self-tests":
        return tests, []
    ctx = {"question": question, "instructions": "", "draft": ""}
    call = await agent.call_model(_TESTS, agent.messages(_TESTS, ctx), example=example)
    return tests + [t for t in tests_in(call.output) if t not in tests], [call]


async def run_trials(agent: "Agent", question: str, example: Any = None) -> AgentResult:
    """Run Reflexion trials with ``agent`` (see the module docstring); returns the last attempt."""
    spec = agent.spec
    base = (agent.memory.retrieve(question, example) or "") if agent.memory is not None else ""
    reflect = NodeSpec(id="reflect", role="reflector", system=None, prompt=spec.reflect_prompt)
    tests, calls = await _tests(agent, question, example)
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
        correct, feedback, eval_calls = await _evaluate(agent, question, example, res, t, tests)
        calls += eval_calls
        trials.append({"trial": t + 1, "answer": res.answer, "correct": correct})
        if correct or t == spec.trials - 1:
            break
        ctx = {"question": question, "draft": res.text, "feedback": feedback}
        call = await agent.call_model(reflect, agent.messages(reflect, ctx), visit=t, example=example)
        calls.append(call)
        reflections.append(call.output)
    return AgentResult(answer=res.answer, text=res.text, trajectory=calls, votes=res.votes, wall_s=wall,
                       metadata={"trials": trials, "reflections": reflections, "tests": tests})
