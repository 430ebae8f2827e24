"""Verified demonstrations: only steps that carry a metric-checked answer become worked examples."""

from __future__ import annotations

import pytest

from agentforge.agents import build_agent_spec
from agentforge.core.templates import render
from agentforge.search.demos import bootstrap_demos, demo_target, verified_solution, with_demos
from agentforge.search.modules import DEFAULT_CONFIG, ModuleOptions, build_module_spec
from agentforge.search.scoring import ExampleResult
from agentforge.search.testing import toy_task
from agentforge.tasks.base import Example


def row(correct: bool, *steps: tuple[str, str | None], answer: str = "7", error: str | None = None):
    traj = [{"node": "solve", "role": "solver", "output": out, "answer": ans} for out, ans in steps]
    return ExampleResult(example_id="x", answer=answer, correct=correct, trajectory=traj, error=error)


def test_only_a_step_carrying_the_verified_answer_is_a_demonstration():
    assert verified_solution(row(True, ("x = 3 + 4, so 7", "7"))) == "x = 3 + 4, so 7"
    assert verified_solution(row(True, ("program text", None))) == "program text"  # the only writer step
    # voted samples: the first sample is wrong and outvoted; the right one is shown
    assert verified_solution(row(True, ("wrong", "5"), ("right", "7"), ("also right", "7"))) == "right"
    assert verified_solution(row(True, ("p1", None), ("p2", None))) is None  # which program was right is unknown
    assert verified_solution(row(False, ("x = 8", "8"))) is None
    assert verified_solution(row(True, ("x", "7"), error="TimeoutError: slow")) is None


def test_bootstrap_keeps_order_draws_by_seed_and_refuses_bad_k():
    exs = [Example(id=f"q{i}", question=f"Q{i}?", gold="7") for i in range(6)]
    rows = [row(i % 2 == 0, (f"sol {i}", "7")) for i in range(6)]  # q0, q2, q4 verified
    demos = bootstrap_demos(list(zip(exs, rows)), 5)
    assert [d["id"] for d in demos] == ["q0", "q2", "q4"]
    assert demos[1] == {"id": "q2", "question": "Q2?", "solution": "sol 2"}
    two = [[d["id"] for d in bootstrap_demos(list(zip(exs, rows)), 2, seed=s)] for s in range(8)]
    assert all(len(t) == 2 and t == sorted(t) for t in two) and len({tuple(t) for t in two}) > 1
    long = [(exs[0], row(True, ("y" * 2000, "7")))]
    assert bootstrap_demos(long, 1) == []
    with pytest.raises(ValueError, match="at least 1"):
        bootstrap_demos(list(zip(exs, rows)), 0)


def test_demonstrations_go_before_the_writer_prompt_and_render_verbatim():
    task = toy_task(2)
    pal = build_module_spec({**DEFAULT_CONFIG, "reasoning": "pal", "ensembling": "self-consistency"},
                            ModuleOptions(sc_samples=3), task=task)
    assert demo_target(pal) == "program"
    demos = [{"id": "q1", "question": "How many {{ apples }}?", "solution": "def solution():\n    return 7"}]
    spec = with_demos(pal, demos)
    node = next(n for n in spec.nodes if n.id == "program")
    text = render(node.prompt, {"question": "NEW PROBLEM", "fewshot": "", "memory": ""})
    assert text.startswith("Worked examples:\n\nQuestion: How many {{ apples }}?\ndef solution():")
    assert text.index("return 7") < text.index("NEW PROBLEM")
    assert spec.metadata["demos"] == ["q1"] and with_demos(pal, []) is pal
    assert demo_target(build_agent_spec("cot")) == build_agent_spec("cot").entry
    with pytest.raises(ValueError, match="no node 'nope'"):
        with_demos(pal, demos, node_id="nope")


def test_gepa_shows_demonstrations_only_with_the_reasoning_module_that_wrote_them():
    from agentforge.search.gepa_parts import apply_components

    task = toy_task(2)
    seed = build_module_spec(dict(DEFAULT_CONFIG), ModuleOptions(), task=task)
    items = [{"id": "q1", "question": "Q1?", "solution": "def solution():\n    return 2"}]
    comps = {"instruction": "", "config": {**DEFAULT_CONFIG, "reasoning": "pal"},
             "demos": {"for": "pal", "items": items}}
    shown = apply_components(seed, comps, task, 1, "test", ModuleOptions())
    assert shown.metadata["demos"] == ["q1"] and "return 2" in next(n for n in shown.nodes if n.id == "program").prompt
    other = apply_components(seed, {**comps, "demos": {"for": "cot", "items": items}}, task, 1, "test", ModuleOptions())
    assert "demos" not in other.metadata and all("return 2" not in (n.prompt or "") for n in other.nodes)
