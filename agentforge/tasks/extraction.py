"""Task-independent helpers that find the final-answer span (or the program) in model text.

Models state their final answer in a few recurring ways: ``\\boxed{...}`` (the Qwen models do
this far more often than anything they were asked for), an ``Answer: ...`` line, ``#### ...``
(the GSM8K solution format), or a sentence ``The answer is ...``. These helpers return the raw
span; the task decides how to parse and normalize it. Code answers come in fenced blocks
(```` ```python ````), sometimes unfenced or cut off: :func:`extract_code` finds the program.
"""

from __future__ import annotations

import ast
import re
import textwrap

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# "Answer: x", "**Final Answer:** x", "the answer is x", "answer = x"; the word "answer" alone
# (as in "to answer this") does not count.
_ANSWER = re.compile(r"answer\s*(?:\*\*)?\s*(?:\bis\b\s*:?|:|=)\s*(?:\*\*)?", re.IGNORECASE)
_HASHES = re.compile(r"^\s*####\s*", re.MULTILINE)
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|operatorname)\s*\{([^{}]*)\}")
_END_CHARS = " \t\r\n.,;:!?\"'`*_"


def boxed_spans(text: str) -> list[str]:
    """Return the contents of every ``\\boxed{...}`` / ``\\fbox{...}`` in ``text``, in order.

    Nested braces are matched (``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``). An unclosed
    box contributes everything after its opening brace. Returns ``[]`` when there is none.
    """
    spans: list[str] = []
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        i = start
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        spans.append(text[start : i - 1] if depth == 0 else text[start:])
    return spans


def last_boxed(text: str) -> str | None:
    """Return the content of the last ``\\boxed{...}`` in ``text``, or ``None`` if there is none."""
    spans = boxed_spans(text)
    return spans[-1] if spans else None


def _rest_of_line(text: str, start: int) -> str:
    """The text from ``start`` to the end of its line; the next non-empty line if that is blank."""
    rest = text[start:]
    line, _, after = rest.partition("\n")
    if line.strip():
        return line
    for nxt in after.split("\n"):
        if nxt.strip():
            return nxt
    return ""


def answer_phrases(text: str) -> list[str]:
    """Return what follows each ``Answer:`` / ``answer is`` / ``answer =`` marker, in order.

    Each entry runs to the end of the marker's line (or is the next non-empty line when the
    marker ends its line). Matching is case-insensitive. Returns ``[]`` when there is none.
    """
    return [_rest_of_line(text, m.end()) for m in _ANSWER.finditer(text)]


def last_answer_phrase(text: str) -> str | None:
    """Return the last non-empty :func:`answer_phrases` entry, or ``None``."""
    phrases = [p for p in answer_phrases(text) if p.strip()]
    return phrases[-1] if phrases else None


def hash_answer(text: str) -> str | None:
    """Return what follows the last line-initial ``#### `` (GSM8K style), or ``None``."""
    matches = list(_HASHES.finditer(text))
    if not matches:
        return None
    return _rest_of_line(text, matches[-1].end()) or None


def strip_latex(span: str) -> str:
    """Remove common LaTeX wrappers from an answer span and return plain text.

    ``\\text{dollars}`` -> ``dollars``, ``\\$`` / ``$`` -> removed, ``\\%`` -> ``%``,
    ``\\,`` / ``\\!`` / ``~`` -> removed or a space, ``{,}`` -> ``,``, ``\\dfrac`` -> ``\\frac``,
    ``\\left(`` / ``\\right)`` -> the bracket. Never raises.
    """
    out = span
    for _ in range(3):  # \text{\textbf{x}} nests rarely more than that
        out = _TEXT_CMD.sub(r"\1", out)
    out = out.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    out = out.replace("\\left", "").replace("\\right", "")
    out = out.replace("{,}", ",").replace("\\$", "").replace("$", "")
    out = out.replace("\\%", "%").replace("\\,", "").replace("\\!", "").replace("\\ ", " ")
    out = out.replace("~", " ").replace("\\quad", " ")
    return out


def normalize_text(answer: str) -> str:
    """Canonical free-text form: LaTeX stripped, lower case, whitespace collapsed, and quotes,
    asterisks and punctuation removed from both ends (``" Yes."`` -> ``"yes"``)."""
    out = strip_latex(answer)
    out = " ".join(out.split()).lower()
    return out.strip(_END_CHARS)


# ---- code ------------------------------------------------------------------------------------
# A fence opens a line (any indentation) with ``` plus an optional language tag; a block left
# open (the reply was cut at max_tokens) runs to the end of the text.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_PYTHON_TAGS = ("", "python", "py", "python3", "py3")
_CODE_START = re.compile(r"^(?:async[ \t]+def|def|class|import|from|@)\b", re.MULTILINE)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """Return ``(language tag, code)`` for every fenced block in ``text``, in order.

    The tag is lower case (``""`` when absent); the code ends without its last newline; a block
    missing its closing fence runs to the end of ``text``. Returns ``[]`` when there is no fence.
    """
    return [(m.group(1).lower(), m.group(2).rstrip("\n")) for m in _FENCE.finditer(text)]


def defines(code: str, name: str) -> bool:
    """True when ``code`` has a line ``def name(`` (or ``async def``) at any indentation."""
    return re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", code, re.MULTILINE) is not None


def _reads_as_code(code: str) -> bool:
    """True when ``code`` parses and is more than bare names and constants (prose such as
    ``Yes`` or ``The answer is 5.`` is not code)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return any(not (isinstance(st, ast.Expr) and isinstance(st.value, (ast.Name, ast.Constant))) for st in tree.body)


def _unfenced_code(text: str) -> str | None:
    """Unfenced ``text`` (dedented) when it reads as Python; else, after leading prose, the lines
    from the first ``def`` / ``import`` / ``class`` on, trailing prose lines dropped, when they
    parse; else ``None``."""
    whole = textwrap.dedent(text).strip("\n").rstrip()
    if whole and _reads_as_code(whole):
        return whole
    start = _CODE_START.search(text)
    if start is None:
        return None
    lines = text[start.start() :].rstrip().split("\n")
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if _reads_as_code(candidate):
            return candidate
    return None


def extract_code(text: str, entry_point: str | None = None) -> str | None:
    """Return the Python program in a model reply, or ``None`` when it holds none.

    Preference: the last fenced block tagged ``python`` / ``py`` (or untagged) that defines
    ``entry_point`` (when given); else the last such Python block; else the last fenced block
    of any language; else the unfenced text when it reads as Python (see ``_unfenced_code``).
    The code is returned as written (dedented, surrounding blank lines removed); nothing is
    run. Used by code tasks (HumanEval) and by agents that answer with programs.
    """
    found = [(tag, code) for tag, code in code_blocks(text) if code.strip()]
    blocks = [code for _, code in found]
    python = [code for tag, code in found if tag in _PYTHON_TAGS]
    chosen = None
    if entry_point is not None:
        chosen = next((c for c in reversed(python) if defines(c, entry_point)), None)
    chosen = chosen or (python[-1] if python else None) or (blocks[-1] if blocks else None)
    if chosen is not None:
        return textwrap.dedent(chosen).strip("\n").rstrip()
    return _unfenced_code(text)
