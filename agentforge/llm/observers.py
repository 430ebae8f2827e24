"""Call observers: code that sees every model call made inside a scope, wherever it is made.

An observer has ``before_call()`` (may raise to refuse the call, e.g. an exhausted budget) and
``after_call(usage)`` (the finished call's usage, cache hits included; ``None`` for a call that
failed). ``observe_calls(obs)`` activates one for the current task and everything it starts
(asyncio tasks and worker threads inherit the context), so an agent's nodes, the judges it
calls and a memory learner are all seen without passing meters or ledgers around.

``UsageLedger`` is the observer that makes sure no paid call is lost: an agent run keeps one,
and when the run fails its total still reports every call that finished.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from agentforge.llm.types import Usage

_ACTIVE: contextvars.ContextVar[tuple["CallObserver", ...]] = contextvars.ContextVar("agentforge_call_observers",
                                                                                     default=())


class CallObserver(Protocol):
    """What ``observe_calls`` accepts."""

    def before_call(self) -> None:
        """Called before each model call (also before a cache lookup); raise to refuse the call."""

    def after_call(self, usage: Usage | None) -> None:
        """Called after each call: its usage (``calls=1``), or None when it failed."""


@contextmanager
def observe_calls(observer: CallObserver) -> Iterator[CallObserver]:
    """Make ``observer`` see every model call in this context (nested scopes all see a call)."""
    token = _ACTIVE.set((*_ACTIVE.get(), observer))
    try:
        yield observer
    finally:
        _ACTIVE.reset(token)


def active_observers() -> tuple[CallObserver, ...]:
    """The observers of the current context, outermost first."""
    return _ACTIVE.get()


class UsageLedger:
    """Records the usage of every call that finished in its scope.

    Attributes:
        usages: one ``Usage`` per finished call, in finishing order.
        failed: calls that raised (not charged: a failed call returns no usage).
    """

    def __init__(self) -> None:
        self.usages: list[Usage] = []
        self.failed = 0

    def before_call(self) -> None:
        """Nothing to check."""

    def after_call(self, usage: Usage | None) -> None:
        """Record a finished call's usage (a failed call only counts in ``failed``)."""
        if usage is None:
            self.failed += 1
        else:
            self.usages.append(usage)

    def total(self) -> Usage:
        """The sum of every recorded call."""
        return Usage.total(self.usages)
