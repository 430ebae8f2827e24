"""The main job's runner: per-example records, errors, resume after interruption or crash."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentforge.agents import build_agent_spec
from agentforge.core.errors import UserError
from agentforge.llm import LLM, FunctionModel
from agentforge.runner import SUMMARY_KEYS, Runner, read_results
from agentforge.tasks import load_task


def gold_answer_model(task):
    golds = {ex.question: ex.gold for ex in task.examples}

    def fn(messages, info):
        q = next(q for q in golds if q in messages[-1]["content"])
        return f"Reasoning...\nAnswer: {golds[q]}"

    return FunctionModel(fn)


def test_run_writes_results_and_summary(tmp_path):
    task = load_task("gsm8k", limit=4)
    fm = gold_answer_model(task)
    summary = Runner(task, build_agent_spec("cot"), LLM(model=fm, cache=False), tmp_path).run()
    rows = read_results(tmp_path / "results.jsonl")
    assert [r["id"] for r in sorted(rows, key=lambda r: int(r["id"].split("-")[1]))] == [e.id for e in task.examples]
    assert all(r["correct"] and r["error"] is None and len(r["trajectory"]) == 1 for r in rows)
    assert set(SUMMARY_KEYS) <= set(summary) and summary["accuracy"] == 1.0 and summary["llm_calls"] == 4
    assert json.loads((tmp_path / "summary.json").read_text())["n"] == 4


def test_model_failure_is_recorded_and_run_goes_on_and_resume_retries_it(tmp_path):
    task = load_task("gsm8k", limit=3)
    bad_q = task.examples[1].question
    state = {"fail": True}

    def fn(messages, info):
        if bad_q in messages[-1]["content"] and state["fail"]:
            raise RuntimeError("provider exploded")
        return "Answer: 1"

    fm = FunctionModel(fn)
    llm = LLM(model=fm, cache=False)
    s1 = Runner(task, build_agent_spec("cot"), llm, tmp_path).run()
    assert s1["n"] == 3 and s1["errors"] == 1
    err = next(r for r in read_results(tmp_path / "results.jsonl") if r["error"])
    assert "provider exploded" in err["error"] and err["id"] == task.examples[1].id
    state["fail"] = False
    before = len(fm.calls)
    s2 = Runner(task, build_agent_spec("cot"), llm, tmp_path).run()
    assert len(fm.calls) - before == 1  # only the errored example ran again
    assert s2["n"] == 3 and s2["errors"] == 0


def test_interrupted_run_keeps_finished_examples_and_resumes(tmp_path):
    task = load_task("gsm8k", limit=6)
    seen = []

    async def fn(messages, info):
        seen.append(messages[-1]["content"])
        if len(seen) == 4:
            await asyncio.sleep(3600)  # the run is interrupted while this call hangs
        return "Answer: 0"

    llm = LLM(model=FunctionModel(fn, name="resume-model"), cache=False)

    async def interrupted():
        t = asyncio.ensure_future(Runner(task, build_agent_spec("cot"), llm, tmp_path).arun())
        while len(seen) < 4:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        t.cancel()  # what Ctrl-C does to the running job
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(interrupted())
    done = read_results(tmp_path / "results.jsonl")
    assert len(done) == 3
    # a crash mid-write leaves a torn last line: it is dropped on resume
    with (tmp_path / "results.jsonl").open("a") as f:
        f.write('{"id": "train-9", "quest')
    calls_before = len(seen)
    again = FunctionModel(lambda m, i: "Answer: 0", name="resume-model")  # same model id, fresh script
    summary = Runner(task, build_agent_spec("cot"), LLM(model=again, cache=False), tmp_path).run()
    assert summary["n"] == 6
    ids = [r["id"] for r in read_results(tmp_path / "results.jsonl")]
    assert sorted(ids) == sorted(e.id for e in task.examples) and len(ids) == len(set(ids))
    assert len(seen) == calls_before
    assert len(again.calls) == 3  # only the 3 unfinished examples ran


def test_resume_with_another_agent_is_refused(tmp_path):
    task = load_task("gsm8k", limit=1)
    Runner(task, build_agent_spec("cot"), LLM(model=lambda m, i: "Answer: 1", cache=False), tmp_path).run()
    with pytest.raises(UserError, match="holds a run with agent_spec_hash"):
        Runner(task, build_agent_spec("debate"), LLM(model=lambda m, i: "Answer: 1", cache=False), tmp_path)._prepare()


def test_corrupt_line_in_the_middle_is_a_clear_error(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(UserError, match=r"results.jsonl:2: corrupt"):
        read_results(p)


def test_misconfigured_spec_stops_the_run_instead_of_recording_errors(tmp_path):
    from agentforge.agents import AgentSpec
    from agentforge.core.errors import TemplateError

    data = build_agent_spec("cot").model_dump()
    data["nodes"][0]["prompt"] = "{{ outputs.nothing.deeper }}"  # valid names, fails at render time
    spec = AgentSpec.validate_dict(data)
    with pytest.raises(TemplateError, match="nothing"):
        Runner(load_task("gsm8k", limit=2), spec, LLM(model=lambda m, i: "x", cache=False), tmp_path).run()
    assert read_results(tmp_path / "results.jsonl") == []


def test_failed_example_still_counts_the_calls_it_paid_for(tmp_path):
    def fn(m, i):
        if "Your previous answer" in m[-1]["content"]:
            raise RuntimeError("round 1 failed")
        return "Answer: 1"

    s = Runner(load_task("gsm8k", limit=1), build_agent_spec("debate", agents=3, rounds=1),
               LLM(model=fn, cache=False), tmp_path).run()
    assert s["errors"] == 1 and s["llm_calls"] == 3  # round 0 was paid for
