"""Splitting a written solution into reasoning steps.

Every judge scores *steps*, so every part of AgentForge that turns a model's answer into steps
(``Judge.score_solution``, PRM-guided search, the CLI) calls this one function, and the same text
always yields the same steps.

The conventions follow the PRM literature: the PRM800K / Math-Shepherd / Qwen2.5-Math-PRM data
separate steps by blank lines (``"\\n\\n"``), and many prompts ask models to number them
(``Step 1: ...``; Qwen writes ``## Step 1:``).
"""

from __future__ import annotations

import re
from typing import Literal

from agentforge.core.errors import UnknownNameError

SplitMode = Literal["auto", "markers", "blank_lines", "lines"]
SPLIT_MODES: tuple[str, ...] = ("auto", "markers", "blank_lines", "lines")

# "Step 3:", "Step 3.", "step 3)", "## Step 3:", "**Step 3:**" at the start of a line.
_MARKER = re.compile(r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*)?step[ \t]*\d+[ \t]*[:.)]", re.I | re.M)
_BLANK = re.compile(r"\n[ \t]*\n")


def _clean(parts: list[str]) -> list[str]:
    return [p.strip() for p in parts if p.strip()]


def _split_markers(text: str) -> list[str]:
    starts = [m.start() for m in _MARKER.finditer(text)]
    if not starts:
        return []
    bounds = starts + [len(text)]
    steps = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    preamble = text[: starts[0]]
    return _clean([preamble, *steps])


def split_steps(text: str, mode: SplitMode = "auto") -> list[str]:
    """Split a solution into steps (stripped, never empty strings).

    Modes:
        ``"markers"``: a new step starts at each line that begins with ``Step k:`` (also
            ``Step k.``, ``Step k)``, ``## Step k:``, ``**Step k:**``; case-insensitive). The
            marker stays in the step's text (PRMs saw it in training). Text before the first
            marker, if any, is a step of its own. No marker: the whole text is one step.
        ``"blank_lines"``: steps are separated by one or more blank lines.
        ``"lines"``: every non-empty line is a step.
        ``"auto"`` (default): ``markers`` if at least two markers occur; else ``blank_lines`` if
            the text has a blank line; else ``lines``.

    Args:
        text: the solution text.
        mode: one of ``SPLIT_MODES``.

    Returns:
        The steps in order; ``[]`` for empty or whitespace-only text.

    Raises:
        UnknownNameError: ``mode`` is not one of ``SPLIT_MODES``.
    """
    if mode not in SPLIT_MODES:
        raise UnknownNameError("split mode", str(mode), SPLIT_MODES)
    text = text.replace("\r\n", "\n")
    if not text.strip():
        return []
    if mode == "markers":
        return _split_markers(text) or _clean([text])
    if mode == "blank_lines":
        return _clean(_BLANK.split(text))
    if mode == "lines":
        return _clean(text.split("\n"))
    if len(_MARKER.findall(text)) >= 2:
        return _split_markers(text)
    if _BLANK.search(text.strip()):
        return _clean(_BLANK.split(text))
    return _clean(text.split("\n"))
