"""``execute`` nodes: run the programs a model wrote in the sandbox and report what happened.

Grounded feedback for small models (Self-Debug, Chen et al. 2023; CRITIC, Gou et al. 2023;
program-aided reasoning, PAL, Gao et al. 2022 and Program-of-Thoughts, Chen et al. 2022): the
model does not judge its own work, it reads a traceback, a failing test or a program's output.

For each sample of ``source``'s latest outputs the node extracts the program (the task's own
extraction for code tasks, whose answer *is* a program; else the reply's fenced code), runs it
in the sandbox with the node's tests, and records per sample:

* ``outputs[node]``: the execution report (``ExecutionResult.feedback``), which later nodes read
  as ``{{ feedback }}`` (sample 0) or ``{{ outputs.<node> }}``;
* ``passed[node]``: ran to completion and every test passed (``tests_pass``/``tests_fail``);
* ``answers[node]``: with ``answer_from="stdout"``, the program's last printed line as the
  task's answer (None when the program failed or printed nothing: failed programs do not vote).

A program that defines ``solution()`` but never calls it gets ``print(solution())`` appended.
Nothing here runs code in the framework's process.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agentforge.agents.nodes import RunState
from agentforge.agents.spec import ExecuteSpec, NodeSpec
from agentforge.core.aio import gather_or_cancel
from agentforge.sandbox import ExecutionResult, Limits
from agentforge.tasks.extraction import extract_code
from agentforge.tasks.programs import printed_answer, with_entry_call

if TYPE_CHECKING:
    from agentforge.agents.graph import Agent

_ASSERT = re.compile(r"^\s*assert\b.*$", re.MULTILINE)


def program_of(agent: "Agent", text: str, example: Any) -> str | None:
    """The program in a model reply: the task's extraction for program-answer tasks, else the
    fenced (or bare) code; ``print(solution())`` appended when ``solution`` is never called."""
    if agent.task.answer_type == "program":
        code = agent.task.extract(text, example)
    else:
        code = extract_code(text)
    return with_entry_call(code) if code else None


def tests_in(text: str) -> list[str]:
    """The ``assert`` lines of a reply (tests the model wrote), fenced code preferred."""
    code = extract_code(text) or text
    return [m.group(0).strip() for m in _ASSERT.finditer(code)][:20]


def answer_of(agent: "Agent", result: ExecutionResult, example: Any) -> str | None:
    """The answer a program printed (None when it failed): see ``printed_answer``."""
    return printed_answer(agent.task, result.stdout, example) if result.ok else None


async def run_execute(agent: "Agent", node: NodeSpec, state: RunState) -> dict:
    """Execute ``node.source``'s latest programs (see the module docstring); the state update."""
    opts = node.execute or ExecuteSpec()
    example = state.get("example")
    texts = (state.get("outputs") or {}).get(node.source or "") or []
    tests: list[str] = []
    if opts.tests == "visible" and example is not None:
        tests += list(agent.task.visible_tests(example))
    if opts.tests_from:
        tests += tests_in(((state.get("outputs") or {}).get(opts.tests_from) or [""])[0])
    limits = Limits(wall_s=opts.timeout_s, cpu_s=opts.timeout_s, memory_mb=opts.memory_mb)

    async def one(text: str) -> tuple[str, bool, str | None]:
        program = program_of(agent, text, example)
        if program is None:
            return "No program found: reply with the code in one ```python block.", False, None
        res = await agent.executor.arun(program, tests, limits=limits)
        return res.feedback(opts.max_feedback_chars), res.passed, (
            answer_of(agent, res, example) if opts.answer_from == "stdout" else None)

    runs = await gather_or_cancel(*[one(t) for t in texts])
    visit = (state.get("visits") or {}).get(node.id, 0)
    update: dict[str, Any] = {
        "outputs": {node.id: [r[0] for r in runs]},
        "passed": {node.id: [r[1] for r in runs]},
        "answers": {node.id: [r[2] for r in runs]},
        "visits": {node.id: visit + 1},
        "feedback": runs[0][0] if runs else "",
    }
    if node.answer and opts.answer_from == "stdout" and runs:
        update["final"], update["final_text"] = runs[0][2], (texts[0] + "\n\nOutput:\n" + runs[0][0]).strip()
    return update
