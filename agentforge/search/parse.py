"""Robust parsing of meta-model output. Every failure is a ``MalformedOutputError`` with a reason
(the optimizer counts it as a failed proposal and logs the reason); nothing here executes text."""

from __future__ import annotations

import json
import re
from typing import Any

from agentforge.core.errors import MalformedOutputError

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n(.*?)```", re.DOTALL)


def extract_tagged(text: str, tag: str) -> str | None:
    """The content of the last ``<tag>...</tag>`` (case-insensitive), stripped; None if absent."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL | re.IGNORECASE)
    if found:
        return found[-1].strip()
    opened = re.split(rf"<{tag}>", text, flags=re.IGNORECASE)  # an unclosed tag: take what follows
    return opened[-1].strip() if len(opened) > 1 else None


def extract_instruction(text: str, max_chars: int = 1500, tag: str = "instruction") -> str:
    """An instruction from meta-model output.

    Looks for ``<instruction>...</instruction>``, then a fenced block, then an ``Instruction:``
    line (and what follows), then takes a short reply whole.

    Raises:
        MalformedOutputError: nothing usable (empty, or longer than ``max_chars``).
    """
    if not text or not text.strip():
        raise MalformedOutputError("empty reply")
    found, source = extract_tagged(text, tag), f"inside <{tag}>"
    if found is not None and not re.search(rf"</{tag}>", text, flags=re.IGNORECASE):
        source = f"after an unclosed <{tag}>"
    if found is None:
        fences = _FENCE.findall(text)
        if fences:
            found, source = fences[-1].strip(), "in the fenced block"
    if found is None:
        m = re.search(r"(?im)^\s*(?:new\s+)?instruction\s*:\s*(.+)", text, flags=re.DOTALL)
        if m:
            found, source = m.group(1).strip(), "after 'Instruction:'"
    if found is None:
        found, source = text.strip(), f"(the whole reply: no <{tag}> tags)"
    found = found.strip().strip('"').strip()
    if not found:
        raise MalformedOutputError("the instruction is empty")
    if len(found) > max_chars:
        raise MalformedOutputError(f"the instruction {source} is {len(found)} characters (limit {max_chars})")
    return found


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object found in ``text`` (fenced blocks first, then raw text).

    Raw newlines and tabs inside strings are accepted (``strict=False``): small models often
    break a long ``"reason"`` into paragraphs, and the object is otherwise well formed."""
    decoder = json.JSONDecoder(strict=False)
    out: list[dict[str, Any]] = []
    for chunk in [*_FENCE.findall(text), text]:
        i = 0
        while (i := chunk.find("{", i)) != -1:
            try:
                obj, end = decoder.raw_decode(chunk, i)
            except json.JSONDecodeError:
                i += 1
                continue
            if isinstance(obj, dict):
                out.append(obj)
            i = end
    return out


def extract_json_object(text: str, want: tuple[str, ...] = ()) -> dict[str, Any]:
    """The first JSON object in ``text`` holding any of the keys ``want`` (any object if empty).

    Raises:
        MalformedOutputError: no JSON object (or none with those keys); the reason says which.
    """
    if not text or not text.strip():
        raise MalformedOutputError("empty reply")
    objs = json_objects(text)
    if not objs:
        raise MalformedOutputError("no JSON object found in the reply")
    for obj in objs:
        if not want or any(k in obj for k in want):
            return obj
    raise MalformedOutputError(f"no JSON object with any of the keys {list(want)} in the reply")
