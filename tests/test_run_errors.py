"""A failed run keeps every call it paid for: finished siblings, generations before a failed
judge, earlier Reflexion trials; the runner and the search's budget meter count them."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentforge.agents import Agent, build_agent_spec
from agentforge.core.errors import AgentRunError, JudgeError, ModelCallError
from agentforge.judges import Judge
from agentforge.llm import LLM, FunctionModel
from agentforge.runner import Runner
from agentforge.search import Budget, BudgetMeter, Evaluator
from agentforge.tasks import Example, load_task


def _raise_later(delay: float, message: str):
    async def fail():
        await asyncio.sleep(delay)
        raise ValueError(message)  # not retryable: the call fails at once
    return fail


def test_siblings_that_finished_before_one_failed_are_kept(toy_task):
    async def model(messages, info):
        if info.sample_index == 0:
            await _raise_later(0.2, "provider bug")()
        return f"Answer: {info.sample_index}"

    agent = Agent(build_agent_spec("self-consistency", samples=3), LLM(model=FunctionModel(model)), toy_task)
    with pytest.raises(AgentRunError, match="provider bug") as err:
        agent.run_sync("q")
    partial = err.value.partial
    assert isinstance(err.value.cause, ModelCallError)
    assert sorted(c.sample for c in partial.trajectory) == [1, 2]  # the two finished samples
    assert partial.usage.calls == 2 and partial.usage.completion_tokens == 4


class FailingJudge(Judge):
    async def ascore(self, question, steps, *, example=None):
        raise JudgeError("judge server down")


def test_generations_scored_by_a_judge_that_then_failed_are_kept(toy_task):
    fm = FunctionModel(lambda m, i: f"Work.\nAnswer: {i.sample_index}")
    agent = Agent(build_agent_spec("best-of-n", n=3), LLM(model=fm), toy_task, judge=FailingJudge())
    with pytest.raises(AgentRunError, match="judge server down") as err:
        agent.run_sync("q")
    assert len(err.value.partial.trajectory) == 3 and err.value.partial.usage.calls == 3 == len(fm.calls)


def test_earlier_reflexion_trials_are_kept(toy_task):
    def model(messages, info):
        if info.call_number == 2:  # attempt 2
            raise ValueError("out of memory")
        return "I should subtract." if "judged wrong" in messages[-1]["content"] else "Answer: 9"

    agent = Agent(build_agent_spec("reflexion", trials=3), LLM(model=FunctionModel(model)), toy_task)
    with pytest.raises(AgentRunError) as err:
        agent.run_sync(Example(id="q1", question="8-3?", gold="5"))
    assert [c.node for c in err.value.partial.trajectory] == ["attempt", "reflect"]
    assert err.value.partial.usage.calls == 2


def test_runner_and_budget_meter_count_the_calls_of_a_failed_example(tmp_path):
    task = load_task("gsm8k", limit=2)

    async def model(messages, info):
        if info.sample_index == 0 and task.examples[1].question in messages[-1]["content"]:
            await _raise_later(0.2, "provider bug")()
        return "Answer: 1"

    fm = FunctionModel(model)
    spec = build_agent_spec("self-consistency", samples=3)
    summary = Runner(task, spec, LLM(model=fm), tmp_path).run()
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    failed = next(r for r in rows if r["error"])
    assert "provider bug" in failed["error"] and failed["usage"]["calls"] == 2 and len(failed["trajectory"]) == 2
    assert summary["llm_calls"] == 3 + 2 and summary["errors"] == 1
    meter = BudgetMeter(Budget())
    result = Evaluator(task, LLM(model=fm), meter=meter, concurrency=1).evaluate(spec, task.examples)
    assert result.errors == 1 and result.usage.calls == 3 + 2
    assert meter.spent.calls == 3 + 2 + 1  # the budget also counts the failed attempt as a call
