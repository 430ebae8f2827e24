"""The main job: run an agent over a task's examples, stream results to disk, summarize.

``DIR/results.jsonl`` gets one line per finished example (id, question, gold, prediction,
correct, trajectory, usage, error, wall_s), flushed and fsync'd as each example finishes, so
Ctrl-C or a crash loses no finished example. Rerunning with the same ``out`` resumes: finished
examples are skipped, examples that ended in an error are run again, and a torn last line from
a crash is dropped. ``DIR/run.json`` records what the folder holds (task, agent spec hash,
model); resuming with a different one is refused. ``DIR/summary.json`` is rewritten after every
example (atomically), so it is current even after a crash. With a memory learner, its own
calls (self-reflections, insight updates) are reported apart as ``learning_usage``, summed over
resumed runs; ``llm_calls`` and the token counts are the agent's calls only.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentforge.agents import Agent, AgentMemory, AgentSpec, Episode, run_example
from agentforge.core.aio import run_sync
from agentforge.core.errors import UserError
from agentforge.judges.base import Judge
from agentforge.llm import LLM
from agentforge.llm.types import Usage
from agentforge.tasks import Example, Task

SUMMARY_KEYS = ("task", "agent", "model", "n", "correct", "accuracy", "errors", "llm_calls", "prompt_tokens",
                "completion_tokens", "cost_usd", "wall_s")


def read_results(path: Path) -> list[dict[str, Any]]:
    """Read ``results.jsonl``, dropping a torn (unparsable) last line left by a crash.

    Raises:
        UserError: an unparsable line that is not the last one (the file was edited or corrupted);
            the message names the line. Nothing is rewritten in that case.
    """
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines):
                break
            raise UserError(f"{path}:{i}: corrupt result line (not the last line; fix or remove the file)") from None
    return rows


def _rewrite(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def summarize(rows: list[dict[str, Any]], meta: dict[str, Any], wall_s: float) -> dict[str, Any]:
    """The summary dict (keys ``SUMMARY_KEYS`` plus ``agent_spec_hash``) over result rows."""
    usage = Usage.total([Usage.model_validate(r.get("usage") or {}) for r in rows])
    correct = sum(bool(r.get("correct")) for r in rows)
    n = len(rows)
    return {
        "task": meta["task"], "agent": meta["agent"], "model": meta["model"], "n": n, "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0, "errors": sum(1 for r in rows if r.get("error")),
        "llm_calls": usage.calls, "cached_calls": usage.cached_calls, "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "cost_usd": round(usage.cost_usd, 6),
        "wall_s": round(wall_s, 2), "agent_spec_hash": meta.get("agent_spec_hash"),
    }


class Runner:
    """Runs ``spec`` with ``llm`` over ``task`` into ``out`` (see the module docstring).

    Args:
        task: the task (already limited to the examples to run).
        spec: the agent.
        llm: the model configuration.
        out: the output folder (created).
        concurrency: examples in flight at once (default 1). Calls to one local model are
            serialized anyway; with a remote provider this is the main speed knob.
        memory: optional ``AgentMemory`` passed to the agent (e.g. ``MemoryLearner``); it learns
            from each finished example before the example's line is written.
        on_result: callback ``(row, done, total)`` after each example (the CLI's progress bar).
        judge: judge for test-time search nodes (see ``Agent``).
    """

    def __init__(self, task: Task, spec: AgentSpec, llm: LLM, out: str | Path, concurrency: int = 1,
                 memory: AgentMemory | None = None,
                 on_result: Callable[[dict[str, Any], int, int], None] | None = None, judge: Judge | None = None):
        if concurrency < 1:
            raise UserError(f"concurrency must be >= 1, got {concurrency}")
        self.task, self.spec, self.llm = task, spec, llm
        self.out = Path(out)
        self.concurrency = concurrency
        self.agent = Agent(spec, llm, task, memory=memory, judge=judge)
        self.on_result = on_result
        self._prev_learning = Usage()  # learning usage recorded by an interrupted earlier run
        self.meta = {"task": task.name, "agent": spec.name, "model": llm.model, "agent_spec_hash": spec.hash()}
        self.settings = {"temperature": llm.temperature, "max_tokens": llm.max_tokens, "top_p": llm.top_p,
                         "seed": llm.seed, "judge": judge.label if judge is not None else None,
                         "memory": type(memory).__name__ if memory is not None else None}

    @property
    def results_path(self) -> Path:
        return self.out / "results.jsonl"

    def _prepare(self) -> list[dict[str, Any]]:
        self.out.mkdir(parents=True, exist_ok=True)
        run_json = self.out / "run.json"
        if run_json.exists():
            prev = json.loads(run_json.read_text())
            now = {**self.meta, **self.settings}
            prev_all = {**prev, **(prev.get("settings") or {})}
            for key in ("task", "agent_spec_hash", "model", *self.settings):
                if key in prev_all and prev_all[key] != now[key]:
                    raise UserError(f"{self.out} holds a run with {key}={prev_all[key]!r}, not {now[key]!r}; "
                                    "use another --out to start a new run")
        else:
            run_json.write_text(json.dumps({**self.meta, "settings": self.settings,
                                            "spec": self.spec.model_dump(mode="json")}, indent=2))
        rows = read_results(self.results_path)
        kept = [r for r in rows if not r.get("error")]
        if len(kept) != len(rows) or self.results_path.exists():
            _rewrite(self.results_path, kept)  # drops torn lines and errored examples (rerun below)
        return kept

    async def _one(self, ex: Example) -> dict[str, Any]:
        """Run one example (``run_example``) and turn its ``Episode`` into a result row."""
        return episode_row(await run_example(self.agent, ex))

    async def arun(self) -> dict[str, Any]:
        """Run the remaining examples; returns the summary (also written to ``summary.json``)."""
        t0 = time.perf_counter()
        done_rows = self._prepare()
        prev_wall, self._prev_learning = 0.0, Usage()
        if (self.out / "summary.json").exists() and done_rows:  # time and learning before an interruption
            prev = json.loads((self.out / "summary.json").read_text())
            prev_wall = float(prev.get("wall_s", 0.0))
            self._prev_learning = Usage.model_validate(prev.get("learning_usage") or {})
        done_ids = {r["id"] for r in done_rows}
        todo = [ex for ex in self.task.examples if ex.id not in done_ids]
        total, rows = len(self.task.examples), list(done_rows)
        sem = asyncio.Semaphore(self.concurrency)

        async def guarded(ex: Example) -> dict[str, Any]:
            async with sem:
                return await self._one(ex)

        if self.on_result:
            for r in done_rows:
                self.on_result(r, 0, total)
        with self.results_path.open("a", encoding="utf-8") as f:
            pending = [asyncio.ensure_future(guarded(ex)) for ex in todo]
            try:
                for fut in asyncio.as_completed(pending):
                    row = await fut
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                    rows.append(row)
                    self._write_summary(rows, prev_wall + time.perf_counter() - t0)
                    if self.on_result:
                        self.on_result(row, len(rows), total)
            finally:
                for p in pending:
                    p.cancel()
        if self.agent.memory is not None:
            await self.agent.memory.aflush()
        return self._write_summary(rows, prev_wall + time.perf_counter() - t0)

    def _write_summary(self, rows: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
        """Summarize the rows of this task's examples and write ``summary.json`` atomically.

        Written after every example, so a killed run's summary (and its wall time, which a
        resumed run adds to) is never more than one example behind.
        """
        ids = {ex.id for ex in self.task.examples}
        summary = summarize([r for r in rows if r["id"] in ids], self.meta, wall_s)
        if self.agent.memory is not None:  # calls the memory learner made itself, this run and before
            summary["learning_usage"] = (self._prev_learning + self.agent.memory.usage).model_dump()
        tmp = self.out / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, self.out / "summary.json")
        return summary

    def run(self) -> dict[str, Any]:
        """Synchronous ``arun`` (works inside a running event loop too)."""
        return run_sync(self.arun())


def episode_row(ep: Episode) -> dict[str, Any]:
    """The ``results.jsonl`` line of an episode (id, question, gold, prediction, correct,
    trajectory, usage, votes, error, wall_s; ``trials`` for Reflexion, ``memory_ids`` with memory)."""
    row: dict[str, Any] = {"id": ep.example_id, "question": ep.question, "gold": ep.gold, "prediction": ep.answer,
                           "correct": ep.correct, "trajectory": [c.model_dump() for c in ep.trajectory],
                           "usage": ep.usage.model_dump(), "votes": ep.votes, "error": ep.error}
    if "trials" in ep.metadata:
        row["trials"] = ep.metadata["trials"]
    if ep.memory_ids:
        row["memory_ids"] = ep.memory_ids
    row["wall_s"] = ep.wall_s
    return row
