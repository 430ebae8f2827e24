"""Visible tests: the examples in a function's docstring, turned into ``assert`` statements.

HumanEval prompts (Chen et al. 2021) show how the function behaves in their docstrings:

- doctest form, ``>>> f(1)`` with ``2`` on the next line (also ``>>> round(f(x), 2)``);
- prose, ``f(x) ==> y``, ``f(x) => y``, ``f(x) -> y``, ``f(x) ➞ y``, ``f(x) == y``, ``f(x) = y``,
  ``f(x) returns y``, ``f(x) should return y.``, ``f(x)  # => y``;
- argument lists, ``For lst = [1, 2] the output should be 5`` and ``Input: arr = [1], k = 1``
  followed by an ``Output: [1]`` line (named arguments are put in signature order).

Each becomes ``assert <call> == <expected>``. These are the tests an agent may see (the prompt
shows them anyway); HumanEval's hidden ``check`` tests stay hidden.

Everything is parsed with :mod:`ast` and :mod:`doctest`'s parser; nothing is executed. A
candidate is kept only when unambiguous: the arguments and the expected value are Python
literals (JSON-style ``true`` / ``false`` / ``null`` become ``True`` / ``False`` / ``None``) and
the expected value is not a parenthesized single value (``("Venus")``: a string or a 1-tuple?).
Prose examples count only from the docstring's last ``Example(s)`` line on (the first of
``Example 1:``, ``Example 2:`` ...), when it has one, because text before it often states
definitions (``tri(n) = 1 + n / 2``). A docstring whose examples call another name
(``grade_equation(...)`` for ``numerical_letter_grade``) counts when exactly one such unknown
name is called; the tests call the entry point.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import inspect
import keyword
import re

_OPERATOR = re.compile(
    r"^[ \t]*(?:#[ \t]*)?(==>|=>|==|->|➞|=|should return|returns|return)(?![=>])[ \t]*(.*)$",
    re.IGNORECASE,
)
_EXAMPLES_LINE = re.compile(r"^[ \t]*(?:for[ \t]+)?examples?\b[^\n]*$", re.IGNORECASE | re.MULTILINE)
_NUMBERED = re.compile(r"^[ \t]*examples?[ \t]*\d", re.IGNORECASE)
_FOR_OUTPUT = re.compile(r"^[ \t]*For[ \t]+(.+?),?[ \t]+the (?:output|result) should be[ \t]+(.+)$",
                         re.IGNORECASE | re.MULTILINE)  # fmt: skip
_INPUT_OUTPUT = re.compile(r"^[ \t]*Input:[ \t]*(.*?)\n[ \t]*Output:[ \t]*([^\n]+)", re.MULTILINE | re.DOTALL)
_ASSIGN_SPLIT = re.compile(r"(?<![=!<>])=(?!=)")
_JSON_WORDS = {"true": "True", "false": "False", "null": "None"}


def _function(prompt: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return None
    return next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == name), None)  # fmt: skip


def docstring_of(prompt: str, entry_point: str) -> str | None:
    """The docstring of the top-level function ``entry_point`` in ``prompt``, as written.

    The first string statement of the body counts (HumanEval/115 puts an ``import`` before
    it). Escapes are kept as in the source (``"a\\nb"`` stays four characters) so that
    examples read as the Python they show; indentation is cleaned (:func:`inspect.cleandoc`).
    Returns ``None`` when ``prompt`` does not parse or the function or docstring is missing.
    """
    func = _function(prompt, entry_point)
    strings = [s.value for s in (func.body if func else []) if isinstance(s, ast.Expr)
               and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)]  # fmt: skip
    if not strings:
        return None
    source = ast.get_source_segment(prompt, strings[0]) or ""
    body = re.match(r"^[rRuUbB]*('''|\"\"\"|'|\")(.*)\1$", source, re.DOTALL)
    return inspect.cleandoc(body.group(2) if body else strings[0].value)


def _literal(source: str) -> str | None:
    """``source`` as normalized Python source when it is a literal (``true`` -> ``True``)."""
    source = _JSON_WORDS.get(source.strip(), source.strip())
    try:
        ast.literal_eval(source)
        return ast.unparse(ast.parse(source, mode="eval").body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _calls_ok(node: ast.expr, entry_point: str) -> bool:
    """True when ``node`` calls ``entry_point`` with literal arguments and names nothing else
    but builtins (``round(f([1, 2]), 2)``)."""
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id == entry_point]  # fmt: skip
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - {entry_point}
    if not calls or any(not hasattr(builtins, name) for name in names):
        return False
    for call in calls:
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return False
        if any(_literal(ast.unparse(a)) is None for a in [*call.args, *(k.value for k in call.keywords)]):
            return False
    return True


def _expression(source: str) -> ast.expr | None:
    try:
        return ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None


def _expected(span: str) -> str | None:
    """The expected value in ``span`` as Python source, or ``None`` when none is unambiguous.

    Tried in order: the span without an end period (``16.`` -> ``16``), the whole span, the
    part after a last ``=`` (``1 + 9 = 10`` -> ``10``), then the longest prefix ending at a
    space (``'No' (the name ...)`` -> ``'No'``).
    """
    span = span.strip()
    candidates = [span.rstrip(".").rstrip(), span]
    if _ASSIGN_SPLIT.search(span):
        candidates.append(_ASSIGN_SPLIT.split(span)[-1].strip().rstrip("."))
    words = span.split(" ")
    candidates.extend(" ".join(words[:i]).rstrip(",.;:") for i in range(len(words) - 1, 0, -1))
    for cand in candidates:
        value = _literal(cand) if cand else None
        if value is None:
            continue
        if cand.lstrip().startswith("(") and not value.startswith("("):
            return None  # ("Venus"): a string or a 1-tuple? Ambiguous, skip.
        return value
    return None


def doctest_tests(doc: str, entry_point: str) -> list[str]:
    """Assertions from the doctest examples (``>>> expr`` + expected output) in ``doc``.

    ``expr`` must call ``entry_point`` with literal arguments (and name only builtins besides);
    the expected output must be a literal. Returns ``[]`` for a docstring doctest cannot parse.
    """
    try:
        examples = doctest.DocTestParser().get_examples(doc)
    except ValueError:  # inconsistent indentation of an example
        return []
    tests = []
    for ex in examples:
        node, want = _expression(ex.source), _literal(ex.want) if ex.want.strip() else None
        if node is not None and want is not None and _calls_ok(node, entry_point):
            tests.append(f"assert {ast.unparse(node)} == {want}")
    return tests


def _call_end(text: str, open_paren: int) -> int | None:
    """Index just past the parenthesis closing the one at ``open_paren`` (strings respected)."""
    depth, quote, i = 0, "", open_paren
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def prose_tests(doc: str, entry_point: str) -> list[str]:
    """Assertions from prose examples such as ``f(x) ==> y`` in ``doc`` (see module docstring).

    A call may span lines (``f([\\n  [1, 2],\\n], 1) == [...]``); the operator and the
    expected value must follow it on the line where it closes.
    """
    markers = list(_EXAMPLES_LINE.finditer(doc))
    plain = [m for m in markers if not _NUMBERED.match(m.group(0))]  # "Example 2:" continues a list
    start = plain[-1].start() if plain else markers[0].start() if markers else 0
    text = doc[start:]
    tests = []
    for match in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\s*\(", text):
        end = _call_end(text, match.end() - 1)
        node = _expression(text[match.start() : end]) if end is not None else None
        op = _OPERATOR.match(text[end:].split("\n", 1)[0]) if end is not None else None
        if node is None or op is None or not isinstance(node, ast.Call) or not _calls_ok(node, entry_point):
            continue
        expected = _expected(op.group(2))
        if expected is not None:
            tests.append(f"assert {ast.unparse(node)} == {expected}")
    return tests


def _arguments_call(args: str, entry_point: str, params: list[str]) -> str | None:
    """``entry_point(...)`` from an argument list as a docstring writes it (``lst = [1, 2]``,
    ``grid : [[0]]\\n bucket_capacity : 1``, ``[4, 2, 3]``); named arguments go in signature
    order and must name every parameter. Tries shorter comma-cut prefixes (``N = 1000, the
    sum ...`` -> ``N = 1000``). ``None`` when nothing fits."""
    lines = [ln.strip() for ln in args.strip().splitlines() if ln.strip()]
    text = ", ".join(re.sub(r"^(\w+)\s*:\s*", r"\1 = ", ln) for ln in lines)
    pieces = text.split(",")
    for cut in range(len(pieces), 0, -1):
        node = _expression(f"{entry_point}({','.join(pieces[:cut])})")
        if not isinstance(node, ast.Call) or not _calls_ok(node, entry_point):
            continue
        if node.keywords:
            named = {k.arg: k.value for k in node.keywords}
            if node.args or len(named) != len(params):
                continue
            if set(named) != set(params):  # the docstring renamed them: keep its order
                return ast.unparse(ast.Call(node.func, list(named.values()), []))
            return ast.unparse(ast.Call(node.func, [named[p] for p in params], []))
        return ast.unparse(node) if len(node.args) == len(params) else None
    return None


def argument_list_tests(doc: str, entry_point: str, params: list[str]) -> list[str]:
    """Assertions from ``For <args> the output should be <y>`` lines and ``Input: <args>`` /
    ``Output: <y>`` pairs in ``doc`` (``params``: the function's parameter names)."""
    tests = []
    pairs = [(m.group(1), m.group(2)) for m in _FOR_OUTPUT.finditer(doc)]
    pairs += [(m.group(1), m.group(2)) for m in _INPUT_OUTPUT.finditer(doc) if "Input:" not in m.group(1)]
    for args, out in pairs:
        call, expected = _arguments_call(args, entry_point, params), _expected(out)
        if call is not None and expected is not None:
            tests.append(f"assert {call} == {expected}")
    return tests


def _alias(doc: str, prompt: str) -> str | None:
    """The one unknown function name the docstring's examples call, or ``None``."""
    defined = {n.name for n in ast.walk(ast.parse(prompt)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    called = set(re.findall(r"^[ \t]*(?:assert[ \t]+|>>>[ \t]*)?([A-Za-z_]\w*)\(", doc, re.MULTILINE))
    unknown = {n for n in called if n not in defined and not hasattr(builtins, n) and not keyword.iskeyword(n)}
    return unknown.pop() if len(unknown) == 1 else None


def _tests_for(doc: str, name: str, params: list[str]) -> list[str]:
    return doctest_tests(doc, name) or prose_tests(doc, name) or argument_list_tests(doc, name, params)


def visible_tests(prompt: str, entry_point: str) -> list[str]:
    """The assert statements that the docstring of ``entry_point`` in ``prompt`` shows.

    The first form that yields any: doctest examples, prose examples, argument lists (see the
    module docstring); duplicates removed, in order. Every statement parses (``ast.parse``)
    and calls ``entry_point``. Returns ``[]`` when the docstring shows no usable example.
    Never raises.
    """
    doc, func = docstring_of(prompt, entry_point), _function(prompt, entry_point)
    if not doc or func is None:
        return []
    params = [a.arg for a in [*func.args.posonlyargs, *func.args.args]]
    found = _tests_for(doc, entry_point, params)
    alias = None if found else _alias(doc, prompt)
    if alias is not None:
        renamed = []
        for test in _tests_for(doc, alias, params):
            tree = ast.parse(test)
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id == alias:
                    node.id = entry_point
            renamed.append(ast.unparse(tree))
        found = renamed
    return list(dict.fromkeys(t for t in found if _parses(t)))


def _parses(statement: str) -> bool:
    try:
        ast.parse(statement)
    except SyntaxError:
        return False
    return True
