"""GSM8K: grade-school math word problems with a numeric final answer.

Data format (JSONL, one problem a line): ``{"question": str, "answer": str}`` where ``answer``
is a worked solution ending with ``#### <final answer>``. The bundled file is the public train
split (7,473 rows, MIT, openai/grade-school-math); the test split is deliberately not bundled.
"""

from __future__ import annotations

import re
from pathlib import Path

from agentforge.core.errors import DataFormatError
from agentforge.tasks.base import Example, Task
from agentforge.tasks.extraction import answer_phrases, boxed_spans, hash_answer, normalize_text
from agentforge.tasks.jsonl import iter_jsonl
from agentforge.tasks.numeric import format_number, last_number, numbers_equal, parse_number

DEFAULT_PATH = Path(__file__).parent / "data" / "gsm8k" / "train.jsonl"
"""The bundled GSM8K train split."""

_SENTENCE_END = re.compile(r"\.\s")


class GSM8KTask(Task):
    """GSM8K with tolerant numeric answer extraction and float scoring.

    ``extract`` looks, in this order, at: the last ``\\boxed{...}`` holding a number, the last
    ``#### ...`` line, the last ``Answer: ...`` / ``the answer is ...``, and finally the last
    number anywhere in the text. It returns the number in :func:`format_number` form
    (``"$1,000.00"`` -> ``"1000"``, ``"\\frac{1}{2}"`` -> ``"0.5"``) or ``None``.
    ``score`` compares numbers with a small tolerance (see :mod:`agentforge.tasks.numeric`).
    """

    default_instructions = "Solve the problem step by step. Finish with a line 'Answer: <number>'."
    persona = "You are a careful, precise problem solver. Reason step by step and check your arithmetic."

    def extract(self, text: str, example: Example | None = None) -> str | None:
        """Return the final number stated in ``text`` as a canonical string, or ``None``."""
        candidates = [*reversed(boxed_spans(text))]
        hashed = hash_answer(text)
        if hashed is not None:
            candidates.append(hashed)
        # "Answer: 18. She earns 9 x 2 = 18" -> only the first sentence of an answer phrase counts.
        candidates.extend(_SENTENCE_END.split(p, 1)[0] for p in reversed(answer_phrases(text)))
        for span in candidates:
            value = parse_number(span)
            if value is not None:
                return format_number(value)
        value = last_number(text)
        return None if value is None else format_number(value)

    def normalize(self, answer: str, example: Example | None = None) -> str:
        """Canonical number string: ``"1,080"`` -> ``"1080"``, ``"10.00"`` -> ``"10"``.

        An answer without a number falls back to normalized text.
        """
        value = parse_number(answer)
        return format_number(value) if value is not None else normalize_text(answer)

    def score(self, prediction: str | None, example: Example) -> bool:
        """True when ``prediction`` and ``example.gold`` are numerically equal (tolerance
        1e-6 relative / absolute); ``None`` or a non-number scores False."""
        if prediction is None:
            return False
        predicted, gold = parse_number(prediction), parse_number(example.gold)
        return predicted is not None and gold is not None and numbers_equal(predicted, gold)


def load_gsm8k(path: str | Path | None = None, name: str = "gsm8k") -> GSM8KTask:
    """Load GSM8K-format JSONL into a :class:`GSM8KTask`.

    Args:
        path: a JSONL file, or a folder holding ``train.jsonl``; defaults to the bundled
            train split (:data:`DEFAULT_PATH`).
        name: the task name to report.

    Example ids are ``f"{file stem}-{0-based line index}"`` (``"train-0"``), ``gold`` is the text
    after ``#### `` (e.g. ``"1,080"``), and ``meta["solution"]`` the worked solution before it.

    Raises:
        UserError: if the path does not exist.
        DataFormatError: naming the 1-based line, for invalid JSON, a missing ``question`` /
            ``answer`` key, an answer without ``####``, or a final answer that is not a number;
            or naming the file when it holds no examples.
    """
    p = Path(path) if path is not None else DEFAULT_PATH
    if p.is_dir():
        p = p / "train.jsonl"
    examples: list[Example] = []
    for index, record in iter_jsonl(p, keys=("question", "answer")):
        solution, marker, final = record["answer"].rpartition("####")
        gold = final.strip()
        if not marker:
            raise DataFormatError(str(p), index + 1, "answer has no '#### <final answer>' marker")
        if parse_number(gold) is None:
            raise DataFormatError(str(p), index + 1, f"final answer {gold!r} is not a number")
        examples.append(
            Example(
                id=f"{p.stem}-{index}",
                question=record["question"],
                gold=gold,
                meta={"solution": solution.strip()},
            )
        )
    if not examples:
        raise DataFormatError(str(p), None, "no examples (the file is empty)")
    return GSM8KTask(name, examples)
