"""Parent side of one run: spawn the child, read its output with a cap, kill it, clean up."""

from __future__ import annotations

import ast
import asyncio
import marshal
import os
import py_compile
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.util import cache_from_source

from agentforge.core.errors import SandboxUnavailableError
from agentforge.sandbox.isolation import Isolation, new_run_cgroup, remove_run_cgroup
from agentforge.sandbox.limits import Limits
from agentforge.sandbox.result import ExecutionResult, TestOutcome

HERE = os.path.dirname(os.path.abspath(__file__))
# the child's entry point: import _child and _confine from this directory (bytecode cached)
BOOT = f"import sys;sys.path.insert(0,{HERE!r});import _child,_confine;del sys.path[0];_child.main()"
REPORT_CAP = 4 << 20  # bytes of harness report kept; the program could write junk to the pipe
GRACE_S = 1.0  # after the exit, how long to wait for the pipes to close
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CAN_MOVE_CHILD = os.path.exists(f"/proc/self/task/{os.getpid()}/children")  # CONFIG_PROC_CHILDREN
SIGNAL_CAUSE = {"SIGXCPU": "the CPU time limit", "SIGKILL": "a resource limit",
                "SIGSEGV": "a crash", "SIGABRT": "an abort"}


async def execute(program: str, tests: Sequence[str], limits: Limits, stdin: str | None,
                  iso: Isolation, python: str, site: Sequence[str], guard: bool) -> ExecutionResult:
    """Run ``program`` then ``tests`` in one confined child; see ``Executor.arun``.

    ``site`` holds directories put on the child's ``sys.path`` (``-S`` skips its site hooks);
    when empty the interpreter's own ``site`` runs. Raises ``SandboxUnavailableError`` only
    when the child could not be started or confined.
    """
    tmp = tempfile.mkdtemp(prefix="agentforge-sandbox-")
    work, job_path = os.path.join(tmp, "work"), os.path.join(tmp, "job.marshal")
    nonce, cgroup, transport, pipes, fds = secrets.token_hex(16), None, None, [], []
    try:
        os.mkdir(work, 0o700)
        job = {"program": program, "tests": list(tests), "workdir": work, "nonce": nonce,
               "limits": limits.model_dump(), "namespaces": iso.mode == "namespaces",
               "site": list(site), "guard": guard}
        if iso.cgroup_root:
            cgroup = job["cgroup"] = new_run_cgroup(iso.cgroup_root, limits.max_processes)
            job["cgroup_wait_s"] = 1.0 if CAN_MOVE_CHILD else 0.0
        with open(job_path, "wb") as f:
            marshal.dump(job, f)
        fds = list(os.pipe())
        flags = ["-I", "-S"] if site else ["-I"]
        cmd = [*iso.prefix, python, *flags, "-B", "-u", "-X", "utf8", "-c", BOOT, str(fds[1]), job_path]
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            transport, proto = await loop.subprocess_exec(
                lambda: _Protocol(loop), *cmd, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(fds[1],),
                start_new_session=True, cwd=work, env={**ENV, "HOME": work, "TMPDIR": work})
        except OSError as e:
            raise SandboxUnavailableError(f"cannot start the sandbox interpreter {cmd[0]!r}: {e}") from e
        pgid = transport.get_pid()
        os.close(fds.pop())
        report = asyncio.StreamReader(limit=REPORT_CAP)
        pipes.append((await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(report),
                                                   os.fdopen(fds.pop(), "rb", 0)))[0])
        stopped: list[str] = []

        def stop(reason: str) -> None:
            if not stopped:
                stopped.append(reason)
            _kill_group(pgid)

        overflow = (lambda: stop("output")) if limits.stop_on_output_overflow else None
        caps = [_Capture(limits.max_output_bytes, overflow), _Capture(limits.max_output_bytes, overflow),
                _Capture(REPORT_CAP, None)]
        pumps = [asyncio.ensure_future(c.pump(r)) for c, r in zip(caps, (proto.stdout, proto.stderr, report))]
        feeder = asyncio.ensure_future(_feed(proto.stdin, stdin)) if stdin is not None else None
        if cgroup and CAN_MOVE_CHILD:
            pumps.append(asyncio.ensure_future(_move_child_into(cgroup, pgid, proto.exited)))
        try:  # the exit itself: Process.wait() would also wait for pipes a grandchild may hold
            await asyncio.wait_for(asyncio.shield(proto.exited), limits.wall_s)
        except asyncio.TimeoutError:
            stop("wall_time")
            await proto.exited
        duration = time.perf_counter() - start
        _kill_group(pgid)  # anything the program left behind in its process group
        _, pending = await asyncio.wait(pumps, timeout=GRACE_S)
        for task in [*pending, *([feeder] if feeder else [])]:
            task.cancel()
        out, err, rep = caps
        return _result(tests, limits, iso, transport.get_returncode(), stopped[0] if stopped else None,
                       duration, bytes(out.kept), bytes(err.kept), out.overflowed or err.overflowed,
                       _events(bytes(rep.kept), nonce))
    finally:
        if transport is not None:
            if transport.get_returncode() is None:
                _kill_group(transport.get_pid())
            transport.close()
        for t in pipes:
            t.close()
        for fd in fds:
            os.close(fd)
        if cgroup:
            remove_run_cgroup(cgroup)
        _rmtree(tmp)


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's subprocess protocol plus ``exited``, a future set when the process exits."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        super().__init__(limit=1 << 16, loop=loop)
        self.exited = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


class _Capture:
    """Reads a stream to EOF keeping the first ``cap`` bytes in ``kept`` (so a partial read is
    usable even if the pump is cancelled); calls ``on_overflow`` once past the cap."""

    def __init__(self, cap: int, on_overflow: Callable[[], None] | None):
        self.cap, self.on_overflow, self.kept, self.total = cap, on_overflow, bytearray(), 0

    @property
    def overflowed(self) -> bool:
        return self.total > self.cap

    async def pump(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(1 << 16):
            self.total += len(chunk)
            if len(self.kept) < self.cap:
                self.kept += chunk[: self.cap - len(self.kept)]
            if self.overflowed and self.on_overflow is not None:
                self.on_overflow()
                self.on_overflow = None


async def _move_child_into(cgroup: str, pid: int, exited: asyncio.Future) -> None:
    """Move unshare's child (the confined interpreter, which waits for this) into ``cgroup``:
    from outside it takes about 0.1 ms, against about 10 ms for a process moving itself."""
    children = f"/proc/{pid}/task/{pid}/children"
    while not exited.done():
        try:
            with open(children) as f:
                kids = f.read().split()
            if kids:
                with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                    f.write(kids[0])
                return
        except OSError:
            return  # no such file (CONFIG_PROC_CHILDREN off) or the child is gone: it moves itself
        await asyncio.sleep(0.0005)


async def _feed(pipe: asyncio.StreamWriter, text: str) -> None:
    try:
        pipe.write(text.encode())
        await pipe.drain()
        pipe.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program exited without reading all of its input


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def ensure_bytecode() -> None:
    """Compile the child's modules once (pip usually has), so each child loads bytecode instead
    of parsing them (``-B`` stops the child from writing it). Best effort: skipped if read-only."""
    for name in ("_child.py", "_confine.py"):
        src = os.path.join(HERE, name)
        try:
            pyc = cache_from_source(src)
            if not os.path.exists(pyc) or os.path.getmtime(pyc) < os.path.getmtime(src):
                py_compile.compile(src, cfile=pyc, doraise=True)
        except (OSError, py_compile.PyCompileError):
            pass


def _rmtree(path: str) -> None:
    """Remove ``path`` even where the program took away permissions inside it."""
    def fix(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=fix)


def _events(report: bytes, nonce: str) -> list[dict]:
    """The harness's report lines carrying ``nonce`` (anything else on the pipe is ignored)."""
    events = []
    for line in report.splitlines():
        try:
            event = ast.literal_eval(line.decode("utf-8", "replace"))
        except Exception:  # junk the program wrote on the pipe (ValueError, SyntaxError, ...)
            continue
        if isinstance(event, dict) and event.get("nonce") == nonce:
            events.append(event)
    return events


def _result(tests: Sequence[str], limits: Limits, iso: Isolation, rc: int | None,
            stopped: str | None, duration: float, out: bytes, err: bytes, truncated: bool,
            events: list[dict]) -> ExecutionResult:
    kinds = {e.get("event"): e for e in events}
    if "setup_error" in kinds:
        raise SandboxUnavailableError(f"sandbox setup failed ({iso.mode} mode): {kinds['setup_error'].get('error')}")
    prog, completed = kinds.get("program"), "done" in kinds
    if "signal" in kinds and isinstance(kinds["signal"].get("signal"), int):
        rc = -kinds["signal"]["signal"]  # pid 1 of the namespace exits with 128 + signal instead
    ran = {e.get("i"): e for e in events if e.get("event") == "test"}
    if stopped == "wall_time":
        error = f"the wall-clock limit of {limits.wall_s:g} s was reached"
    elif stopped == "output":
        error = f"the output passed {limits.max_output_bytes} bytes (Limits.max_output_bytes)"
    elif prog is not None and str(prog.get("error")).startswith("SystemExit"):
        error = (f"the program called sys.exit({str(prog['error'])[12:]}) before its end"
                 f"{', so its tests did not run' if tests else ''}")
    elif prog is not None and prog.get("error"):
        error = str(prog["error"])
    elif rc is not None and rc < 0:
        name = _signal_name(-rc)
        error = f"killed by {name} ({SIGNAL_CAUSE.get(name, 'a signal')})"
    elif not completed:
        error = (f"the process exited with status {rc} before the harness finished "
                 "(os._exit, or a crash) so its tests are not trusted")
    else:
        error = None
    hung = None  # the test running when the wall clock ran out
    if stopped == "wall_time" and prog is not None and prog.get("exit") == 0:
        hung = next((i for i in range(len(tests)) if i not in ran), None)
        if hung is not None:
            error += f" in test {hung + 1} ({_clip(tests[hung])})"
    outcomes = []
    for i, test in enumerate(tests):
        e = ran.get(i)
        if e is not None:
            outcomes.append(TestOutcome(test=test, passed=bool(e.get("passed")), message=str(e.get("message", ""))))
        else:
            why = "timed out" if i == hung else f"not run: the program did not finish ({error})"
            outcomes.append(TestOutcome(test=test, passed=False, message=why))
    return ExecutionResult(
        stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
        exit_code=None if stopped else rc, timed_out=stopped == "wall_time", duration_s=duration,
        tests=outcomes, truncated=truncated, completed=completed and not stopped, error=error,
        stopped=stopped, isolation=iso.mode)


def _clip(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"
