"""The unit of work: run an agent on one task example, score it, and let its memory learn.

``run_example`` is what the runner (``agentforge run``) and the meta-search's evaluator both
call, so an example is run, scored and learned from the same way everywhere.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from agentforge.agents.trajectory import AgentResult, LLMCall
from agentforge.core.errors import CONFIG_ERRORS, AgentRunError, BudgetExceeded
from agentforge.judges.aggregate import Aggregation
from agentforge.judges.base import Judge
from agentforge.llm.types import Usage

if TYPE_CHECKING:
    from agentforge.agents.graph import Agent


class Episode(BaseModel):
    """One example's outcome.

    Attributes:
        example_id, question, gold: the example.
        answer: the extracted answer (a program, for program-answer tasks), or None.
        correct: the task's metric on ``answer`` (False for a failed run).
        text: the text the answer came from.
        trajectory: every model call paid for, in order (a failed run's too).
        usage: the run's model calls (judge calls inside the agent included); a failed run's
            usage counts every call that finished before it failed.
        votes, metadata: from the ``AgentResult`` (``metadata["trials"]`` for Reflexion).
        judge_score: the scoring judge's aggregated step score (None without one).
        judge_usage, judge_feedback: the scoring judge's calls and words.
        memory_ids: records the memory wrote while learning from the episode.
        error: ``"Type: message"`` when the run (or the scoring judge) failed.
        wall_s: seconds for the whole episode.
    """

    example_id: str
    question: str = ""
    gold: str | None = None
    answer: str | None = None
    correct: bool = False
    text: str = ""
    trajectory: list[LLMCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    votes: dict[str, float] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    judge_score: float | None = None
    judge_usage: Usage = Field(default_factory=Usage)
    judge_feedback: str = ""
    memory_ids: list[str] = Field(default_factory=list)
    error: str | None = None
    wall_s: float = 0.0


def _stop(exc: BaseException) -> bool:
    """Errors that stop a whole run or search instead of failing one example."""
    return isinstance(exc, (*CONFIG_ERRORS, BudgetExceeded))


async def run_example(agent: "Agent", example: Any, *, judge: Judge | None = None, how: Aggregation = "last",
                      learn: bool = True) -> Episode:
    """Run ``agent`` on ``example``, score it with the task's metric (and ``judge``), learn.

    A model or provider failure, or a failing scoring judge, becomes the episode's ``error``
    (with every call already paid for in ``trajectory`` and ``usage``); the run goes on.

    Raises:
        UserError (and subclasses): the run is misconfigured (a bad template, a missing model,
            a forbidden model call): every example would fail, so it stops here.
        BudgetExceeded: a budget meter stopped the run.
    """
    t0 = time.perf_counter()
    ep = Episode(example_id=example.id, question=example.question, gold=example.gold)
    try:
        res: AgentResult = await agent.arun(example)
    except AgentRunError as exc:
        if _stop(exc.cause):
            raise exc.cause from exc
        ep.trajectory, ep.usage = exc.partial.trajectory, exc.partial.usage
        ep.error = f"{type(exc.cause).__name__}: {exc.cause}"[:2000]
        ep.wall_s = round(time.perf_counter() - t0, 3)
        return ep
    ep.answer, ep.text, ep.trajectory, ep.usage = res.answer, res.text, res.trajectory, res.usage
    ep.votes, ep.metadata = res.votes, res.metadata
    # scoring may run a program (HumanEval's hidden tests, up to its time limit): off the event loop
    ep.correct = bool(await asyncio.to_thread(agent.task.score, res.answer, example))
    if judge is not None:
        await _judge(ep, judge, example, how)
    if learn and agent.memory is not None:
        ep.memory_ids = list(await agent.memory.aafter_episode(example.question, example, res, ep.correct))
    ep.wall_s = round(time.perf_counter() - t0, 3)
    return ep


async def _judge(ep: Episode, judge: Judge, example: Any, how: Aggregation) -> None:
    """Score ``ep.text`` with ``judge`` into ``ep`` (an empty solution scores 0 without a call)."""
    if not ep.text.strip():
        ep.judge_score = 0.0
        return
    try:
        value, result = await judge.ascore_solution(example.question, ep.text, example=example, how=how)
    except Exception as exc:
        if _stop(exc):
            raise
        ep.error = f"judge: {type(exc).__name__}: {exc}"[:2000]
        return
    ep.judge_score = 0.0 if math.isnan(value) else float(value)
    ep.judge_usage, ep.judge_feedback = result.usage, result.feedback[:2000]
