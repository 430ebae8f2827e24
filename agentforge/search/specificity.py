"""Screening GEPA's instruction rewrites before they are tested: problem-specific advice and
rewrites that repeat the current instruction.

GEPA's reflection (Agrawal et al. 2025, "GEPA: Reflective Prompt Evolution Can Outperform
Reinforcement Learning") shows the meta model a minibatch of trajectories and asks for a better
*general* instruction. Small meta models often answer with advice about one of the problems
shown: the 1.5B wrote "The input to this function is a string containing multiple groups of
nested parentheses..." (HumanEval 1's docstring) and "initialize the `longest_string` variable"
(HumanEval 12), the 0.5B "Tobias needs to save up his money each month" (a GSM8K question). Such
a rewrite cannot help on other problems, and testing it costs a minibatch of calls, so
``GEPAOptimizer`` rejects it before paying for them (``reject_specific``, default on).

A rewrite is *problem-specific* when it copies, from a problem it was shown, and not from the
text it was allowed to build on (the current instruction, the task's answer format):

* a run of ``min_run`` or more consecutive words (default 8);
* a proper name: a capitalized word of the problem that never appears in lower case in the
  problem, the rewrite or the allowed text and is neither a common function word nor a Python
  name (``None``, ``List``) ("Tobias", "Natalia");
* a compound identifier (``snake_case`` or ``camelCase``, two parts or more) whose parts are all
  words of the problem, a plural standing for its singular (``longest_string`` from "return the
  longest one" and "list of strings"; ``separate_paren_groups``);
* two or more distinct content phrases: pairs of adjacent words of the problem, neither a function
  word nor shorter than 3 letters ("cheddar cheese" and "cold cuts": the 0.5B's "check the cost of
  the cheddar cheese and the cold cuts", which GEPA with the 0.5B proposing returned as its best
  instruction). One shared phrase ("total cost") passes: general advice can name one.

The check is a heuristic with no model call; it looks only at surface copies, so general advice
that happens to mention the task's vocabulary ("a list of integers") passes.

The 1.5B also often returns the current instruction itself (4 of 12 rewrites in one GSM8K run,
sometimes wrapped in ``<instruction>`` tags or without its final period); ``same_instruction``
catches those, whose test can only tie.
"""

from __future__ import annotations

import builtins
import keyword
import re
import typing
from collections.abc import Sequence

__all__ = ["same_instruction", "specific_copy"]

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_FUNCTION_WORDS = frozenset("""
a an the and or but if then else when while where what which who whom whose why how this that these
those there here it its is are was were be been being do does did done has have had having not no
yes of in on at by for from to with without into onto over under after before about above below
each every all any some many much more most few less least one two three first second last next
also only just then than so such very can could may might must shall should will would you your
we our they their he his she her i my me us them note make use write return given let suppose
assume find compute calculate answer question problem solution step steps example examples input
output list string number numbers function check consider create implement always never sure remember
""".split())
_CODE_NAMES = frozenset([*keyword.kwlist, *dir(builtins), *typing.__all__])


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _runs(words: list[str], n: int) -> list[tuple[str, ...]]:
    low = [w.lower() for w in words]
    return [tuple(low[i:i + n]) for i in range(len(low) - n + 1)]


def _proper_names(problem: str, lower_seen: set[str]) -> set[str]:
    names = set()
    for w in _words(problem):
        if (w[0].isupper() and len(w) >= 3 and not w.isupper() and w.lower() not in _FUNCTION_WORDS
                and w.lower() not in lower_seen and w not in _CODE_NAMES):
            names.add(w)
    return names


def _compound(word: str) -> list[str] | None:
    parts = [p.lower() for p in (word.split("_") if "_" in word else _PARTS.findall(word))]
    parts = [p for p in parts if p]
    if len(parts) < 2 or ("_" not in word and word == word.lower()):
        return None
    return parts


def _phrases(words: list[str]) -> set[tuple[str, str]]:
    low = [w.lower() for w in words]
    return {(a, b) for a, b in zip(low, low[1:]) if a != b and all(
        len(w) >= 3 and w.isalpha() and w not in _FUNCTION_WORDS for w in (a, b))}


def specific_copy(instruction: str, problems: Sequence[str], *, allowed: str = "", min_run: int = 8) -> str | None:
    """The first piece of ``instruction`` copied from one of ``problems``, or None when it has none.

    Args:
        instruction: the proposed instruction (any length).
        problems: the problem texts the meta model was shown (questions, HumanEval prompts).
        allowed: text the rewrite may copy from freely (the current instruction, the task's answer
            format); its word runs, names and identifiers never count.
        min_run: shortest shared run of words that counts (default 8; at least 2).

    Returns:
        A short description of the copied piece (``'run "input to this function is ..."'``,
        ``'name "Tobias"'``, ``'identifier "longest_string"'``, ``'phrases "cheddar cheese", "cold
        cuts"'``), or None.

    Raises:
        ValueError: ``min_run`` below 2.
    """
    if min_run < 2:
        raise ValueError(f"min_run must be >= 2, got {min_run}")
    ins_words, allowed_words = _words(instruction), _words(allowed)
    allowed_runs, allowed_low = set(_runs(allowed_words, min_run)), {w.lower() for w in allowed_words}
    ins_runs, ins_set = _runs(ins_words, min_run), set(ins_words)
    ins_phrases = _phrases(ins_words) - _phrases(allowed_words)
    for problem in problems:
        words = _words(problem)
        problem_runs = set(_runs(words, min_run)) - allowed_runs
        shared = [run for run in ins_runs if run in problem_runs]
        if shared:
            return f'run "{" ".join(shared[0])}"'
        lower_seen = {w for w in words + ins_words + allowed_words if w == w.lower()}
        names = sorted(_proper_names(problem, lower_seen) & ins_set - {w for w in allowed_words})
        if names:
            return f'name "{names[0]}"'
        vocab = {w.lower() for w in words} | {p for w in words for p in (_compound(w) or [])}
        for w in ins_words:
            parts = _compound(w)
            if parts and w.lower() not in allowed_low and all(p in vocab or f"{p}s" in vocab for p in parts):
                return f'identifier "{w}"'
        phrases = sorted(ins_phrases & _phrases(words))
        if len(phrases) >= 2:
            return "phrases " + ", ".join(f'"{a} {b}"' for a, b in phrases[:2])
    return None


def same_instruction(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same instruction up to case, punctuation, whitespace and
    ``<instruction>`` tags (a rewrite that changes nothing the model reads)."""
    def norm(text: str) -> list[str]:
        return [w.lower() for w in _words(re.sub(r"</?instruction>", " ", text))]
    return norm(a) == norm(b)
