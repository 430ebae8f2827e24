"""Agents that learn from execution: pal, self-debug, critic, Reflexion with tests (scripted models,
real sandbox)."""

from __future__ import annotations

import pytest

from agentforge.agents import Agent, AgentSpec, build_agent_spec, run_example
from agentforge.core.errors import SpecValidationError
from agentforge.judges import make_judge
from agentforge.llm import LLM, FunctionModel


def fenced(code: str) -> str:
    return f"```python\n{code}\n```"


def test_pal_runs_the_program_and_takes_its_output(gsm8k):
    ex = gsm8k.examples[0]  # Natalia: 48 + 24 = 72
    fm = FunctionModel(lambda m, i: fenced("def solution():\n    april = 48\n    may = april / 2\n"
                                           "    return april + may"))
    ep = _run(Agent("pal", LLM(model=fm), gsm8k), ex)
    assert ep.answer == "72" and ep.correct and len(fm.calls) == 1
    assert ep.trajectory[0].node == "program" and "Output" in ep.text


def test_pal_vote_ignores_failed_programs(gsm8k):
    ex = gsm8k.examples[0]
    programs = ["def solution():\n    return 72", "def solution():\n    return 1 / 0",
                "print(71)", "while True:\n    pass", "def solution():\n    return 72.0"]
    fm = FunctionModel(lambda m, i: fenced(programs[i.sample_index]))
    agent = Agent(build_agent_spec("pal", samples=5, timeout_s=1.0), LLM(model=fm), gsm8k)
    ep = _run(agent, ex)
    assert ep.answer == "72" and ep.correct and ep.votes == {"72": 2, "71": 1}


def test_self_debug_revises_from_the_failing_visible_test(humaneval):
    ex = humaneval.examples[2]  # truncate_number
    assert humaneval.visible_tests(ex)
    bad = "def truncate_number(number: float) -> float:\n    return number"
    seen = []

    def model(messages, info):
        prompt = messages[-1]["content"]
        if "Running it against" in prompt:
            seen.append(prompt)
            return "It returns the integer part too.\n" + fenced(ex.question + ex.gold)
        return fenced(bad)

    ep = _run(Agent("self-debug", LLM(model=FunctionModel(model)), humaneval), ex)
    assert ep.correct and len(seen) == 1
    assert "truncate_number(3.5)" in seen[0] and "expected 0.5" in seen[0]  # the failing visible test, grounded
    assert [c.node for c in ep.trajectory] == ["generate", "debug"]


def test_self_debug_stops_when_visible_tests_pass(humaneval):
    ex = humaneval.examples[2]
    fm = FunctionModel(lambda m, i: fenced(ex.question + ex.gold))
    ep = _run(Agent("self-debug", LLM(model=fm), humaneval), ex)
    assert ep.correct and len(fm.calls) == 1


def test_critic_keeps_an_answer_the_program_confirms_and_revises_one_it_refutes(gsm8k):
    ex = gsm8k.examples[0]

    def model(answer):
        def fn(messages, info):
            prompt = messages[-1]["content"]
            if "computes the answer" in prompt:
                return fenced("def solution():\n    return 48 + 24")
            if "disagree" in prompt:
                assert "72" in prompt  # the revision sees the program's result
                return "Rechecking: 48 + 24 = 72.\nAnswer: 72"
            return f"Some steps.\nAnswer: {answer}"
        return FunctionModel(fn)

    agree = model("72")
    ep = _run(Agent("critic", LLM(model=agree), gsm8k), ex)
    assert ep.answer == "72" and len(agree.calls) == 2
    disagree = model("96")
    ep = _run(Agent("critic", LLM(model=disagree), gsm8k), ex)
    assert ep.answer == "72" and len(disagree.calls) == 4  # solve, check, revise, check again
    assert [c.node for c in ep.trajectory] == ["solve", "check", "revise", "check"]


def test_reflexion_with_self_written_tests_never_sees_hidden_tests(humaneval):
    ex = humaneval.examples[2]
    good = ex.question + ex.gold
    prompts = []

    def model(messages, info):
        prompt = messages[-1]["content"]
        prompts.append(prompt)
        if "Write unit tests" in prompt:
            return fenced("assert truncate_number(3.5) == 0.5\nassert truncate_number(1.25) == 0.25")
        if "judged wrong" in prompt:
            return "I returned the whole number (lesson R7); subtract the integer part."
        return fenced(good if "lesson R7" in prompt else "def truncate_number(number):\n    return number")

    agent = Agent(build_agent_spec("reflexion", trials=3, evaluator="self-tests"), LLM(model=FunctionModel(model)),
                  humaneval)
    ep = _run(agent, ex)
    assert ep.correct and [t["correct"] for t in ep.metadata["trials"]] == [False, True]
    hidden = ex.meta["test"]
    assert not any(hidden.strip()[:60] in p for p in prompts)  # the hidden check never reaches the model
    assert "truncate_number(1.25) == 0.25" in "\n".join(ep.metadata["tests"])


def test_execute_node_is_validated_data():
    data = build_agent_spec("pal").model_dump()
    data["nodes"][1]["source"] = "nowhere"
    with pytest.raises(SpecValidationError, match="execute source"):
        AgentSpec.validate_dict(data)
    data = build_agent_spec("self-debug").model_dump()
    data["edges"][1]["when"][0]["node"] = "generate"  # tests_pass on an llm node
    with pytest.raises(SpecValidationError, match="needs an execute node"):
        AgentSpec.validate_dict(data)


def _run(agent, example):
    from agentforge.core.aio import run_sync

    return run_sync(run_example(agent, example))


def test_execution_judge_scores_programs_by_visible_tests_only(humaneval):
    from agentforge.judges import ExecutionJudge

    ex = humaneval.examples[2]
    judge = ExecutionJudge(humaneval)
    right = judge.score(ex.question, [fenced(ex.gold)], example=ex)
    wrong = judge.score(ex.question, [fenced("def truncate_number(number):\n    return number")], example=ex)
    assert right.scores == [1.0] and wrong.scores == [0.0]
    assert "expected 0.5" in wrong.feedback and right.usage.calls == 0


def test_execution_judge_checks_answers_against_one_program_per_question(gsm8k):
    from agentforge.judges import ExecutionJudge

    ex = gsm8k.examples[0]
    fm = FunctionModel(lambda m, i: fenced("def solution():\n    return 48 + 48 / 2"))
    judge = ExecutionJudge(gsm8k, LLM(model=fm))
    results = judge.score_batch([(ex.question, ["work", "Answer: 72"]), (ex.question, ["Answer: 70"])],
                                examples=[ex, ex])
    assert results[0].scores[-1] == 1.0 and results[1].scores == [0.0] and len(fm.calls) == 1
    assert "computed 72" in results[0].feedback and results[0].usage.calls + results[1].usage.calls == 1
    broken = ExecutionJudge(gsm8k, LLM(model=lambda m, i: fenced("raise SystemExit(3)")))
    assert broken.score(ex.question, ["Answer: 72"], example=ex).scores == [0.5]  # no evidence either way


def test_best_of_n_picks_by_execution_without_gold(gsm8k):
    ex = gsm8k.examples[0]

    def model(messages, info):
        if "computes the answer" in messages[-1]["content"]:
            return fenced("def solution():\n    return 72")
        return f"Work.\nAnswer: {[70, 72, 75][info.sample_index % 3]}"

    fm = FunctionModel(model)
    agent = Agent("best-of-n", LLM(model=fm), gsm8k, n=3, judge=make_judge("execution", LLM(model=fm), gsm8k))
    assert agent.run_sync(ex).answer == "72"

