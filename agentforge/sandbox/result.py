"""Typed results of a sandboxed run, and the short report a model is shown (Self-Debug)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TestOutcome(BaseModel):
    """One test's verdict.

    Attributes:
        test: the test's source, e.g. ``"assert add(1, 2) == 3"``.
        passed: True iff it ran without raising.
        message: why it failed: ``"add(1, 2) returned 4, expected 3"`` for ``assert <call> ==
            <expected>``, ``"Type: message"`` for an exception, ``"not run: <reason>"`` when the
            program never got to it; empty when it passed.
    """

    __test__ = False  # not a pytest class
    model_config = ConfigDict(frozen=True)

    test: str
    passed: bool
    message: str = ""


class ExecutionResult(BaseModel):
    """What one program did. Hostile or broken programs end up here, never as exceptions.

    Attributes:
        stdout, stderr: the program's output, decoded as UTF-8 (bad bytes replaced), each capped
            at ``Limits.max_output_bytes``.
        exit_code: the process's exit status; negative for a signal (``-24``: SIGXCPU, the CPU
            limit); None when the sandbox stopped it (see ``stopped``).
        timed_out: the wall-clock limit was reached and the process group was killed.
        duration_s: wall-clock seconds from start to exit.
        tests: one outcome per test given, in order (tests that never ran say why).
        truncated: stdout or stderr went past the cap.
        completed: the harness wrote its completion marker after the program and the tests; False
            after ``sys.exit()``, ``os._exit``, a crash or a kill, whatever the exit status.
        error: the program's uncaught exception (``"ZeroDivisionError: division by zero"``) or why
            it did not finish (timeout, signal, early exit); None when it finished cleanly.
        stopped: ``"wall_time"`` or ``"output"`` when the sandbox killed the program, else None.
        isolation: the mode it ran under, ``"namespaces"`` or ``"process"``.
    """

    model_config = ConfigDict(frozen=True)

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    tests: list[TestOutcome] = Field(default_factory=list)
    truncated: bool = False
    completed: bool = False
    error: str | None = None
    stopped: Literal["wall_time", "output"] | None = None
    isolation: str = "process"

    @property
    def ok(self) -> bool:
        """The program (and its tests, if any) ran to completion: not timed out, not killed,
        exit 0, completion marker seen. Failing tests do not make it False; see :attr:`passed`."""
        return self.completed and self.exit_code == 0 and not self.timed_out and self.stopped is None

    @property
    def passed(self) -> bool:
        """:attr:`ok` and every test passed (True for an ok run with no tests)."""
        return self.ok and all(t.passed for t in self.tests)

    @property
    def first_failure(self) -> str | None:
        """``"<test source>: <message>"`` of the first failing test, or the error summary when
        the program did not run to completion; None when :attr:`passed`."""
        if not self.ok:
            return self.error or "the program did not run to completion"
        for t in self.tests:
            if not t.passed:
                return f"{t.test.strip()}: {t.message}"
        return None

    def feedback(self, max_chars: int = 1500) -> str:
        """A short report for the model that wrote the program (Self-Debug, Chen et al. 2023):
        what happened first, then the evidence: the last traceback lines, the first failing
        test with "got X, expected Y", or the output. At most ``max_chars`` characters."""
        if self.passed:
            head = f"All {len(self.tests)} tests passed." if self.tests else "The program ran to completion."
            return _fit(head, "Output:\n", self.stdout, max_chars)
        if not self.ok:
            head = _headline(self)
            if self.stderr.strip() and not self.timed_out:
                return _fit(head, "Error output (last lines):\n", self.stderr, max_chars)
            return _fit(head, "Output (last lines):\n", self.stdout, max_chars)
        failed = [t for t in self.tests if not t.passed]
        first = failed[0]
        head = (f"{len(failed)} of {len(self.tests)} tests failed. First failure:\n"
                f"{_clip(first.test.strip(), max_chars // 3)}\n{first.message}")
        return _fit(head, "Output:\n", self.stdout, max_chars)


def _headline(r: ExecutionResult) -> str:
    if r.timed_out:
        return f"Timed out: {r.error}." if r.error else "Timed out."
    if r.stopped == "output":
        return f"Stopped: {r.error}."
    return f"The program failed: {r.error or 'it did not run to completion'}."


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: max(0, n - 3)] + "..."


def _fit(head: str, label: str, body: str, max_chars: int) -> str:
    """``head`` then ``label`` + the tail of ``body``, within ``max_chars`` (head first)."""
    head = _clip(head, max_chars)
    body = body.rstrip()
    room = max_chars - len(head) - len(label) - 2
    if not body or room <= 20:
        return head
    if len(body) > room:
        body = "..." + body[-(room - 3):]
    return f"{head}\n\n{label}{body}"
