"""Prompt templates: Jinja files in ``agentforge/agents/prompts`` or inline text, sandboxed.

A template reference is ``@name`` (the file ``prompts/name.j2``) or inline Jinja text. Rendering
uses ``jinja2.sandbox.SandboxedEnvironment`` with ``StrictUndefined`` and work limits: templates
written by the meta-search can read the run state but cannot reach Python internals or run
away (``range`` is capped at 1,000 items, ``*`` repetition at 100,000, ``**`` is refused, output
at 200,000 characters), and a typo in a variable name is an error, not silent empty text.

Variables available to ``llm`` node templates: ``question``, ``instructions`` (the task's answer
format), ``fewshot``, ``draft`` (latest answer-bearing output), ``outputs`` (node id -> list of
latest outputs), ``last`` (node id -> first latest output), ``own`` and ``peers`` (with
``peers_from``), ``iteration`` (how many times this node ran before), ``sample`` (sample index),
``memory`` (retrieved memory text, "" if none), ``candidates`` (vote tie-break only).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from agentforge.core.errors import UnknownNameError

PROMPTS_DIR = Path(__file__).parent / "prompts"
MAX_RANGE = 1000
MAX_REPEAT = 100_000
MAX_OUTPUT = 200_000


def _limited_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() of {len(rng)} items in a template (at most {MAX_RANGE})")
    return rng


class _LimitedSandbox(SandboxedEnvironment):
    """The sandbox plus work limits: templates may be model-written (meta-search), so a loop, a
    ``*`` repetition or ``**`` must not hang the process or exhaust memory."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator, left, right):
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in templates")
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_REPEAT:
                raise SecurityError(f"repetition to {len(seq) * times} items in a template (at most {MAX_REPEAT})")
        return super().call_binop(context, operator, left, right)


_ENV = _LimitedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                       trim_blocks=True, lstrip_blocks=True)
_ENV.globals["range"] = _limited_range


def template_names() -> list[str]:
    """Names of the bundled templates (use as ``@name``)."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.j2"))


def template_source(ref: str) -> str:
    """The Jinja source of ``ref`` (``@name`` or inline text).

    Raises:
        UnknownNameError: ``@name`` with no such bundled file.
    """
    if ref.startswith("@"):
        path = PROMPTS_DIR / f"{ref[1:]}.j2"
        if not path.is_file():
            raise UnknownNameError("prompt template", ref, [f"@{n}" for n in template_names()])
        return path.read_text()
    return ref


@lru_cache(maxsize=512)
def _compiled(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


NODE_VARIABLES = frozenset({
    "question", "instructions", "fewshot", "draft", "outputs", "last", "iteration", "sample", "memory",
    "own", "peers", "candidates", "steps", "feedback",
})
"""Every variable a template rendered by an agent may use (see the module docstring)."""


def check_template(ref: str, variables: frozenset[str] = NODE_VARIABLES) -> None:
    """Parse ``ref`` and check it uses only ``variables``.

    Raises:
        UnknownNameError: ``@name`` with no such bundled file.
        jinja2.TemplateSyntaxError: the template does not parse.
        ValueError: the template uses a variable no agent provides (a typo such as ``questoin``).
    """
    source = template_source(ref)
    _compiled(source)
    unknown = meta.find_undeclared_variables(_ENV.parse(source)) - variables
    if unknown:
        raise ValueError(f"unknown template variable(s) {sorted(unknown)}; available: {sorted(variables)}")


def render(ref: str, context: dict[str, Any]) -> str:
    """Render ``ref`` against ``context``.

    Raises:
        jinja2.UndefinedError: an unknown variable.
        jinja2.exceptions.SecurityError: unsafe access, or work past the limits (``range`` over
            ``MAX_RANGE`` items, repetition past ``MAX_REPEAT``, output past ``MAX_OUTPUT`` chars).
    """
    out = _compiled(template_source(ref)).render(**context).strip()
    if len(out) > MAX_OUTPUT:
        raise SecurityError(f"template output of {len(out)} characters (at most {MAX_OUTPUT})")
    return out
