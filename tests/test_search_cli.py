"""``agentforge optimize`` end to end on the fake model: outputs, runnable best spec, resume."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentforge.agents import AgentSpec
from agentforge.cli import app
from agentforge.cli.app import _register
from agentforge.search.testing import planted_solver, scripted_model
from agentforge.tasks import load_task

_register()
cli = CliRunner()
TASK = load_task("gsm8k", limit=8)


def magic_model(name):
    solver = planted_solver(TASK, lambda m: any("MAGIC" in x["content"] for x in m if x["role"] == "system"))
    return scripted_model(solver, lambda m, i: "<instruction>Use the MAGIC method, step by step.</instruction>",
                          name=name)


def test_optimize_writes_every_output_and_the_best_spec_runs(tmp_path):
    fm = magic_model("search-cli")
    out = tmp_path / "search"
    args = ["optimize", "--task", "gsm8k", "--level", "prompt", "--train", "3", "--val", "3", "--budget-calls", "30",
            "--model", "fake/search-cli", "--no-cache", "--concurrency", "2", "--out", str(out)]
    res = cli.invoke(app, args)
    assert res.exit_code == 0, res.output
    for name in ("summary.json", "best.json", "archive.json", "history.json", "best_vs_budget.png", "pareto.png",
                 "report.html", "store.sqlite"):
        assert (out / name).exists(), name
    s = json.loads((out / "summary.json").read_text())
    assert s["level"] == "prompt" and s["best_score"] == 1.0 and s["baseline_score"] == 0.0
    assert len(s["best_score_ci"]) == 2 and s["llm_calls"] == len(fm.calls) <= 30
    assert {"tokens", "cost_usd", "wall_s"} <= set(s)
    html = (out / "report.html").read_text()
    assert "<svg" in html and "data:image/png;base64," in html and "<script" not in html and "http://" not in \
        html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "MAGIC" in AgentSpec.load(out / "best.json").nodes[0].system
    archive = json.loads((out / "archive.json").read_text())
    assert archive[0]["origin"] == "seed" and len(archive) == s["candidates"]

    ran = cli.invoke(app, ["run", "--task", "gsm8k", "--agent-spec", str(out / "best.json"), "--limit", "2",
                           "--model", "fake/search-cli", "--no-cache", "--out", str(tmp_path / "run")])
    assert ran.exit_code == 0, ran.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["accuracy"] == 1.0

    again = cli.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    before = len(fm.calls)
    resumed = cli.invoke(app, args + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len(fm.calls) == before  # everything replayed from the store
    assert json.loads((out / "summary.json").read_text())["best_score"] == 1.0


def test_optimize_bad_input_exits_2(tmp_path):
    magic_model("search-cli-bad")
    base = ["optimize", "--model", "fake/search-cli-bad", "--no-cache", "--out", str(tmp_path / "o")]
    res = cli.invoke(app, base + ["--level", "galaxy", "--train", "1", "--val", "1"])
    assert res.exit_code == 2 and "valid search levels" in res.output
    res = cli.invoke(app, base + ["--train", "1", "--val", "0"])
    assert res.exit_code == 2 and "--val" in res.output
    res = cli.invoke(app, base + ["--backend", "ray", "--train", "1", "--val", "1"])
    assert res.exit_code == 2


def test_set_passes_options_to_the_levels_optimizer_and_refuses_unknown_ones(tmp_path):
    from agentforge.cli.optimize import optimizer_options

    assert optimizer_options("gepa", ["module_minibatch=5", "explore_untried=false"]) == {
        "module_minibatch": 5, "explore_untried": False}
    magic_model("search-cli-set")
    base = ["optimize", "--model", "fake/search-cli-set", "--no-cache", "--train", "1", "--val", "1",
            "--out", str(tmp_path / "o")]
    res = cli.invoke(app, base + ["--level", "gepa", "--set", "warp_speed=9"])
    assert res.exit_code == 2 and "warp_speed" in res.output and "module_minibatch" in res.output
    res = cli.invoke(app, base + ["--level", "prompt", "--set", "module_minibatch=5"])  # a gepa option, not prompt's
    assert res.exit_code == 2 and "module_minibatch" in res.output
    res = cli.invoke(app, base + ["--level", "gepa", "--set", "seed=3"])  # optimize's own flag
    assert res.exit_code == 2 and "--set 'seed=3'" in res.output
