"""The AgentForge error tree.

Two families, as in pydantic-ai: ``UserError`` means the caller misused the API or gave bad
input (fix the call; retrying will not help), ``ModelError`` means a model or provider
misbehaved (a timeout, a rate limit, malformed output; retrying may help). Every error
message names the offending thing (task, agent, model, node, file and line).
"""

from __future__ import annotations

from collections.abc import Iterable


class AgentForgeError(Exception):
    """Base class of every error AgentForge raises on purpose."""


class UserError(AgentForgeError, ValueError):
    """Bad input or API misuse: the message says what to change."""


class UnknownNameError(UserError):
    """A name (task, agent, model, backend, judge) that is not registered.

    Args:
        kind: what was looked up, e.g. ``"task"``.
        name: the name given.
        valid: the names that would have worked; listed in the message.
    """

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid)}")


class DataFormatError(UserError):
    """A data file that cannot be parsed; names the file and the 1-based line."""

    def __init__(self, path: str, line: int | None, problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class SpecValidationError(UserError):
    """An AgentSpec that does not validate; the message names the bad node or edge."""


class ModelNotAvailableError(UserError):
    """A local model that is not pulled yet; the message gives the exact pull command."""


class SandboxUnavailableError(UserError):
    """The sandbox cannot run programs here (no interpreter, a requested isolation mode that
    does not work, confinement that failed to set up). Never raised for what a program does:
    hostile or broken programs are results (``agentforge.sandbox.ExecutionResult``)."""


class ModelError(AgentForgeError):
    """A model or provider failed or misbehaved (retrying may help)."""


class ModelCallError(ModelError):
    """A provider call failed after all retries (timeout, rate limit, connection)."""


class MalformedOutputError(ModelError):
    """Model output that could not be parsed into the structure asked for."""


class ModelRequestsForbiddenError(AgentForgeError):
    """A real model call was attempted while ``agentforge.llm.ALLOW_MODEL_REQUESTS`` is False.

    Unit tests set the guard so that only the scripted fake model can be called.
    """
