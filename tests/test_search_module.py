"""Module-level search (AgentSquare slots) on the scripted fake model."""

from __future__ import annotations

import json

import pytest

from agentforge.agents import Agent, AgentSpec, Condition, build_agent_spec
from agentforge.core.errors import SpecValidationError, UserError
from agentforge.llm import LLM, FunctionModel
from agentforge.memory import HashEmbedder
from agentforge.search import (Budget, Evaluator, ModuleOptimizer, ModuleOptions, RunStore, build_module_spec,
                               default_memory_factory)
from agentforge.search.module_opt import RunExecutionJudge
from agentforge.search.modules import (ANSWER_TYPES, DEFAULT_CONFIG, all_configs, available_slots, infer_config, rules,
                                       validate_config)
from agentforge.search.specs import check_renderable
from agentforge.search.testing import gold_of, is_meta_call, planted_solver, scripted_model, toy_task
from agentforge.tasks import load_task

TASK = toy_task(10)
TRAIN, VAL = TASK.examples[:4], TASK.examples[4:]
MEM = default_memory_factory(HashEmbedder())


def test_every_configuration_builds_a_valid_renderable_spec():
    configs = list(all_configs())  # no task: every module, answer and program modules kept apart
    assert len(configs) == 244
    for config in configs:
        spec = build_module_spec(config)
        check_renderable(spec)
        assert spec.metadata["modules"] == config and infer_config(spec) == config
    assert infer_config(build_agent_spec("cot")) == {"reasoning": "cot", "refinement": "none", "ensembling": "none",
                                                     "memory": "none"}
    with pytest.raises(SpecValidationError, match="valid: cot, plan-and-solve, step-back, pal"):
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


# ---- grounded modules: pal, critic, self-debug, reflexion-tests, execution-judged best-of-n ----------------------

def fenced(code):
    return f"```python\n{code}\n```"


def _nodes(spec, kind):
    return [n for n in spec.nodes if n.kind == kind]


@pytest.mark.parametrize("name,size,absent,present", [
    ("gsm8k", 172, {"self-debug", "reflexion-tests"}, {"pal", "critic"}),
    ("humaneval", 204, {"pal", "critic"}, {"self-debug", "reflexion-tests"}),
])
def test_each_task_space_holds_only_the_modules_that_apply_and_every_spec_in_it_is_valid(name, size, absent, present):
    task = load_task(name, limit=1)
    slots, notes = available_slots(task)
    modules = {m for options in slots.values() for m in options}
    assert present <= modules and not absent & modules
    assert f"left out: {', '.join(sorted(absent, key=list(ANSWER_TYPES).index))}" in notes[0]
    configs = list(all_configs(slots))
    assert len(configs) == size
    for config in configs:
        spec = build_module_spec(config, task=task)
        assert AgentSpec.validate_json(spec.to_json()) == spec  # valid, and survives a round trip
        check_renderable(spec)
        assert infer_config(spec, slots=slots) == config
        run = _nodes(spec, "execute")
        if config["reasoning"] == "pal":  # the program's printed result is the answer (or is voted on)
            assert run[0].execute.answer_from == "stdout" and run[0].source == "program"
            assert (config["ensembling"] == "self-consistency") == bool(_nodes(spec, "vote"))
        if config["refinement"] == "critic":
            conds = [c for e in spec.edges for c in e.when if c.kind == "answers_match"]
            assert conds == [Condition(kind="answers_match", node="run", value="solve")]
            assert spec.nodes[[n.id for n in spec.nodes].index("solve")].kind == (
                "search" if config["ensembling"] == "best-of-n" else "llm")
        if config["refinement"] == "self-debug":
            assert [n.execute.tests for n in run] == ["visible", "visible"]
        assert (spec.evaluator == "self-tests") == (config["refinement"] == "reflexion-tests")
        assert bool(run) == (config["reasoning"] == "pal" or config["refinement"] in ("critic", "self-debug"))
    off = {"reasoning": "cot", "refinement": sorted(absent)[0] if "self-debug" in absent else "critic",
           "ensembling": "none", "memory": "none"}
    if off["refinement"] in slots["refinement"]:
        off["refinement"] = "self-debug"
    with pytest.raises(SpecValidationError, match="unknown module"):
        build_module_spec(off, task=task)  # e.g. self-debug on GSM8K: not in that task's space


@pytest.mark.parametrize("config,error", [
    ({"reasoning": "pal", "ensembling": "debate"}, "pal combines only with"),
    ({"reasoning": "pal", "refinement": "critic"}, "pal combines only with"),
    ({"refinement": "critic", "ensembling": "self-consistency"}, "critic checks a single answer"),
    ({"refinement": "self-debug", "ensembling": "debate"}, "self-debug checks a single answer"),
    ({"refinement": "self-refine", "ensembling": "best-of-n"}, "cannot follow best-of-n"),
])
def test_combinations_that_cannot_be_built_are_refused_and_named_in_the_meta_prompt(config, error):
    with pytest.raises(SpecValidationError, match=error):
        build_module_spec({**DEFAULT_CONFIG, **config})
    assert any(error.split(" (")[0][:20] in r for r in rules(available_slots()[0]))


def test_prebuilt_grounded_agents_are_recognized_as_configurations():
    assert infer_config(build_agent_spec("pal")) == {**DEFAULT_CONFIG, "reasoning": "pal"}
    assert infer_config(build_agent_spec("pal", samples=3)) == {**DEFAULT_CONFIG, "reasoning": "pal",
                                                                 "ensembling": "self-consistency"}
    assert infer_config(build_agent_spec("critic")) == {**DEFAULT_CONFIG, "refinement": "critic"}
    assert infer_config(build_agent_spec("self-debug", max_iters=1)) == {**DEFAULT_CONFIG, "refinement": "self-debug"}


def gsm8k_model(task):
    """Chains of thought are right only as sample 1; programs (PAL, CRITIC checks) are always right."""

    def fn(messages, info):
        prompt, gold = messages[-1]["content"], gold_of(task, messages)
        if "Write a Python program" in prompt or "computes the answer" in prompt:
            return fenced(f"def solution():\n    total = {gold}\n    return total")
        if "The two disagree" in prompt:
            return f"Rechecking.\nAnswer: {gold}"
        return f"Some steps.\nAnswer: {gold if info.sample_index == 1 else -1}"

    return FunctionModel(fn)


def humaneval_model(task):
    """Code is wrong until it is revised from a test report or a reflection; its own tests are right."""

    def fn(messages, info):
        prompt = messages[-1]["content"]
        ex = next(e for e in task.examples if e.question in prompt)
        if "Write unit tests" in prompt:
            return fenced("\n".join(task.visible_tests(ex)))
        if "Running it against" in prompt or "Reflections:" in prompt:
            return "Fixed.\n" + fenced(ex.question + ex.gold)
        if "judged wrong" in prompt or "failed" in prompt.lower() and "reflect" in prompt.lower():
            return "I must actually implement the function."
        return fenced(ex.question + "    pass\n")

    return FunctionModel(fn)


@pytest.mark.parametrize("config,judged,calls", [
    ({"reasoning": "pal", "ensembling": "self-consistency"}, False, 3),  # 3 programs, a vote over their outputs
    ({"reasoning": "plan-and-solve", "refinement": "critic"}, False, 4),  # solve, check, revise, check again
    ({"refinement": "critic", "ensembling": "best-of-n"}, True, 5),  # 3 samples, the judge's check, critic check
])
def test_grounded_answer_modules_run_end_to_end_through_the_evaluator(gsm8k, config, judged, calls):
    fm = gsm8k_model(gsm8k)
    llm = LLM(model=fm, cache=False)
    ev = Evaluator(gsm8k, llm, agent_judge=RunExecutionJudge(gsm8k, llm) if judged else None, concurrency=1)
    res = ev.evaluate(build_module_spec({**DEFAULT_CONFIG, **config}, task=gsm8k), gsm8k.examples)
    assert res.accuracy == 1.0 and res.errors == 0 and res.calls_per_example == calls
    assert all(r.trajectory for r in res.rows)


@pytest.mark.parametrize("config,calls", [
    ({"refinement": "self-debug"}, 2),  # generate (fails a visible test), debug (passes)
    ({"reasoning": "step-back", "refinement": "reflexion-tests"}, 6),  # tests, 2 x (abstract, solve), a reflection
])
def test_grounded_program_modules_run_end_to_end_through_the_evaluator(humaneval, config, calls):
    task = load_task("humaneval", limit=2)
    fm = humaneval_model(task)
    res = Evaluator(task, LLM(model=fm, cache=False), concurrency=1).evaluate(
        build_module_spec({**DEFAULT_CONFIG, **config}, task=task), task.examples)
    assert res.accuracy == 1.0 and res.errors == 0 and res.calls_per_example == calls
    hidden = [ex.meta["test"].strip()[:60] for ex in task.examples]
    assert not any(h in m[-1]["content"] for m, _ in fm.calls for h in hidden)  # hidden tests never shown


def test_the_module_search_judges_best_of_n_by_execution_when_asked(gsm8k):
    fm = scripted_model(gsm8k_model(gsm8k).fn, ['{"ensembling": "best-of-n", "why": "a program can check"}'])
    llm = LLM(model=fm, cache=False)
    with pytest.raises(UserError, match="do not also pass agent_judge"):
        ModuleOptimizer(gsm8k, llm, module_options=ModuleOptions(best_of_n_judge="execution"),
                        agent_judge=RunExecutionJudge(gsm8k, llm))
    assert "best_of_n_judge" not in ModuleOptimizer(gsm8k, llm).options()["module_options"]  # old stores resume
    opt = ModuleOptimizer(gsm8k, llm, module_options=ModuleOptions(best_of_n_judge="execution"), max_candidates=3)
    assert opt.options()["module_options"]["best_of_n_judge"] == "execution"
    res = opt.optimize(build_agent_spec("cot"), gsm8k.examples[:1], gsm8k.examples, Budget(max_calls=60))
    assert res.baseline.score == 0.0 and res.best.score == 1.0
    assert res.best.origin == "propose" and res.best.info["modules"]["ensembling"] == "best-of-n"
    assert "judged by execution" in res.best.spec.description
    judge_calls = [m for m, info in fm.calls if info.tag == "judge"]
    assert len(judge_calls) == len(gsm8k.examples) and "computes the answer" in judge_calls[0][-1]["content"]
    meta = [m for m, info in fm.calls if is_meta_call(info)][0][-1]["content"]
    assert "an execution judge picks" in meta and "pal:" in meta and "self-debug:" not in meta
    assert "critic checks a single answer" in meta  # the task's rules are in the prompt


def test_the_module_search_finds_self_debug_on_a_program_task():
    task = load_task("humaneval", limit=3)
    fm = scripted_model(humaneval_model(task).fn, ['{"refinement": "self-debug", "why": "run the examples"}'])
    res = ModuleOptimizer(task, LLM(model=fm, cache=False), max_candidates=3).optimize(
        build_agent_spec("cot"), task.examples[:1], task.examples[1:], Budget(max_calls=40))
    assert res.baseline.score == 0.0 and res.best.score == 1.0
    assert res.best.origin == "propose" and res.best.info["modules"]["refinement"] == "self-debug"
    assert any(h.kind == "note" and "left out: pal, critic" in h.message for h in res.history)
