"""Step splitting, aggregation, the Judge base class and VerifierJudge (no model needed)."""

from __future__ import annotations

import asyncio
import math

import pytest

from agentforge.core.errors import UnknownNameError, UserError
from agentforge.judges import Judge, JudgeResult, VerifierJudge, aggregate, split_steps


# -- split_steps ------------------------------------------------------------------------------
def test_split_blank_lines():
    text = "First we add.\nStill first.\n\nThen we multiply.\n \n\nAnswer: 4"
    assert split_steps(text) == ["First we add.\nStill first.", "Then we multiply.", "Answer: 4"]


def test_split_step_markers_keep_marker_and_preamble():
    text = "Let's solve it.\nStep 1: add 2.\nmore of step 1\n## Step 2: double it.\n**Step 3:** done"
    assert split_steps(text) == ["Let's solve it.", "Step 1: add 2.\nmore of step 1",
                                 "## Step 2: double it.", "**Step 3:** done"]


def test_split_markers_win_over_blank_lines():
    text = "Step 1: a\n\nstill a\nStep 2: b"
    assert split_steps(text) == ["Step 1: a\n\nstill a", "Step 2: b"]


def test_split_newline_fallback_and_modes():
    assert split_steps("a\nb\r\n\r\nc") == ["a\nb", "c"]  # CRLF blank line counts
    assert split_steps("a\nb\nc") == ["a", "b", "c"]
    assert split_steps("one line") == ["one line"]
    assert split_steps("   \n\n ") == []
    assert split_steps("a\n\nb", mode="lines") == ["a", "b"]
    assert split_steps("x\nStep 1: y", mode="markers") == ["x", "Step 1: y"]
    assert split_steps("no markers here\nat all", mode="markers") == ["no markers here\nat all"]
    assert split_steps("a\nb\n\nc", mode="blank_lines") == ["a\nb", "c"]


def test_split_unknown_mode():
    with pytest.raises(UnknownNameError, match="blank_lines"):
        split_steps("a", mode="sentences")


# -- aggregate --------------------------------------------------------------------------------
def test_aggregate_rules():
    s = [0.9, 0.5, 0.8]
    assert aggregate(s) == 0.8  # default "last"
    assert aggregate(s, "min") == 0.5
    assert aggregate(s, "prod") == pytest.approx(0.36)
    assert aggregate(s, "mean") == pytest.approx(2.2 / 3)


def test_aggregate_skips_nan_and_errors():
    nan = math.nan
    assert aggregate([0.4, nan], "last") == 0.4
    assert aggregate([nan, 0.2, nan, 0.6], "mean") == pytest.approx(0.4)
    assert math.isnan(aggregate([nan, nan]))
    with pytest.raises(UserError, match="empty"):
        aggregate([])
    with pytest.raises(UnknownNameError, match="prod"):
        aggregate([0.5], "max")


# -- Judge base -------------------------------------------------------------------------------
class LengthJudge(Judge):
    """Scores a step by its length, capped at 1; records the examples it was given."""

    def __init__(self):
        self.examples = []

    async def ascore(self, question, steps, *, example=None):
        self.examples.append(example)
        return JudgeResult(scores=[min(1.0, len(s) / 10) for s in steps])


def test_judge_defaults_batch_async_and_solution():
    j = LengthJudge()
    assert [r.scores for r in j.score_batch([("q", ["abcde", "x" * 20]), ("q", [])])] == [[0.5, 1.0], []]
    assert asyncio.run(j.ascore("q", ["abcde"])).scores == [0.5]
    assert [r.scores for r in asyncio.run(j.ascore_batch([("q", ["ab"])], examples=["ex"]))] == [[0.2]]
    assert j.examples[-1] == "ex"  # the example reaches the judge
    assert j.score_solution("q", "abcde\n\nabc", how="min") == pytest.approx(0.3)
    value, result = asyncio.run(j.ascore_solution("q", "abcde\n\nabc", how="mean"))
    assert value == pytest.approx(0.4) and result.scores == [0.5, 0.3]
    with pytest.raises(UserError, match="empty"):
        j.score_solution("q", "  ")
    with pytest.raises(UserError, match="examples"):
        j.score_batch([("q", ["a"])], examples=[1, 2])


def test_sync_api_works_inside_a_running_event_loop():
    async def inside():  # as in a Jupyter cell: sync calls while a loop runs
        return LengthJudge().score("q", ["abcde"]).scores

    assert asyncio.run(inside()) == [0.5]


def test_judge_validates_inputs():
    j = LengthJudge()
    with pytest.raises(UserError, match="split_steps"):
        j.score_batch([("q", "a whole solution as a string")])
    with pytest.raises(UserError, match="question"):
        j.score_batch([(3, ["a"])])
    with pytest.raises(UserError, match="pair"):
        j.score_batch(["q"])


def test_judge_must_override_something():
    with pytest.raises(TypeError, match="override"):
        class Lazy(Judge):
            pass


# -- VerifierJudge ----------------------------------------------------------------------------
def test_verifier_outcome_on_last_step():
    seen = []

    def check(text, example):
        seen.append(text)
        return text.strip().endswith("4")

    j = VerifierJudge(check)
    right = j.score("2+2?", ["2+2", "= 4"]).scores
    assert math.isnan(right[0]) and right[1] == 1.0
    assert seen == ["2+2\n\n= 4"]
    assert j.score("2+2?", ["= 5"]).scores == [0.0]
    assert j.score("2+2?", []).scores == []
    for how in ("min", "last", "prod", "mean"):
        assert j.score_solution("2+2?", "2+2\n\n= 4", how=how) == 1.0
    plain = VerifierJudge(check, prefix_score=1.0)
    assert plain.score("q", ["a", "b", "c 4"]).scores == [1.0, 1.0, 1.0]
    with pytest.raises(UserError):
        VerifierJudge("not callable")
    with pytest.raises(UserError):
        VerifierJudge(check, prefix_score=2.0)
