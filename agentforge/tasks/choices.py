"""Multiple-choice answers written as option letters: ``(A)``, ``B``, ``Option (C)``.

Questions list their options as lines ``(A) text`` after an ``Options:`` line (the BIG-Bench
Hard format). Answers may name the letter or repeat an option's text; both map to the letter.
"""

from __future__ import annotations

import re

from agentforge.tasks.extraction import normalize_text, strip_latex

_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.*?)\s*$", re.MULTILINE)
_LEAD = r"^[\s*\"'`\[]*(?:(?:the\s+)?(?:option|choice)\s*)?"
_PAREN_LETTER = re.compile(_LEAD + r"\(([A-Za-z])\)", re.IGNORECASE)
_BARE_LETTER = re.compile(_LEAD + r"([A-Z])(?=$|[\s.,:;!)*\"'`\]])", re.IGNORECASE)
_ANY_PAREN_LETTER = re.compile(r"\(([A-Z])\)")


def parse_options(question: str) -> dict[str, str]:
    """Return ``{letter: option text}`` for the ``(X) text`` lines of ``question``, in order.

    Only lines after an ``Options:`` line count when there is one. Returns ``{}`` for a
    question without options.
    """
    _, marker, after = question.rpartition("Options:")
    body = after if marker else question
    return {m.group(1): m.group(2) for m in _OPTION_LINE.finditer(body)}


def option_letter(answer: str, options: dict[str, str] | None = None) -> str | None:
    """Return the upper-case option letter that ``answer`` names, or ``None``.

    Accepted: ``"(B)"``, ``"(b) because..."``, ``"B"``, ``"B."``, ``"Option C"``, ``"**(D)**"``.
    A bare letter must be upper case (so the article "a" is not option A), unless preceded by
    "option". With ``options`` given, a letter outside them is rejected and an answer equal to
    an option's text (after :func:`normalize_text`) maps to that option's letter.
    """
    span = strip_latex(answer).strip()
    match = _PAREN_LETTER.match(span)
    if match is None:
        bare = _BARE_LETTER.match(span)
        by_option = bare is not None and re.search(r"option|choice", bare.group(0), re.IGNORECASE)
        if bare is not None and (bare.group(1).isupper() or by_option):
            match = bare
    if match is not None:
        letter = match.group(1).upper()
        return letter if not options or letter in options else None
    if options:
        text = normalize_text(span)
        for letter, option in options.items():
            if text and normalize_text(option) == text:
                return letter
    return None


def last_option_mention(text: str, options: dict[str, str] | None = None) -> str | None:
    """Return the letter of the last ``(X)`` in ``text`` (restricted to ``options`` when
    given), or ``None``. A fallback for outputs without an answer phrase."""
    letters = [m.group(1) for m in _ANY_PAREN_LETTER.finditer(text)]
    if options:
        letters = [x for x in letters if x in options]
    return letters[-1] if letters else None
