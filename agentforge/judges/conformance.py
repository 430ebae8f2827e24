"""The conformance suite every ``Judge`` must pass, as a reusable pytest base class.

Subclass :class:`JudgeConformance` in a test module, say how to build the judge and give one
solution it can score; pytest runs every check as a method of your class. This module imports
``pytest``; only test code imports it. The checks call the async forms through ``asyncio.run``,
so no pytest-asyncio is needed::

    from agentforge.judges.conformance import JudgeCase, JudgeConformance

    class TestMyJudge(JudgeConformance):
        def make_judge(self):
            return MyJudge(...)

        def example(self):
            return JudgeCase("What is 2+2?", ["2+2 = 4.", "Answer: 4"], example=None)

What is checked (the contract of ``agentforge.judges.base``): one score per step, each in [0, 1]
or NaN, ``[]`` for no steps; ``ascore_batch`` equals per-item ``ascore`` in order with each
example passed through; ``score``/``score_batch`` equal the async forms, inside a running event
loop too; bad input types and examples of the wrong length raise ``UserError``; ``usage`` is
non-negative, with ``calls == 0`` for judges that call no model; ``score_solution`` aggregates
``score`` of ``split_steps(text)``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import pytest

from agentforge.core.errors import UserError
from agentforge.judges.aggregate import AGGREGATIONS, aggregate
from agentforge.judges.base import Judge, JudgeResult
from agentforge.judges.steps import split_steps

__all__ = ["JudgeCase", "JudgeConformance", "check_result"]


class JudgeCase(NamedTuple):
    """One solution to score: ``judge.ascore(question, steps, example=example)``."""

    question: str
    steps: list[str]
    example: Any = None


def check_result(result: object, steps: Sequence[str]) -> JudgeResult:
    """Assert that ``result`` is a well-formed ``JudgeResult`` for ``steps`` and return it.

    Checked: one float per step, each in [0, 1] or NaN; ``feedback`` a str; ``messages`` a list
    of dicts; every ``usage`` field >= 0 with ``cached_calls <= calls``.
    """
    assert isinstance(result, JudgeResult), f"expected a JudgeResult, got {type(result).__name__}"
    assert len(result.scores) == len(steps), f"{len(result.scores)} scores for {len(steps)} steps"
    for s in result.scores:
        assert isinstance(s, float) and (math.isnan(s) or 0.0 <= s <= 1.0), f"score {s!r} not in [0, 1] or NaN"
    assert isinstance(result.feedback, str)
    assert isinstance(result.messages, list) and all(isinstance(m, dict) for m in result.messages)
    usage = result.usage
    for field in ("calls", "cached_calls", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s"):
        assert getattr(usage, field) >= 0, f"usage.{field} = {getattr(usage, field)} < 0"
    assert usage.cached_calls <= usage.calls
    return result


class JudgeConformance:
    """Base class of a judge's conformance tests (not collected itself: no ``Test`` prefix).

    Subclasses implement ``make_judge`` and ``example``; they may override ``cases``.

    Attributes:
        calls_model: True for a judge that calls a chat model: a fresh judge's first scoring of
            ``cases()`` must then report ``usage.calls >= 1`` in all; False (default): every
            ``usage.calls`` must be 0.
        score_tolerance: absolute tolerance when comparing the scores of two code paths
            (default 1e-6; a batched PRM forward pass may differ from a single one by ~1e-5).
    """

    calls_model: bool = False
    score_tolerance: float = 1e-6

    def make_judge(self) -> Judge:
        """A judge to test (called once per test; may return a shared one if it holds no state
        that the checks could see, e.g. a loaded PRM). Raises NotImplementedError by default."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_judge()")

    def example(self) -> JudgeCase:
        """One solution (at least one step) the judge can score. Raises NotImplementedError by default."""
        raise NotImplementedError(f"{type(self).__name__} must implement example()")

    def cases(self) -> list[JudgeCase]:
        """The solutions the batch checks score (default ``[self.example()]``). Add cases whose
        scores depend on which example goes with them (the same steps against another gold), so
        that a batch mixing up examples fails the check."""
        return [self.example()]

    @pytest.fixture
    def judge(self):
        """``make_judge()``, closed (if it has ``close``) after the test."""
        judge = self.make_judge()
        yield judge
        close = getattr(judge, "close", None)
        if callable(close):
            close()

    def assert_same(self, got: JudgeResult, want: JudgeResult) -> None:
        """Two results of one solution agree: scores (NaN == NaN, ``score_tolerance``) and feedback."""
        assert got.scores == pytest.approx(want.scores, abs=self.score_tolerance, nan_ok=True)
        assert got.feedback == want.feedback

    def _batch(self) -> tuple[list[tuple[str, list[str]]], list[Any]]:
        cases = self.cases()
        cases = cases + cases[::-1] + cases[:1]  # both orders; not a palindrome, so a reversal shows
        return [(c.question, list(c.steps)) for c in cases], [c.example for c in cases]

    # -- the checks ---------------------------------------------------------------------------

    def test_one_score_per_step_in_unit_interval(self, judge):
        assert isinstance(judge.label, str) and judge.label
        for case in self.cases():
            assert case.steps, "example()/cases() must have at least one step"
            result = asyncio.run(judge.ascore(case.question, list(case.steps), example=case.example))
            check_result(result, case.steps)

    def test_no_steps_give_no_scores(self, judge):
        case = self.example()
        assert check_result(asyncio.run(judge.ascore(case.question, [], example=case.example)), []).scores == []
        assert judge.score(case.question, [], example=case.example).scores == []
        mixed = asyncio.run(judge.ascore_batch([(case.question, []), (case.question, list(case.steps))],
                                               examples=[case.example, case.example]))
        assert mixed[0].scores == [] and len(mixed[1].scores) == len(case.steps)
        assert asyncio.run(judge.ascore_batch([], examples=[])) == []

    def test_batch_equals_per_item_in_order(self, judge):
        items, examples = self._batch()
        batch = asyncio.run(judge.ascore_batch(items, examples=examples))
        assert isinstance(batch, list) and len(batch) == len(items)
        for (question, steps), example, got in zip(items, examples, batch):
            check_result(got, steps)
            self.assert_same(got, asyncio.run(judge.ascore(question, steps, example=example)))

    def test_sync_forms_equal_async_forms_inside_a_running_loop_too(self, judge):
        items, examples = self._batch()
        case = self.example()
        want_one = asyncio.run(judge.ascore(case.question, list(case.steps), example=case.example))
        want_batch = asyncio.run(judge.ascore_batch(items, examples=examples))

        def sync_calls() -> tuple[JudgeResult, list[JudgeResult]]:
            return (judge.score(case.question, list(case.steps), example=case.example),
                    judge.score_batch(items, examples=examples))

        async def inside_a_loop() -> tuple[JudgeResult, list[JudgeResult]]:
            asyncio.get_running_loop()
            return sync_calls()

        for one, batch in (sync_calls(), asyncio.run(inside_a_loop())):
            self.assert_same(check_result(one, case.steps), want_one)
            assert len(batch) == len(want_batch)
            for (_, steps), got, want in zip(items, batch, want_batch):
                self.assert_same(check_result(got, steps), want)

    def test_bad_inputs_raise_user_error(self, judge):
        q, steps, ex = self.example()
        steps = list(steps)
        bad_calls = {
            "steps as one string": lambda: judge.ascore(q, "\n\n".join(steps), example=ex),
            "question not a str": lambda: judge.ascore(42, steps, example=ex),
            "a step not a str": lambda: judge.ascore(q, [*steps, 3], example=ex),
            "items not a list": lambda: judge.ascore_batch("a solution", examples=None),
            "an item not a pair": lambda: judge.ascore_batch([(q, steps, ex)], examples=[ex]),
            "a string in a batch": lambda: judge.ascore_batch([(q, "text")], examples=[ex]),
            "too many examples": lambda: judge.ascore_batch([(q, steps)], examples=[ex, ex]),
            "too few examples": lambda: judge.ascore_batch([(q, steps), (q, steps)], examples=[ex]),
        }
        for what, call in bad_calls.items():
            try:
                asyncio.run(call())
            except UserError:
                continue
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{what}: raised {type(exc).__name__} ({exc}), not UserError")
            pytest.fail(f"{what}: no UserError raised")
        with pytest.raises(UserError):
            judge.score(q, "\n\n".join(steps), example=ex)
        with pytest.raises(UserError):
            judge.score(None, steps, example=ex)
        with pytest.raises(UserError):
            judge.score_batch([(q, steps)], examples=[ex, ex])
        with pytest.raises(UserError):
            judge.score_solution(q, "", example=ex)

    def test_usage_is_non_negative_and_counts_model_calls(self):
        judge = self.make_judge()  # fresh: judges may cache what a model said (ExecutionJudge)
        try:
            items, examples = self._batch()
            results = asyncio.run(judge.ascore_batch(items, examples=examples))
            results += [judge.score(q, s, example=e) for (q, s), e in zip(items, examples)]
            for (_, steps), result in zip(items + items, results):
                check_result(result, steps)
            calls = sum(r.usage.calls for r in results)
            if self.calls_model:
                assert calls >= 1, "calls_model is True but no usage.calls was reported"
            else:
                assert calls == 0, f"a judge that calls no model reported {calls} calls (set calls_model = True?)"
        finally:
            close = getattr(judge, "close", None)
            if callable(close):
                close()

    def test_score_solution_aggregates_score_of_split_steps(self, judge):
        for case in self.cases():
            text = "\n\n".join(case.steps)
            steps = split_steps(text)
            assert steps
            want = judge.score(case.question, steps, example=case.example)
            for how in AGGREGATIONS:
                got = judge.score_solution(case.question, text, example=case.example, how=how)
                expected = aggregate(want.scores, how)
                assert got == pytest.approx(expected, abs=self.score_tolerance, nan_ok=True), how
            value, result = asyncio.run(judge.ascore_solution(case.question, text, example=case.example))
            self.assert_same(check_result(result, steps), want)
            assert value == pytest.approx(aggregate(want.scores, "last"), abs=self.score_tolerance, nan_ok=True)
