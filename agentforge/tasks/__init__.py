"""Tasks and datasets: examples with gold answers, answer extraction, normalization, scoring.

>>> from agentforge.tasks import load_task
>>> task = load_task("gsm8k", limit=20)
>>> ex = task.examples[0]
>>> task.prompt(ex)                     # question + answer-format instruction
>>> task.extract("... so \\\\boxed{72}")   # -> "72"
>>> task.score("72", ex)                # -> True

Bundled data (public splits only): GSM8K train (``data/gsm8k``), all 27 BIG-Bench Hard
subtasks with their 3-shot CoT prompts (``data/bbh``), and HumanEval (``data/humaneval``, its
one split; a program task: ``task.answer_type == "program"``, scored by hidden tests in the
sandbox, with the docstring examples as ``task.visible_tests(ex)``).
"""

from __future__ import annotations

from pathlib import Path

from agentforge.core.errors import UnknownNameError, UserError
from agentforge.tasks.base import Example, Task
from agentforge.tasks.bbh import SUBTASKS as BBH_SUBTASKS
from agentforge.tasks.bbh import BBHTask, load_bbh
from agentforge.tasks.gsm8k import GSM8KTask, load_gsm8k
from agentforge.tasks.humaneval import HumanEvalTask, load_humaneval
from agentforge.tasks.metrics import pass_at_k

TASK_NAMES: list[str] = ["gsm8k", "bbh", *(f"bbh/{sub}" for sub in BBH_SUBTASKS), "humaneval"]
"""Every name :func:`load_task` accepts."""

__all__ = [
    "BBH_SUBTASKS",
    "BBHTask",
    "Example",
    "GSM8KTask",
    "HumanEvalTask",
    "TASK_NAMES",
    "Task",
    "load_bbh",
    "load_gsm8k",
    "load_humaneval",
    "load_task",
    "pass_at_k",
]


def load_task(
    name: str, data: str | Path | None = None, limit: int | None = None, offset: int = 0
) -> Task:
    """Load a task by name.

    Args:
        name: one of :data:`TASK_NAMES`: ``"gsm8k"``, ``"bbh"`` (all 27 subtasks, interleaved
            round-robin), ``"bbh/<subtask>"`` or ``"humaneval"``.
        data: where the data lives instead of the bundled copy. ``gsm8k``: a JSONL file (or a
            folder holding ``train.jsonl``); ``bbh``: a folder of ``<subtask>.json`` files;
            ``bbh/<subtask>``: that folder or the subtask's ``.json`` file; ``humaneval``: a
            ``.jsonl`` / ``.jsonl.gz`` file or a folder holding ``HumanEval.jsonl.gz`` (the
            bundled copy's checksum is verified; another file's is not).
        limit: keep at most this many examples (after ``offset``); ``None`` keeps all.
        offset: skip this many examples first. Example ids come from the file, so they do not
            change with ``limit`` / ``offset``.

    Returns:
        A :class:`Task` (:class:`GSM8KTask`, :class:`BBHTask` or :class:`HumanEvalTask`).

    Raises:
        UnknownNameError: for a name not in :data:`TASK_NAMES` (the message lists them).
        UserError: if ``data`` does not exist (the message names the path), or ``limit`` /
            ``offset`` is negative.
        DataFormatError: for a malformed data file (naming the file and, for JSONL, the line),
            or a bundled HumanEval file whose checksum does not match.
    """
    if name not in TASK_NAMES:
        raise UnknownNameError("task", name, TASK_NAMES)
    if data is not None and not Path(data).exists():
        raise UserError(f"data path {str(data)!r} for task {name!r} does not exist")
    if offset < 0 or (limit is not None and limit < 0):
        raise UserError(f"limit and offset must be >= 0, got limit={limit}, offset={offset}")
    if name == "gsm8k":
        task: Task = load_gsm8k(data, name=name)
    elif name == "humaneval":
        task = load_humaneval(data, name=name)
    elif name == "bbh":
        task = load_bbh(data, name=name)
    else:
        task = load_bbh(data, subtasks=[name.removeprefix("bbh/")], name=name)
    return task.select(limit=limit, offset=offset)
