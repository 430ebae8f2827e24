"""The front door: one import, a two-line SDK, options checked, a cheap import, clear extras."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agentforge.core.errors import MissingExtraError, UnknownNameError, UserError


def test_two_lines_without_a_task():
    from agentforge import Agent, FunctionModel

    fm = FunctionModel(lambda m, i: f"Debater {i.sample_index}.\nAnswer: 51")
    result = Agent("debate", model=fm.model_id, agents=2, rounds=1).run_sync("What is 17 * 3?")
    assert result.answer == "51" and result.usage.calls == len(fm.calls) == 4


def test_run_sync_works_inside_a_running_event_loop():
    from agentforge import Agent

    async def cell():  # a Jupyter cell: an event loop is already running
        return Agent("cot", model=lambda m, i: "Answer: 3").run_sync("1+2?").answer

    assert asyncio.run(cell()) == "3"


def test_unknown_agent_options_are_errors_that_list_the_valid_ones():
    from agentforge import Agent

    with pytest.raises(UnknownNameError, match=r"unknown cot option 'agents'; valid cot options: \(none\)"):
        Agent("cot", model=lambda m, i: "x", agents=5)
    with pytest.raises(UnknownNameError, match="valid debate options: agents, rounds, temperature"):
        Agent("debate", model=lambda m, i: "x", samples=5)
    with pytest.raises(UserError, match="both"):
        Agent("cot", llm="fake/x", model="fake/y")


def test_cli_rejects_an_option_the_agent_does_not_take():
    from agentforge.cli.app import _register, app

    _register()
    r = CliRunner().invoke(app, ["run", "--agent", "cot", "--agents", "5", "--limit", "1"])
    assert r.exit_code == 2 and "--agents" in r.output and "(none)" in r.output
    r = CliRunner().invoke(app, ["agents", "show", "debate", "--agents", "4"])
    assert r.exit_code == 0 and json.loads(r.output)["nodes"][0]["samples"] == 4
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("agentforge ")


def test_import_is_cheap_and_leaves_the_environment_alone():
    code = ("import os, sys, agentforge\n"
            "heavy = [m for m in ('litellm', 'langgraph', 'torch', 'chromadb', 'llama_cpp') if m in sys.modules]\n"
            "print(heavy, os.environ.get('HF_HUB_OFFLINE'), os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP'))")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("HF_HUB_OFFLINE", "LITELLM_LOCAL_MODEL_COST_MAP")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[] None None"


def test_a_missing_extra_names_the_pip_install(monkeypatch):
    from agentforge.core.extras import require

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if llama-cpp-python were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'agentforge\[local\]'"):
        require("llama_cpp", "local", "the embedded local model")


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    from agentforge.core.settings import settings
    from agentforge.llm.cache import default_cache_dir
    from agentforge.llm.models import models_dir

    monkeypatch.setenv("AGENTFORGE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "cache" / "completions" and models_dir() == tmp_path / "models"
    monkeypatch.setenv("AGENTFORGE_THREADS", "zero")
    with pytest.raises(UserError, match="AGENTFORGE_THREADS"):
        settings()
