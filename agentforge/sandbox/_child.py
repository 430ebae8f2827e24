"""Child side of one sandboxed run. Standard library only; never imported by the parent.

Started as ``python -I -S -B -u -X utf8 -c BOOT REPORT_FD JOB_PATH`` where ``BOOT`` imports this
module from its directory (so its cached bytecode is used) and calls :func:`main`. Reads the
job (a ``marshal`` dict: program, tests, limits, a nonce) from ``JOB_PATH`` and deletes it,
confines itself (``_confine.py``), runs the program as ``__main__`` from ``main.py`` in the work
dir, then each test in its own try/except in the program's namespace, and reports on the
``REPORT_FD`` pipe, one dict literal a line (``repr``; the parent reads it with
``ast.literal_eval``), each carrying the nonce::

    {'event': 'setup_error', 'error': '...'}          confinement failed; the program never ran
    {'event': 'program', 'exit': 0, 'error': None}    the program finished (error: its exception)
    {'event': 'test', 'i': 0, 'passed': False, 'message': 'add(1, 2) returned 4, expected 3'}
    {'event': 'done', 'exit': 0}                      the completion marker, written last
    {'event': 'signal', 'signal': 24}                 (namespaces mode) the program died by a signal

stdout and stderr are the program's own. ``sys.exit()`` (any code, also ``exit()``),
``os._exit`` or a crash end everything before the marker, which the parent reads as "did not
complete": a program cannot skip its tests, including checks it carries itself (HumanEval).
``assert a == b`` statements (in tests and in the program) are rewritten so that a failure says
what each side was, as pytest's assertion rewriting does.
"""

from __future__ import annotations

import marshal
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))  # frames from here are the harness's
EQ_HELPER = "__sandbox_eq__"


def main() -> None:
    import _confine  # imported by BOOT from this file's directory, next to this module

    fd, job_path = int(sys.argv[1]), sys.argv[2]
    with open(job_path, "rb") as f:
        job = marshal.load(f)
    os.unlink(job_path)  # the program must not read its own tests

    write, nonce = os.write, job["nonce"]  # bound now: the program may patch the os module

    def emit(**fields) -> None:
        data = (repr({"nonce": nonce, **fields}) + "\n").encode()
        while data:
            data = data[write(fd, data):]

    workdir, limits = job["workdir"], job["limits"]
    try:
        if job["namespaces"]:
            _confine.enter_namespaces(workdir, limits["disk_mb"], job.get("cgroup"), job.get("cgroup_wait_s", 0.0))
        if os.getpid() == 1:
            _fork_from_init(emit)
        _confine.set_rlimits(limits)
        os.chdir(workdir)
    except Exception as e:  # fail closed: a half-confined child never runs the program
        emit(event="setup_error", error=f"{type(e).__name__}: {e}")
        os._exit(70)

    import builtins

    import _sitebuiltins  # exit() and quit(), which -S leaves out

    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    builtins.__dict__[EQ_HELPER] = _check_eq
    sys.path[:0] = [workdir]
    sys.path += job["site"]
    sys.argv = ["main.py"]
    program = job["program"]
    with open("main.py", "w", encoding="utf-8") as f:
        f.write(program)
    module = type(sys)("__main__")
    module.__file__ = os.path.join(workdir, "main.py")
    sys.modules["__main__"] = module
    if job["guard"]:
        _confine.install_guard(workdir)
    exit_now = os._exit

    status, error = _run_program(program, module)
    emit(event="program", exit=status, error=error)
    if error is None:  # ran to its end; sys.exit() ends the run here, without the marker
        for i, test in enumerate(job["tests"]):
            passed, message = _run_test(test, i, module.__dict__)
            emit(event="test", i=i, passed=passed, message=message[:2000])
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    if error is None or not error.startswith("SystemExit"):
        emit(event="done", exit=status)
    exit_now(status)  # no waiting on threads the program left running


def _fork_from_init(emit) -> None:
    """As pid 1 of the run's pid namespace, which ignores signals it has no handler for (so
    SIGXCPU would not stop it): fork; the child returns and runs the program, this process
    reaps, reports a death by signal (``{"event": "signal", "signal": 24}``) and exits, and the
    kernel then kills whatever else is left in the namespace."""
    child = os.fork()
    if child == 0:
        return
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            break
    if os.WIFSIGNALED(status):
        emit(event="signal", signal=os.WTERMSIG(status))
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))


def _run_program(program: str, module) -> tuple[int, str | None]:
    """Run the program; returns (exit status, ``"Type: message"`` of an uncaught error or of a
    ``SystemExit``, or None when it ran to its end).
    After a ``MemoryError`` the program's globals are dropped, and a reserve freed, so that the
    harness has room to report it."""
    reserve = bytearray(4 << 20)
    try:
        exec(_compile(program, "main.py"), module.__dict__)
        return 0, None
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            status = (e.code or 0) & 0xFF
        else:
            print(e.code, file=sys.stderr)
            status = 1
        return status, f"SystemExit: {e.code}"
    except BaseException as e:
        if isinstance(e, MemoryError):
            del reserve
            module.__dict__.clear()
        _print_exception(e, program)
        return 1, _summary(e)


def _run_test(test: str, i: int, namespace: dict) -> tuple[bool, str]:
    """Run one test; returns (passed, message). Never raises."""
    try:
        exec(_compile(test, f"<test {i + 1}>"), namespace)
        return True, ""
    except AssertionError as e:
        return False, str(e) or f"assertion failed: {test.strip()}"
    except SyntaxError as e:
        return False, f"SyntaxError in the test: {e.msg} (line {e.lineno})"
    except SystemExit as e:
        return False, f"the test raised SystemExit({e.code!r})"
    except BaseException as e:
        return False, _summary(e)


def _compile(source: str, name: str):
    """Compile ``source``, with asserts rewritten (``ast`` is imported only when there is one)."""
    if "assert" not in source:
        return compile(source, name, "exec")
    import ast

    return compile(_rewrite(ast.parse(source, name), source, ast), name, "exec")


def _rewrite(tree, source: str, ast):
    """Turn ``assert L == R[, msg]`` into ``__sandbox_eq__(L, R, 'L source', is_call, msg)`` and
    give other bare asserts a message quoting their source (both evaluate each side once)."""

    class Rewriter(ast.NodeTransformer):
        def visit_Assert(self, node):
            self.generic_visit(node)
            t = node.test
            if isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq):
                constant = isinstance(t.left, ast.Constant)
                left_src = "" if constant else ast.get_source_segment(source, t.left) or "the value"
                args = [t.left, t.comparators[0], ast.Constant(left_src),
                        ast.Constant(isinstance(t.left, ast.Call)), node.msg or ast.Constant(None)]
                call = ast.Call(ast.Name(EQ_HELPER, ast.Load()), args, [])
                return ast.copy_location(ast.Expr(call), node)
            if node.msg is None:
                node.msg = ast.Constant(f"assertion failed: {ast.get_source_segment(source, node) or ''}")
            return node

    return ast.fix_missing_locations(Rewriter().visit(tree))


def _check_eq(got, expected, left_src: str, is_call: bool, msg=None) -> None:
    """The rewritten ``assert got == expected``: raises ``AssertionError('f(1) returned 4,
    expected 3')`` (``'x is 4, ...'`` when the left side is not a call, ``'got 4, ...'`` when it
    is a literal)."""
    if not (got == expected):
        said = f"{left_src} {'returned' if is_call else 'is'}" if left_src else "got"
        text = f"{said} {_short(got)}, expected {_short(expected)}"
        raise AssertionError(f"{text}: {msg}" if msg is not None else text)


def _short(value, limit: int = 300) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _summary(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return text[:1000]


def _print_exception(e: BaseException, program: str) -> None:
    """Print the traceback as Python would, from the program's first frame on, without this
    harness's frames (a syntax error prints no stack at all, as Python does)."""
    import linecache
    import traceback

    linecache.cache["main.py"] = (len(program), None, program.splitlines(True), "main.py")
    te = traceback.TracebackException.from_exception(e)
    frames = [f for f in te.stack if os.path.dirname(f.filename) != HERE]
    first = next((k for k, f in enumerate(frames) if f.filename == "main.py"), len(frames))
    te.stack = traceback.StackSummary.from_list(frames[first:])
    sys.stderr.write("".join(te.format()))

