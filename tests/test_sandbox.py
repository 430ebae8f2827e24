"""agentforge.sandbox: typed results, test semantics, and hostile programs contained.

Every hostile program runs under both isolation modes where the machine has them (namespaces
needs util-linux unshare and root or user namespaces; process works everywhere). Each test
checks that nothing is left behind: no temp dir, no process, no pids cgroup.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid

import pytest

from agentforge.core.errors import SandboxUnavailableError, UnknownNameError, UserError
from agentforge.sandbox import (
    ExecutionResult,
    Limits,
    SubprocessExecutor,
    TestOutcome,
    arun_program,
    default_executor,
    run_program,
)

SMALL = Limits(wall_s=3, cpu_s=2, memory_mb=256, max_processes=16, max_output_bytes=4096)
HOSTILE = SMALL.model_copy(update={"wall_s": 1.5})


def _namespaces() -> SubprocessExecutor | None:
    try:
        ex = SubprocessExecutor(SMALL, isolation="namespaces")
        ex.isolation  # probes
        return ex
    except SandboxUnavailableError:
        return None


NS = _namespaces()
PROC = SubprocessExecutor(SMALL, isolation="process")
MODES = [pytest.param("namespaces", marks=pytest.mark.skipif(NS is None, reason="no namespaces here")),
         "process"]


@pytest.fixture(params=MODES)
def ex(request) -> SubprocessExecutor:
    return NS if request.param == "namespaces" else PROC


@pytest.fixture(autouse=True)
def _nothing_left_behind(tmp_path, monkeypatch):
    """Runs use a private temp root; afterwards it must be empty, no process may still name it
    on its command line, and no run cgroup of this process may remain."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield
    assert os.listdir(tmp_path) == [], "a sandbox temp dir was left behind"
    assert _processes_naming(str(tmp_path)) == []
    if NS is not None and NS.isolation.cgroup_root:  # removed at once, or by a thread within 2 s
        deadline = time.monotonic() + 3
        while _my_cgroups() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _my_cgroups() == []


def _my_cgroups() -> list[str]:
    return [d for d in os.listdir(NS.isolation.cgroup_root) if d.startswith(f"run-{os.getpid()}-")]


def _processes_naming(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


# ---- limits and inputs ------------------------------------------------------------------------
def test_limits_validate_with_field_and_range():
    with pytest.raises(UserError, match=r"Limits\.wall_s must be > 0 and <= 3600, got -1"):
        Limits(wall_s=-1)
    with pytest.raises(UserError, match=r"Limits\.memory_mb must be >= 32"):
        Limits(memory_mb=1)
    with pytest.raises(UserError, match="no field 'walltime'"):
        Limits(walltime=3)
    assert Limits().wall_s == 10 and Limits().max_output_bytes == 65536


def test_bad_inputs_are_user_errors():
    with pytest.raises(UserError, match="sequence of Python source"):
        PROC.run("x = 1", "assert x == 1")
    with pytest.raises(UserError, match="program must be Python source"):
        PROC.run(None)
    with pytest.raises(UserError, match="concurrency"):
        SubprocessExecutor(concurrency=0)
    with pytest.raises(UnknownNameError, match="isolation mode"):
        SubprocessExecutor(isolation="docker").isolation


# ---- results and test semantics ---------------------------------------------------------------
def test_passing_program_and_tests(ex):
    r = ex.run("def add(a, b):\n    return a + b\nprint('hi')", ["assert add(1, 2) == 3", "assert add(0, 0) == 0"])
    assert (r.ok, r.passed, r.completed, r.exit_code, r.first_failure) == (True, True, True, 0, None)
    assert r.stdout == "hi\n" and [t.passed for t in r.tests] == [True, True]
    assert r.isolation == ex.isolation.mode
    assert r.feedback().startswith("All 2 tests passed.")


def test_failing_tests_say_what_was_returned_and_do_not_stop_the_others():
    program = "def add(a, b):\n    return a - b\nx = 4"
    tests = ["assert add(1, 2) == 3", "assert x == 3", "assert add(2, 2) == 0", "1 / 0",
             "assert add(5, 5) > 1, 'too small'", "def check(candidate):\n    assert candidate(3, 1) == 4\ncheck(add)",
             "assert 1 == 2", "assert add(1, 1) < 0"]
    r = PROC.run(program, tests)
    assert r.ok and not r.passed
    assert [t.message for t in r.tests] == [
        "add(1, 2) returned -1, expected 3", "x is 4, expected 3", "", "ZeroDivisionError: division by zero",
        "too small", "candidate(3, 1) returned 2, expected 4", "got 1, expected 2",
        "assertion failed: assert add(1, 1) < 0"]
    assert r.tests[2].passed and r.tests[0].test == tests[0]
    assert r.first_failure == "assert add(1, 2) == 3: add(1, 2) returned -1, expected 3"
    fb = r.feedback(max_chars=200)
    assert len(fb) <= 200 and "7 of 8 tests failed" in fb and "returned -1, expected 3" in fb


def test_program_error_gives_traceback_and_tests_not_run(ex):
    r = ex.run("def f():\n    return 1 / 0\nf()", ["assert f() == 1"])
    assert not r.ok and r.exit_code == 1 and r.error == "ZeroDivisionError: division by zero"
    assert 'File "main.py", line 2, in f' in r.stderr and "_child" not in r.stderr
    assert r.tests == [TestOutcome(test="assert f() == 1", passed=False,
                                   message="not run: the program did not finish (ZeroDivisionError: division by zero)")]
    assert "return 1 / 0" in r.feedback() and r.first_failure == r.error


def test_syntax_error_is_a_result():
    r = PROC.run("def f(:\n    pass", ["assert True"])
    assert not r.ok and r.error.startswith("SyntaxError") and 'File "main.py", line 1' in r.stderr
    assert not r.tests[0].passed


def test_sys_exit_before_the_end_is_not_a_pass(ex):
    early = ex.run("import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b", ["assert add(1, 2) == 3"])
    assert (early.ok, early.passed, early.completed, early.exit_code) == (False, False, False, 0)
    assert early.error == "the program called sys.exit(0) before its end, so its tests did not run"
    assert early.tests[0].message.startswith("not run")
    # checks carried by the program itself (HumanEval style) cannot be skipped either
    humaneval = ex.run("def add(a, b):\n    return a - b\nexit()\ndef check(f):\n    assert f(1, 2) == 3\ncheck(add)")
    assert not humaneval.ok and "sys.exit(None)" in humaneval.error  # exit() exists though -S skips site
    r = ex.run("import sys; sys.exit(3)", ["assert True"])
    assert (r.ok, r.exit_code) == (False, 3) and "sys.exit(3)" in r.error


def test_os_exit_before_tests_is_not_a_pass(ex):
    r = ex.run("import os\nos._exit(0)", ["assert 1 == 1"])
    assert r.exit_code == 0 and not r.completed and not r.ok and not r.passed
    assert "os._exit" in r.first_failure and r.tests[0].message.startswith("not run")


def test_forged_report_lines_are_ignored():
    forge = "import os, sys\nfor fd in range(3, 20):\n    try: os.write(fd, b\"{'event': 'done', 'exit': 0}\\n\")\n" \
            "    except OSError: pass\nos._exit(0)"
    assert not PROC.run(forge, ["assert False"]).passed


def test_stdin_given_or_empty(ex):
    assert ex.run("print(input()[::-1])", stdin="abc\n").stdout == "cba\n"
    r = ex.run("print(input())")  # no stdin: EOF at once, not a hang
    assert r.error.startswith("EOFError") and r.duration_s < 2


def test_program_that_never_prints_and_site_packages_import():
    r = PROC.run("import pydantic\nx = sum(range(10))", ["assert x == 45"])
    assert r.passed and r.stdout == "" and r.stderr == ""


def test_main_module_is_a_real_module():
    r = PROC.run("import pickle, dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\n"
                 "assert pickle.loads(pickle.dumps(P(3))) == P(3)\nprint(__name__)")
    assert r.ok and r.stdout == "__main__\n"


def test_bad_utf8_output_is_replaced():
    r = PROC.run("import sys\nsys.stdout.buffer.write(b'ok \\xff\\n')")
    assert r.ok and r.stdout == "ok \ufffd\n"


# ---- hostile programs -------------------------------------------------------------------------
def test_infinite_loop_is_killed_at_the_wall_clock(ex):
    r = ex.run("while True:\n    pass", limits=HOSTILE.model_copy(update={"cpu_s": 30}))
    assert r.timed_out and r.stopped == "wall_time" and r.exit_code is None and not r.ok
    assert 1.4 < r.duration_s < 3 and "Timed out" in r.feedback()


def test_hanging_test_is_named():
    r = PROC.run("import time", ["assert 1 == 1", "time.sleep(30)", "assert 2 == 2"], limits=HOSTILE)
    assert r.timed_out and [t.message for t in r.tests][:2] == ["", "timed out"]
    assert r.tests[2].message.startswith("not run") and "in test 2 (time.sleep(30))" in r.error


def test_cpu_limit_kills_with_sigxcpu(ex):
    r = ex.run("while True:\n    pass", limits=Limits(wall_s=5, cpu_s=1))
    assert r.exit_code == -24 and not r.timed_out and "CPU time limit" in r.error


@pytest.mark.parametrize("program", ["x = bytearray(2 * 1024 ** 3)",
                                     "x = []\nwhile True:\n    x.append(' ' * 10 ** 6)"])
def test_memory_hog_gets_memory_error(ex, program):
    r = ex.run(program, limits=SMALL.model_copy(update={"memory_mb": 128}))
    assert not r.ok and r.error == "MemoryError" and not r.timed_out


def test_flood_of_output_is_capped_and_stopped(ex):
    t = time.perf_counter()
    r = ex.run("import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 100_000)", limits=HOSTILE)
    assert r.truncated and r.stopped == "output" and not r.ok and len(r.stdout) == HOSTILE.max_output_bytes
    assert time.perf_counter() - t < 1.5


def test_output_past_the_cap_can_be_dropped_instead():
    lim = HOSTILE.model_copy(update={"stop_on_output_overflow": False})
    r = PROC.run("print('y' * 1_000_000)\nprint('end')", ["assert True"], limits=lim)
    assert r.ok and r.passed and r.truncated and r.stdout == "y" * lim.max_output_bytes


def test_fork_bomb_and_shell_are_refused(ex):
    r = ex.run("import os\nwhile True:\n    os.fork()", limits=HOSTILE)
    assert r.error == "PermissionError: sandbox: os.fork is not allowed" and r.duration_s < 1.5
    tag = f"/tmp/sandbox_escape_{uuid.uuid4().hex}"
    r = ex.run(f"import os\nos.system('touch {tag}')", limits=HOSTILE)
    assert "os.system is not allowed" in r.error and not os.path.exists(tag)
    r = ex.run("import subprocess\nsubprocess.run(['true'])", limits=HOSTILE)
    assert "subprocess.Popen is not allowed" in r.error
    r = ex.run("import ctypes\nctypes.CDLL(None).fork()", limits=HOSTILE)
    assert "fork() via ctypes" in r.error


def test_writing_outside_the_work_dir_is_blocked_inside_allowed(ex):
    tag = f"/tmp/sandbox_escape_{uuid.uuid4().hex}"
    program = ("import os\nwith open('mine.txt', 'w') as f:\n    f.write('data')\nos.mkdir('sub')\n"
               "print(open('mine.txt').read())\n"
               f"open({tag!r}, 'w').write('escaped')")
    r = ex.run(program, limits=HOSTILE)
    assert r.stdout == "data\n" and "PermissionError" in r.error and not os.path.exists(tag)
    r = ex.run("import os\nos.remove('/etc/hostname')", limits=HOSTILE)
    assert "PermissionError" in r.error and os.path.exists("/etc/hostname")


def test_reading_outside_is_allowed_and_documented():
    r = PROC.run("print(open('/etc/passwd').read().split(':')[0])")
    assert r.ok and r.stdout.strip()  # reads are not confined (see the threat model)


def test_network_is_refused(ex):
    r = ex.run("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)", limits=HOSTILE)
    assert "socket.connect is not allowed" in r.error


# ---- the kernel layers on their own (audit guard off), namespaces only ------------------------
needs_ns = pytest.mark.skipif(NS is None, reason="no namespaces here")


@needs_ns
def test_kernel_layers_without_the_audit_guard():
    raw = SubprocessExecutor(SMALL, isolation="namespaces", audit_guard=False)
    tag = f"/tmp/sandbox_escape_{uuid.uuid4().hex}"
    r = raw.run(f"open({tag!r}, 'w').write('x')", limits=HOSTILE)
    assert "Read-only file system" in r.error and not os.path.exists(tag)
    r = raw.run("import os\nos.system('mount -o remount,rw / 2>/dev/null; echo $?')", limits=HOSTILE)
    assert r.stdout.strip() not in ("", "0")
    r = raw.run("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)", limits=HOSTILE)
    assert "Network is unreachable" in r.error
    r = raw.run("f = open('big', 'wb')\nfor _ in range(100):\n    f.write(b'x' * 2 ** 20)",
                limits=HOSTILE.model_copy(update={"disk_mb": 8}))
    assert r.error.startswith("OSError") and ("No space left" in r.error or "too large" in r.error)


@needs_ns
def test_fork_bomb_without_the_guard_hits_the_pids_cgroup_and_leaves_nothing():
    if not NS.isolation.cgroup_root:
        pytest.skip("no pids cgroup here")
    raw = SubprocessExecutor(SMALL, isolation="namespaces", audit_guard=False)
    bomb = ("import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n        n += 1\nexcept OSError:\n    print(n)")
    r = raw.run(bomb, limits=HOSTILE.model_copy(update={"max_processes": 12}))
    assert r.ok and 0 < int(r.stdout) < 12  # the sleepers die with the namespace (see fixture)


@needs_ns
def test_escaped_session_is_killed_with_the_namespace(tmp_path):
    raw = SubprocessExecutor(SMALL, isolation="namespaces", audit_guard=False)
    token = f"afsb{uuid.uuid4().hex}"
    r = raw.run(f"import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 60; : {token}'], start_new_session=True)")
    assert r.ok
    time.sleep(0.1)
    assert _processes_naming(token) == []


def test_process_mode_kills_the_process_group_after_the_run():
    raw = SubprocessExecutor(SMALL, isolation="process", audit_guard=False)
    token = f"afsb{uuid.uuid4().hex}"
    assert raw.run(f"import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 60; : {token}'])").ok
    time.sleep(0.1)
    assert _processes_naming(token) == []


# ---- concurrency and calling conventions ------------------------------------------------------
async def test_concurrency_limit_holds_across_many_programs():
    ex = SubprocessExecutor(SMALL, concurrency=2, isolation="process")
    prog = "import time\nstart = time.time()\ntime.sleep(0.25)\nprint(start, time.time())"
    results = await asyncio.gather(*(ex.arun(prog) for _ in range(6)))
    spans = [tuple(map(float, r.stdout.split())) for r in results]
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert all(r.ok for r in results) and overlap <= 2


async def test_cancelled_run_leaves_nothing(ex):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ex.arun("while True:\n    pass"), 0.5)
    await asyncio.sleep(0.1)  # the fixture then checks: no temp dir, no process, no cgroup


async def test_sync_run_works_inside_a_running_loop():
    r = PROC.run("print(6 * 7)")  # called from a coroutine: runs on a worker thread
    assert r.stdout == "42\n"


async def test_default_executor_helpers():
    assert default_executor() is default_executor()
    r = await arun_program("print(1)", ["assert 2 == 2"], limits=SMALL)
    assert isinstance(r, ExecutionResult) and r.passed
    assert (await asyncio.to_thread(run_program, "print(2)", limits=SMALL)).stdout == "2\n"


def test_isolation_is_recorded():
    assert PROC.isolation.mode == "process" and not PROC.isolation.network_blocked
    if NS is not None:
        assert NS.isolation.mode == "namespaces" and NS.isolation.network_blocked
        assert NS.run("print(1)").isolation == "namespaces"
