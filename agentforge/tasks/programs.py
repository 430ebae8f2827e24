"""Programs for code-completion tasks: complete a reply with its prompt, drop demo code.

HumanEval (Chen et al. 2021) gives a prompt (imports, helper functions, then the signature and
docstring of the function to write) and scores ``prompt + completion``. Chat models answer
instead with the whole function, with only its body, or with the function plus a demo
(``print(f(3))``, ``if __name__ == "__main__": ...``). :func:`complete_program` turns each of
these into one program that defines the entry point; nothing here runs code.
"""

from __future__ import annotations

import ast
import textwrap
from typing import Any

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _tree(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__")


def defines_function(code: str, name: str) -> bool:
    """True when ``code`` parses and defines a top-level function ``name``."""
    tree = _tree(code)
    return tree is not None and any(isinstance(n, _FUNCTIONS) and n.name == name for n in tree.body)


def _lines(code: str, nodes: list[ast.stmt]) -> str:
    """The source lines of ``nodes`` (decorators included), in order, joined."""
    lines = code.split("\n")
    chunks = []
    for node in nodes:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        chunks.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n\n".join(chunks)


def _is_demo(node: ast.stmt, defined: set[str]) -> bool:
    """A top-level statement that only shows the code off: an ``assert``, a main guard, a bare
    constant or name, or an expression calling ``print`` or a function the code defines."""
    if isinstance(node, ast.Assert) or _is_main_guard(node):
        return True
    if not isinstance(node, ast.Expr):
        return False
    if isinstance(node.value, (ast.Constant, ast.Name)):
        return True
    called = {n.func.id for n in ast.walk(node.value) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return bool(called & (defined | {"print"}))


def strip_demo(code: str) -> str:
    """``code`` without its top-level demo statements: ``print(f(3))``, ``f(3)``, ``assert``s,
    ``if __name__ == "__main__":`` blocks and bare strings (HumanEval's own sampling cut
    completions at the next top-level ``print`` / ``if`` / ``def``). Imports, definitions,
    assignments and other calls (``sys.setrecursionlimit(10**4)``) are kept; comments between
    top-level statements are lost. Code that does not parse is returned unchanged."""
    tree = _tree(code)
    if tree is None:
        return code
    defined = {n.name for n in tree.body if isinstance(n, (*_FUNCTIONS, ast.ClassDef))}
    kept = [n for n in tree.body if not _is_demo(n, defined)]
    if len(kept) == len(tree.body) or not kept:
        return code
    return _lines(code, kept)


def prompt_header(prompt: str, entry_point: str) -> str:
    """The text of ``prompt`` before the ``entry_point`` function: its imports, constants and
    helper functions (HumanEval/38's ``encode_cyclic``), blank lines around it removed. ``""``
    when there is none or the prompt does not parse or lacks the function."""
    tree = _tree(prompt)
    func = next((n for n in (tree.body if tree else []) if isinstance(n, _FUNCTIONS) and n.name == entry_point), None)
    if func is None:
        return ""
    first = min([func.lineno, *(d.lineno for d in func.decorator_list)])
    return "\n".join(prompt.split("\n")[: first - 1]).strip("\n").rstrip()


def complete_program(code: str, prompt: str, entry_point: str) -> str:
    """One program defining ``entry_point``, built from a reply's ``code`` and the ``prompt``.

    - ``code`` defines ``entry_point`` at the top level: demo statements are dropped
      (:func:`strip_demo`) and the prompt's header (:func:`prompt_header`: imports, helpers)
      is put in front; a helper the code redefines wins, as it comes later.
    - otherwise ``code`` is taken as the function's body (HumanEval's completion style): it
      is indented under the prompt's signature and docstring; kept if the result parses.
    - otherwise ``code`` is returned unchanged (it will fail when run; it is the model's).

    Idempotent: a completed program completes to itself (up to the header, which is only
    added once). Nothing is executed.
    """
    code = code.strip("\n").rstrip()
    if defines_function(code, entry_point):
        program = strip_demo(code)
        header = prompt_header(prompt, entry_point)
        if header and not program.startswith(header):
            program = f"{header}\n\n\n{program}"
        return program
    body = textwrap.indent(textwrap.dedent(code), "    ")
    candidate = f"{prompt.rstrip()}\n{body}\n"
    if defines_function(candidate, entry_point):
        return candidate.rstrip()
    return code


def with_entry_call(code: str, entry: str = "solution") -> str:
    """``code`` with ``print(entry())`` appended when it defines ``entry`` but never calls it
    (program-aided answers: "define solution() that returns the answer")."""
    if f"def {entry}(" in code and code.count(f"{entry}(") == code.count(f"def {entry}("):
        return code + f"\n\nprint({entry}())\n"
    return code


def printed_answer(task: Any, stdout: str, example: Any = None) -> str | None:
    """The answer a program printed: its last non-empty output line, read by ``task`` (its
    extraction, else its normalization); None when it printed nothing usable."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        return None
    return task.extract(lines[-1], example) or task.normalize(lines[-1], example) or None
