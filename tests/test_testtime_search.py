"""Test-time search agents on the fake model with scripted judges."""

from __future__ import annotations

import re

import pytest

from agentforge.agents import Agent, build_agent_spec
from agentforge.core.errors import UnknownNameError, UserError
from agentforge.judges import SyncBatchJudge
from agentforge.judges.factory import make_judge
from agentforge.judges.llm_judge import LLMJudge, parse_verdicts
from agentforge.llm import LLM, FunctionModel


class ScriptedJudge(SyncBatchJudge):
    """Scores a step by the number written in it as 'quality=X' (0 if none)."""

    def __init__(self):
        self.batches = []

    def score_steps(self, items):
        self.batches.append(items)
        out = []
        for _, steps in items:
            out.append([float(m.group(1)) if (m := re.search(r"quality=([\d.]+)", s)) else 0.0 for s in steps])
        return out


def test_best_of_n_picks_the_best_scored_candidate(toy_task):
    quality = [0.2, 0.9, 0.5, 0.1]
    fm = FunctionModel(lambda m, i: f"Work.\nAnswer: {i.sample_index} quality={quality[i.sample_index]}")
    judge = ScriptedJudge()
    res = Agent(build_agent_spec("best-of-n", n=4), LLM(model=fm, cache=False), toy_task, judge=judge).run("q")
    assert res.answer == "1" and len(fm.calls) == 4 and len(judge.batches) == 1
    assert [c.score for c in res.trajectory] == quality


def test_weighted_vote_sums_scores_per_answer(toy_task):
    # answer 7 appears twice with 0.4 each (0.8) and beats answer 3 with a single 0.7
    plan = [("7", 0.4), ("3", 0.7), ("7", 0.4), ("5", 0.1)]
    fm = FunctionModel(lambda m, i: f"Work.\nAnswer: {plan[i.sample_index][0]} quality={plan[i.sample_index][1]}")
    res = Agent(build_agent_spec("best-of-n", n=4, weighted=True), LLM(model=fm, cache=False), toy_task,
                judge=ScriptedJudge()).run("q")
    assert res.answer == "7" and res.votes == {"7": 0.8, "3": 0.7, "5": 0.1}


def _stepper(m, i):
    """Next-step model: the j-th expansion of a prefix gets quality 0.9 for j=0 and 0.1 for j=1."""
    content = m[-1]["content"]
    depth = content.count("quality=")
    q = [0.9, 0.1][i.sample_index % 2]
    if depth >= 2:
        return f"quality={q} Answer: {depth}{i.sample_index % 2}"
    return f"step{depth} quality={q}"


def test_beam_search_keeps_top_k_and_returns_best_finished(toy_task):
    fm = FunctionModel(_stepper)
    res = Agent(build_agent_spec("beam-search", beam_width=1, expansions=2), LLM(model=fm, cache=False), toy_task,
                judge=ScriptedJudge()).run("q")
    # width 1: depth 0 and 1 keep the 0.9 branch; depth 2 finishes with the 0.9 answer "20"
    assert res.answer == "20"
    assert res.text.count("quality=0.9") == 3 and "quality=0.1" not in res.text
    assert len(fm.calls) == 2 * 3


def test_search_budget_in_samples_is_respected(toy_task):
    fm = FunctionModel(_stepper)
    res = Agent(build_agent_spec("beam-search", beam_width=2, expansions=2, max_samples=5),
                LLM(model=fm, cache=False), toy_task, judge=ScriptedJudge()).run("q")
    assert len(fm.calls) <= 5
    assert res.text  # the best solution found so far is returned


def test_lookahead_rolls_out_before_scoring(toy_task):
    fm = FunctionModel(_stepper)
    judge = ScriptedJudge()
    res = Agent(build_agent_spec("lookahead", beam_width=1, expansions=2, lookahead_steps=1),
                LLM(model=fm, cache=False), toy_task, judge=judge).run("q")
    first_batch = judge.batches[0]
    assert all(len(steps) == 2 for _, steps in first_batch)  # each candidate judged after a 1-step rollout
    assert res.answer is not None


def test_llm_judge_parses_verdicts_and_is_recorded_in_trajectory(toy_task):
    assert parse_verdicts("Step 1: correct\nStep 2: **incorrect**\nStep 9: correct", 3) == [1.0, 0.0, 0.5]

    def fn(m, i):
        content = m[-1]["content"]
        if "grading a step-by-step solution" in content:
            return "Step 1: correct\nStep 2: correct" if "Answer: 2" in content else "Step 1: incorrect\nStep 2: incorrect"
        return f"First step.\n\nAnswer: {i.sample_index}"

    llm = LLM(model=fn, cache=False)
    res = Agent(build_agent_spec("best-of-n", n=3), llm, toy_task, judge=LLMJudge(llm)).run("q")
    assert res.answer == "2"
    assert [c.role for c in res.trajectory].count("judge") == 3 and res.usage.calls == 6


def test_verifier_judge_from_factory_uses_the_example_gold():
    from agentforge.tasks import load_task

    task = load_task("gsm8k", limit=1)
    ex = task.examples[0]
    judge = make_judge("verifier", None, task)
    assert judge.score_solution(ex.question, f"work\n\nAnswer: {ex.gold}", example=ex) == 1.0
    assert judge.score_solution(ex.question, "work\n\nAnswer: -1", example=ex) == 0.0
    with pytest.raises(UserError, match="needs the example"):
        judge.score_solution(ex.question, "work\n\nAnswer: -1")
    with pytest.raises(UnknownNameError, match="valid judges"):
        make_judge("oracle", None, task)
