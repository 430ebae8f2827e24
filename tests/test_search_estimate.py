"""Cost estimate before a search, compute-matched baselines and break-even, on scripted fake models."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from agentforge.agents import build_agent_spec
from agentforge.cli import app
from agentforge.cli.app import _register
from agentforge.cli.optimize import estimate_line
from agentforge.judges.factory import make_judge
from agentforge.llm import LLM
from agentforge.search import Budget, PromptOptimizer, RunStore
from agentforge.search.baselines import acompare, matched_k, question_wall
from agentforge.search.breakeven import break_even, table
from agentforge.search.estimate import aprobe, compare, meta_calls_high, project, proposal_messages, remaining
from agentforge.search.scoring import ExampleResult
from agentforge.search.testing import is_meta_call, planted_solver, scripted_model, toy_task
from agentforge.tasks import load_task

_register()
cli = CliRunner()
WORDS = ["check units", "draw a table", "work backwards", "estimate first", "name each quantity", "verify the sum",
         "write equations", "list the facts", "simplify early", "restate the question"]


def varied_meta():
    """Meta replies that are never near-duplicates, so a search runs until its budget."""
    n = {"i": 0}

    def meta(messages, info):
        n["i"] += 1
        i = n["i"]
        return f"<instruction>{WORDS[i % 10].capitalize()}, then {WORDS[(3 * i + 1) % 10]}; MAGIC {i}.</instruction>"

    return meta


def magic(task):
    return planted_solver(task, lambda m: any("MAGIC" in x["content"] for x in m if x["role"] == "system"))


# ---- estimate ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("budget_calls", [40, 70])
def test_estimate_interval_holds_the_actual_calls_and_tokens_of_a_budgeted_toy_search(budget_calls):
    task = toy_task(16)
    fm = scripted_model(magic(task), varied_meta(), name=f"est-toy-{budget_calls}")
    llm = LLM(model=fm, cache=False)
    train, val = task.examples[:4], task.examples[4:10]
    store, budget, seed = RunStore(None), Budget(max_calls=budget_calls), build_agent_spec("cot")
    probe = asyncio.run(aprobe(seed, task, llm, val, trainset=train, store=store, budget=budget, concurrency=2))
    assert probe.examples == 3 and probe.calls == [1, 1, 1] and probe.meta["calls"] == 1
    assert probe.extra.calls == 1 and len(fm.calls) == 4  # 3 agent calls the search reuses + 1 meta call
    est = project(probe, n_val=len(val), budget=budget, concurrency=2, meta_high=meta_calls_high("prompt"))
    assert est.basis == "budget: calls" and est.calls[0] == budget_calls
    assert est.tokens[1] < est.tokens[0] < est.tokens[2]
    result = PromptOptimizer(task, llm, store=store, concurrency=2).optimize(seed, train, val,
                                                                              remaining(budget, probe))
    assert result.stop_reason == "budget: calls"
    usage = result.usage + probe.extra
    assert usage.calls == len(fm.calls) == budget_calls  # the probe's rows were not paid twice
    vs = compare(est.model_dump(), {"calls": usage.calls, "tokens": usage.total_tokens})
    assert vs["calls"]["within"] and vs["tokens"]["within"], vs
    assert 0.7 < vs["tokens"]["ratio"] < 1.4
    line = estimate_line(est)
    assert line.startswith("estimate: calls ~") and "bound by budget: calls" in line


def test_estimate_without_budget_is_the_candidates_cap_times_the_evaluation_size():
    task = toy_task(8)
    fm = scripted_model(magic(task), varied_meta(), name="est-cap")
    probe = asyncio.run(aprobe(build_agent_spec("self-consistency", samples=3), task, LLM(model=fm, cache=False),
                               task.examples[:5], k=2))
    assert probe.calls == [3, 3] and probe.extra == probe.usage  # no run store: nothing is reused
    est = project(probe, n_val=5, max_candidates=4)
    assert est.basis == "max candidates"
    assert est.calls[0] == 4 * 5 * 3 + 3 + probe.extra.calls  # 4 evaluations of 15 calls, 3 proposals, the probe
    assert est.calls[1] == 4 * 5 * 3 + probe.extra.calls and est.calls[2] > est.calls[0]
    tokens = project(probe, n_val=5, budget=Budget(max_tokens=2000), max_candidates=100)
    per_call = probe.meta["tokens"]  # the largest per-call figure here
    assert tokens.basis == "budget: tokens"  # the limit, plus at most the 4 calls in flight when it is crossed
    assert 2000 <= tokens.tokens[1] <= tokens.tokens[0] <= tokens.tokens[2] <= 2000 + 4 * 2 * per_call


def test_proposal_probe_has_the_shape_of_each_levels_first_proposal():
    task, spec = toy_task(4), build_agent_spec("cot")
    opro, opts = proposal_messages("prompt", task, spec, task.examples, 0.5)
    assert "<instruction>" in opro[0]["content"] and task.examples[0].question in opro[0]["content"] and not opts
    module, _ = proposal_messages("module", task, spec, task.examples, 0.5)
    assert '"ensembling"' in module[0]["content"]
    system, opts = proposal_messages("system", task, spec, task.examples, 0.5)
    assert [m["role"] for m in system] == ["system", "user"] and opts["response_format"]["type"] == "json_schema"
    wrong = ExampleResult(example_id=task.examples[1].id, answer="-1", text="Step 1: think.\nAnswer: -1")
    gepa, _ = proposal_messages("gepa", task, spec, task.examples, 0.0, [(task.examples[1], wrong)])
    assert "(failed)" in gepa[0]["content"] and "Answer: -1" in gepa[0]["content"]
    assert meta_calls_high("system") == 15 and meta_calls_high("prompt") == 5


# ---- compute-matched baselines -------------------------------------------------------------------------
def test_matched_k_rounds_the_token_ratio_and_is_at_least_one():
    assert matched_k(300, 100) == 3 and matched_k(149, 100) == 1 and matched_k(251, 100) == 3
    assert matched_k(40, 100) == 1 and matched_k(500, 0) == 1


def test_baselines_match_the_found_agents_tokens_on_the_same_questions():
    task = toy_task(10)
    fm = scripted_model(planted_solver(task, lambda m: "problem 1:" not in m[-1]["content"]), ["x"], name="bl")
    llm = LLM(model=fm, cache=False)
    found = build_agent_spec("self-consistency", samples=4)
    held = asyncio.run(acompare(found, task, llm, task.examples, store=RunStore(None)))
    rows = {r["arm"]: r for r in held["rows"]}
    assert held["k"] == 4 == matched_k(rows["found"]["tokens_per_question"], rows["cot"]["tokens_per_question"])
    assert list(rows) == ["found", "cot", "self-consistency k=4"] and held["n"] == 10
    assert rows["self-consistency k=4"]["tokens_per_question"] == rows["found"]["tokens_per_question"]
    assert rows["cot"]["accuracy"] == 0.9 and rows["cot"]["vs_cot"] is None
    assert set(held["found_vs"]) == {"cot", "self-consistency k=4"} and held["found_vs"]["cot"]["diff"] == 0.0
    judged = asyncio.run(acompare(found, task, llm, task.examples[:4], judge=make_judge("verifier", llm, task)))
    assert [r["arm"] for r in judged["rows"]][-1] == f"best-of-n n={judged['k']}" and "best-of-n n=4" in \
        judged["found_vs"]


def test_a_cached_question_counts_at_the_latency_recorded_when_its_calls_were_made():
    from agentforge.llm.types import Usage
    from agentforge.search.scoring import ExampleResult

    live = ExampleResult(example_id="a", usage=Usage(calls=2, latency_s=9.0), wall_s=5.0)
    cached = ExampleResult(example_id="b", usage=Usage(calls=1, cached_calls=1, latency_s=18.0),
                           judge_usage=Usage(calls=1, latency_s=2.0), wall_s=0.01)
    assert question_wall(live) == 5.0  # measured (two calls in parallel took 5 s)
    assert question_wall(cached) == 20.0  # a cache read: the calls' recorded latency, judge included


# ---- break-even ----------------------------------------------------------------------------------------
def test_break_even_counts_queries_and_says_never_in_both_never_cases():
    got = break_even(10_000, base_accuracy=0.5, found_accuracy=0.7, base_cost_per_q=100, found_cost_per_q=110,
                     delta_ci=(0.05, 0.35))
    # each extra correct answer is worth 100 / 0.5 = 200 tokens: 0.2 * 200 - 10 = 30 tokens per query
    assert got["queries"] == 334 and got["verdict"] == "334 queries" and got["value_per_query"] == pytest.approx(30)
    unsure = break_even(10_000, base_accuracy=0.5, found_accuracy=0.7, base_cost_per_q=100, found_cost_per_q=110,
                        delta_ci=(-0.01, 0.4))
    assert unsure["queries"] is None and unsure["verdict"] == "never" and "CI" in unsure["reason"]
    dear = break_even(10_000, base_accuracy=0.5, found_accuracy=0.7, base_cost_per_q=100, found_cost_per_q=140,
                      delta_ci=(0.05, 0.35))
    assert dear["queries"] is None and dear["verdict"] == "never" and dear["value_per_query"] == pytest.approx(0)
    assert break_even(5, base_accuracy=0.0, found_accuracy=0.3, base_cost_per_q=1, found_cost_per_q=1,
                      delta_ci=(0.1, 0.5))["queries"] == 0
    with pytest.raises(ValueError):
        break_even(-1, base_accuracy=0.5, found_accuracy=0.7, base_cost_per_q=1, found_cost_per_q=1, delta_ci=(0, 1))


def test_break_even_table_covers_every_baseline_and_skips_usd_for_free_models():
    row = {"cost_usd_per_question": 0.0, "wall_s_per_question": 1.0}
    held = {"rows": [{"arm": "found", "accuracy": 0.7, "tokens_per_question": 110, **row},
                     {"arm": "cot", "accuracy": 0.5, "tokens_per_question": 100, **row}],
            "found_vs": {"cot": {"diff": 0.2, "diff_ci": [0.05, 0.35]}}}
    out = table({"tokens": 10_000, "cost_usd": 0.0, "wall_s": 60.0}, held)
    assert [(r["baseline"], r["unit"]) for r in out["rows"]] == [("cot", "tokens"), ("cot", "wall_s")]
    assert out["rows"][0]["queries"] == 334 and out["rows"][1]["queries"] == 150  # 60 / (0.2 * 2 - 0)
    assert "2510.06711" in out["definition"]


# ---- CLI -----------------------------------------------------------------------------------------------
TASK = load_task("gsm8k", limit=20)


def test_optimize_estimate_makes_only_the_probe_calls_and_exits_0(tmp_path):
    fm = scripted_model(magic(TASK), varied_meta(), name="est-cli-only")
    out = tmp_path / "never"
    res = cli.invoke(app, ["optimize", "--task", "gsm8k", "--train", "3", "--val", "4", "--budget-calls", "50",
                           "--model", "fake/est-cli-only", "--no-cache", "--estimate", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("estimate: calls ~50 [50, 50]") and "bound by budget: calls" in res.output
    assert len(fm.calls) == 4 and sum(is_meta_call(info) for _, info in fm.calls) == 1
    assert not out.exists()


def test_optimize_reports_estimate_baselines_and_break_even(tmp_path):
    fm = scripted_model(magic(TASK), varied_meta(), name="est-cli-full")
    out = tmp_path / "search"
    args = ["optimize", "--task", "gsm8k", "--train", "3", "--val", "4", "--budget-calls", "30", "--heldout", "6",
            "--model", "fake/est-cli-full", "--no-cache", "--concurrency", "2", "--out", str(out)]
    res = cli.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("estimate: ") and "break-even (tokens): vs cot:" in res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["estimate"]["vs_actual"]["calls"] == {"estimate": 30.0, "interval": [30.0, 30.0], "actual": 30,
                                                  "within": True, "ratio": 1.0}
    assert s["llm_calls"] == 30 and s["budget"]["max_calls"] == 30
    held = s["heldout"]
    assert [r["arm"] for r in held["rows"]] == ["found", "cot", f"self-consistency k={held['k']}"]
    found, cot = held["rows"][0], held["rows"][1]
    assert found["accuracy"] == 1.0 and cot["accuracy"] == 0.0 and held["found_vs"]["cot"]["diff"] == 1.0
    verdicts = {(r["baseline"], r["unit"]): r for r in s["breakeven"]["rows"]}
    assert verdicts[("cot", "tokens")]["queries"] == 0  # cot solved nothing
    html = (out / "report.html").read_text()
    for section in ("Estimate vs actual", "Compute-matched baselines (6 held-out questions)", "Break-even",
                    "2510.06711"):
        assert section in html
    assert (out / "baselines.png").exists() and (out / "estimate.json").exists()
    before = len(fm.calls)
    again = cli.invoke(app, args + ["--resume"])
    assert again.exit_code == 0, again.output
    assert len(fm.calls) == before and "made before the first session" in again.output
    assert json.loads((out / "summary.json").read_text())["llm_calls"] == 30


def test_optimize_heldout_must_not_overlap_the_search(tmp_path):
    fm = scripted_model(magic(TASK), varied_meta(), name="est-cli-overlap")
    res = cli.invoke(app, ["optimize", "--task", "gsm8k", "--train", "3", "--val", "4", "--heldout", "3",
                           "--heldout-offset", "5", "--model", "fake/est-cli-overlap", "--no-cache",
                           "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "overlaps" in res.output and not fm.calls  # refused before the probe


def test_a_run_after_estimate_gets_the_probe_calls_from_the_completion_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTFORGE_HOME", str(tmp_path / "home"))
    fm = scripted_model(magic(TASK), varied_meta(), name="est-cli-cache")
    args = ["optimize", "--task", "gsm8k", "--train", "3", "--val", "4", "--budget-calls", "20",
            "--model", "fake/est-cli-cache", "--concurrency", "2"]
    res = cli.invoke(app, args + ["--estimate"])
    assert res.exit_code == 0 and "completion cache" in res.output and len(fm.calls) == 4
    run = cli.invoke(app, args + ["--out", str(tmp_path / "run")])
    assert run.exit_code == 0, run.output
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["llm_calls"] == 20 and s["cached_calls"] >= 4 and len(fm.calls) == 4 + 20 - s["cached_calls"]
    probed = {json.dumps(m) for m, _ in fm.calls[:4]}
    assert not probed & {json.dumps(m) for m, _ in fm.calls[4:]}  # no probe request reached the model twice
