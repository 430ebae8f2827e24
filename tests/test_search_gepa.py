"""GEPA-style search on scripted models: Pareto-front selection, reflection from feedback,
the minibatch acceptance test, module components, merging, budgets."""

from __future__ import annotations

import pytest

from agentforge.agents import build_agent_spec
from agentforge.core.errors import UserError
from agentforge.llm import LLM
from agentforge.search import Budget, GEPAOptimizer
from agentforge.search.gepa_parts import merge_components, pareto_weights
from agentforge.search.testing import gold_of, is_meta_call, planted_solver, scripted_model, toy_task

TASK = toy_task(12)
TRAIN, VAL = TASK.examples[:6], TASK.examples[6:]


def magic_in_system(messages):
    return any("MAGIC" in m["content"] for m in messages if m["role"] == "system")


def test_pareto_weights_keep_specialists_and_drop_the_dominated():
    scores = [[1, 0, 0, 0],   # best on example 0 only (a specialist)
              [0, 1, 1, 0],   # best on 1 and 2
              [0, 1, 0, 0],   # dominated by the second: everywhere it is best, so is the second
              [0, 0, 0, 0]]   # best only where everyone ties (example 3): dominated
    assert pareto_weights(scores) == [2, 3, 0, 0]  # counts include the all-tie example 3
    assert pareto_weights([[0.5, 0.5]]) == [2]


def test_merge_takes_each_changed_component():
    base = {"instruction": "", "config": {"reasoning": "cot", "ensembling": "none"}}
    a = {"instruction": "check units", "config": {"reasoning": "cot", "ensembling": "none"}}
    b = {"instruction": "", "config": {"reasoning": "cot", "ensembling": "self-consistency"}}
    merged = merge_components(base, a, b)
    assert merged == {"instruction": "check units", "config": {"reasoning": "cot", "ensembling": "self-consistency"}}
    assert merge_components(base, a, base) is None  # nothing new
    shots = {"for": "cot", "items": [{"id": "q1", "question": "Q?", "solution": "S"}]}
    merged = merge_components(base, a, {**b, "demos": shots})  # demonstrations travel like any component
    assert merged["demos"] == shots and merged["instruction"] == "check units"
    assert "demos" not in merge_components(base, a, b)


def test_reflection_reads_feedback_and_finds_the_planted_instruction():
    seen = []

    def meta(messages, info):
        seen.append(messages[-1]["content"])
        return '{"diagnosis": "The failures ignore the method.", "instruction": "Always apply the MAGIC method."}'

    fm = scripted_model(planted_solver(TASK, magic_in_system), meta)
    opt = GEPAOptimizer(TASK, LLM(model=fm), modules=False, max_candidates=3, max_failures=3)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=120))
    assert res.baseline.score == 0.0 and res.best.score == 1.0 and res.best.origin == "reflect:instruction"
    assert "MAGIC" in res.best_spec.nodes[0].system
    assert "(failed)" in seen[0] and "Correct answer: 0" in seen[0] and "Model's final answer: -1" in seen[0]
    assert res.best.info["components"]["note"] == "The failures ignore the method."
    assert "<instruction>Finish with" not in seen[0] and "{{" not in seen[0]  # the rendered prompt, not its template
    assert res.usage.calls == len(fm.calls)


def test_a_child_that_does_not_beat_its_parent_on_the_minibatch_is_not_evaluated():
    fm = scripted_model(planted_solver(TASK, magic_in_system), ['{"diagnosis": "x", "instruction": "Be careful, always."}'])
    opt = GEPAOptimizer(TASK, LLM(model=fm), modules=False, minibatch=3, max_candidates=3, max_failures=2)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=200))
    assert len(res.archive) == 1 and any("no gain on the minibatch" in h.message for h in res.history)
    # only the seed was run on the validation set; children ran on minibatches only
    val_ids = {ex.id for ex in VAL}
    children = [m for m, info in fm.calls if not is_meta_call(info) and "Be careful" in str(m)]
    assert children and not any(ex.question in str(m) for m in children for ex in VAL if ex.id in val_ids)


def test_module_components_can_switch_to_a_voting_ensemble():
    def solver(messages, info):  # right only when sampling (as voting over samples would be)
        gold = next((ex.gold for ex in TASK.examples if ex.question in messages[-1]["content"]), "0")
        return f"Answer: {gold if (info.params.get('temperature') or 0) > 0 else -1}"

    def meta(messages, info):
        text = messages[-1]["content"]
        if 'the "ensembling" slot' in text:
            return '{"reason": "Several samples would help.", "choice": "self-consistency"}'
        if "slot" in text:
            slot = text.split('for the "')[1].split('"')[0]
            keep = {"reasoning": "cot", "refinement": "none"}.get(slot, "none")
            return '{"reason": "keep", "choice": "%s"}' % keep
        return '{"diagnosis": "x", "instruction": "Think it through."}'

    fm = scripted_model(solver, meta)
    opt = GEPAOptimizer(TASK, LLM(model=fm), max_candidates=3, max_failures=10, max_steps=12)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=400))
    assert res.best.score == 1.0 and res.best.info["components"]["config"]["ensembling"] == "self-consistency"
    formats = [info.params.get("response_format") for _, info in fm.calls if is_meta_call(info)]
    enums = [f["json_schema"]["schema"]["properties"]["choice"].get("enum") for f in formats if f and "choice" in
             f["json_schema"]["schema"]["properties"]]
    assert enums and "self-consistency" in enums[-1] and all(formats)  # replies decoded under a schema


def _sampling_solver(messages, info):  # right only when sampling (as voting over samples would be)
    gold = next((ex.gold for ex in TASK.examples if ex.question in messages[-1]["content"]), "0")
    return f"Answer: {gold if (info.params.get('temperature') or 0) > 0 else -1}"


def _stubborn_meta(messages, info):  # always keeps the current module of the asked slot
    text = messages[-1]["content"]
    if "slot" in text:
        current = text.split('(currently "')[1].split('"')[0]
        return '{"reason": "keep it", "choice": "%s"}' % current
    return '{"diagnosis": "x", "instruction": "Think it through."}'


def test_a_kept_module_is_replaced_by_an_untried_one_and_can_win():
    fm = scripted_model(_sampling_solver, _stubborn_meta)
    opt = GEPAOptimizer(TASK, LLM(model=fm), max_candidates=4, max_failures=30, max_steps=30, merge_every=0,
                        tie_token_ratio=None)  # (a shorter instruction would get in on a cheaper tie)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=3000))
    assert res.best.score == 1.0 and res.best.origin.startswith("explore:module:")
    assert "untried module instead" in res.best.info["components"]["note"]
    # without exploration a meta model that always keeps the module never changes one
    fm2 = scripted_model(_sampling_solver, _stubborn_meta)
    res2 = GEPAOptimizer(TASK, LLM(model=fm2), max_candidates=4, max_failures=12, max_steps=12, merge_every=0,
                         explore_untried=False, tie_token_ratio=None).optimize(build_agent_spec("cot"), TRAIN, VAL,
                                                                               Budget(max_calls=3000))
    assert res2.best.score == 0.0 and any("kept" in h.message for h in res2.history)


def test_module_mutations_are_tested_on_the_larger_minibatch():
    batches = []

    class Spy(GEPAOptimizer):
        def minibatch(self, step, size):
            batches.append(size)
            return super().minibatch(step, size)

    fm = scripted_model(_sampling_solver, _stubborn_meta)
    Spy(TASK, LLM(model=fm), minibatch=2, module_minibatch=5, max_candidates=2, max_failures=4, max_steps=4,
        merge_every=0).optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=2000))
    assert batches[0] == 2 and set(batches[1:4]) == {5}  # step 1 rewrites the instruction, 2-4 module slots


def _brief_solver(messages, info):  # always right; short when the system prompt says BRIEF
    gold = gold_of(TASK, messages)
    long = "Let me think this through at length. " * 30 + "\n"
    return ("" if magic_in_system(messages) else long) + "Answer: " + gold


def test_a_tie_at_fewer_tokens_is_accepted_unless_turned_off():
    meta = ['{"diagnosis": "too long", "instruction": "Be brief: the MAGIC answer line only."}']
    res = GEPAOptimizer(TASK, LLM(model=scripted_model(_brief_solver, meta)), modules=False, max_candidates=2,
                        max_failures=2, max_steps=2, merge_every=0).optimize(build_agent_spec("cot"), TRAIN, VAL,
                                                                              Budget(max_calls=200))
    child = [c for c in res.archive if c.origin != "seed"]
    assert len(child) == 1 and "tie at" in child[0].origin and child[0].score == res.baseline.score == 1.0
    assert child[0].eval.tokens_per_example < 0.8 * res.baseline.eval.tokens_per_example
    res2 = GEPAOptimizer(TASK, LLM(model=scripted_model(_brief_solver, meta)), modules=False, max_candidates=2,
                         max_failures=2, max_steps=2, merge_every=0, tie_token_ratio=None).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=200))
    assert len(res2.archive) == 1 and any("no gain on the minibatch" in h.message for h in res2.history)


def _pal_vote_solver(messages, info):
    """cot is right on even problems only, however sampled; pal too when greedy (a tie at fewer
    tokens) but right everywhere when sampled, so only pal with self-consistency solves all."""
    gold = gold_of(TASK, messages)
    even = int(gold) // 2 % 2 == 0
    if "Write a Python program" in messages[-1]["content"]:
        sampled = (info.params.get("temperature") or 0) > 0
        return f"```python\ndef solution():\n    return {gold if sampled or even else -1}\n```"
    return "Let me think this through at length. " * 30 + f"\nAnswer: {gold if even else -1}"


def test_a_cheaper_tie_opens_the_two_step_path_to_pal_with_self_consistency():
    fm = scripted_model(_pal_vote_solver, _stubborn_meta)
    res = GEPAOptimizer(TASK, LLM(model=fm), max_candidates=6, max_failures=40, max_steps=40, merge_every=0).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=4000))
    assert res.baseline.score == 0.5 and res.best.score == 1.0
    assert res.best.info["components"]["config"] == {"reasoning": "pal", "refinement": "none",
                                                     "ensembling": "self-consistency", "memory": "none"}
    by_key = {c.key: c for c in res.archive}
    assert "tie at" in by_key[res.best.parents[0]].origin  # its parent, pal alone, got in on the tie
    # with pal in the reasoning slot only the ensembling modules it combines with are offered
    enums = [info.params["response_format"]["json_schema"]["schema"]["properties"]["choice"]["enum"]
             for m, info in fm.calls if is_meta_call(info) and 'the "ensembling" slot' in m[-1]["content"]
             and "- reasoning: pal" in m[-1]["content"]]
    assert enums and all(e == ["none", "self-consistency"] for e in enums)
    # strict acceptance (GEPA's) never lets pal in, so the pair is out of reach one slot at a time
    res2 = GEPAOptimizer(TASK, LLM(model=scripted_model(_pal_vote_solver, _stubborn_meta)), max_candidates=6,
                         max_failures=40, max_steps=40, merge_every=0, tie_token_ratio=None).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=4000))
    assert res2.best.score == 0.5


def _first_three_solver(messages, info):  # right on the first 3 training questions; everywhere with MAGIC
    gold = gold_of(TASK, messages)
    easy = any(ex.question in messages[-1]["content"] for ex in TRAIN[:3])
    return "Answer: " + (gold if easy or magic_in_system(messages) else "-1")


def test_a_tie_on_the_minibatch_is_raced_on_the_next_examples_unless_turned_off():
    meta = ['{"diagnosis": "x", "instruction": "Use the MAGIC method."}']
    res = GEPAOptimizer(TASK, LLM(model=scripted_model(_first_three_solver, meta)), modules=False, minibatch=3,
                        max_candidates=2, max_failures=1, max_steps=1, merge_every=0, tie_token_ratio=None).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=200))  # (no cheaper tie: the instruction is shorter)
    child = [c for c in res.archive if c.origin != "seed"]  # 3 vs 3 on TRAIN[:3], then 3 vs 0 on TRAIN[3:]
    assert len(child) == 1 and "tie, extended to 6 examples" in child[0].origin and child[0].score == 1.0
    res2 = GEPAOptimizer(TASK, LLM(model=scripted_model(_first_three_solver, meta)), modules=False, minibatch=3,
                         max_candidates=2, max_failures=1, max_steps=1, merge_every=0, extend_ties=False,
                         tie_token_ratio=None).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=200))
    assert len(res2.archive) == 1 and any("no gain on the minibatch (3.00 vs 3.00" in h.message
                                          for h in res2.history)
    assert "extend_ties" in GEPAOptimizer(TASK, LLM(model=scripted_model(_first_three_solver, meta))).options()


def test_the_extension_is_the_next_examples_of_the_rotation_and_never_the_minibatch():
    opt = GEPAOptimizer(TASK, LLM(model=scripted_model(_first_three_solver, [])))
    opt.trainset = list(TRAIN)
    assert opt._extension(TRAIN[4:6] + TRAIN[:1]) == TRAIN[1:4]  # a window that wraps around
    assert opt._extension(TRAIN[:4]) == TRAIN[4:6]  # only 2 examples left
    assert opt._extension(list(TRAIN)) == [] and opt._extension([]) == []


def test_once_every_module_of_a_slot_is_tried_the_least_tried_is_tested_again():
    fm = scripted_model(planted_solver(TASK, lambda m: False), _stubborn_meta)  # nothing ever wins
    res = GEPAOptimizer(TASK, LLM(model=fm), max_candidates=2, max_failures=40, max_steps=20, merge_every=0).optimize(
        build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=5000))
    tests = [h.message for h in res.history if h.message.startswith("explore:module:ensembling")]
    assert len(res.archive) == 1 and len(tests) == 5  # steps 4, 8, ..., 20: three untried, then two retests


def test_module_options_may_come_as_a_dict_and_bad_ones_are_refused():
    fm = scripted_model(_sampling_solver, _stubborn_meta)
    opt = GEPAOptimizer(TASK, LLM(model=fm), module_options={"sc_samples": 5})
    assert opt.options()["module_options"]["sc_samples"] == 5
    with pytest.raises(UserError, match="sc_sample"):
        GEPAOptimizer(TASK, LLM(model=fm), module_options={"sc_sample": 5})


def test_a_problem_specific_rewrite_is_dropped_before_its_minibatch_is_paid_for():
    specific = '{"diagnosis": "x", "instruction": "In Toy problem sums, apply the MAGIC method."}'
    general = '{"diagnosis": "x", "instruction": "Always apply the MAGIC method."}'
    for reject in (True, False):
        fm = scripted_model(planted_solver(TASK, magic_in_system), [specific, general])
        opt = GEPAOptimizer(TASK, LLM(model=fm), modules=False, max_candidates=3, max_failures=3,
                            reject_specific=reject)
        res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=120))
        ran_specific = [m for m, info in fm.calls if not is_meta_call(info) and "Toy problem sums" in str(m)]
        dropped = [h.message for h in res.history if "problem-specific rewrite" in h.message]
        assert res.best.score == 1.0 and "MAGIC" in res.best_spec.nodes[0].system
        if reject:
            assert dropped and 'name "Toy"' in dropped[0] and not ran_specific
            assert opt.options()["reject_specific"] is True
        else:
            assert not dropped and ran_specific and "reject_specific" not in opt.options()


def test_verified_demonstrations_are_bootstrapped_and_tested_on_other_questions():
    def good(messages):  # solves even problems alone, every problem once shown worked examples
        text = messages[-1]["content"]
        return "Worked examples" in text or int(gold_of(TASK, messages) or 1) % 4 == 0

    asked_own_demo = []

    def solver(messages, info):
        text = messages[-1]["content"]
        if "Worked examples" in text:
            shown = text.split("Worked examples:", 1)[1].rsplit("Toy problem", 1)[0]
            final = text.rsplit("Toy problem", 1)[1].split(":")[0]
            asked_own_demo.append(f"Toy problem{final}:" in shown)
        return planted_solver(TASK, good)(messages, info)

    fm = scripted_model(solver, ["not json"])
    opt = GEPAOptimizer(TASK, LLM(model=fm), modules=False, demos=2, merge_every=0, max_failures=6)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=80))
    demos = res.best.info["components"]["demos"]
    assert res.best.origin.startswith("bootstrap:demos") and res.best.score == 1.0 and res.baseline.score < 1.0
    assert demos["for"] == "seed" and len(demos["items"]) == 2
    train_ids = {ex.id for ex in TRAIN}
    assert {d["id"] for d in demos["items"]} <= {ex.id for ex in TRAIN if int(ex.gold) % 4 == 0} <= train_ids
    assert res.best_spec.metadata["demos"] == [d["id"] for d in demos["items"]]
    assert not any(asked_own_demo[:4])  # the first child calls: its acceptance test, on the 4 other questions
    with pytest.raises(UserError, match="demos >= 0"):
        GEPAOptimizer(TASK, LLM(model=fm), demos=-1)
