"""Reliability of learning runs on a persistent Chroma memory: kill -9 and concurrent writers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from agentforge.memory import ChromaMemory, HashEmbedder

CHILD_RUN = textwrap.dedent("""
    import asyncio, sys, time
    from agentforge.agents import build_agent_spec
    from agentforge.llm import LLM, FunctionModel
    from agentforge.memory import ChromaMemory, HashEmbedder
    from agentforge.memory.learning.learner import MemoryLearner
    from agentforge.runner import Runner
    from agentforge.tasks import load_task

    mem_path, out, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    def model(messages, info):
        time.sleep(delay)
        text = messages[-1]["content"]
        if "judged wrong" in text:
            return "I should re-read the question."
        return "Answer: 3"
    llm = LLM(model=FunctionModel(model, name="reliability"), cache=False)
    store = ChromaMemory(mem_path, embedder=HashEmbedder(64))
    learner = MemoryLearner(store, llm, "gsm8k", learn=["experience", "reflection"])
    task = load_task("gsm8k", limit=8)
    asyncio.run(Runner(task, build_agent_spec("cot"), llm, out, memory=learner).arun())
""")

CHILD_WRITER = textwrap.dedent("""
    import sys
    from agentforge.memory import ChromaMemory, HashEmbedder, MemoryRecord
    store = ChromaMemory(sys.argv[1], embedder=HashEmbedder(64))
    tag = sys.argv[2]
    for i in range(40):
        store.add([MemoryRecord(id=f"{tag}-{i}", kind="experience", namespace="n", text=f"writer {tag} record {i}")])
    print("done")
""")


def _results(out):
    path = os.path.join(out, "results.jsonl")
    if not os.path.exists(path):
        return []
    rows = []
    for line in open(path).read().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


def test_kill_9_mid_learning_run_then_resume_loses_and_duplicates_nothing(tmp_path):
    mem, out = str(tmp_path / "mem"), str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-c", CHILD_RUN, mem, out, "0.15"])
    deadline = time.time() + 120
    while len(_results(out)) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {r["id"] for r in _results(out)}
    assert 3 <= len(done_before) < 8
    before = ChromaMemory(mem, embedder=HashEmbedder(64))
    kept = {r.id for r in before.list()}
    assert before.count(kind="experience") >= len(done_before)
    before.close()

    subprocess.run([sys.executable, "-c", CHILD_RUN, mem, out, "0"], check=True, timeout=300)
    rows = _results(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 8 and done_before <= set(ids)
    after = ChromaMemory(mem, embedder=HashEmbedder(64))
    assert after.count(kind="experience") == 8  # one per episode, none duplicated
    assert after.count(kind="reflection") == 8  # every answer '3' is wrong: one reflection each
    assert kept <= {r.id for r in after.list()}  # nothing written before the kill was lost


def test_concurrent_writer_processes_on_one_chroma_path(tmp_path):
    mem = str(tmp_path / "shared")
    ChromaMemory(mem, embedder=HashEmbedder(64)).close()  # create the collection first
    procs = [subprocess.Popen([sys.executable, "-c", CHILD_WRITER, mem, tag], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    outcomes = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    store = ChromaMemory(mem, embedder=HashEmbedder(64))
    ok = [rc == 0 for _, _, rc in outcomes]
    # either both writers succeeded, or a failing one failed loudly; the store is never corrupt
    for (_, err, rc) in outcomes:
        assert rc == 0 or err.strip()
    expected = sum(40 for good in ok if good)
    assert store.count() >= expected
    hits = store.search("writer a record 7", k=1)
    assert hits and hits[0].record.text.startswith("writer")
    for r in store.list():
        assert store.get(r.id) is not None
