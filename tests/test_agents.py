"""Prebuilt agents on the scripted fake model: call counts, what each node sees, stops, votes."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentforge.agents import Agent, AgentSpec, build_agent_spec, majority
from agentforge.core.errors import AgentRunError, ModelCallError, SpecValidationError, UnknownNameError
from agentforge.llm import LLM, FunctionModel


def run(spec, fn, task, question="What is 2+3?"):
    fm = fn if isinstance(fn, FunctionModel) else FunctionModel(fn)
    return Agent(spec, LLM(model=fm, cache=False), task).run(question), fm


def test_cot_one_call(toy_task):
    res, fm = run(build_agent_spec("cot"), lambda m, i: "2+3=5\nAnswer: 5", toy_task)
    assert res.answer == "5" and len(fm.calls) == 1 and res.usage.calls == 1
    msgs = fm.calls[0][0]
    assert msgs[0]["role"] == "system" and "What is 2+3?" in msgs[1]["content"]
    assert toy_task.instructions in msgs[1]["content"]


def test_self_consistency_k_samples_majority(toy_task):
    answers = ["5", "6", "5", "7", "5"]
    res, fm = run(build_agent_spec("self-consistency", samples=5),
                  lambda m, i: f"Answer: {answers[i.sample_index]}", toy_task)
    assert len(fm.calls) == 5
    assert {c[1].sample_index for c in fm.calls} == set(range(5))
    assert all(c[1].params["temperature"] == 0.7 for c in fm.calls)
    assert res.answer == "5" and res.votes == {"5": 3, "6": 1, "7": 1}


def test_self_consistency_tie_goes_to_first_seen(toy_task):
    answers = ["8", "9", "9", "8"]
    res, _ = run(build_agent_spec("self-consistency", samples=4),
                 lambda m, i: f"Answer: {answers[i.sample_index]}", toy_task)
    assert res.answer == "8"


def test_self_refine_stops_when_feedback_says_stop(toy_task):
    def fn(m, i):
        content = m[-1]["content"]
        if "Proposed solution" in content:  # feedback prompt
            return "STOP" if "Answer: 5" in content else "Step 2 is wrong, 2+3 is 5."
        if "Feedback on it" in content:  # refine prompt
            return "Fixed.\nAnswer: 5"
        return "Answer: 6"

    res, fm = run(build_agent_spec("self-refine", max_iters=3), fn, toy_task)
    assert [c.node for c in res.trajectory] == ["generate", "feedback", "refine", "feedback"]
    assert res.answer == "5"
    refine_prompt = fm.calls[2][0][-1]["content"]
    assert "Answer: 6" in refine_prompt and "Step 2 is wrong" in refine_prompt


def test_self_refine_respects_max_iters(toy_task):
    res, fm = run(build_agent_spec("self-refine", max_iters=2), lambda m, i: "never happy. Answer: 4", toy_task)
    assert [c.node for c in res.trajectory] == ["generate", "feedback", "refine", "feedback", "refine"]
    assert len(fm.calls) == 1 + 2 * 2


def test_debate_call_counts_and_what_each_debater_sees(toy_task):
    def fn(m, i):
        content = m[-1]["content"]
        if "Your previous answer" not in content:  # round 0: independent answers
            return f"I think Answer: {[5, 6, 7][i.sample_index % 1000]}"
        return f"updated Answer: 5 (agent {i.sample_index % 1000})"

    res, fm = run(build_agent_spec("debate", agents=3, rounds=2), fn, toy_task)
    assert len(fm.calls) == 3 * 3  # no tie -> no judge call
    round1 = [c for c in fm.calls if c[1].sample_index // 1000 == 0 and "Your previous answer" in c[0][-1]["content"]]
    assert len(round1) >= 3
    # debater 1 in round 1 sees its own round-0 answer as "previous" and the other two as peers
    r1 = [c for c in res.trajectory if c.node == "round1"]
    by_sample = {c.sample: c.messages[-1]["content"] for c in r1}
    own, *peers = by_sample[1].split("Answer of agent")
    assert "Answer: 6" in own
    assert "Answer: 5" in peers[0] and "Answer: 7" in peers[1]
    assert "Answer: 6" not in "".join(peers)
    # round 2 reads round 1's outputs, not round 0's
    r2 = [c for c in res.trajectory if c.node == "round2"]
    assert all("updated" in c.messages[-1]["content"] for c in r2)
    assert res.answer == "5" and res.votes == {"5": 3}


def test_debate_tie_is_broken_by_a_judge_call(toy_task):
    def fn(m, i):
        content = m[-1]["content"]
        if "Several solutions disagree" in content:
            return "Solution 2 is right. Answer: 6"
        return f"Answer: {[5, 6][i.sample_index % 1000 % 2]}"

    res, fm = run(build_agent_spec("debate", agents=2, rounds=1), fn, toy_task)
    assert len(fm.calls) == 2 * 2 + 1
    assert res.trajectory[-1].role == "judge"
    assert res.answer == "6"


def test_debate_rounds_run_concurrently(toy_task):
    async def slow(m, i):
        await asyncio.sleep(0.2)
        return "Answer: 5"

    t0 = time.perf_counter()
    res, fm = run(build_agent_spec("debate", agents=3, rounds=2), slow, toy_task)
    wall = time.perf_counter() - t0
    assert len(fm.calls) == 9
    assert wall < 9 * 0.2 * 0.6  # far below sequential; ideal is 3 stages x 0.2 s


def test_a_failed_debater_call_cancels_its_siblings(toy_task):
    # inside a long-lived event loop (the Evaluator's), siblings of a failed call must not keep
    # running and paying for calls whose round is already lost
    finished = []

    async def model(m, info):
        if info.sample_index == 0:
            raise ValueError("provider bug")  # not retryable: the call fails at once
        await asyncio.sleep(0.3)
        finished.append(info.sample_index)
        return "Answer: 5"

    async def main():
        agent = Agent(build_agent_spec("debate", agents=3, rounds=1), LLM(model=FunctionModel(model), cache=False),
                      toy_task)
        with pytest.raises(AgentRunError, match="provider bug") as err:
            await agent.arun("What is 2+3?")
        assert isinstance(err.value.cause, ModelCallError)
        await asyncio.sleep(0.5)  # the siblings would have finished by now

    asyncio.run(main())
    assert finished == []


def test_majority_ignores_none():
    assert majority([None, "a", "b", "b"]) == (["b"], {"a": 1, "b": 2})
    assert majority([None, None]) == ([], {})


def test_spec_json_round_trip_for_every_prebuilt():
    for name in ("cot", "self-consistency", "self-refine", "debate"):
        spec = build_agent_spec(name)
        again = AgentSpec.validate_json(spec.to_json())
        assert again == spec and again.hash() == spec.hash()


def test_validation_errors_name_the_bad_node_or_edge():
    data = build_agent_spec("self-refine").model_dump()
    data["edges"][1]["target"] = "refin"
    with pytest.raises(SpecValidationError, match=r"edge 1 \(feedback -> refin\): unknown target 'refin'"):
        AgentSpec.validate_dict(data)
    data = build_agent_spec("cot").model_dump()
    data["nodes"][0]["prompt"] = "{{ question "
    with pytest.raises(SpecValidationError, match="node 'solve': bad prompt template"):
        AgentSpec.validate_dict(data)
    data = build_agent_spec("cot").model_dump()
    data["nodes"][0]["prompt"] = "@nosuchtemplate"
    with pytest.raises(SpecValidationError, match="node 'solve'.*nosuchtemplate"):
        AgentSpec.validate_dict(data)
    with pytest.raises(SpecValidationError, match="invalid JSON|Invalid JSON"):
        AgentSpec.validate_json("{not json")


def test_node_without_default_edge_is_rejected():
    data = build_agent_spec("cot").model_dump()
    data["edges"] = []
    with pytest.raises(SpecValidationError, match="node 'solve' has no outgoing edge"):
        AgentSpec.validate_dict(data)


def test_templates_are_sandboxed(toy_task):
    data = build_agent_spec("cot").model_dump()
    data["nodes"][0]["prompt"] = "{{ question.__class__.__mro__[1].__subclasses__() }}"
    spec = AgentSpec.validate_dict(data)
    with pytest.raises(Exception, match="unsafe|access"):
        run(spec, lambda m, i: "Answer: 1", toy_task)


def test_unknown_agent_lists_valid():
    with pytest.raises(UnknownNameError, match="valid agents: beam-search, best-of-n, cot, critic, debate, "
                                               "lookahead, pal, reflexion, self-consistency, self-debug, self-refine"):
        build_agent_spec("reflexive")


def test_unknown_template_variable_is_a_validation_error():
    data = build_agent_spec("cot").model_dump()
    data["nodes"][0]["prompt"] = "Q: {{ questoin }}"
    with pytest.raises(SpecValidationError, match=r"node 'solve'.*unknown template variable.*questoin"):
        AgentSpec.validate_dict(data)


def test_condition_value_must_fit_its_kind():
    data = build_agent_spec("self-refine").model_dump()
    data["edges"][3]["when"][0]["value"] = "three"
    with pytest.raises(SpecValidationError, match="visits_at_least .* needs an integer"):
        AgentSpec.validate_dict(data)


def test_loop_past_max_steps_keeps_the_calls_made(toy_task):
    data = build_agent_spec("self-refine", max_iters=50).model_dump()
    data["max_steps"] = 5
    res, fm = run(AgentSpec.validate_dict(data), lambda m, i: "still wrong. Answer: 4", toy_task)
    assert res.metadata == {"truncated": True}
    assert len(res.trajectory) == len(fm.calls) == 5 and res.answer == "4"


def test_templates_cannot_run_away(toy_task):
    from agentforge.core.errors import TemplateError, TemplateLimitError
    from agentforge.core.templates import render

    with pytest.raises(TemplateLimitError, match="range"):
        render("{% for i in range(100000) %}x{% endfor %}", {})
    with pytest.raises(TemplateLimitError, match="repetition"):
        render("{{ ('x' * 50000000)[:1] }}", {})
    with pytest.raises(TemplateError, match=r"\*\*"):
        render("{{ 10 ** 10 ** 10 }}", {})
    assert render("{% for p in peers %}{{ loop.index }}{% endfor %} {{ 'ab' * 2 }}", {"peers": [1, 2]}) == "12 abab"
