"""The task contract: examples with gold answers, and how to extract, normalize and score answers.

A :class:`Task` is a list of :class:`Example` plus three answer operations that every agent,
judge and search in AgentForge relies on:

- ``extract(text, example)``: the final answer a model stated in free text, normalized, or None;
- ``normalize(answer, example)``: the canonical form (equal strings = same answer; majority
  voting in self-consistency groups by it);
- ``score(prediction, example)``: whether an extracted answer matches the gold.

Two descriptive parts let agents treat tasks alike without naming them: ``answer_type`` says
whether an answer is free text (GSM8K, BBH) or a program (HumanEval), and
``visible_tests(example)`` lists the tests an agent may run on its own program (for a program
task; ``[]`` otherwise). ``score`` may use tests that stay hidden from agents.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentforge.core.errors import UserError
from agentforge.tasks.extraction import hash_answer, last_answer_phrase, last_boxed, normalize_text


class Example(BaseModel):
    """One task instance.

    Attributes:
        id: unique and stable within its task (e.g. ``"train-0"``, ``"navigate-12"``).
        question: the text shown to the model (without answer-format instructions).
        gold: the reference answer as written in the data (e.g. ``"1,080"``, ``"(B)"``).
        meta: task-specific extras, e.g. ``{"subtask": "navigate"}`` for BBH or
            ``{"solution": "..."}`` (the worked solution) for GSM8K. Defaults to ``{}``.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    gold: str
    meta: dict[str, Any] = Field(default_factory=dict)


class Task:
    """A named list of examples plus answer extraction, normalization and scoring.

    The base implementation is a usable free-text task: ``extract`` takes the last
    ``\\boxed{...}``, else the last ``#### ...``, else the last ``Answer: ...`` / ``answer is ...``;
    ``normalize`` lower-cases, collapses whitespace and strips LaTeX, quotes and end
    punctuation; ``score`` compares normalized strings. Subclasses override these three.

    Args:
        name: the registered task name, e.g. ``"gsm8k"`` or ``"bbh/navigate"``.
        examples: the examples, in file order.
        instructions: the answer-format instruction appended to each question by
            :meth:`prompt`; defaults to :attr:`default_instructions`.

    Attributes:
        answer_type: ``"text"`` (the default: ``extract`` returns a short answer such as
            ``"72"``) or ``"program"`` (``extract`` returns Python source, which ``score``
            runs in the sandbox, e.g. HumanEval).
    """

    default_instructions = "Think step by step, then finish with a line 'Answer: <answer>'."
    persona = "You are a careful, precise problem solver. Reason step by step."
    """Who the model should be for this task: ``{{ persona }}`` in the default system prompt."""
    answer_type: Literal["text", "program"] = "text"

    def __init__(self, name: str, examples: list[Example], instructions: str | None = None):
        self.name = name
        self.examples = list(examples)
        self.instructions = instructions if instructions is not None else self.default_instructions

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, examples={len(self.examples)})"

    def select(self, limit: int | None = None, offset: int = 0) -> Task:
        """Return a shallow copy holding ``examples[offset : offset + limit]``.

        ``limit=None`` keeps everything after ``offset``.

        Raises:
            UserError: if ``offset`` is negative or ``limit`` is negative.
        """
        if offset < 0:
            raise UserError(f"offset must be >= 0, got {offset}")
        if limit is not None and limit < 0:
            raise UserError(f"limit must be >= 0 or None, got {limit}")
        end = None if limit is None else offset + limit
        clone = copy.copy(self)
        clone.examples = self.examples[offset:end]
        return clone

    def example(self, example_id: str) -> Example:
        """Return the example with id ``example_id``.

        Raises:
            UserError: if no example has that id.
        """
        for ex in self.examples:
            if ex.id == example_id:
                return ex
        raise UserError(f"task {self.name!r} has no example with id {example_id!r}")

    def instructions_for(self, example: Example) -> str:
        """The answer-format instruction for ``example`` (``self.instructions`` unless a task
        varies it per example, as BBH does for multiple-choice versus free-form subtasks)."""
        return self.instructions

    def fewshot_for(self, example: Example) -> str:
        """Worked examples to show before ``example`` (``{{ fewshot }}`` in prompts), as plain
        text; "" when the task has none (the base task). BBH gives each example its own
        subtask's 3-shot chain-of-thought prompt."""
        return ""

    def visible_tests(self, example: Example) -> list[str]:
        """Tests an agent may see and run on its answer to ``example``: Python statements
        (``"assert f(1) == 2"``) to run after the answer program. The base task has none
        (``[]``); program tasks override this. Hidden scoring tests are never listed here."""
        return []

    def prompt(self, example: Example) -> str:
        """The user prompt: ``example.question``, a blank line, then :meth:`instructions_for`."""
        return f"{example.question}\n\n{self.instructions_for(example)}"

    def extract(self, text: str, example: Example | None = None) -> str | None:
        """Return the normalized final answer stated in model output ``text``, or ``None``.

        ``example`` lets a task use per-example context (e.g. the options of a question);
        it is never used to peek at the gold.
        """
        for finder in (last_boxed, hash_answer, last_answer_phrase):
            span = finder(text)
            if span is not None and span.strip():
                answer = self.normalize(span, example)
                if answer:
                    return answer
        return None

    def normalize(self, answer: str, example: Example | None = None) -> str:
        """Return the canonical form of ``answer``.

        The base form is :func:`~agentforge.tasks.extraction.normalize_text`.
        """
        return normalize_text(answer)

    def score(self, prediction: str | None, example: Example) -> bool:
        """True when ``prediction`` (an extracted answer; ``None`` scores False) equals the gold
        after normalization."""
        if prediction is None:
            return False
        return self.normalize(prediction, example) == self.normalize(example.gold, example)

    def check(self, text: str, example: Example) -> bool:
        """Extract from raw model output and score it.

        Same as ``score(extract(text, example), example)``.
        """
        return self.score(self.extract(text, example), example)
