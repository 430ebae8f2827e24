"""Numbers in model text: parse them tolerantly, compare them, print them canonically.

Tolerated: thousands commas (``1,000``), ``$`` and ``\\$``, units and words around the number
(``18 dollars``, ``5 hours``), a trailing period, negative numbers (``-5``, ``−5``), decimals
(``10.00`` equals ``10``), percent signs (``25%`` -> 25), simple fractions (``\\frac{1}{2}``,
``3/4`` as a whole answer -> 0.5, 0.75).
"""

from __future__ import annotations

import math
import re

from agentforge.tasks.extraction import strip_latex

# A number: thousands-grouped (1,000 / 1,000.5) or plain (1000 / 10.00). A minus sign counts
# only when it does not follow a word character or a closing bracket ("10-12" is two numbers).
_NUM = r"(?:(?<![\w)\]])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_NUMBER = re.compile(_NUM)
_FRAC = re.compile(r"\\frac\s*\{\s*(-?[\d.,]+)\s*\}\s*\{\s*(-?[\d.,]+)\s*\}")
_MIXED = re.compile(r"(?<![\w.])(-?\d+)\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_SLASH = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")

REL_TOL = 1e-6
"""Relative tolerance of :func:`numbers_equal`."""
ABS_TOL = 1e-6
"""Absolute tolerance of :func:`numbers_equal`."""


def _to_float(token: str) -> float | None:
    try:
        return float(token.replace(",", "").replace(" ", ""))
    except ValueError:
        return None


def _divide(num: str, den: str) -> str:
    a, b = _to_float(num), _to_float(den)
    if a is None or not b:
        return f"{num}/{den}"
    return format(a / b, ".12f")


def _mixed(whole: str, num: str, den: str) -> str:
    """``2\\frac{1}{2}`` is the mixed number 2.5 (not 2 followed by 0.5)."""
    if not int(den):
        return f"{whole}\\frac{{{num}}}{{{den}}}"
    part = int(num) / int(den)
    return format(int(whole) - part if whole.startswith("-") else int(whole) + part, ".12f")


def _prepare(span: str) -> str:
    """Strip LaTeX, unify minus signs, and evaluate ``\\frac{a}{b}`` with numeric a and b."""
    out = strip_latex(span).replace("\u2212", "-").replace("\u2013", "-")
    out = _MIXED.sub(lambda m: _mixed(m.group(1), m.group(2), m.group(3)), out)
    return _FRAC.sub(lambda m: _divide(m.group(1), m.group(2)), out)


def numbers_in(text: str) -> list[float]:
    """Return every number in ``text`` as a float, in order (``"1,000 and -2.5"`` -> [1000, -2.5]).

    ``\\frac{a}{b}`` with numeric parts counts as one number, a/b. Returns ``[]`` if none.
    """
    values = (_to_float(m.group(0)) for m in _NUMBER.finditer(_prepare(text)))
    return [v for v in values if v is not None and math.isfinite(v)]


def parse_number(span: str) -> float | None:
    """Parse the number an answer span states, or return ``None``.

    ``span`` is a short answer such as ``"$1,000"``, ``"18 \\text{ dollars}"``, ``"-5."``,
    ``"\\frac{1}{2}"``, ``"3/4"``, ``"2 \\times 9 = 18"``. When the span holds an equation the
    part after the last ``=`` is used; then the first number there is the answer. A span that
    is exactly a fraction ``a/b`` gives a/b.
    """
    prepared = _prepare(span)
    if "=" in prepared:
        after = prepared.rsplit("=", 1)[1]
        if _NUMBER.search(after):
            prepared = after
    slash = _SLASH.match(prepared.replace("%", ""))
    if slash:
        a, b = _to_float(slash.group(1)), _to_float(slash.group(2))
        if a is not None and b:
            return a / b
    match = _NUMBER.search(prepared)
    if match is None:
        return None
    value = _to_float(match.group(0))
    return value if value is not None and math.isfinite(value) else None


def last_number(text: str) -> float | None:
    """Return the last number anywhere in ``text`` (the usual fallback), or ``None``."""
    values = numbers_in(text)
    return values[-1] if values else None


def format_number(value: float) -> str:
    """Canonical string for a number: integers without a decimal point (``10.0`` -> ``"10"``),
    others rounded to 6 decimals with trailing zeros dropped (``1/3`` -> ``"0.333333"``)."""
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def numbers_equal(a: float, b: float) -> bool:
    """True when ``a`` and ``b`` agree within :data:`REL_TOL` / :data:`ABS_TOL`."""
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
