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
from agentforge.search.specs import estimate_calls, proposal_schema
from agentforge.search.system_opt import parse_proposal
from agentforge.search.testing import gold_of, is_meta_call, planted_solver, scripted_model, toy_task
from agentforge.tasks import load_task

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
    ({"nodes": [{"id": "a", "prompt": "Let's solve this step by step. @solve", "answer": True}]},
     r"node 'a' prompt never shows the model the problem .*'@solve' inside inline text is literal"),
    ({"nodes": [{"id": "a", "prompt": "Answer carefully.", "answer": True}]}, r"never shows the model the problem"),
    ({"nodes": [{"id": "a", "prompt": "@solve", "exec": "import os"}]}, "Extra inputs are not permitted"),
])
def test_unsafe_or_invalid_specs_never_pass(spec_change, error):
    base = {"name": "x", "nodes": [{"id": "a", "prompt": "@solve", "answer": True}],
            "edges": [{"source": "a", "target": "END"}], "entry": "a"}
    with pytest.raises(SpecValidationError, match=error):
        parse_proposal(json.dumps({**base, **spec_change}), 1, max_calls=12)


def test_inline_prompts_that_show_the_problem_pass():
    spec, _ = parse_proposal(json.dumps({"name": "x", "nodes": [{"id": "a", "prompt": "Think. {{ question }}",
                                                                  "answer": True}],
                                         "edges": [{"source": "a", "target": "END"}], "entry": "a"}), 1, 12)
    assert spec.nodes[0].prompt == "Think. {{ question }}"
    blind = json.dumps({"name": "x", "nodes": [{"id": "a", "prompt": "Solve it. @solve", "answer": True}],
                        "edges": [{"source": "a", "target": "END"}], "entry": "a"})
    assert parse_proposal(blind, 1, 12, require_problem=False)[0].nodes[0].prompt == "Solve it. @solve"


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


# ---- grounded graphs: execute nodes, answers_match / tests_pass conditions ---------------------------------------

PAL_VOTE = {"name": "pal-vote", "description": "3 programs, run, vote over their printed results",
            "nodes": [{"id": "program", "role": "programmer", "system": "@coder", "prompt": "@pal", "samples": 3,
                       "temperature": 0.7},
                      {"id": "run", "kind": "execute", "source": "program",
                       "execute": {"answer_from": "stdout", "timeout_s": 3}},
                      {"id": "vote", "kind": "vote", "system": None, "source": "run"}],
            "edges": [{"source": "program", "target": "run"}, {"source": "run", "target": "vote"},
                      {"source": "vote", "target": "END"}], "entry": "program"}


def program_solver(task):
    """Writes a right program when asked for solution(); its chains of thought are wrong."""

    def solve(messages, info):
        gold = gold_of(task, messages)
        if "solution()" in messages[-1]["content"]:
            return f"```python\ndef solution():\n    value = {gold}\n    return value\n```"
        return "Step 1: guess.\nAnswer: -1"

    return solve


def test_a_proposed_program_aided_graph_is_validated_run_and_archived():
    fm = scripted_model(program_solver(TASK), [proposal(PAL_VOTE, "let the sandbox compute")])
    res = SystemOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=2).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    assert [c.spec.name for c in res.archive] == ["cot", "pal-vote"] and res.best.spec.name == "pal-vote"
    assert res.baseline.score == 0.0 and res.best.score == 1.0
    assert res.best.eval.calls_per_example == 3  # three programs; running and voting cost no model call
    assert res.best.spec.nodes[1].execute.answer_from == "stdout"
    system = [m for m, info in fm.calls if is_meta_call(info)][0][0]["content"]
    for needle in ('"execute"', "answers_match", "tests_pass", "tests_fail", "@pal", "@critic_program",
                   '{"id":"run","kind":"execute"', "{{ feedback }}"):
        assert needle in system, needle
    assert "@self_debug" not in system and "self-tests" not in system  # code-only options stay out on GSM8K-like tasks


def test_program_tasks_see_test_based_options_and_a_self_debug_example():
    task = load_task("humaneval", limit=2)
    fm = scripted_model(lambda m, i: "```python\npass\n```", ["no idea"])
    SystemOptimizer(task, LLM(model=fm, cache=False), max_candidates=3, max_retries=0, max_failures=1,
                    minibatch=0).optimize(build_agent_spec("cot"), [], task.examples[:1], Budget(max_calls=10))
    system = [m for m, info in fm.calls if is_meta_call(info)][0][0]["content"]
    assert '"tests":"visible"' in system and '"kind":"tests_pass"' in system and "@self_debug" in system
    assert '"self-tests"' in system and "@pal" not in system


CRITIC_LIKE = {"name": "checked", "nodes": [
    {"id": "solve", "prompt": "@solve", "answer": True},
    {"id": "check", "system": "@coder", "prompt": "@critic_program"},
    {"id": "run", "kind": "execute", "source": "check", "execute": {"answer_from": "stdout"}},
    {"id": "revise", "prompt": "@critic_revise", "answer": True}],
    "edges": [{"source": "solve", "target": "check"}, {"source": "check", "target": "run"},
              {"source": "run", "target": "END", "when": [{"kind": "answers_match", "node": "run", "value": "solve"}]},
              {"source": "run", "target": "revise"}, {"source": "revise", "target": "END"}], "entry": "solve"}
DEBUG_LIKE = {"name": "tested", "nodes": [
    {"id": "code", "prompt": "@solve", "answer": True},
    {"id": "test", "kind": "execute", "source": "code", "execute": {"tests": "visible", "timeout_s": 2}},
    {"id": "fix", "prompt": "@self_debug", "answer": True}],
    "edges": [{"source": "code", "target": "test"},
              {"source": "test", "target": "END", "when": [{"kind": "tests_pass", "node": "test"}]},
              {"source": "test", "target": "fix"}, {"source": "fix", "target": "END"}], "entry": "code"}


def test_grounded_proposals_validate_with_their_call_bounds_and_wrong_ones_are_named():
    spec, _ = parse_proposal(json.dumps(CRITIC_LIKE), 1, 12, "text")
    assert estimate_calls(spec) == 3  # solve, check, revise: the execute node calls no model
    spec, _ = parse_proposal(json.dumps(DEBUG_LIKE), 1, 12, "program")
    assert estimate_calls(spec) == 2 and spec.nodes[1].execute.tests == "visible"
    assert estimate_calls(parse_proposal(json.dumps(PAL_VOTE), 1, 12)[0]) == 3
    self_tests = {**DEBUG_LIKE, "trials": 2, "evaluator": "self-tests"}
    assert estimate_calls(parse_proposal(json.dumps(self_tests), 1, 12, "program")[0]) == 2 * 2 + 1 + 1
    with pytest.raises(SpecValidationError, match="answers are text"):
        parse_proposal(json.dumps(self_tests), 1, 12, "text")
    for broken, error in [
        ({"nodes": [*CRITIC_LIKE["nodes"][:2], {**CRITIC_LIKE["nodes"][2], "source": "nowhere"},
                    CRITIC_LIKE["nodes"][3]]}, "execute source 'nowhere'"),
        ({"edges": [*CRITIC_LIKE["edges"][:2], {"source": "run", "target": "END", "when": [
            {"kind": "tests_pass", "node": "solve"}]}, *CRITIC_LIKE["edges"][3:]]}, "needs an execute node"),
        ({"edges": [*CRITIC_LIKE["edges"][:2], {"source": "run", "target": "END", "when": [
            {"kind": "answers_match", "node": "run", "value": "oracle"}]}, *CRITIC_LIKE["edges"][3:]]},
         "answers_match against unknown node 'oracle'"),
        ({"nodes": [*CRITIC_LIKE["nodes"][:2], {**CRITIC_LIKE["nodes"][2], "execute": {"shell": "ls"}},
                    CRITIC_LIKE["nodes"][3]]}, "Extra inputs are not permitted"),
        ({"nodes": [*CRITIC_LIKE["nodes"][:2], {**CRITIC_LIKE["nodes"][2], "execute": {"timeout_s": 60}},
                    CRITIC_LIKE["nodes"][3]]}, r"execute.timeout_s is 60.0; at most 10.0"),
    ]:
        with pytest.raises(SpecValidationError, match=error):
            parse_proposal(json.dumps({**CRITIC_LIKE, **broken}), 1, 12, "text")


def test_the_proposal_schema_takes_execute_nodes_with_bounded_options():
    schema = proposal_schema()
    for name, opts in [("pal", {"samples": 3}), ("critic", {}), ("self-debug", {})]:
        spec = build_agent_spec(name, **opts).model_dump(mode="json", exclude_defaults=True, exclude={"metadata"})
        jsonschema.validate({"thought": "", "spec": spec}, schema)
    for spec in (PAL_VOTE, CRITIC_LIKE, DEBUG_LIKE):
        jsonschema.validate({"thought": "", "spec": spec}, schema)
    run = PAL_VOTE["nodes"][1]
    for bad in ({"timeout_s": 30}, {"timeout_s": 0}, {"memory_mb": 2048}, {"max_feedback_chars": 10**4},
                {"answer_from": "eval"}, {"tests": "hidden"}, {"tests_from": "x" * 200}, {"shell": "ls"}):
        nodes = [PAL_VOTE["nodes"][0], {**run, "execute": {**run["execute"], **bad}}, PAL_VOTE["nodes"][2]]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"thought": "", "spec": {**PAL_VOTE, "nodes": nodes}}, schema)
