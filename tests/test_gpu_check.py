"""The prepared GPU check of the PRM judge (benchmarks/gpu) keeps working: its CPU dry run.

The dry run builds a tiny random PRM in the Qwen2.5-Math-PRM layout (remote code, no marker),
loads it through ``PRMJudge(folder, trust_remote_code=True)``, measures one-at-a-time, batched
and served scoring, and writes the report, with the project dependencies that the GPU machine
lacks (litellm, langgraph, ...) made unimportable: so this test also guards the judge's import
path on that machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

GPU = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu"
sys.path.insert(0, str(GPU))

import gpu_clients  # noqa: E402
import gpu_report  # noqa: E402


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    env = {**os.environ, "OUT": str(out / "unused")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(GPU / "prm_gpu_check.py"), "--dry-run", "--sizes", "tiny,7b",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=240)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "prm_gpu_check.json").read_text()), (out / "prm_gpu_check.md").read_text(), \
        proc.stdout, seconds


def test_dry_run_loads_the_real_layout_and_measures(dry_run):
    report, _, _, seconds = dry_run
    tiny = report["sizes"]["tiny"]
    assert tiny["status"] == "ok", tiny
    assert tiny["load"]["path"] == "PRMJudge(folder, trust_remote_code=True)" and "error" not in tiny["load"]
    assert tiny["format"] == "qwen-prm" and tiny["model_class"] == "Qwen2ForProcessRewardModel"
    assert tiny["one_at_a_time"]["steps_per_s"] > 0 and tiny["one_at_a_time"]["items"] > 0
    budgets = [b["budget"] for b in tiny["batched"]]
    assert budgets == [512, 2048]
    small, large = tiny["batched"]
    assert small["steps_per_s"] > 0 and large["steps_per_s"] > 0
    assert small["forwards"] > large["forwards"] >= 1  # a smaller budget packs fewer per pass
    assert tiny["max_abs_diff"] is not None and tiny["max_abs_diff"] <= 1e-4  # fp32 on CPU
    assert report["inputs"]["source"].startswith("gsm8k")
    assert 4 <= report["inputs"]["steps_mean"] <= 10
    assert seconds < 120, f"dry run took {seconds:.0f} s"


def test_dry_run_serves_and_compares_with_in_process(dry_run):
    report = dry_run[0]
    assert report["env"]["server_import"] == "ok"
    rows = report["served"]["rows"]
    assert [r["clients"] for r in rows] == [1, 8, 32]
    for r in rows:
        assert r["served_steps_per_s"] > 0 and r["inprocess_steps_per_s"] > 0
        assert r["served_vs_inprocess"] == pytest.approx(r["served_steps_per_s"] / r["inprocess_steps_per_s"],
                                                         rel=0.01)
    assert rows[-1]["requests_per_call"] > 1  # 32 clients: the server merged requests


def test_dry_run_skips_what_does_not_fit_and_reports_goals(dry_run):
    report, markdown, stdout, _ = dry_run
    assert report["sizes"]["7b"]["status"] == "skipped"
    assert report["sizes"]["7b"]["reason"].startswith("time")
    goals = report["goals"]
    assert len(goals) == 3 and all(isinstance(g["pass"], bool) for g in goals)  # tiny stands in for each
    assert len(report["checks"]) == 2 and all(c["pass"] is True for c in report["checks"])  # tiny only
    assert report["absent_imports"] == []  # nothing absent on the GPU machine was imported
    for text in (markdown, stdout):
        assert "| size | params | status |" in text and "Goals (reported, not asserted)" in text
        assert "| 32 |" in text


def test_run_sh_is_valid_bash_and_fits_the_device_command_line():
    proc = subprocess.run(["bash", "-n", str(GPU / "run.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len("bash benchmarks/gpu/run.sh") < 2000


def test_guard_blocks_absent_packages_and_names_the_importer(tmp_path):
    (tmp_path / "needs_litellm.py").write_text("import litellm\n")
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import gpu_clients; "
            "g = gpu_clients.install_guard()\ntry:\n    import needs_litellm\nexcept ImportError as e:\n"
            "    print('blocked', g.attempts[0]['imported_by'])")
    proc = subprocess.run([sys.executable, "-c", code, str(GPU), str(tmp_path)], capture_output=True, text=True)
    assert proc.stdout.startswith("blocked needs_litellm:1"), proc.stderr


def test_run_clients_counts_steps_and_honours_the_time_cap():
    items = [("q", ["a", "b"]), ("q", ["c"])] * 4
    once = gpu_clients.run_clients(3, items, lambda c, q, s: None, 60, repeat=False)
    assert once["items"] == 8 and once["steps"] == 12
    t0 = time.perf_counter()
    timed = gpu_clients.run_clients(2, items, lambda c, q, s: time.sleep(0.01), 0.2)
    assert timed["items"] > 8 and time.perf_counter() - t0 < 2  # repeats until the cap, then stops
    with pytest.raises(ZeroDivisionError):
        gpu_clients.run_clients(2, items, lambda c, q, s: 1 / 0, 1)


def test_goals_pass_fail_and_not_measured():
    report = {"sizes": {"1.5b": {"status": "ok", "one_at_a_time": {"steps_per_s": 100.0},
                                 "batched": [{"budget": 1, "steps_per_s": 400.0}, {"budget": 2, "steps_per_s": 600.0}]},
                        "7b": {"status": "skipped", "reason": "memory"}},
              "served": {"size": "1.5b", "rows": [{"clients": 8, "served_vs_inprocess": 0.95}]}}
    batching, served, fit = gpu_report.goals(report, "1.5b", "7b")
    assert batching["value"] == 6.0 and batching["pass"] is True
    assert served["pass"] is True
    assert fit["pass"] is None and "skipped" in fit["value"]
    report["served"]["rows"][0]["served_vs_inprocess"] = 0.5
    assert gpu_report.goals(report, "1.5b", "7b")[1]["pass"] is False
    assert "[N/A]" in gpu_report.markdown({**report, "goals": gpu_report.goals(report, "1.5b", "7b")})
