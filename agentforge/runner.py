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

One process writes a folder at a time: ``DIR/run.lock`` is held for the whole run (and
``DIR/run.owner.json`` names the holder); a second run on the folder fails at once with a
``UserError`` naming the holder. The OS frees the lock when its holder dies, so a killed run
never blocks its resume. Every file the runner replaces is written to a temporary name unique
to the process and moved over the old one (``agentforge.core.files``).

Nothing paid for goes unreported: ``DIR/calls.jsonl`` journals every model call as it finishes
(``agentforge.run_folder``). When a resumed folder holds calls of attempts without a result
line (examples in flight when a run was killed, or errored lines dropped to be run again),
the summary reports them as ``orphaned_usage`` (absent when there are none), so after any kill
every call whose answer reached a process is reported once, in ``llm_calls``,
``learning_usage.calls`` or ``orphaned_usage.calls``. Calls a killed run started and never saw
answered are ``unfinished_calls`` (absent when none): a provider may have billed some of them,
but their usage never reached the process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentforge.agents import Agent, AgentMemory, AgentSpec, Episode, run_example
from agentforge.core.aio import run_sync
from agentforge.core.errors import UserError
from agentforge.core.files import FolderLock, JsonlAppender, atomic_write_json, atomic_write_jsonl
from agentforge.judges.base import Judge
from agentforge.llm import LLM
from agentforge.llm.observers import observe_calls
from agentforge.llm.types import Usage
from agentforge.run_folder import JOURNAL, CallJournal, account, read_record, read_results, usage_minus
from agentforge.tasks import Example, Task

__all__ = ["SUMMARY_KEYS", "Runner", "episode_row", "read_results", "summarize"]

SUMMARY_KEYS = ("task", "agent", "model", "n", "correct", "accuracy", "errors", "llm_calls", "prompt_tokens",
                "completion_tokens", "cost_usd", "wall_s")


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
        self._learning = Usage()  # the memory learner's calls, this run and before (from the journal)
        self._orphaned = Usage()  # calls of earlier attempts that left no result line
        self._unfinished = 0  # calls earlier runs started and never saw finish (killed in flight)
        self.meta = {"task": task.name, "agent": spec.name, "model": llm.model, "agent_spec_hash": spec.hash()}
        self.settings = {"temperature": llm.temperature, "max_tokens": llm.max_tokens, "top_p": llm.top_p,
                         "seed": llm.seed, "judge": judge.label if judge is not None else None,
                         "memory": type(memory).__name__ if memory is not None else None}

    @property
    def results_path(self) -> Path:
        return self.out / "results.jsonl"

    def _prepare(self) -> list[dict[str, Any]]:
        """Check or write ``run.json``; read the kept results (torn and errored lines dropped).

        Raises:
            UserError: the folder holds another run, or a corrupt ``run.json`` / ``results.jsonl``.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        run_json = self.out / "run.json"
        if run_json.exists():
            prev = read_record(run_json, "run record")
            now = {**self.meta, **self.settings}
            prev_all = {**prev, **(prev.get("settings") or {})}
            for key in ("task", "agent_spec_hash", "model", *self.settings):
                if key in prev_all and prev_all[key] != now[key]:
                    raise UserError(f"{self.out} holds a run with {key}={prev_all[key]!r}, not {now[key]!r}; "
                                    "use another --out to start a new run")
        else:
            atomic_write_json(run_json, {**self.meta, "settings": self.settings,
                                         "spec": self.spec.model_dump(mode="json")})
        rows = read_results(self.results_path)
        kept = [r for r in rows if not r.get("error")]
        if len(kept) != len(rows) or self.results_path.exists():
            atomic_write_jsonl(self.results_path, kept)  # drops torn lines and errored examples (rerun below)
        return kept

    async def _one(self, ex: Example) -> dict[str, Any]:
        """Run one example (``run_example``) and turn its ``Episode`` into a result row."""
        return episode_row(await run_example(self.agent, ex))

    async def arun(self) -> dict[str, Any]:
        """Run the remaining examples; returns the summary (also written to ``summary.json``).

        Raises:
            UserError: another process is running on the folder (the message names it), or the
                folder holds another run or a corrupt record (see ``_prepare``).
        """
        t0 = time.perf_counter()
        with FolderLock(self.out):
            done_rows = self._prepare()
            summary_json, had_journal = self.out / "summary.json", (self.out / JOURNAL).exists()
            prev = read_record(summary_json, "summary") if summary_json.exists() and done_rows else {}
            journal = CallJournal(self.out)
            try:
                self._learning, self._orphaned, self._unfinished = account(journal.read(), done_rows)
                if done_rows and not had_journal and prev.get("learning_usage"):  # a pre-journal folder
                    carried = Usage.model_validate(prev["learning_usage"])
                    journal.carry(carried)
                    self._learning = self._learning + carried
                return await self._run_rest(done_rows, journal, float(prev.get("wall_s", 0.0)), t0)
            finally:
                journal.close()

    async def _run_rest(self, done_rows: list[dict[str, Any]], journal: CallJournal, prev_wall: float,
                        t0: float) -> dict[str, Any]:
        """Run the examples without a kept row, each as a journaled attempt; write lines and summaries."""
        done_ids = {r["id"] for r in done_rows}
        todo = [ex for ex in self.task.examples if ex.id not in done_ids]
        total, rows = len(self.task.examples), list(done_rows)
        sem = asyncio.Semaphore(self.concurrency)

        async def guarded(ex: Example) -> tuple[dict[str, Any], Usage]:
            async with sem:
                attempt = journal.attempt(ex.id)
                with observe_calls(attempt):
                    row = await self._one(ex)
                return row, attempt.usage

        if self.on_result:
            for r in done_rows:
                self.on_result(r, 0, total)
        with JsonlAppender(self.results_path, fsync=True) as results:
            pending = [asyncio.ensure_future(guarded(ex)) for ex in todo]
            try:
                for fut in asyncio.as_completed(pending):
                    row, spent = await fut
                    results.append(row)
                    rows.append(row)
                    self._learning = self._learning + usage_minus(spent, Usage.model_validate(row["usage"]))
                    self._write_summary(rows, prev_wall + time.perf_counter() - t0)
                    if self.on_result:
                        self.on_result(row, len(rows), total)
            finally:  # stop the examples still in flight, and let them unwind (journal their calls)
                for p in pending:
                    p.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        if self.agent.memory is not None:
            flush = journal.attempt(None)
            with observe_calls(flush):
                await self.agent.memory.aflush()
            self._learning = self._learning + flush.usage
        return self._write_summary(rows, prev_wall + time.perf_counter() - t0)

    def _write_summary(self, rows: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
        """Summarize the rows of this task's examples and write ``summary.json`` atomically.

        Written after every example, so a killed run's summary (and its wall time, which a
        resumed run adds to) is never more than one example behind. ``learning_usage`` (with a
        memory learner), ``orphaned_usage`` and ``unfinished_calls`` (when there are some) come
        from the call journal, so a resume counts them once however the earlier run ended.
        """
        ids = {ex.id for ex in self.task.examples}
        summary = summarize([r for r in rows if r["id"] in ids], self.meta, wall_s)
        if self.agent.memory is not None or self._learning.calls:
            summary["learning_usage"] = self._learning.model_dump()
        if self._orphaned.calls:
            summary["orphaned_usage"] = self._orphaned.model_dump()
        if self._unfinished:
            summary["unfinished_calls"] = self._unfinished
        atomic_write_json(self.out / "summary.json", summary)
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
