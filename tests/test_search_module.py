"""Module-level search (AgentSquare slots) on the scripted fake model."""

from __future__ import annotations

import json

import pytest

from agentforge.agents import Agent, build_agent_spec
from agentforge.core.errors import SpecValidationError
from agentforge.llm import LLM, FunctionModel
from agentforge.memory import HashEmbedder
from agentforge.search import Budget, ModuleOptimizer, RunStore, build_module_spec, default_memory_factory
from agentforge.search.modules import all_configs, available_slots, infer_config, validate_config
from agentforge.search.specs import check_renderable
from agentforge.search.testing import is_meta_call, planted_solver, scripted_model, toy_task

TASK = toy_task(10)
TRAIN, VAL = TASK.examples[:4], TASK.examples[4:]
MEM = default_memory_factory(HashEmbedder())


def test_every_configuration_builds_a_valid_renderable_spec():
    configs = list(all_configs())
    assert len(configs) == 3 * 3 * 4 * 4 - 3 * 4  # self-refine after best-of-n is impossible
    for config in configs:
        spec = build_module_spec(config)
        check_renderable(spec)
        assert spec.metadata["modules"] == config and infer_config(spec) == config
    assert infer_config(build_agent_spec("cot")) == {"reasoning": "cot", "refinement": "none", "ensembling": "none",
                                                     "memory": "none"}
    with pytest.raises(SpecValidationError, match="valid: cot, plan-and-solve, step-back"):
        validate_config({"reasoning": "magic", "refinement": "none", "ensembling": "none", "memory": "none"})


def test_composed_agents_run(toy_task):
    task = toy_task
    fm = FunctionModel(lambda m, i: "STOP" if "reply with the single word STOP" in m[-1]["content"]
                       else "Principle: add.\nAnswer: 4")
    for config in [{"reasoning": "step-back", "refinement": "self-refine", "ensembling": "self-consistency",
                    "memory": "none"},
                   {"reasoning": "plan-and-solve", "refinement": "self-refine", "ensembling": "none", "memory": "none"},
                   {"reasoning": "cot", "refinement": "reflexion", "ensembling": "debate", "memory": "none"}]:
        res = Agent(build_module_spec(config), LLM(model=fm, cache=False), task).run("What is 2 + 2?")
        assert res.answer == "4", config


def test_best_of_n_is_skipped_with_a_note_when_not_prebuilt(monkeypatch):
    from agentforge.agents import prebuilt

    monkeypatch.delitem(prebuilt.AGENTS, "best-of-n")
    slots, notes = available_slots()
    assert "best-of-n" not in slots["ensembling"] and "best-of-n skipped" in notes[0]
    fm = scripted_model(planted_solver(TASK, lambda m: False), ["{}"])
    res = ModuleOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=1).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=20))
    assert any(h.kind == "note" and "best-of-n" in h.message for h in res.history)


def plan_helps(messages):
    return "devise a plan" in messages[-1]["content"]


def test_proposals_are_validated_and_errors_fed_back_and_the_planted_module_is_found():
    replies = ['{"reasoning": "magic"}',  # unknown module: rejected, error fed back
               'Swap the reasoning module: {"reasoning": "plan-and-solve", "why": "plans help"}']
    fm = scripted_model(planted_solver(TASK, plan_helps), replies)
    opt = ModuleOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=3, memory_factory=MEM, seed=1)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=200))
    assert res.best.score == 1.0 and res.best.info["modules"]["reasoning"] == "plan-and-solve"
    rejects = [h for h in res.history if h.kind == "reject"]
    assert "unknown module 'magic'" in rejects[0].message
    meta_calls = [m for m, info in fm.calls if is_meta_call(info)]
    assert "unknown module 'magic'" in meta_calls[1][-1]["content"]  # the error went back to the meta model
    assert meta_calls[1][-2] == {"role": "assistant", "content": replies[0]}
    assert json.loads(res.best_spec.to_json())["metadata"]["modules"]["reasoning"] == "plan-and-solve"


def test_recombination_explores_untried_configurations_without_the_meta_model():
    fm = scripted_model(planted_solver(TASK, lambda m: False), ["not json at all"])
    opt = ModuleOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=4, max_failures=10, max_retries=0,
                          memory_factory=MEM)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=400))
    configs = [tuple(c.info["modules"].values()) for c in res.archive]
    assert len(configs) == len(set(configs)) == 4
    assert {c.origin for c in res.archive[1:]} <= {"mutate", "recombine", "explore"}
    assert any(h.kind == "reject" and "no JSON object" in h.message for h in res.history)


def test_module_search_stops_at_the_budget():
    fm = scripted_model(planted_solver(TASK, plan_helps), ['{"ensembling": "debate"}'])
    res = ModuleOptimizer(TASK, LLM(model=fm, cache=False), max_candidates=30, memory_factory=MEM).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=25))
    assert res.stop_reason == "budget: calls" and len(fm.calls) <= 25
    assert all(c.eval.n == len(VAL) for c in res.archive)


def test_module_search_resumes_to_the_same_archive(tmp_path):
    def run(store, resume):
        fm = scripted_model(planted_solver(TASK, plan_helps), ['{"refinement": "self-refine"}'], name="module-resume")
        opt = ModuleOptimizer(TASK, LLM(model=fm, cache=False), store=store, resume=resume, concurrency=1,
                              max_candidates=4, memory_factory=MEM)
        return opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=80)), fm

    path = tmp_path / "m.sqlite"
    first, fm1 = run(RunStore(path), False)
    again, fm2 = run(RunStore(path), True)
    assert [c.key for c in again.archive] == [c.key for c in first.archive]
    assert len(fm2.calls) == 0 and again.usage.calls == first.usage.calls
