"""Executors: the interface, the subprocess implementation, and the shared default."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from agentforge.core.errors import SandboxUnavailableError, UserError
from agentforge.sandbox._process import ensure_bytecode, execute
from agentforge.sandbox.isolation import Isolation, resolve
from agentforge.sandbox.limits import Limits
from agentforge.sandbox.result import ExecutionResult

T = TypeVar("T")


class Executor(ABC):
    """Runs untrusted Python and returns an :class:`ExecutionResult`; never raises for what the
    program does. Implement :meth:`arun` to plug in a stronger boundary (a container, gVisor, a
    microVM); :meth:`run` comes for free."""

    @abstractmethod
    async def arun(self, program: str, tests: Sequence[str] = (), *, limits: Limits | None = None,
                   stdin: str | None = None) -> ExecutionResult:
        """Run ``program``, then each test (Python source, usually an ``assert``) in the same
        process, each in its own try/except.

        Args:
            program: Python source, run as ``__main__`` from ``main.py`` in a fresh work dir.
            tests: test sources; one :class:`TestOutcome` each, in order.
            limits: overrides the executor's limits for this run.
            stdin: text fed to the program's stdin; None gives it an empty stdin (EOF).

        Raises:
            UserError: ``program`` is not a string or ``tests`` is not a sequence of strings.
            SandboxUnavailableError: the sandbox itself cannot run here (never the program's fault).
        """

    def run(self, program: str, tests: Sequence[str] = (), *, limits: Limits | None = None,
            stdin: str | None = None) -> ExecutionResult:
        """Blocking :meth:`arun`. Inside a running event loop (Jupyter, async code calling sync
        code) it runs on a worker thread with its own loop instead of failing."""
        return run_sync(lambda: self.arun(program, tests, limits=limits, stdin=stdin))


class SubprocessExecutor(Executor):
    """One fresh, confined ``python -I`` child process per program (see :mod:`agentforge.sandbox`
    for the layers and the threat model).

    Args:
        limits: default :class:`Limits` for every run (a run's own ``limits`` replace them).
        concurrency: most children alive at once across every thread and loop using this
            executor, default 2 (one per core is right for CPU-bound programs).
        isolation: ``"auto"`` (default: namespaces where they work, else process),
            ``"namespaces"`` (raise if unavailable) or ``"process"``.
        audit_guard: install the PEP 578 audit hook in the child (default True). False lets a
            program start processes (still capped by a pids cgroup where there is one): for
            trusted code, or to test the kernel layers alone.
        python: the interpreter to run programs with, default ``sys.executable``. With another
            interpreter its own ``site`` runs; with ours the site-packages directories of this
            process are put on the path and ``.pth`` hooks are skipped (``-S``: faster startup,
            and no third-party code runs before the program).

    Raises:
        UserError: ``limits`` is not a :class:`Limits`, ``concurrency`` < 1, or ``python`` is
            not an executable file.
    """

    def __init__(self, limits: Limits = Limits(), concurrency: int = 2, *, isolation: str = "auto",
                 audit_guard: bool = True, python: str | None = None):
        if not isinstance(limits, Limits):
            raise UserError(f"SubprocessExecutor.limits must be agentforge.sandbox.Limits, got {type(limits).__name__}")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise UserError(f"SubprocessExecutor.concurrency must be an int >= 1, got {concurrency!r}")
        self.python = python or sys.executable
        if not self.python or not os.access(self.python, os.X_OK):
            raise UserError(f"SubprocessExecutor.python {self.python!r} is not an executable file")
        self.limits, self.concurrency, self.audit_guard = limits, concurrency, audit_guard
        self._requested = isolation
        self._site = _site_dirs() if self.python == sys.executable else []
        self._slots = _Slots(concurrency)
        self._isolation: Isolation | None = None
        ensure_bytecode()

    @property
    def isolation(self) -> Isolation:
        """The isolation in force; probed (one or two trivial runs) on first use, then cached.

        Raises:
            UnknownNameError: an unknown ``isolation`` mode was given.
            SandboxUnavailableError: ``"namespaces"`` was asked for and does not work here.
        """
        if self._isolation is None:
            self._isolation = resolve(self._requested, self.python, self._probe)
        return self._isolation

    def _probe(self, candidate: Isolation) -> str | None:
        def make():
            return execute("print('ok')", ["assert 1 + 1 == 2"], Limits(wall_s=20, cpu_s=10), None,
                           candidate, self.python, self._site, self.audit_guard)

        try:
            r = run_sync(make)
        except SandboxUnavailableError as e:
            return str(e)
        if r.passed and r.stdout.strip() == "ok":
            return None
        return f"probe run failed: {r.error or r.first_failure}; stderr: {r.stderr.strip()[-300:]}"

    async def arun(self, program: str, tests: Sequence[str] = (), *, limits: Limits | None = None,
                   stdin: str | None = None) -> ExecutionResult:
        _check_inputs(program, tests, limits, stdin)
        iso = self._isolation or await asyncio.to_thread(lambda: self.isolation)
        async with self._slots:
            return await execute(program, list(tests), limits or self.limits, stdin, iso,
                                 self.python, self._site, self.audit_guard)


def _check_inputs(program: Any, tests: Any, limits: Any, stdin: Any) -> None:
    if not isinstance(program, str):
        raise UserError(f"program must be Python source (str), got {type(program).__name__}")
    if isinstance(tests, (str, bytes)) or not all(isinstance(t, str) for t in tests):
        raise UserError("tests must be a sequence of Python source strings, e.g. ['assert f(1) == 2']")
    if limits is not None and not isinstance(limits, Limits):
        raise UserError(f"limits must be agentforge.sandbox.Limits, got {type(limits).__name__}")
    if stdin is not None and not isinstance(stdin, str):
        raise UserError(f"stdin must be str or None, got {type(stdin).__name__}")


def _site_dirs() -> list[str]:
    return [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


class _Slots:
    """A FIFO counting semaphore usable from any thread and event loop (asyncio's is bound to
    one loop). A release hands the slot straight to the oldest waiter, waking its loop
    thread-safely; a waiter cancelled after being handed a slot passes it on."""

    def __init__(self, n: int):
        self._free, self._lock, self._waiters = n, threading.Lock(), collections.deque()

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0:
                self._free -= 1
                return
            waiter = [loop, loop.create_future(), False]  # loop, future, granted
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except BaseException:
            with self._lock:
                if not waiter[2]:
                    self._waiters.remove(waiter)
                    raise
            self._release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                try:
                    waiter[0].call_soon_threadsafe(_wake, waiter[1])
                except RuntimeError:  # its loop is closed: that waiter is gone
                    continue
                waiter[2] = True
                return
            self._free += 1


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` to completion from sync code: ``asyncio.run`` when no loop
    is running in this thread, else on a fresh worker thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agentforge-sandbox") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


_default: SubprocessExecutor | None = None
_default_lock = threading.Lock()


def default_executor() -> Executor:
    """The process-wide :class:`SubprocessExecutor` (default limits, concurrency 2), made on
    first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SubprocessExecutor()
        return _default


def run_program(program: str, tests: Sequence[str] = (), **kw: Any) -> ExecutionResult:
    """``default_executor().run(program, tests, **kw)``; ``kw``: ``limits``, ``stdin``."""
    return default_executor().run(program, tests, **kw)


async def arun_program(program: str, tests: Sequence[str] = (), **kw: Any) -> ExecutionResult:
    """``await default_executor().arun(program, tests, **kw)``; ``kw``: ``limits``, ``stdin``."""
    return await default_executor().arun(program, tests, **kw)
