"""Meta-search building blocks on the fake model: budget, store, evaluator, backends, parsing,
spec checks, statistics and report files."""

from __future__ import annotations

import asyncio
import json
import sys
import types

import pytest

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.core.errors import MalformedOutputError, SpecValidationError, UserError
from agentforge.judges import Judge, JudgeResult
from agentforge.llm import LLM, FunctionModel
from agentforge.llm.types import Usage
from agentforge.search import (Budget, BudgetExceeded, BudgetMeter, Evaluator, MeteredLLM, Objective, RayBackend,
                               RunStore, bootstrap_ci, make_backend)
from agentforge.search.parse import extract_instruction, extract_json_object
from agentforge.search.result import pareto_indices
from agentforge.search.specs import check_renderable, estimate_calls, literal, spec_key
from agentforge.search.testing import planted_solver, toy_task

MSGS = [{"role": "user", "content": "hi"}]


def even_solver(task):
    """Correct on even-numbered problems only."""
    return planted_solver(task, lambda m: any(f"problem {i}:" in m[-1]["content"] for i in range(0, 40, 2)))


# ---- statistics and budget ----------------------------------------------------------------------------
def test_bootstrap_ci_is_deterministic_and_brackets_the_mean():
    values = [1, 0] * 10
    lo, hi = bootstrap_ci(values, seed=3)
    assert lo < 0.5 < hi and (lo, hi) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci([1.0]) == (1.0, 1.0) and bootstrap_ci([0, 0, 0]) == (0.0, 0.0)
    with pytest.raises(ValueError):
        bootstrap_ci(values, confidence=1.5)


def test_metered_llm_is_a_hard_stop_on_calls_and_stops_on_tokens_and_cost():
    meter = BudgetMeter(Budget(max_calls=2))
    fm = FunctionModel(lambda m, i: "ok")
    llm = MeteredLLM.wrap(LLM(model=fm, cache=False), meter)
    llm.complete(MSGS)
    assert llm.with_options(temperature=0.5).complete(MSGS).text == "ok"  # copies stay metered
    with pytest.raises(BudgetExceeded) as exc:
        llm.complete(MSGS)
    assert exc.value.resource == "calls" and len(fm.calls) == 2 and meter.spent.calls == 2
    tok = BudgetMeter(Budget(max_tokens=5))
    tok.charge(Usage(calls=1, prompt_tokens=3, completion_tokens=2))
    with pytest.raises(BudgetExceeded, match="tokens"):
        tok.before_call()
    usd = BudgetMeter(Budget(max_cost_usd=0.01))
    usd.charge(Usage(calls=1, cost_usd=0.02))
    with pytest.raises(BudgetExceeded, match="cost_usd"):
        usd.check()
    with pytest.raises(BudgetExceeded, match="wall_s"):
        BudgetMeter(Budget(max_wall_s=0)).check()


# ---- run store ----------------------------------------------------------------------------------------
def test_store_binds_one_search_and_refuses_a_different_one(tmp_path):
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    assert store.bind({"level": "prompt", "seed": 0}, resume=False) is False
    store.put_result("c1", "e1", {"example_id": "e1", "correct": True})
    store.close()
    again = RunStore(path)
    with pytest.raises(UserError, match="--resume"):
        again.bind({"level": "prompt", "seed": 0}, resume=False)
    assert again.bind({"level": "prompt", "seed": 0}, resume=True) is True
    with pytest.raises(UserError, match="differs in: seed"):
        again.bind({"level": "prompt", "seed": 1}, resume=True)
    assert again.get_result("c1", "e1")["correct"] is True and again.get_result("c1", "e2") is None


# ---- evaluator ----------------------------------------------------------------------------------------
def test_evaluator_scores_with_interval_and_never_pays_twice(tmp_path):
    task = toy_task(8)
    fm = FunctionModel(even_solver(task))
    store_path = tmp_path / "s.sqlite"
    ev = Evaluator(task, LLM(model=fm, cache=False), store=RunStore(store_path), concurrency=3)
    res = ev.evaluate(build_agent_spec("cot"), task.examples)
    assert res.n == 8 and res.accuracy == 0.5 and res.score == 0.5 and res.errors == 0
    assert res.accuracy_ci[0] < 0.5 < res.accuracy_ci[1] and len(fm.calls) == 8
    assert res.calls_per_example == 1.0 and res.usage.calls == 8
    ev.evaluate(build_agent_spec("cot"), task.examples)
    assert len(fm.calls) == 8  # same session: read back, not charged again
    assert ev.meter.spent.calls == 8
    fresh = Evaluator(task, LLM(model=fm, cache=False), store=RunStore(store_path))
    again = fresh.evaluate(build_agent_spec("cot").model_copy(update={"name": "renamed"}), task.examples)
    assert len(fm.calls) == 8 and again.accuracy == 0.5  # same behaviour key, new session: replayed
    assert fresh.meter.spent.calls == 8  # ... and charged once with the recorded usage


def test_failed_examples_are_error_rows_and_rerun_later(tmp_path):
    task = toy_task(4)
    state = {"fail": True}
    inner = even_solver(task)

    def fn(messages, info):
        if state["fail"] and "problem 2:" in messages[-1]["content"]:
            raise RuntimeError("provider exploded")
        return inner(messages, info)

    fm = FunctionModel(fn)
    store = RunStore(tmp_path / "s.sqlite")
    res = Evaluator(task, LLM(model=fm, cache=False, retries=0), store=store).evaluate(build_agent_spec("cot"),
                                                                                      task.examples)
    assert res.errors == 1 and res.accuracy == 0.25
    state["fail"] = False
    before = len(fm.calls)
    res = Evaluator(task, LLM(model=fm, cache=False), store=store).evaluate(build_agent_spec("cot"), task.examples)
    assert len(fm.calls) - before == 1 and res.errors == 0 and res.accuracy == 0.5


class HalfJudge(Judge):
    async def ascore(self, question, steps, *, example=None):
        return JudgeResult(scores=[0.5] * len(steps))


def test_objective_mixes_judge_score_and_cost():
    task = toy_task(4)
    llm = LLM(model=FunctionModel(even_solver(task)), cache=False)
    mixed = Evaluator(task, llm, judge=HalfJudge(), objective=Objective(judge_weight=0.5)).evaluate(
        build_agent_spec("cot"), task.examples)
    assert mixed.judge_score == 0.5 and mixed.score == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    costly = Evaluator(task, llm, objective=Objective(cost_weight=1.0)).evaluate(build_agent_spec("cot"), task.examples)
    assert costly.score == pytest.approx(0.5 - costly.tokens_per_example / 1000)
    with pytest.raises(UserError, match="judge"):
        Evaluator(task, llm, objective=Objective(judge_weight=0.3))


def test_llm_judge_calls_are_metered_and_recorded():
    from agentforge.judges.llm_judge import LLMJudge

    task = toy_task(3)
    fm = FunctionModel(lambda m, i: "Step 1: correct" if "Step 1" in m[-1]["content"] and "grade" in
                       m[-1]["content"].lower() else planted_solver(task, lambda _: True)(m, i))
    llm = LLM(model=fm, cache=False)
    ev = Evaluator(task, llm, judge=LLMJudge(llm), objective=Objective(judge_weight=0.5))
    res = ev.evaluate(build_agent_spec("cot"), task.examples)
    assert ev.meter.spent.calls == 6 == len(fm.calls) and res.usage.calls == 6
    assert all(r.judge_usage.calls == 1 for r in res.rows)


def test_memory_specs_run_in_order_with_a_memory_module():
    from agentforge.memory import HashEmbedder
    from agentforge.search import build_module_spec, default_memory_factory

    task = toy_task(3)
    spec = build_module_spec({"reasoning": "cot", "refinement": "none", "ensembling": "none",
                              "memory": "experiential"})
    assert spec.memory == ["experience"]
    ev = Evaluator(task, LLM(model=FunctionModel(even_solver(task)), cache=False),
                   memory_factory=default_memory_factory(HashEmbedder()))
    res = ev.evaluate(spec, task.examples)
    assert res.errors == 0 and ev.agent(spec).memory is not None


# ---- backends -------------------------------------------------------------------------------------------
def test_ray_backend_without_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match="pip install"):
        make_backend("ray")
    with pytest.raises(UserError, match="unknown backend"):
        make_backend("dask")


def fake_ray_module():
    """A stand-in with Ray's API surface, running each task lazily on ``get``."""
    ray = types.ModuleType("ray")
    state = {"init": False}

    class Ref:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

    def remote(**opts):
        def wrap(fn):
            return types.SimpleNamespace(remote=lambda *args: Ref(fn, args))
        return wrap

    ray.remote = remote
    ray.put = lambda x: x
    ray.get = lambda ref: ref.fn(*ref.args)
    ray.wait = lambda refs, num_returns=1: (refs[:num_returns], refs[num_returns:])
    ray.is_initialized = lambda: state["init"]
    ray.init = lambda **kw: state.update(init=True)
    ray.cancel = lambda ref: None
    return ray


def test_ray_backend_gives_the_same_results_as_local(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", fake_ray_module())
    task = toy_task(6)
    llm = LLM(model=FunctionModel(even_solver(task)), cache=False)
    spec = build_agent_spec("self-consistency", samples=2)
    local = Evaluator(task, llm).evaluate(spec, task.examples)
    remote = Evaluator(task, llm, backend=RayBackend()).evaluate(spec, task.examples)
    assert [(r.example_id, r.answer, r.correct) for r in remote.rows] == \
        [(r.example_id, r.answer, r.correct) for r in local.rows]
    assert remote.score == local.score and remote.usage.calls == local.usage.calls == 12


def test_ray_backend_stops_submitting_at_the_budget(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", fake_ray_module())
    task = toy_task(6)
    ev = Evaluator(task, LLM(model=FunctionModel(even_solver(task)), cache=False),
                   meter=BudgetMeter(Budget(max_calls=3)), backend=RayBackend(max_in_flight=1))
    with pytest.raises(BudgetExceeded):
        ev.evaluate(build_agent_spec("cot"), task.examples)
    assert ev.meter.spent.calls == 3 and len(ev.store.results()) == 3


# ---- parsing and spec checks ------------------------------------------------------------------------------
def test_instruction_parsing_is_robust():
    assert extract_instruction("Feedback...\n<instruction>Be careful.</instruction>") == "Be careful."
    assert extract_instruction("<INSTRUCTION>Check units.") == "Check units."
    assert extract_instruction("New instruction: Double-check.") == "Double-check."
    assert extract_instruction("```\nUse a table.\n```") == "Use a table."
    for bad in ("", "   ", "x" * 5000):
        with pytest.raises(MalformedOutputError):
            extract_instruction(bad)
    # the reason says where the over-long text came from (a small model often never closes the tag)
    with pytest.raises(MalformedOutputError, match="after an unclosed <instruction> is 5000 characters"):
        extract_instruction("<instruction>" + "y" * 5000)
    with pytest.raises(MalformedOutputError, match="whole reply: no <instruction> tags"):
        extract_instruction("z" * 2000)


def test_json_parsing_finds_objects_in_prose_and_fences():
    assert extract_json_object('Sure! {"a": 1} and {"spec": {"b": 2}}', want=("spec",)) == {"spec": {"b": 2}}
    assert extract_json_object('```json\n{"nodes": [], "x": "}{"}\n```')["x"] == "}{"
    # a raw newline inside a string (the 1.5B's module choice on HumanEval) is still an object
    reply = '{ "reason": "cot does not check.\n\nThe `cot` module typically operates" , "choice": "pal"}'
    assert extract_json_object(reply, want=("choice",))["choice"] == "pal"
    for bad in ("no json", '{"a": ', "[1, 2]"):
        with pytest.raises(MalformedOutputError):
            extract_json_object(bad)
    with pytest.raises(MalformedOutputError, match="keys"):
        extract_json_object('{"a": 1}', want=("spec",))


def test_spec_checks_render_templates_in_the_sandbox():
    spec = build_agent_spec("cot")
    check_renderable(spec)
    data = spec.model_dump()
    data["nodes"][0]["prompt"] = "{{ questoin }}"
    with pytest.raises(SpecValidationError, match="questoin"):
        check_renderable(AgentSpec.validate_dict(data))
    data["nodes"][0]["prompt"] = "{{ question.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(SpecValidationError, match="node 'solve' prompt"):
        check_renderable(AgentSpec.validate_dict(data))
    from agentforge.core.templates import render

    assert render(literal("Use {{ braces }} {% literally %}"), {}) == "Use {{ braces }} {% literally %}"


def test_spec_key_ignores_names_and_estimate_bounds_calls():
    a = build_agent_spec("cot")
    assert spec_key(a) == spec_key(a.model_copy(update={"name": "x", "metadata": {"k": 1}}))
    assert spec_key(a) != spec_key(build_agent_spec("self-consistency"))
    assert estimate_calls(a) == 1 and estimate_calls(build_agent_spec("self-consistency", samples=5)) == 5
    assert estimate_calls(build_agent_spec("debate", agents=3, rounds=2)) == 10
    assert estimate_calls(build_agent_spec("self-refine", max_iters=3)) >= 7


def test_pareto_front_keeps_only_undominated_points():
    pts = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.7), (5, 0.2)]
    assert pareto_indices(pts) == [4, 0, 1]


def test_evaluate_refuses_an_empty_set():
    task = toy_task(2)
    with pytest.raises(UserError, match="empty"):
        asyncio.run(Evaluator(task, LLM(model=lambda m, i: "x", cache=False)).aevaluate(build_agent_spec("cot"), []))


def test_store_rows_are_json(tmp_path):
    task = toy_task(2)
    store = RunStore(tmp_path / "s.sqlite")
    Evaluator(task, LLM(model=FunctionModel(even_solver(task)), cache=False), store=store).evaluate(
        build_agent_spec("cot"), task.examples)
    rows = store.results()
    assert len(rows) == 2 and json.dumps(rows) and rows[0]["trajectory"][0]["node"] == "solve"
    assert store.counts()["specs"] == 1


def test_misconfigured_judge_stops_evaluation_instead_of_scoring_zero():
    from agentforge.agents import build_agent_spec
    from agentforge.core.errors import UserError
    from agentforge.judges import Judge
    from agentforge.llm import LLM
    from agentforge.search import Evaluator
    from agentforge.search.scoring import Objective
    from agentforge.tasks import load_task

    class Refusing(Judge):
        async def ascore(self, question, steps, *, example=None):
            raise UserError("judge answered 401: missing or wrong bearer token")

    task = load_task("gsm8k", limit=2)
    ev = Evaluator(task, LLM(model=lambda m, i: "Answer: 1", cache=False), judge=Refusing(),
                   objective=Objective(judge_weight=0.5))
    with pytest.raises(UserError, match="401"):
        ev.evaluate(build_agent_spec("cot"), task.examples)


def test_failed_examples_keep_the_usage_they_paid_for():
    from agentforge.agents import build_agent_spec
    from agentforge.llm import LLM
    from agentforge.search import Evaluator
    from agentforge.tasks import load_task

    def fn(m, i):
        if "Your previous answer" in m[-1]["content"]:
            raise RuntimeError("round 1 failed")
        return "Answer: 1"

    task = load_task("gsm8k", limit=1)
    res = Evaluator(task, LLM(model=fn, cache=False)).evaluate(build_agent_spec("debate", agents=2, rounds=1),
                                                               task.examples)
    assert res.usage.calls == 2
