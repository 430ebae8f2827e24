"""Run folders one writer owns, that a kill never corrupts, where nothing paid for goes unreported."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from agentforge.agents import build_agent_spec
from agentforge.core.errors import UserError
from agentforge.llm import LLM, FunctionModel
from agentforge.runner import Runner, read_results
from agentforge.tasks import load_task


def reported(summary: dict) -> int:
    """Calls a summary accounts for: the rows', the learner's and the orphaned ones."""
    return (summary["llm_calls"] + (summary.get("learning_usage") or {}).get("calls", 0)
            + (summary.get("orphaned_usage") or {}).get("calls", 0))


async def test_second_writer_is_refused_at_once_naming_the_holder(tmp_path):
    task, spec = load_task("gsm8k", limit=2), build_agent_spec("cot")
    started = asyncio.Event()

    async def hang(m, i):
        started.set()
        await asyncio.sleep(3600)

    first = asyncio.ensure_future(Runner(task, spec, LLM(model=FunctionModel(hang, name="owner"), cache=False),
                                         tmp_path).arun())
    await started.wait()
    t0 = time.perf_counter()
    with pytest.raises(UserError, match=rf"in use by process {os.getpid()} on .*, started 20.*use another --out"):
        await Runner(task, spec, LLM(model=FunctionModel(lambda m, i: "Answer: 1", name="owner"), cache=False),
                     tmp_path).arun()
    assert time.perf_counter() - t0 < 2
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not (tmp_path / "run.owner.json").exists()  # released: the folder is free again
    s = await Runner(task, spec, LLM(model=FunctionModel(lambda m, i: "Answer: 1", name="owner"), cache=False),
                     tmp_path).arun()
    assert s["n"] == 2


CHILD = textwrap.dedent("""
    import asyncio, sys
    from agentforge.agents import build_agent_spec
    from agentforge.llm import LLM, FunctionModel
    from agentforge.runner import Runner
    from agentforge.tasks import load_task

    out, paid, marker = sys.argv[1:4]
    task = load_task("gsm8k", limit=4)
    hang_q = task.examples[2].question

    async def fn(messages, info):
        text = messages[-1]["content"]
        if hang_q in text and "previous answer" in text:  # round 1 of the third example hangs
            open(marker, "w").close()
            await asyncio.sleep(3600)
        with open(paid, "a") as f:
            f.write("call\\n")
        return "Answer: 1"

    llm = LLM(model=FunctionModel(fn, name="kill-test"), cache=False)
    Runner(task, build_agent_spec("debate", agents=2, rounds=1), llm, out).run()
""")


def test_kill_9_leaves_a_stale_lock_that_does_not_block_and_in_flight_calls_are_reported(tmp_path):
    out, paid, marker = tmp_path / "run", tmp_path / "paid.txt", tmp_path / "hanging"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(paid), str(marker)])
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # the example's round-0 calls have returned and been journaled
    task, spec = load_task("gsm8k", limit=4), build_agent_spec("debate", agents=2, rounds=1)

    def count(m, i):
        with open(paid, "a") as f:
            f.write("call\n")
        return "Answer: 1"

    llm = LLM(model=FunctionModel(count, name="kill-test"), cache=False)
    try:
        with pytest.raises(UserError, match=rf"in use by process {proc.pid} "):
            Runner(task, spec, llm, out).run()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert json.loads((out / "run.owner.json").read_text())["pid"] == proc.pid  # stale owner left behind
    assert len(read_results(out / "results.jsonl")) == 2
    stale_tmp = out / f".summary.json.{proc.pid}.0badf00d.tmp"  # as a kill mid atomic write leaves it
    stale_tmp.write_text("{")
    summary = Runner(task, spec, llm, out).run()  # the dead holder's lock does not block the resume
    assert not stale_tmp.exists()
    assert summary["n"] == 4 and summary["errors"] == 0
    assert summary["orphaned_usage"]["calls"] == 2  # round 0 of the example killed in flight
    assert summary["unfinished_calls"] == 2  # its round 1: started, never answered
    assert reported(summary) == len(paid.read_text().splitlines()) == 18


async def test_calls_of_examples_in_flight_at_an_interruption_are_reported_once(tmp_path):
    task, spec = load_task("gsm8k", limit=4), build_agent_spec("debate", agents=2, rounds=1)
    paid, state = [], {"hang": True}
    hang_q = task.examples[1].question

    async def fn(m, i):
        if hang_q in m[-1]["content"] and "previous answer" in m[-1]["content"] and state["hang"]:
            await asyncio.sleep(3600)
        paid.append(1)
        return "Answer: 1"

    llm = LLM(model=FunctionModel(fn, name="interrupt"), cache=False)
    run = asyncio.ensure_future(Runner(task, spec, llm, tmp_path).arun())
    while len(paid) < 6:  # example 0 done (4 calls), example 1's round 0 paid (2 calls), round 1 hangs
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    run.cancel()  # what Ctrl-C does
    with pytest.raises(asyncio.CancelledError):
        await run
    with (tmp_path / "calls.jsonl").open("a") as f:
        f.write('{"id": "train-1", "attempt": "x", "usa')  # a torn journal line: ignored, then cut off
    state["hang"] = False
    s = await Runner(task, spec, llm, tmp_path).arun()
    assert s["n"] == 4 and s["llm_calls"] == 16 and s["orphaned_usage"]["calls"] == 2
    assert "unfinished_calls" not in s  # the cancelled calls ended (as failed), none is left open
    assert reported(s) == len(paid) == 18
    again = await Runner(task, spec, llm, tmp_path).arun()  # a finished folder reports the same figures
    assert reported(again) == 18 and again["orphaned_usage"] == s["orphaned_usage"]
    assert all(json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines())


def test_errored_line_dropped_for_a_rerun_keeps_its_paid_calls_reported(tmp_path):
    task, spec = load_task("gsm8k", limit=1), build_agent_spec("debate", agents=2, rounds=1)
    state = {"fail": True, "paid": 0}

    def fn(m, i):
        if "previous answer" in m[-1]["content"] and state["fail"]:
            raise RuntimeError("round 1 failed")
        state["paid"] += 1
        return "Answer: 1"

    llm = LLM(model=FunctionModel(fn, name="rerun"), cache=False)
    assert Runner(task, spec, llm, tmp_path).run()["llm_calls"] == 2
    state["fail"] = False
    s = Runner(task, spec, llm, tmp_path).run()
    assert s["llm_calls"] == 4 and s["orphaned_usage"]["calls"] == 2 and reported(s) == state["paid"] == 6


def test_learning_calls_survive_a_kill_between_line_and_summary_and_old_folders_carry_theirs(tmp_path):
    from agentforge.memory import HashEmbedder, InMemoryMemory
    from agentforge.memory.learning import MemoryLearner

    task, spec = load_task("gsm8k", limit=2), build_agent_spec("cot")
    llm = LLM(model=FunctionModel(lambda m, i: "Answer: -1", name="learn"), cache=False)  # wrong: reflect

    def learner():
        return MemoryLearner(InMemoryMemory(embedder=HashEmbedder(32)), llm, "gsm8k", learn=["reflection"])

    s = Runner(task, spec, llm, tmp_path, memory=learner()).run()
    assert s["llm_calls"] == 2 and s["learning_usage"]["calls"] == 2
    (tmp_path / "summary.json").unlink()  # as if killed after the last line, before its summary
    assert Runner(task, spec, llm, tmp_path, memory=learner()).run()["learning_usage"]["calls"] == 2
    (tmp_path / "calls.jsonl").unlink()  # a folder written before the journal existed
    assert Runner(task, spec, llm, tmp_path, memory=learner()).run()["learning_usage"]["calls"] == 2
    assert Runner(task, spec, llm, tmp_path, memory=learner()).run()["learning_usage"]["calls"] == 2


def test_torn_last_line_cut_inside_a_multibyte_character_is_dropped_and_rerun(tmp_path):
    task, spec = load_task("gsm8k", limit=3), build_agent_spec("cot")
    fm = FunctionModel(lambda m, i: "Résumé: 日本 — Answer: 1", name="utf8")
    Runner(task, spec, LLM(model=fm, cache=False), tmp_path).run()
    path = tmp_path / "results.jsonl"
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    cut = data.index("日".encode(), last) + 1  # inside the 3-byte character
    path.write_bytes(data[:cut])
    assert len(read_results(path)) == 2
    s = Runner(task, spec, LLM(model=fm, cache=False), tmp_path).run()
    assert s["n"] == 3 and len(fm.calls) == 4  # only the torn example ran again
    rows = read_results(path)
    assert sorted(r["id"] for r in rows) == sorted(e.id for e in task.examples)
    assert "日本" in rows[-1]["trajectory"][0]["output"]


@pytest.mark.parametrize("name,content", [("run.json", b'{"task": "gsm8k", "age'), ("run.json", b"\xff\xfe\x00"),
                                           ("summary.json", b"[1, 2]"), ("summary.json", b"")])
def test_corrupt_run_records_are_clear_errors_naming_the_file_and_the_way_out(tmp_path, name, content):
    task, spec = load_task("gsm8k", limit=1), build_agent_spec("cot")
    llm = LLM(model=FunctionModel(lambda m, i: "Answer: 1", name="records"), cache=False)
    Runner(task, spec, llm, tmp_path).run()
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError, match=rf"{name}: corrupt .* move it away .* or use another --out"):
        Runner(task, spec, llm, tmp_path).run()


def test_corrupt_search_store_is_a_clear_error(tmp_path):
    from agentforge.search.store import RunStore

    garbage = tmp_path / "garbage" / "store.sqlite"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a database " * 400)
    with pytest.raises(UserError, match=r"store.sqlite: not a usable SQLite run store .*move it away"):
        RunStore(garbage)
    real = tmp_path / "store.sqlite"
    store = RunStore(real)
    for i in range(200):
        store.put_result("c", f"e{i}", {"text": "x" * 400})
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    real.write_bytes(real.read_bytes()[: real.stat().st_size // 2])  # truncated by a bad copy
    with pytest.raises(UserError, match="not a usable SQLite run store"):
        RunStore(real).results()
    with pytest.raises(sqlite3.DatabaseError):  # what it was before: a traceback
        sqlite3.connect(real).execute("SELECT COUNT(*) FROM results").fetchone()


def test_atomic_writes_never_share_or_leave_a_temp_file(tmp_path):
    from agentforge.core.files import atomic_open, atomic_write_text
    from agentforge.search import report

    p = tmp_path / "summary.json"
    atomic_write_text(p, "old")
    with atomic_open(p) as slow:  # one writer is mid-write...
        slow.write(b"A" * 10000)
        atomic_write_text(p, "B")  # ...when another replaces the file
        assert p.read_text() == "B"
    assert p.read_bytes() == b"A" * 10000
    with pytest.raises(RuntimeError), atomic_open(p) as f:
        f.write(b"partial")
        raise RuntimeError("failed mid-write")
    assert p.read_bytes() == b"A" * 10000 and sorted(os.listdir(tmp_path)) == ["summary.json"]
    other = tmp_path / "summary.json.tmp"
    other.write_text("another writer's half-written file")
    report._atomic(p, "search summary")  # the search report's writes go through the same helper
    assert p.read_text() == "search summary" and other.read_text() == "another writer's half-written file"
