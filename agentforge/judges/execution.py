"""``ExecutionJudge``: score solutions by running code in the sandbox, with no gold answer.

Grounded judging for small models, which cannot grade their own reasoning (Huang et al. 2023)
but whose programs can be run (Self-Debug, Chen et al. 2023; CRITIC, Gou et al. 2023; the
execution-based reranking of CodeT, Chen et al. 2022 and LEVER, Ni et al. 2023):

* **program tasks** (HumanEval: ``task.answer_type == "program"``): the solution's program runs
  against the task's *visible* tests (never the hidden ones); the score is the fraction passed
  (1.0 or 0.0 by whether it runs when a problem has no visible tests). Feedback: the execution
  report (failing test with got/expected, traceback).
* **answer tasks** (GSM8K): once per question the model writes an independent program
  (``@critic_program``); the sandbox runs it; a solution scores 1.0 when its extracted answer
  equals the program's output, 0.0 when it differs, 0.5 when the program failed (no evidence).
  Feedback: what the program computed.

Scores are outcome-only, as for ``VerifierJudge``: NaN on every step but the last.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from agentforge.core.errors import UserError
from agentforge.core.templates import render
from agentforge.judges.base import Item, Judge, JudgeResult, check_items
from agentforge.llm import LLM
from agentforge.llm.types import Usage
from agentforge.sandbox import Executor, Limits, default_executor
from agentforge.tasks.extraction import extract_code
from agentforge.tasks.programs import printed_answer, with_entry_call


class ExecutionJudge(Judge):
    """Scores by execution (see the module docstring).

    Args:
        task: the task (its answer type, extraction, normalization and visible tests).
        llm: the model that writes the checking program for answer tasks (greedy); not needed
            for program tasks.
        executor: the sandbox (default: ``agentforge.sandbox.default_executor()``).
        timeout_s: wall-clock limit per program run in seconds (default 5).
        prompt: the checking-program template for answer tasks (default ``@critic_program``).

    Raises:
        UserError: an answer task without ``llm``; scoring without the example (its tests).
    """

    def __init__(self, task: Any, llm: LLM | None = None, *, executor: Executor | None = None,
                 timeout_s: float = 5.0, prompt: str = "@critic_program"):
        if task.answer_type != "program" and llm is None:
            raise UserError(f"ExecutionJudge on {task.name!r} (answers, not programs) needs an llm to write the "
                            "checking program")
        self.task, self.prompt = task, prompt
        self.llm = llm.with_options(temperature=0.0) if llm is not None else None
        self.executor = executor or default_executor()
        self.limits = Limits(wall_s=timeout_s, cpu_s=timeout_s)
        self.name = f"execution-judge({task.name})"
        self._checks: dict[str, tuple[str | None, str, Usage]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def ascore(self, question: str, steps: list[str], *, example: Any = None) -> JudgeResult:
        """Score one solution by execution."""
        return (await self.ascore_batch([(question, steps)], examples=[example]))[0]

    async def ascore_batch(self, items: Sequence[Item], *, examples: Sequence[Any] | None = None) -> list[JudgeResult]:
        """Score solutions; for answer tasks one checking program per question serves them all."""
        checked = check_items(items, examples)
        exs = list(examples) if examples is not None else [None] * len(checked)
        run = self._by_tests if self.task.answer_type == "program" else self._by_agreement
        return list(await asyncio.gather(*[run(q, s, e) for (q, s), e in zip(checked, exs)]))

    async def _by_tests(self, question: str, steps: list[str], example: Any) -> JudgeResult:
        if not steps:
            return JudgeResult(scores=[])
        if example is None:
            raise UserError(f"{self.name} needs the example (its visible tests) to score a program")
        program = self.task.extract("\n\n".join(steps), example)
        if not program:
            return _outcome(steps, 0.0, "No program found in the solution.")
        tests = list(self.task.visible_tests(example))
        res = await self.executor.arun(program, tests, limits=self.limits)
        if tests and res.completed:
            value = sum(t.passed for t in res.tests) / len(tests)
        else:
            value = 1.0 if res.passed else 0.0
        return _outcome(steps, value, res.feedback(1500))

    async def _by_agreement(self, question: str, steps: list[str], example: Any) -> JudgeResult:
        if not steps:
            return JudgeResult(scores=[])
        checked, feedback, usage = await self._check(question, example)
        answer = self.task.extract("\n\n".join(steps), example)
        if checked is None:
            value = 0.5
        else:
            value = 1.0 if answer is not None and answer == checked else 0.0
        return _outcome(steps, value, feedback, usage)

    async def _check(self, question: str, example: Any) -> tuple[str | None, str, Usage]:
        """(the program's answer or None, feedback, usage of writing it), once per question; the
        usage is reported with the first solution scored only."""
        lock = self._locks.setdefault(question, asyncio.Lock())
        async with lock:
            if question in self._checks:
                answer, feedback, _ = self._checks[question]
                return answer, feedback, Usage()
            msgs = [{"role": "user", "content": render(self.prompt, {"question": question})}]
            comp = await self.llm.acomplete(msgs, tag="judge")
            code = extract_code(comp.text)
            answer, feedback = None, "The checking program could not be found."
            if code:
                res = await self.executor.arun(with_entry_call(code), limits=self.limits)
                answer = printed_answer(self.task, res.stdout, example) if res.ok else None
                feedback = (f"An independent program computed {answer}." if answer is not None
                            else "The checking program failed: " + res.feedback(600))
            self._checks[question] = (answer, feedback, comp.usage)
            return answer, feedback, comp.usage

    def __repr__(self) -> str:
        return f"ExecutionJudge({self.task.name})"


def _outcome(steps: list[str], value: float, feedback: str, usage: Usage | None = None) -> JudgeResult:
    return JudgeResult(scores=[math.nan] * (len(steps) - 1) + [value], feedback=feedback, usage=usage or Usage())
