"""Prompt templates: one root, one lookup, a sandbox with work limits enforced while rendering.

Prompts are data. A template reference is ``@name`` (the file ``agentforge/prompts/name.j2``;
``@meta/opro`` for the meta-search's prompts in ``prompts/meta/``) or inline Jinja text. Names
are lower-case words separated by ``/``: absolute paths and ``..`` are refused, so a spec (which
the meta-search may have written) can only reach the package's own templates.

Rendering uses Jinja's ``ImmutableSandboxedEnvironment`` (templates cannot reach Python
internals, nor mutate the lists and dicts of the run state) with ``StrictUndefined`` (a typo in
a variable name is an error), no compile-time constant folding of anything that could allocate,
and work limits checked *before* the work is done, while rendering:

* every ``for`` loop of one render counts against ``MAX_ITERATIONS`` in all (nested loops too);
* ``range()`` yields at most ``MAX_RANGE`` items; ``**`` is refused;
* a string or list built by ``*``, ``%``, ``center``/``ljust``/``rjust``/``zfill``/``expandtabs``,
  ``replace``, ``format`` or the ``center``/``indent``/``wordwrap``/``format`` filters may hold
  at most ``MAX_STRING`` items;
* the output streams out chunk by chunk and stops past ``MAX_OUTPUT`` characters.

A broken template (syntax, unknown variable, unsafe access) raises ``TemplateError`` (a
``UserError``: the run is misconfigured); work past a limit raises ``TemplateLimitError`` (a
``RunError``: this input was too big, e.g. a huge question, and only that example fails). Both
name the template.

Variables available to agent node templates: ``question``, ``instructions`` (the task's answer
format), ``fewshot``, ``draft`` (latest answer-bearing output), ``outputs`` (node id -> list of
latest outputs), ``last`` (node id -> first latest output), ``own`` and ``peers`` (with
``peers_from``), ``iteration`` (how many times this node ran before), ``sample`` (sample index),
``memory`` (retrieved memory text, "" if none), ``candidates`` (vote tie-break only),
``feedback`` (execution or judge feedback), ``steps``, ``persona`` (the task's system persona).
"""

from __future__ import annotations

import contextvars
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agentforge.core.errors import TemplateError, TemplateLimitError, UnknownNameError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
MAX_RANGE = 1000
MAX_ITERATIONS = 20_000
MAX_STRING = 100_000
MAX_OUTPUT = 200_000
_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
_iterations: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_iterations")

NODE_VARIABLES = frozenset({
    "question", "instructions", "fewshot", "draft", "outputs", "last", "iteration", "sample", "memory",
    "own", "peers", "candidates", "steps", "feedback", "persona",
})
"""Every variable a template rendered by an agent may use (see the module docstring)."""


class _LimitExceeded(SecurityError):
    """A work limit was reached while rendering (as opposed to unsafe access)."""


def _too_big(size: int, what: str) -> None:
    if size > MAX_STRING:
        raise _LimitExceeded(f"{what} would build {size} items in a template (at most {MAX_STRING})")


def _count_loop(iterable: Any):
    """Wraps every ``for`` loop's iterable: counts iterations against ``MAX_ITERATIONS``."""
    counter = _iterations.get(None)
    for item in iterable:
        if counter is not None:
            counter[0] += 1
            if counter[0] > MAX_ITERATIONS:
                raise _LimitExceeded(f"more than {MAX_ITERATIONS} loop iterations in one template render")
        yield item


def _limited_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise _LimitExceeded(f"range() of {len(rng)} items in a template (at most {MAX_RANGE})")
    return rng


def _format_widths(fmt: str) -> int:
    """The largest width/precision number in a ``%`` or ``str.format`` format string."""
    return max((int(n) for n in re.findall(r"\d+", fmt)), default=0) if isinstance(fmt, str) else 0


def _checked_str_call(obj: Any, name: str, args: tuple, kwargs: dict) -> None:
    """Refuse a str method call whose result would exceed ``MAX_STRING`` (checked before the call)."""
    nums = [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
    if name in ("center", "ljust", "rjust", "zfill") and nums:
        _too_big(max(nums), f"str.{name}")
    elif name == "expandtabs":
        _too_big(len(obj) * max(nums or [8]), "str.expandtabs")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = obj.count(args[0]) if args[0] else len(obj) + 1
        _too_big(len(obj) + count * max(0, len(args[1]) - len(args[0])), "str.replace")
    elif name in ("format", "format_map"):
        _too_big(len(obj) + _format_widths(obj), "str.format")


def _guard_filter(name: str, fn: Any, size_of: Any) -> Any:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _too_big(size_of(*args, **kwargs), f"the {name} filter")
        return fn(*args, **kwargs)

    guarded.__name__ = fn.__name__
    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(guarded, attr, getattr(fn, attr))
    return guarded


def _len(x: Any) -> int:
    try:
        return len(x)
    except TypeError:
        return len(str(x))


class _LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus work limits (see the module docstring)."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def call_binop(self, context, operator, left, right):
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in templates")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _too_big(len(seq) * times, "repetition")
        if operator == "%" and isinstance(left, str):
            _too_big(len(left) + _format_widths(left), "%-formatting")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any):
        """``str.format``/``format_map`` as the sandbox wraps them, with the width check first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        owner = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _checked_str_call(owner, "format", args, kwargs)
            return wrapped(*args, **kwargs)

        return checked

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _checked_str_call(owner, getattr(__obj, "__name__", ""), args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _make_env() -> _LimitedSandbox:
    env = _LimitedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, trim_blocks=True,
                          lstrip_blocks=True, optimized=False)
    env.globals["range"] = _limited_range
    env.globals["_af_loop"] = _count_loop
    f = env.filters
    f["center"] = _guard_filter("center", f["center"], lambda v, width=80: int(width) if isinstance(width, int) else 0)
    f["indent"] = _guard_filter("indent", f["indent"], lambda v, width=4, *a, **k: _len(v) * (
        1 + (len(width) if isinstance(width, str) else int(width))))
    f["wordwrap"] = _guard_filter("wordwrap", f["wordwrap"], lambda env_, v, *a, **k: 2 * _len(v))
    f["format"] = _guard_filter("format", f["format"], lambda v, *a, **k: _len(v) + _format_widths(v))
    return env


_ENV = _make_env()


def template_names() -> list[str]:
    """Names of the bundled templates (use as ``@name``), subfolders included (``meta/opro``)."""
    return sorted(str(p.relative_to(PROMPTS_DIR).with_suffix("")) for p in PROMPTS_DIR.rglob("*.j2"))


def template_source(ref: str) -> str:
    """The Jinja source of ``ref`` (``@name`` or inline text).

    Raises:
        TemplateError: ``@name`` that is not a plain template name (absolute paths, ``..``).
        UnknownNameError: ``@name`` with no such bundled file (the message lists them).
    """
    if not ref.startswith("@"):
        return ref
    name = ref[1:]
    if not _NAME.match(name):
        raise TemplateError(f"template reference {ref[:80]!r}: only bundled templates may be named "
                            "(lower-case words separated by '/', no paths)")
    path = PROMPTS_DIR / f"{name}.j2"
    if not path.is_file():
        raise UnknownNameError("prompt template", ref, [f"@{n}" for n in template_names()])
    return path.read_text(encoding="utf-8")


def _guard_loops(tree: nodes.Template) -> nodes.Template:
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name("_af_loop", "load"), [loop.iter], [], None, None)
    return tree


@lru_cache(maxsize=512)
def _compiled(source: str) -> jinja2.Template:
    try:
        return _ENV.from_string(_guard_loops(_ENV.parse(source)))
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template does not parse: {exc}") from None


def _where(ref: str) -> str:
    return ref if ref.startswith("@") else f"inline template {ref[:60]!r}"


def check_template(ref: str, variables: frozenset[str] | None = NODE_VARIABLES) -> None:
    """Parse ``ref`` and check it uses only ``variables`` (None: parse only).

    Raises:
        UnknownNameError: ``@name`` with no such bundled file.
        TemplateError: the template does not parse, names a path, or uses a variable no agent
            provides (a typo such as ``questoin``).
    """
    source = template_source(ref)
    _compiled(source)
    if variables is None:
        return
    unknown = meta.find_undeclared_variables(_ENV.parse(source)) - variables
    if unknown:
        raise TemplateError(f"{_where(ref)}: unknown template variable(s) {sorted(unknown)}; "
                            f"available: {sorted(variables)}")


def render(ref: str, context: dict[str, Any]) -> str:
    """Render ``ref`` against ``context`` within the work limits.

    Raises:
        UnknownNameError: ``@name`` with no such bundled file.
        TemplateError: an unknown variable or unsafe access (the template is broken: a run stops).
        TemplateLimitError: work past a limit on this input (a huge question): the message says
            which; a run records it as that example's error. No partial output is returned.
    """
    template = _compiled(template_source(ref))
    token = _iterations.set([0])
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _LimitExceeded(f"template output past {MAX_OUTPUT} characters")
            parts.append(chunk)
    except _LimitExceeded as exc:
        raise TemplateLimitError(f"{_where(ref)}: {exc}") from None
    except (jinja2.TemplateError, SecurityError) as exc:
        raise TemplateError(f"{_where(ref)}: {type(exc).__name__}: {exc}") from None
    finally:
        _iterations.reset(token)
    return "".join(parts).strip()


__all__ = ["MAX_ITERATIONS", "MAX_OUTPUT", "MAX_RANGE", "MAX_STRING", "NODE_VARIABLES", "PROMPTS_DIR",
           "check_template", "render", "template_names", "template_source"]
