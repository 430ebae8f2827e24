"""BIG-Bench Hard: 27 reasoning tasks, multiple-choice and free-form.

Data format: one JSON file per subtask, ``{"examples": [{"input": str, "target": str}, ...]}``,
plus the 3-shot chain-of-thought prompt of each subtask in ``cot-prompts/<subtask>.txt``.
The bundled copy is suzgunmirac/BIG-Bench-Hard (MIT), unmodified.

Answer kinds (decided by the subtask, never by the gold):
``mc`` (18 subtasks, gold ``"(B)"`` -> ``"B"``), ``label`` (True/False, Yes/No, yes/no,
valid/invalid -> lower case), ``number`` (``"-110"``), ``words`` (word_sorting: lower-case
words joined by single spaces) and ``dyck`` (closing brackets joined by single spaces).
"""

from __future__ import annotations

import re
from pathlib import Path

from agentforge.core.errors import DataFormatError, UnknownNameError, UserError
from agentforge.tasks.base import Example, Task
from agentforge.tasks.choices import last_option_mention, option_letter, parse_options
from agentforge.tasks.extraction import answer_phrases, boxed_spans, normalize_text, strip_latex
from agentforge.tasks.jsonl import read_json
from agentforge.tasks.numeric import format_number, last_number, parse_number

DEFAULT_DIR = Path(__file__).parent / "data" / "bbh"
"""The bundled BIG-Bench Hard folder (``<subtask>.json`` files and ``cot-prompts/``)."""

LABELS: dict[str, tuple[str, ...]] = {
    "boolean_expressions": ("True", "False"),
    "causal_judgement": ("Yes", "No"),
    "formal_fallacies": ("valid", "invalid"),
    "navigate": ("Yes", "No"),
    "sports_understanding": ("yes", "no"),
    "web_of_lies": ("Yes", "No"),
}
"""The closed answer sets of the label subtasks."""

NUMERIC = ("multistep_arithmetic_two", "object_counting")
FREE_FORM = (*LABELS, *NUMERIC, "dyck_languages", "word_sorting")
MULTIPLE_CHOICE = (
    "date_understanding", "disambiguation_qa", "geometric_shapes", "hyperbaton",
    "logical_deduction_five_objects", "logical_deduction_seven_objects",
    "logical_deduction_three_objects", "movie_recommendation", "penguins_in_a_table",
    "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection",
    "snarks", "temporal_sequences", "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects",
)  # fmt: skip
SUBTASKS: tuple[str, ...] = tuple(sorted((*FREE_FORM, *MULTIPLE_CHOICE)))
"""All 27 BBH subtask names, sorted."""

_HINTS = {
    "number": "an integer",
    "words": "the words in alphabetical order, separated by single spaces",
    "dyck": "the closing brackets that complete the sequence, separated by spaces",
}
MC_INSTRUCTIONS = (
    "Think step by step, then finish with 'So the answer is (X).' where (X) is the letter "
    "of the correct option, e.g. 'So the answer is (B).'"
)
GENERIC_INSTRUCTIONS = (
    "Think step by step, then finish with 'So the answer is <answer>.' When the question "
    "lists options, give the option letter in parentheses, e.g. 'So the answer is (B).'"
)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_DYCK_CHARS = set("()[]{}<>")
_LETTER_LIKE = re.compile(r"^\W*\(?[a-z]\)?(?:\W|$)", re.IGNORECASE)


def answer_kind(subtask: str | None) -> str:
    """Return ``"mc"``, ``"label"``, ``"number"``, ``"words"`` or ``"dyck"`` for a subtask;
    ``"generic"`` for ``None`` (a mixed task asked without an example)."""
    if subtask is None:
        return "generic"
    if subtask in LABELS:
        return "label"
    if subtask in NUMERIC:
        return "number"
    return {"word_sorting": "words", "dyck_languages": "dyck"}.get(subtask, "mc")


def instructions_for_subtask(subtask: str | None) -> str:
    """The answer-format instruction for one subtask (generic when ``subtask`` is None)."""
    kind = answer_kind(subtask)
    if kind == "mc":
        return MC_INSTRUCTIONS
    if kind == "generic":
        return GENERIC_INSTRUCTIONS
    hint = " or ".join(LABELS[subtask]) if kind == "label" else _HINTS[kind]  # type: ignore[index]
    return (
        "Think step by step, then finish with 'So the answer is <answer>.' "
        f"where <answer> is {hint}."
    )


class BBHTask(Task):
    """One BBH subtask (``subtask`` set) or several mixed (``subtask`` None).

    Args:
        name: ``"bbh"`` or ``"bbh/<subtask>"``.
        examples: examples with ``meta["subtask"]`` set.
        subtask: the subtask when the task holds exactly one, else ``None``.
        fewshot: ``{subtask: 3-shot CoT prompt text}`` (canary header removed); may be empty.

    Extraction order: the last ``\\boxed{...}`` (except for dyck, whose braces clash), then the
    last ``answer is ...`` / ``Answer: ...``, then a fallback (last ``(X)`` option, last label
    word, or last number). Everything returned is in :meth:`normalize` form.
    """

    def __init__(self, name: str, examples: list[Example], subtask: str | None = None,
                 fewshot: dict[str, str] | None = None):  # fmt: skip
        super().__init__(name, examples, instructions_for_subtask(subtask))
        self.subtask = subtask
        self.fewshot: dict[str, str] = dict(fewshot or {})

    def _subtask(self, example: Example | None) -> str | None:
        return example.meta.get("subtask", self.subtask) if example is not None else self.subtask

    def instructions_for(self, example: Example) -> str:
        """The instruction for ``example``'s subtask (MC or the free-form answer format)."""
        return instructions_for_subtask(self._subtask(example))

    def fewshot_for(self, example: Example) -> str:
        """The 3-shot CoT prompt of ``example``'s own subtask, as text ("" when none was loaded),
        so a mixed ``bbh`` task never puts other subtasks' shots in a prompt."""
        return self.fewshot.get(self._subtask(example) or "", "")

    def fewshot_prompt(self, example: Example) -> str:
        """The standard BBH CoT prompt: the subtask's 3 shots, then ``Q: <question>`` and
        ``A: Let's think step by step.``

        Raises:
            UserError: if no few-shot prompt was loaded for the example's subtask.
        """
        sub = self._subtask(example)
        if sub not in self.fewshot:
            raise UserError(f"task {self.name!r} has no few-shot prompt for subtask {sub!r}")
        return f"{self.fewshot[sub]}\n\nQ: {example.question}\nA: Let's think step by step."

    def normalize(self, answer: str, example: Example | None = None) -> str:
        """Canonical answer for the subtask's kind: ``"(B)"`` -> ``"B"``, ``"Yes."`` -> ``"yes"``,
        ``"-110."`` -> ``"-110"``, ``")]>"`` -> ``") ] >"``, ``"Apple, Bee"`` -> ``"apple bee"``.
        An MC answer that repeats an option's text maps to its letter when ``example`` is given;
        one that names no option is returned as normalized text."""
        kind = answer_kind(self._subtask(example))
        if kind in ("mc", "generic"):
            options = parse_options(example.question) if example is not None else None
            letter = option_letter(answer, options) if kind == "mc" else None
            if kind == "generic" and re.match(r"^\s*\([A-Z]\)", answer):
                letter = option_letter(answer)
            return letter or normalize_text(answer)
        if kind == "label":
            text = normalize_text(answer)
            for label in self._labels(example):
                if re.match(rf"{label.lower()}\b", text):
                    return label.lower()
            return text
        if kind == "number":
            value = parse_number(answer)
            return format_number(value) if value is not None else normalize_text(answer)
        if kind == "dyck":
            return " ".join(ch for ch in answer if ch in _DYCK_CHARS)
        words = strip_latex(answer).lower().replace(",", " ").split()
        return " ".join(w for w in (w.strip(".;:!?\"'`*") for w in words) if w)

    def extract(self, text: str, example: Example | None = None) -> str | None:
        """Return the normalized final answer in ``text``, or ``None`` (see class docstring)."""
        kind = answer_kind(self._subtask(example))
        phrases = [p for p in reversed(answer_phrases(text)) if p.strip()]
        if kind != "mc":  # "Yes, because ..." / "abc def. This is sorted." -> first sentence
            phrases = [_SENTENCE_END.split(p, 1)[0] if kind != "dyck" else p for p in phrases]
        boxes = [] if kind == "dyck" else list(reversed(boxed_spans(text)))
        texts: list[str] = []
        for span in [*boxes, *phrases]:
            inner = boxed_spans(span)  # "So the answer is \\boxed{B}."
            answer = self.normalize(inner[-1] if inner else span, example)
            if answer and (kind != "mc" or len(answer) == 1):
                return answer
            if not _LETTER_LIKE.match(answer):  # "(Z)" naming no option is no answer
                texts.append(answer)
        # An MC answer naming no option letter ("Monsters, Inc") counts only without a "(X)".
        fallback = self._fallback(text, kind, example)
        return fallback if fallback is not None else next((t for t in texts if t), None)

    def _labels(self, example: Example | None) -> list[str]:
        """The label set of a label subtask, longest first ("invalid" before "valid")."""
        return sorted(LABELS[self._subtask(example) or ""], key=len, reverse=True)

    def _fallback(self, text: str, kind: str, example: Example | None) -> str | None:
        if kind in ("mc", "generic"):
            options = parse_options(example.question) if example is not None else None
            return last_option_mention(text, options)
        if kind == "label":
            labels = "|".join(self._labels(example))
            found = re.findall(rf"\b({labels})\b", text, re.IGNORECASE)
            return found[-1].lower() if found else None
        if kind == "number":
            value = last_number(text)
            return None if value is None else format_number(value)
        return None


def _read_fewshot(folder: Path, subtask: str) -> str | None:
    """The CoT prompt of ``subtask`` under ``folder/cot-prompts``, canary header removed."""
    path = folder / "cot-prompts" / f"{subtask}.txt"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    head, sep, body = text.partition("\n-----\n")
    return (body if sep and "canary" in head.lower() else text).strip()


def _read_subtask(path: Path, subtask: str) -> list[Example]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise DataFormatError(str(path), None, "expected an object with an 'examples' list")
    examples = []
    for index, row in enumerate(data["examples"]):
        for key in ("input", "target"):
            if not isinstance(row, dict) or not isinstance(row.get(key), str):
                problem = f"examples[{index}]: missing or non-string {key!r}"
                raise DataFormatError(str(path), None, problem)
        examples.append(
            Example(id=f"{subtask}-{index}", question=row["input"], gold=row["target"],
                    meta={"subtask": subtask})  # fmt: skip
        )
    if not examples:
        raise DataFormatError(str(path), None, "no examples")
    return examples


def _interleave(groups: list[list[Example]]) -> list[Example]:
    """Round-robin merge: the first example of each group, then the second of each, and so on."""
    merged: list[Example] = []
    for i in range(max((len(g) for g in groups), default=0)):
        merged.extend(g[i] for g in groups if i < len(g))
    return merged


def load_bbh(path: str | Path | None = None, subtasks: list[str] | None = None,
             name: str | None = None) -> BBHTask:  # fmt: skip
    """Load BIG-Bench Hard subtasks into a :class:`BBHTask`.

    Args:
        path: a folder holding ``<subtask>.json`` files (and optionally ``cot-prompts/``);
            for a single subtask also the ``.json`` file itself (its few-shot prompt is then
            looked up in ``cot-prompts/`` beside it). Defaults to the bundled copy.
        subtasks: which subtasks; defaults to all 27 (:data:`SUBTASKS`).
        name: the task name to report; defaults to ``"bbh/<subtask>"`` for one subtask, else
            ``"bbh"``.

    Example ids are ``"<subtask>-<0-based index>"`` and ``meta["subtask"]`` is set. With
    several subtasks the examples are interleaved round-robin (one of each subtask, then the
    next of each), so that the first N examples cover every subtask.

    Raises:
        UnknownNameError: for a subtask not in :data:`SUBTASKS`.
        UserError: if a path or a subtask file does not exist, or a file path is given for
            several subtasks.
        DataFormatError: naming the file, for invalid JSON or a malformed example.
    """
    chosen = list(subtasks) if subtasks is not None else list(SUBTASKS)
    for sub in chosen:
        if sub not in SUBTASKS:
            raise UnknownNameError("BBH subtask", sub, SUBTASKS)
    root = Path(path) if path is not None else DEFAULT_DIR
    if not root.exists():
        raise UserError(f"BBH data path {str(root)!r} does not exist")
    if root.is_file() and len(chosen) != 1:
        raise UserError(
            f"BBH data path {str(root)!r} is a file; give a folder for several subtasks"
        )
    groups, fewshot = [], {}
    for sub in chosen:
        file = root if root.is_file() else root / f"{sub}.json"
        if not file.is_file():
            raise UserError(f"BBH data file {str(file)!r} for subtask {sub!r} does not exist")
        groups.append(_read_subtask(file, sub))
        shots = _read_fewshot(file.parent, sub)
        if shots is not None:
            fewshot[sub] = shots
    single = chosen[0] if len(chosen) == 1 else None
    default_name = f"bbh/{single}" if single else "bbh"
    return BBHTask(name or default_name, _interleave(groups), subtask=single, fewshot=fewshot)
