"""The final choice of a search: validation score (default) or a race over training + validation
(``select_on="seen"``), on scripted models."""

from __future__ import annotations

import pytest

from agentforge.agents import build_agent_spec
from agentforge.cli.optimize import optimizer_options
from agentforge.core.errors import UserError
from agentforge.llm import LLM
from agentforge.search import Budget, GEPAOptimizer
from agentforge.search.selection import SeenScore, pick, search_budget
from agentforge.search.testing import gold_of, scripted_model, toy_task

TASK = toy_task(12)
TRAIN, VAL = TASK.examples[:6], TASK.examples[6:]
MAGIC = '{"diagnosis": "d", "instruction": "Always apply the MAGIC method."}'


def _solver(messages, info):
    """Without MAGIC: right on validation problems 6-9 only (4/6 there, 0/6 on training).
    With MAGIC: right on every training problem and on 6-8 (3/6 on validation)."""
    gold = gold_of(TASK, messages)
    i = int(gold) // 2
    magic = any("MAGIC" in m["content"] for m in messages if m["role"] == "system")
    ok = (i < 6 or i in (6, 7, 8)) if magic else i in (6, 7, 8, 9)
    return f"Answer: {gold if ok else -1}"


def _search(select_on: str, budget: int = 200, **kw):
    fm = scripted_model(_solver, [MAGIC])
    opt = GEPAOptimizer(TASK, LLM(model=fm), modules=False, select_on=select_on, **kw)
    return opt, opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=budget)), fm


def test_validation_picks_the_seed_and_the_race_picks_the_candidate_better_on_all_seen_examples():
    opt, res, _ = _search("val", max_candidates=2)
    assert [round(c.score, 3) for c in res.archive] == [0.667, 0.5]  # seed 4/6, MAGIC child 3/6 on validation
    assert res.best.origin == "seed" and "race" not in res.info and "selection" not in opt.describe()

    opt, res, _ = _search("seen", max_candidates=2)
    assert res.best.origin == "reflect:instruction" and "MAGIC" in res.best_spec.nodes[0].system
    race = {r["index"]: r for r in res.info["race"]}
    assert (race[0]["seen_mean"], race[0]["n_train"], race[0]["n_val"]) == (4 / 12, 6, 6)
    assert (race[1]["seen_mean"], race[1]["train_mean"], race[1]["val_rank"]) == (9 / 12, 1.0, 1)
    assert opt.describe()["selection"] == {"on": "seen", "reserve": 0.2, "top": 3}
    assert any("returns #1" in h.message for h in res.history)


def test_the_loop_stops_at_its_share_and_the_race_spends_only_the_reserve():
    # after the MAGIC child no child gains, so the loop runs until its share (30 of 60 calls) is spent
    fm = scripted_model(_solver, [MAGIC, '{"diagnosis": "d", "instruction": "Think harder, always."}'])
    opt = GEPAOptimizer(TASK, LLM(model=fm), modules=False, select_on="seen", select_reserve=0.5,
                        max_candidates=20, max_failures=100)
    res = opt.optimize(build_agent_spec("cot"), TRAIN, VAL, Budget(max_calls=60))
    assert res.stop_reason == "budget: calls" and len(res.archive) == 2
    loop_end = max(h.calls for h in res.history if "race" not in h.message and h.kind != "stop")
    assert loop_end <= 30 < res.usage.calls <= 60
    assert len(res.info["race"]) == 2 and "MAGIC" in res.best_spec.nodes[0].system


def test_a_reserve_too_small_for_the_race_keeps_the_validation_pick():
    opt, res, fm = _search("seen", budget=22, max_candidates=2, select_reserve=0.1)
    # the loop's 19 calls (6 seed, 3 + 1 + 3 minibatch, 6 child) fit in 19; 3 left cannot run the seed's
    # missing 3 training problems and the child's 3
    assert res.usage.calls <= 22 and len(res.archive) == 2
    assert res.best.origin == "seed"
    assert any("left out" in h.message for h in res.history)


def test_ties_go_to_fewer_tokens_then_to_the_validation_rank():
    def s(i, mean, tokens, rank):
        return SeenScore(key=str(i), index=i, name=f"c{i}", val_rank=rank, train_mean=mean, val_mean=mean,
                         seen_mean=mean, n_train=2, n_val=2, tokens_per_example=tokens)

    assert pick([s(0, 0.5, 300, 0), s(1, 0.5, 200, 1), s(2, 0.25, 10, 2)]).index == 1
    assert pick([s(0, 0.5, 200, 0), s(1, 0.5, 200, 1)]).index == 0
    with pytest.raises(ValueError):
        pick([])


def test_bad_selection_options_are_refused_and_the_cli_can_set_them():
    fm = scripted_model(_solver, [MAGIC])
    for bad in ({"select_on": "test"}, {"select_reserve": 1.0}, {"select_top": 1}):
        with pytest.raises(UserError, match="select_"):
            GEPAOptimizer(TASK, LLM(model=fm), **bad)
    assert optimizer_options("gepa", ["select_on=seen", "select_top=4"]) == {"select_on": "seen", "select_top": 4}
    cut = search_budget(Budget(max_calls=601, max_tokens=1000, max_wall_s=100.0), 0.2)
    assert (cut.max_calls, cut.max_tokens, cut.max_wall_s, cut.max_cost_usd) == (480, 800, 80.0, None)
