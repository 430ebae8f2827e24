"""Prompt-level search on the scripted fake model: finds the planted instruction, uses failing
trajectories and bootstrapped demos, stops at budgets, resumes after a kill without repeating calls."""

from __future__ import annotations

import json

import pytest

from agentforge.agents import build_agent_spec
from agentforge.llm import LLM, FunctionModel
from agentforge.search import Budget, PromptOptimizer, RunStore
from agentforge.search.testing import is_meta_call, planted_solver, scripted_model, toy_task

TASK = toy_task(12)
TRAIN, VAL = TASK.examples[:6], TASK.examples[6:]


def magic_in_system(messages):
    return any("MAGIC" in m["content"] for m in messages if m["role"] == "system")


def magic_meta(messages, info):
    return "The model ignores the method.\n<instruction>Always apply the MAGIC method.</instruction>"


def test_finds_the_planted_instruction_and_reports_it():
    fm = scripted_model(planted_solver(TASK, magic_in_system), magic_meta)
    opt = PromptOptimizer(TASK, LLM(model=fm, cache=False), operators=["opro"], max_candidates=3, max_failures=2)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    assert res.baseline.score == 0.0 and res.best.score == 1.0
    assert "MAGIC" in res.best_spec.nodes[0].system and res.best.origin == "opro"
    assert res.usage.calls == len(fm.calls)
    opro_prompt = next(m for m, info in fm.calls if is_meta_call(info))[0]["content"]
    assert "score: 0.0" in opro_prompt and "Correct answer:" in opro_prompt  # scored history + exemplars


def test_reflect_reads_failing_trajectories():
    seen = []

    def meta(messages, info):
        seen.append(messages[0]["content"])
        return "Diagnosis: no method.\n<instruction>Use the MAGIC check.</instruction>"

    fm = scripted_model(planted_solver(TASK, magic_in_system), meta)
    opt = PromptOptimizer(TASK, LLM(model=fm, cache=False), operators=["reflect"], minibatch=4, max_candidates=2)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    assert res.best.score == 1.0 and res.best.origin == "reflect"
    assert "got these problems wrong" in seen[0] and "Correct answer: 0" in seen[0]
    assert "Model's final answer: -1" in seen[0] and res.best.info["note"].startswith("Diagnosis")


def test_fewshot_bootstraps_demos_from_successful_trajectories():
    task = toy_task(12)

    def demos_present(messages):
        return "Worked examples" in messages[-1]["content"]

    solver = planted_solver(task, lambda m: demos_present(m) or "problem 0:" in m[-1]["content"]
                            or "problem 1:" in m[-1]["content"])
    fm = scripted_model(solver, magic_meta)
    opt = PromptOptimizer(task, LLM(model=fm, cache=False), operators=["fewshot"], demos=2, max_candidates=2)
    res = opt.optimize(build_agent_spec("cot"), task.examples[:6], task.examples[6:], Budget(max_calls=100))
    assert res.best.origin == "fewshot" and res.best.score == 1.0
    assert [d["id"] for d in res.best.info["demos"]] == ["toy-0", "toy-1"]  # the only successes
    assert "Toy problem 0" in res.best_spec.nodes[0].prompt and not any(is_meta_call(info) for _, info in fm.calls)


def test_malformed_meta_output_is_a_failed_proposal_not_a_crash():
    fm = scripted_model(planted_solver(TASK, magic_in_system), ["", "x" * 4000])
    opt = PromptOptimizer(TASK, LLM(model=fm, cache=False), operators=["opro"], max_failures=2)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=100))
    fails = [h for h in res.history if h.kind == "fail"]
    assert len(fails) == 2 and "malformed meta-model output" in fails[0].message
    assert res.stop_reason.startswith("2 proposals in a row") and len(res.archive) == 1


@pytest.mark.parametrize("budget,resource", [(Budget(max_calls=15), "calls"), (Budget(max_tokens=600), "tokens"),
                                             (Budget(max_wall_s=0), "wall_s")])
def test_budgets_stop_the_search_with_a_consistent_archive(budget, resource):
    fm = scripted_model(planted_solver(TASK, magic_in_system), magic_meta)
    opt = PromptOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=50, max_failures=50)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, budget)
    assert res.stop_reason == f"budget: {resource}"
    assert all(c.eval.n == len(VAL) and c.eval.errors == 0 for c in res.archive)
    if resource == "calls":
        assert len(fm.calls) == res.usage.calls <= 15
    if resource == "wall_s":
        assert not res.archive and res.best_spec == build_agent_spec("cot") and not fm.calls


class Kill(BaseException):
    """Stands for SIGKILL / Ctrl-C in the middle of a model call."""


def _run(store, kill_at=None, resume=False, calls=60):
    inner = scripted_model(planted_solver(TASK, magic_in_system),
                           lambda m, i: f"<instruction>Try the MAGIC idea number {len(m[0]['content']) % 7}."
                                        "</instruction>")
    made = []

    def fn(messages, info):
        if kill_at is not None and len(made) + 1 == kill_at:
            raise Kill()
        made.append(json.dumps([messages, info.sample_index, info.params.get("temperature")]))
        return inner.fn(messages, info)

    fm = FunctionModel(fn, name="prompt-resume")
    opt = PromptOptimizer(TASK, LLM(model=fm, cache=False), store=store, resume=resume, concurrency=1,
                          max_candidates=6, max_failures=6, minibatch=3)
    return opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=calls)), made


def _shape(res):
    return [(c.key, c.origin, round(c.score, 6), c.info.get("instruction")) for c in res.archive]


def test_resume_after_a_kill_gives_the_same_archive_without_repeating_calls(tmp_path):
    full, full_calls = _run(RunStore(tmp_path / "full.sqlite"))
    path = tmp_path / "killed.sqlite"
    with pytest.raises(Kill):  # the first session makes 24 calls, then dies inside the 25th
        _run(RunStore(path), kill_at=25)
    resumed, second = _run(RunStore(path), resume=True)
    assert _shape(resumed) == _shape(full) and resumed.stop_reason == full.stop_reason
    assert [h.kind for h in resumed.history] == [h.kind for h in full.history]
    assert len(second) == len(full_calls) - 24  # nothing paid twice
    assert resumed.usage.calls == full.usage.calls  # spent as if never killed
    assert not set(second) & set(full_calls[:24])


def test_resume_with_a_larger_budget_continues_where_the_budget_stopped(tmp_path):
    big, big_calls = _run(RunStore(tmp_path / "big.sqlite"), calls=60)
    path = tmp_path / "small.sqlite"
    small, small_calls = _run(RunStore(path), calls=30)
    assert small.stop_reason == "budget: calls" and len(small.archive) < len(big.archive)
    more, more_calls = _run(RunStore(path), resume=True, calls=60)
    assert _shape(more) == _shape(big) and len(small_calls) + len(more_calls) == len(big_calls)


def test_resume_needs_the_flag_and_the_same_configuration(tmp_path):
    path = tmp_path / "s.sqlite"
    _run(RunStore(path), calls=10)
    with pytest.raises(Exception, match="--resume"):
        _run(RunStore(path), calls=10)
    fm = FunctionModel(lambda m, i: "Answer: 1", name="prompt-resume")
    other = PromptOptimizer(TASK, LLM(model=fm, cache=False), store=RunStore(path), resume=True, seed=7, minibatch=3)
    with pytest.raises(Exception, match="differs in: seed"):
        other.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=10))


def test_wall_time_is_stored_after_every_step_so_a_hard_kill_keeps_it(tmp_path):
    store, seen = RunStore(tmp_path / "w.sqlite"), []

    def meta(messages, info):
        seen.append(store.wall_s())  # what a SIGKILL right now would leave behind
        return f"<instruction>Try idea {len(seen)}.</instruction>"

    fm = scripted_model(planted_solver(TASK, magic_in_system), meta)
    opt = PromptOptimizer(TASK, LLM(model=fm, cache=False), store=store, concurrency=1, operators=["opro"],
                          max_candidates=4, max_failures=4)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=60))
    assert len(seen) >= 2 and seen[0] == 0.0 and seen[1] > 0.0
    assert store.wall_s() == pytest.approx(res.wall_s, abs=0.05)
