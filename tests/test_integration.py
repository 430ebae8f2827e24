"""Integration: the real CLI on the real embedded model (qwen2.5-coder-0.5b-instruct).

Needs the model pulled (``agentforge models pull qwen2.5-coder-0.5b-instruct``; .ci/run does it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from agentforge.llm.models import LOCAL_MODELS, models_dir

MODEL = "qwen2.5-coder-0.5b-instruct"
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (models_dir() / LOCAL_MODELS[MODEL].filename).exists() and not os.environ.get("CI"),
                                 reason=f"run `agentforge models pull {MODEL}` first")]


def test_cli_run_cot_on_gsm8k_with_embedded_model(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "AGENTFORGE_CACHE": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "agentforge", "run", "--task", "gsm8k", "--agent", "cot", "--limit", "2",
         "--model", f"local/{MODEL}", "--out", str(out), "--max-tokens", "256", "--no-pull"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 2 and summary["errors"] == 0 and summary["llm_calls"] == 2
    assert summary["completion_tokens"] > 10 and summary["model"] == f"local/{MODEL}"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["trajectory"][0]["output"].strip() for r in rows)
    assert "accuracy=" in proc.stdout


def test_solve_prints_trace_with_embedded_model():
    proc = subprocess.run(
        [sys.executable, "-m", "agentforge", "solve", "What is 12 times 3?", "--model", f"local/{MODEL}",
         "--max-tokens", "128", "--no-cache"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[1] solve (solver" in proc.stdout and "answer:" in proc.stdout


def test_pal_runs_the_embedded_models_program_in_the_sandbox(tmp_path):
    from agentforge import Agent, load_task

    task = load_task("gsm8k", limit=1)  # Natalia: 48 + 24 = 72
    result = Agent("pal", model=f"local/{MODEL}", task=task).run_sync(task.examples[0])
    assert result.trajectory[0].node == "program" and "def solution" in result.trajectory[0].output
    report = result.metadata["execution"]["run"]
    assert report.strip() and result.usage.calls == 1  # the sandbox ran it and reported back
    assert result.answer is None or result.answer.replace(".", "").lstrip("-").isdigit()
