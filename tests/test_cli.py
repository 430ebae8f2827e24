"""CLI bad input: clear messages listing valid choices, exit code 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentforge.cli.app import _register, app

_register()
cli = CliRunner()


def invoke(*args):
    return cli.invoke(app, list(args))


def test_unknown_task_lists_valid_and_exits_2():
    r = invoke("run", "--task", "gsm9k", "--limit", "1")
    assert r.exit_code == 2
    assert "unknown task 'gsm9k'" in r.output and "gsm8k" in r.output and "bbh/navigate" in r.output


def test_unknown_agent_lists_valid_and_exits_2():
    r = invoke("run", "--agent", "tree-of-thought", "--limit", "1")
    assert r.exit_code == 2 and "unknown agent 'tree-of-thought'" in r.output
    assert all(name in r.output for name in ("cot", "debate", "self-refine", "reflexion", "beam-search"))


def test_unknown_local_model_lists_valid_and_exits_2():
    r = invoke("run", "--model", "local/qwen9", "--limit", "1")
    assert r.exit_code == 2 and "qwen2.5-coder-1.5b-instruct" in r.output


def test_malformed_data_line_names_line_number(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\n{"question": "oops"\n')
    r = invoke("run", "--data", str(data), "--model", "local/qwen9")
    assert r.exit_code == 2 and "bad.jsonl:2" in r.output


def test_agents_show_prints_a_valid_spec():
    r = invoke("agents", "show", "debate", "--agents", "4")
    assert r.exit_code == 0
    spec = json.loads(r.output)
    assert spec["name"] == "debate" and spec["nodes"][0]["samples"] == 4


def test_agent_spec_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "spec.json"
    bad.write_text('{"name": "x", "nodes": [], "edges": [], "entry": "a"}')
    r = invoke("run", "--agent-spec", str(bad), "--limit", "1")
    assert r.exit_code == 2 and "spec.json" in r.output and "no nodes" in r.output


def test_run_with_memory_learning_reports_learning_calls_apart(tmp_path):
    from agentforge.llm.fake import FunctionModel

    fm = FunctionModel(lambda m, i: "Answer: -1", name="cli-learn")  # always wrong: one reflection each
    out = tmp_path / "run"
    r = invoke("run", "--task", "gsm8k", "--limit", "2", "--model", fm.model_id, "--no-cache",
               "--memory", f"chroma://{tmp_path / 'mem'}", "--learn", "experience,reflection", "--out", str(out))
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["llm_calls"] == 2 and summary["learning_usage"]["calls"] == 2 and len(fm.calls) == 4
    assert "calls=2 " in r.output and "(+2 learning calls" in r.output
