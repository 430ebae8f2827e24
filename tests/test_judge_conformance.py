"""The Judge conformance suite (agentforge.judges.conformance) run on every judge the project ships:
the GSM8K verifier, an LLM judge on a scripted model, execution judges (HumanEval tests; GSM8K with
a scripted checking program, real sandbox), a tiny random PRM and HTTPJudge against a live server.

Where a judge reads the example, ``cases()`` pairs the same steps with two examples whose scores
differ, so a batch that drops or reorders examples fails the batch check.
"""

from __future__ import annotations

import functools
import math
import re

import pytest

from agentforge.judges import ExecutionJudge, LLMJudge, VerifierJudge
from agentforge.judges.conformance import JudgeCase, JudgeConformance
from agentforge.llm import LLM, FunctionModel
from agentforge.tasks import load_task


@functools.cache
def gsm8k():
    return load_task("gsm8k", limit=3)


@functools.cache
def humaneval():
    return load_task("humaneval", limit=3)


def fenced(code: str) -> str:
    return f"```python\n{code}\n```"


def gsm8k_cases() -> list[JudgeCase]:
    """Natalia (gold 72) solved right, the same steps against Weng (gold 10), and Weng solved right."""
    natalia, weng = gsm8k().examples[:2]
    right = ["April: 48 clips. May: 48 / 2 = 24 clips.", "48 + 24 = 72.", "Answer: 72"]
    return [JudgeCase(natalia.question, right, natalia), JudgeCase(weng.question, right, weng),
            JudgeCase(weng.question, ["12 / 60 * 50 = 10.", "Answer: 10"], weng)]


def scores_differ_by_example(judge, cases) -> bool:
    """True when the first two cases (same steps, other examples) get different last scores."""
    a, b = (judge.score(c.question, c.steps, example=c.example).scores[-1] for c in cases[:2])
    return a != b


class Gsm8kConformance(JudgeConformance):
    """The suite on GSM8K cases, whose scores must depend on each case's gold answer."""

    def example(self):
        return gsm8k_cases()[0]

    def cases(self):
        return gsm8k_cases()

    def test_cases_depend_on_their_example(self, judge):
        assert scores_differ_by_example(judge, self.cases())


class TestVerifierJudge(Gsm8kConformance):
    def make_judge(self):
        return VerifierJudge.for_task(gsm8k())

    def test_cases_depend_on_their_example(self, judge):
        super().test_cases_depend_on_their_example(judge)
        case = self.example()
        assert judge.score(case.question, case.steps, example=case.example).scores[-1] == 1.0


def grader(messages, info) -> str:
    """A scripted step grader: a step is incorrect when it contains "70", else correct."""
    shown = messages[-1]["content"].split("Reply with")[0]
    steps = re.findall(r"^Step (\d+): (.*)$", shown, re.MULTILINE)
    return "\n".join(f"Step {k}: {'incorrect' if '70' in s else 'correct'}" for k, s in steps)


class TestLLMJudge(JudgeConformance):
    calls_model = True

    def make_judge(self):
        return LLMJudge(LLM(model=FunctionModel(grader), cache=False))

    def example(self):
        return JudgeCase("What is 48 + 24?", ["48 + 24 = 70.", "So 72.", "Answer: 72"])

    def cases(self):
        return [self.example(), JudgeCase("What is 2 + 2?", ["2 + 2 = 4."])]

    def test_verdicts_come_from_the_model(self, judge):
        result = judge.score(self.example().question, self.example().steps)
        assert result.scores == [0.0, 1.0, 1.0] and result.usage.calls == 1
        assert "Step 1: incorrect" in result.feedback and result.messages[0]["role"] == "user"


class TestExecutionJudgeHumanEval(JudgeConformance):
    def make_judge(self):
        return ExecutionJudge(humaneval(), timeout_s=10)

    def example(self):
        ex = humaneval().examples[2]  # truncate_number
        return JudgeCase(ex.question, ["Keep the fractional part.", fenced(ex.gold)], ex)

    def cases(self):
        ex, other = humaneval().examples[2], humaneval().examples[0]
        wrong = JudgeCase(ex.question, [fenced("def truncate_number(number):\n    return number")], ex)
        return [self.example(), JudgeCase(other.question, self.example().steps, other), wrong]

    def test_cases_depend_on_their_example(self, judge):
        assert scores_differ_by_example(judge, self.cases())


def checking_program(messages, info) -> str:
    """Writes the checking program of each GSM8K question: it returns the gold answer."""
    prompt = messages[-1]["content"]
    gold = next(ex.gold for ex in gsm8k().examples if ex.question in prompt)
    return fenced(f"def solution():\n    return {gold}")


class TestExecutionJudgeGSM8K(Gsm8kConformance):
    calls_model = True

    def make_judge(self):
        return ExecutionJudge(gsm8k(), LLM(model=FunctionModel(checking_program), cache=False), timeout_s=10)


@functools.cache
def tiny_prm(folder):
    from agentforge.judges import PRMJudge
    from agentforge.judges.testing import make_tiny_prm

    return PRMJudge(make_tiny_prm(folder, "qwen-prm"), device="cpu")


class TestPRMJudge(JudgeConformance):
    score_tolerance = 1e-4  # batched forward passes pad; fp32 sums differ slightly

    @pytest.fixture(scope="class", autouse=True)
    def _prm_folder(self, request, tmp_path_factory):
        pytest.importorskip("torch")
        pytest.importorskip("transformers")
        request.cls.folder = str(tmp_path_factory.mktemp("tiny-qwen-prm"))

    def make_judge(self):
        return tiny_prm(self.folder)  # loaded once: a PRM holds no state between calls

    def example(self):
        return JudgeCase("What is 2+2?", ["Step 1: 2+2 = 4.", "The answer is 4."])

    def cases(self):
        return [self.example(), JudgeCase("Add 3 and 5.", ["3 + 5 = 8.", "Then 8.", "Answer: 8"])]


def ends_with_4(text, example) -> bool:
    return text.rstrip().endswith("4")


class TestHTTPJudge(JudgeConformance):
    @pytest.fixture(scope="class", autouse=True)
    def _server(self, request):
        pytest.importorskip("fastapi")
        pytest.importorskip("uvicorn")
        from agentforge.judges import BackgroundServer

        with BackgroundServer(VerifierJudge(ends_with_4), max_batch_wait_ms=5) as server:
            request.cls.url = server.url
            yield server

    def make_judge(self):
        from agentforge.judges import HTTPJudge

        return HTTPJudge(self.url)

    def example(self):
        return JudgeCase("What is 2+2?", ["2+2", "= 4"])

    def cases(self):
        return [self.example(), JudgeCase("What is 2+3?", ["2+3", "= 5"])]

    def test_scores_are_the_served_verifiers(self, judge):
        right, wrong = (judge.score(c.question, c.steps).scores for c in self.cases())
        assert math.isnan(right[0]) and right[1] == 1.0 and wrong[1] == 0.0
