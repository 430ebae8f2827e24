"""Prompt templates: Jinja files in ``agentforge/agents/prompts`` or inline text, sandboxed.

A template reference is ``@name`` (the file ``prompts/name.j2``) or inline Jinja text. Rendering
uses ``jinja2.sandbox.SandboxedEnvironment`` with ``StrictUndefined``: templates written by the
meta-search can read the run state but cannot reach Python internals, and a typo in a variable
name is an error, not silent empty text.

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
from jinja2.sandbox import SandboxedEnvironment

from agentforge.errors import UnknownNameError

PROMPTS_DIR = Path(__file__).parent / "prompts"
_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                            trim_blocks=True, lstrip_blocks=True)


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
    """Render ``ref`` against ``context``; raises jinja2.UndefinedError on an unknown variable."""
    return _compiled(template_source(ref)).render(**context).strip()
