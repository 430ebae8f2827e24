"""System-level search (ADAS / AFlow style) on the scripted fake model: proposals are JSON
AgentSpecs, validated (never executed); invalid ones are rejected with the error fed back."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agentforge.agents import build_agent_spec
from agentforge.core.errors import MalformedOutputError, SpecValidationError
from agentforge.llm import LLM, FunctionModel
from agentforge.search import Budget, RunStore, SystemOptimizer
from agentforge.search.system_opt import parse_proposal
from agentforge.search.testing import is_meta_call, planted_solver, scripted_model, toy_task

TASK = toy_task(10)
TRAIN, VAL = TASK.examples[:4], TASK.examples[4:]

GOOD = {"name": "check-twice", "description": "draft, then verify",
        "nodes": [{"id": "draft", "prompt": "@solve"},
                  {"id": "check", "prompt": "{{ question }}\nVERIFY TWICE: {{ last.draft }}\n{{ instructions }}",
                   "answer": True}],
        "edges": [{"source": "draft", "target": "check"}, {"source": "check", "target": "END"}], "entry": "draft"}
BAD_EDGE = {"name": "bad", "nodes": [{"id": "a", "prompt": "@solve", "answer": True}],
            "edges": [{"source": "a", "target": "nowhere"}], "entry": "a"}


def verify_twice(messages):
    return "VERIFY TWICE" in messages[-1]["content"]


def proposal(spec, thought="check the draft"):
    return "Here is my design.\n```json\n" + json.dumps({"thought": thought, "spec": spec}) + "\n```"


def test_invalid_proposals_are_rejected_with_the_error_fed_back_then_the_planted_graph_wins():
    replies = ["I would add a verifier.", proposal(BAD_EDGE), proposal(GOOD)]
    fm = scripted_model(planted_solver(TASK, verify_twice), replies)
    res = SystemOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=2).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    assert res.best.spec.name == "check-twice" and res.best.score == 1.0 and res.baseline.score == 0.0
    assert res.best.info == {"thought": "check the draft", "attempts": 3}
    rejects = [h.message for h in res.history if h.kind == "reject"]
    assert "no JSON object" in rejects[0] and "unknown target 'nowhere'" in rejects[1]
    meta = [m for m, info in fm.calls if is_meta_call(info)]
    assert meta[0][0]["role"] == "system" and "AgentSpec" in meta[0][0]["content"]
    assert "no JSON object" in meta[1][-1]["content"] and meta[1][-2]["content"] == replies[0]
    assert "unknown target 'nowhere'" in meta[2][-1]["content"]
    assert "Its final answer: -1 (correct: 0)" in meta[0][1]["content"]  # the parent's failures


def test_retries_show_only_the_latest_invalid_reply_cut_to_size():
    # a rambling small model must not push the retry conversation past its context window
    replies = ["x" * 5000, "y" * 100, proposal(GOOD)]
    fm = scripted_model(planted_solver(TASK, verify_twice), replies)
    SystemOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=2, max_reply_shown=300).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    meta = [m for m, info in fm.calls if is_meta_call(info)]
    assert [len(m) for m in meta[:3]] == [2, 4, 4]  # prompt, then prompt + latest reply + error
    assert meta[1][2]["content"].startswith("x" * 300) and len(meta[1][2]["content"]) < 400
    assert meta[2][2]["content"] == "y" * 100 and meta[2][:2] == meta[0]


@pytest.mark.parametrize("spec_change,error", [
    ({"nodes": [{"id": "a", "prompt": "{{ questoin }}", "answer": True}]}, "questoin"),
    ({"nodes": [{"id": "a", "prompt": "{{ cycler.__init__.__globals__ }}", "answer": True}]}, "does not render"),
    ({"nodes": [{"id": "a", "prompt": "@solve", "answer": True, "samples": 64}]}, "model calls per problem"),
    ({"trials": 3}, "reads the gold answer"),
    ({"nodes": [{"id": "a", "prompt": "@solve", "exec": "import os"}]}, "Extra inputs are not permitted"),
])
def test_unsafe_or_invalid_specs_never_pass(spec_change, error):
    base = {"name": "x", "nodes": [{"id": "a", "prompt": "@solve", "answer": True}],
            "edges": [{"source": "a", "target": "END"}], "entry": "a"}
    with pytest.raises(SpecValidationError, match=error):
        parse_proposal(json.dumps({**base, **spec_change}), 1, max_calls=12)


def test_parse_proposal_accepts_a_bare_spec_and_names_it():
    spec, thought = parse_proposal(json.dumps({k: v for k, v in GOOD.items() if k != "name"}), 4, 12)
    assert spec.name == "meta-4" and thought == "" and spec.metadata["search"]["level"] == "system"
    with pytest.raises(MalformedOutputError):
        parse_proposal("[]", 1, 12)


def test_near_duplicates_are_skipped_and_repeated_failures_stop_the_search():
    renamed = {**GOOD, "name": "same-thing", "description": "other words"}
    fm = scripted_model(planted_solver(TASK, verify_twice), [proposal(GOOD), proposal(renamed)])
    res = SystemOptimizer(TASK, LLM(model=fm, cache=False), max_failures=2, minibatch=0).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=200))
    skips = [h for h in res.history if h.kind == "skip"]
    assert len(res.archive) == 2 and len(skips) == 2 and "near-duplicate of candidate #1" in skips[0].message
    assert res.stop_reason.startswith("2 proposals in a row")


def test_system_search_stops_at_the_budget_and_keeps_only_complete_candidates():
    fm = scripted_model(planted_solver(TASK, verify_twice), [proposal(GOOD)])
    res = SystemOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=10).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=14))
    assert res.stop_reason == "budget: calls" and len(fm.calls) <= 14
    assert [c.spec.name for c in res.archive] == ["cot"]  # check-twice needed 12 more calls than were left


def test_system_search_resumes_after_a_kill(tmp_path):
    class Kill(BaseException):
        pass

    def run(store, kill_at=None, resume=False):
        def meta(messages, info):  # a function of the request, as a real model at temperature 0
            if "### check-twice" in messages[1]["content"]:
                return proposal({**GOOD, "max_steps": 7})
            return proposal(GOOD) if len(messages) > 2 else proposal(BAD_EDGE)

        inner = scripted_model(planted_solver(TASK, verify_twice), meta)
        made = []

        def fn(messages, info):
            if kill_at is not None and len(made) + 1 == kill_at:
                raise Kill()
            made.append(json.dumps(messages))
            return inner.fn(messages, info)

        opt = SystemOptimizer(TASK, LLM(model=FunctionModel(fn, name="system-resume"), cache=False), store=store,
                              resume=resume, concurrency=1, max_candidates=3, max_failures=3)
        return opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100)), made

    full, full_calls = run(RunStore(tmp_path / "full.sqlite"))
    path = tmp_path / "killed.sqlite"
    with pytest.raises(Kill):
        run(RunStore(path), kill_at=12)
    resumed, more = run(RunStore(path), resume=True)
    assert [(c.key, c.score) for c in resumed.archive] == [(c.key, c.score) for c in full.archive]
    assert len(more) == len(full_calls) - 11 and resumed.usage.calls == full.usage.calls


def test_proposals_are_asked_for_under_the_spec_schema_which_rules_out_the_usual_small_model_errors():
    formats = []

    def meta(messages, info):
        formats.append(info.params.get("response_format"))
        return json.dumps({"thought": "verify", "spec": GOOD})

    fm = scripted_model(planted_solver(TASK, verify_twice), meta)
    res = SystemOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=2).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    assert res.best.spec.name == "check-twice"
    assert formats[0]["type"] == "json_schema"
    schema = formats[0]["json_schema"]["schema"]
    jsonschema.validate({"thought": "verify", "spec": GOOD}, schema)
    for name in ("cot", "self-refine", "reflexion", "debate", "self-consistency"):  # prebuilt specs fit it
        spec = build_agent_spec(name).model_dump(mode="json", exclude_defaults=True, exclude={"metadata"})
        jsonschema.validate({"thought": "", "spec": spec}, schema)
    bad = [{**GOOD, "nodes": ["draft", "check"]},  # nodes as strings
           {**GOOD, "nodes": [GOOD["nodes"][0]] * 9},  # a list repeated until the tokens run out
           {**GOOD, "colour": "blue"}]  # an unknown field
    for spec in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"thought": "", "spec": spec}, schema)

    plain = []
    fm = scripted_model(planted_solver(TASK, verify_twice),
                        lambda m, info: plain.append(info.params.get("response_format")) or proposal(GOOD))
    SystemOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=2, structured=False).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    assert plain and plain[0] is None
