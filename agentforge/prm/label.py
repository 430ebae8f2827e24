"""Automatic process labels by Monte-Carlo completion, in the Math-Shepherd manner.

Math-Shepherd (Wang et al. 2023, "Math-Shepherd: Verify and Reinforce LLMs Step-by-step
without Human Annotations") labels step ``k`` of a solution by how well the solution can still
be finished from there: a "completer" continues the prefix ``steps[:k+1]`` ``C`` times, and

- hard estimate (HE): the step is correct if **any** completion reaches the gold answer;
- soft estimate (SE): the fraction of completions that reach it.

What this implementation does (``label_task``):

1. For each question, sample ``S`` solutions from the policy (temperature 0.7 by default),
   asked to write one ``Step k:`` paragraph per step; split them with ``split_steps``.
2. For ``k = 0 .. n-2``, run ``C`` completions of the prefix ``steps[:k+1]`` (concurrently) and
   score each with ``task.extract`` + ``task.score`` against the gold answer.
3. The last step needs no completions: the solution itself is the only way to "finish" it, so
   its label is whether the solution's own final answer is correct (soft 1.0 or 0.0).
4. Budget: once a step is labeled ``False``, the later steps of that solution are labeled
   ``False`` (soft 0.0) without running completions. Under the hard estimate a prefix from which
   no completion recovers is treated as an error that every later step inherits (as in
   Math-Shepherd's data, where steps after the first "-" are "-"), so this matches HE up to
   sampling noise and saves most completions of wrong solutions.

Continuation prompt (chosen because it works with every chat provider, including llama.cpp's,
which do not support continuing a partial assistant turn): the same system prompt, and one
user turn with the question, the task's answer instructions, the prefix quoted under "Here is
the beginning of a solution:", then "Continue this solution from where it stops ...". Only the
completion's text is scored (the prefix's numbers cannot count as its answer).

Output: TRL's stepwise format (see ``agentforge.prm.data``) plus ``id``, ``sample``, ``answer`` and
``correct``, appended one question at a time; questions already in the file are skipped, so a
killed run resumes by rerunning it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentforge.core.errors import DataFormatError, ModelError, UserError
from agentforge.prm.data import append_records, check_record
from agentforge.judges.steps import SplitMode, split_steps

log = logging.getLogger(__name__)

SYSTEM = "You are a careful, precise problem solver. Reason step by step and check your arithmetic."
STEP_FORMAT = "Write each step as its own short paragraph starting with 'Step k:'."
CONTINUE = ("Continue this solution from where it stops. Do not repeat or change the steps above: "
            "write only the remaining steps, then the final answer line as instructed.")


def solution_messages(task, example, system: str = SYSTEM) -> list[dict]:
    """Chat messages asking the policy for a stepwise solution of ``example``."""
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"{task.prompt(example)}\n{STEP_FORMAT}"}]


def continuation_messages(task, example, prefix: list[str], system: str = SYSTEM) -> list[dict]:
    """Chat messages asking the completer to finish a solution from ``prefix`` (its steps)."""
    body = "\n\n".join(prefix)
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"{task.prompt(example)}\n\nHere is the beginning of a solution:"
                                        f"\n\n{body}\n\n{CONTINUE}"}]


@dataclass
class LabelStats:
    """Counts from one ``label_task`` run.

    Attributes:
        questions: questions labeled in this run; ``skipped``: already in the output file;
        ``failed``: questions whose model calls failed (not written; retried on the next run).
        solutions / steps: records and steps written; ``positive``: steps labeled True.
        completions: completer calls made; ``policy_calls``: solution samples drawn.
        errors: one message per failed question.
    """

    questions: int = 0
    skipped: int = 0
    failed: int = 0
    solutions: int = 0
    steps: int = 0
    positive: int = 0
    completions: int = 0
    policy_calls: int = 0
    errors: list[str] = field(default_factory=list)


def done_ids(path: str | Path) -> set[str]:
    """Question ids already in a label file (a torn last line, from a crash, is cut off first).

    Raises:
        DataFormatError: a complete line that is not a valid record.
    """
    import json

    path = Path(path)
    if not path.is_file():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        path.write_bytes(data)
    ids = set()
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(str(path), n, f"not valid JSON ({exc.msg})") from None
            ids.add(str(check_record(rec, str(path), n).get("id", rec["prompt"])))
    return ids


class _Labeler:
    def __init__(self, task, policy, completer, samples, completions, soft, temperature, split, stats):
        self.task, self.policy, self.completer = task, policy, completer or policy
        self.samples, self.completions, self.soft = samples, completions, soft
        self.temperature, self.split, self.stats = temperature, split, stats

    async def _reaches_gold(self, example, prefix: list[str]) -> int:
        msgs = continuation_messages(self.task, example, prefix)
        outs = await asyncio.gather(*(self.completer.acomplete(msgs, sample_index=j, temperature=self.temperature)
                                      for j in range(self.completions)))
        self.stats.completions += len(outs)
        return sum(self.task.score(self.task.extract(o.text, example), example) for o in outs)

    async def _label_solution(self, example, i: int) -> dict | None:
        comp = await self.policy.acomplete(solution_messages(self.task, example), sample_index=i,
                                           temperature=self.temperature)
        self.stats.policy_calls += 1
        steps = split_steps(comp.text, self.split)
        if not steps:
            return None
        answer = self.task.extract(comp.text, example)
        correct = bool(self.task.score(answer, example))
        soft: list[float] = []
        # A correct solution is itself a path from every one of its prefixes to the gold answer,
        # so its hard labels are all True without rollouts; soft labels still need the rollouts.
        if not correct or self.soft:
            for k in range(len(steps) - 1):
                frac = (await self._reaches_gold(example, steps[: k + 1])) / self.completions
                soft.append(frac)
                if frac == 0.0 and not correct:
                    break
        if len(soft) == len(steps) - 1 and (correct or not soft or soft[-1] > 0):
            soft.append(1.0 if correct else 0.0)
        soft += [0.0] * (len(steps) - len(soft))
        labels = [True] * len(steps) if correct else [s > 0 for s in soft]
        rec = {"id": example.id, "sample": i, "prompt": example.question, "completions": steps,
               "labels": labels, "answer": answer, "correct": correct}
        if self.soft:
            rec["soft_labels"] = soft
        return rec

    async def label_example(self, example) -> list[dict]:
        """Records for the ``samples`` solutions of one example (solutions with no steps dropped)."""
        recs = await asyncio.gather(*(self._label_solution(example, i) for i in range(self.samples)))
        return [r for r in recs if r is not None]


async def alabel_task(task, policy, out: str | Path, *, samples: int = 4, completions: int = 4,
                      soft: bool = False, temperature: float = 0.7, concurrency: int = 4,
                      completer=None, split: SplitMode = "auto",
                      on_question: Callable[[LabelStats], None] | None = None) -> LabelStats:
    """Label every example of ``task`` (async); see the module docstring for the method.

    Args:
        task: a ``Task`` (``load_task("gsm8k", limit=N)``); its examples need gold answers.
        policy: the ``LLM`` that writes solutions (and completes them, unless ``completer``).
        out: JSONL file to append to (created with its folder); questions whose ``id`` is
            already there are skipped.
        samples: solutions per question (S, default 4). completions: rollouts per step (C, default 4).
        soft: also write ``soft_labels`` (fraction of rollouts reaching the gold).
        temperature: sampling temperature of solutions and rollouts (default 0.7).
        concurrency: questions in flight (the LLM's own limit still caps calls in flight).
        completer: a different ``LLM`` for the rollouts (Math-Shepherd's "completer").
        split: ``split_steps`` mode (default ``"auto"``).
        on_question: called after each question finishes, skipped or failed, with the stats.

    Returns:
        ``LabelStats`` for this run.

    Raises:
        UserError: ``samples``, ``completions`` or ``concurrency`` below 1.
        DataFormatError: ``out`` exists and holds a malformed line.
    """
    if min(samples, completions, concurrency) < 1:
        raise UserError(f"samples, completions and concurrency must be >= 1, got {samples}, {completions}, "
                        f"{concurrency}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stats = LabelStats()
    done = done_ids(out)
    labeler = _Labeler(task, policy, completer, samples, completions, soft, temperature, split, stats)
    gate = asyncio.Semaphore(concurrency)

    async def one(example) -> None:
        if example.id in done:
            stats.skipped += 1
        else:
            async with gate:
                try:
                    recs = await labeler.label_example(example)
                except ModelError as exc:
                    stats.failed += 1
                    stats.errors.append(f"{example.id}: {exc}")
                    log.warning("labeling %s failed: %s", example.id, exc)
                    recs = None
            if recs is not None:
                append_records(out, recs)
                done.add(example.id)
                stats.questions += 1
                stats.solutions += len(recs)
                stats.steps += sum(len(r["labels"]) for r in recs)
                stats.positive += sum(sum(r["labels"]) for r in recs)
        if on_question is not None:
            on_question(stats)

    await asyncio.gather(*(one(ex) for ex in task.examples))
    return stats


def label_task(task, policy, out: str | Path, **kwargs) -> LabelStats:
    """Synchronous ``alabel_task`` (same arguments and errors; not inside a running loop)."""
    return asyncio.run(alabel_task(task, policy, out, **kwargs))
