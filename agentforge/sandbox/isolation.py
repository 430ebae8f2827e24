"""Which isolation this machine allows (probed once per process), and per-run pids cgroups."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agentforge.core.errors import SandboxUnavailableError, UnknownNameError

log = logging.getLogger("agentforge.sandbox")

MODES = ("auto", "namespaces", "process")
UNSHARE_FLAGS = ("--net", "--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc")
CGROUP_DIR = "agentforge-sandbox"


@dataclass(frozen=True)
class Isolation:
    """How runs are confined on this machine.

    Attributes:
        mode: ``"namespaces"`` (util-linux ``unshare``: no network, read-only filesystem but a
            private tmpfs work dir, private pid namespace, no capabilities) or ``"process"``
            (rlimits and the audit guard only).
        prefix: the command put before the interpreter, e.g. ``("/usr/bin/unshare", "--net", ...)``.
        cgroup_root: a pids-cgroup directory under which each run gets its own cgroup capping
            its tasks at ``Limits.max_processes``; None where none can be made (not root, or no
            writable pids controller).
        note: why this mode was chosen (the probe's error when namespaces were not available).
    """

    mode: Literal["namespaces", "process"]
    prefix: tuple[str, ...] = ()
    cgroup_root: str | None = None
    note: str = ""

    @property
    def network_blocked(self) -> bool:
        """True when programs have no network at all (a fresh network namespace)."""
        return self.mode == "namespaces"


def namespace_prefix() -> tuple[str, ...] | None:
    """The ``unshare`` command line, mapping the caller to root in a user namespace when it is
    not root; None off Linux or without util-linux ``unshare``."""
    exe = shutil.which("unshare")
    if not sys.platform.startswith("linux") or exe is None:
        return None
    user = () if os.geteuid() == 0 else ("--map-root-user",)
    return (exe, *user, *UNSHARE_FLAGS, "--")


def pids_cgroup_root() -> str | None:
    """A writable pids-cgroup directory for per-run cgroups (cgroup v1 ``pids`` hierarchy, or v2
    with the pids controller delegated), created if needed; None when there is none."""
    if os.geteuid() != 0:
        return None
    for base, v2 in (("/sys/fs/cgroup/pids", False), ("/sys/fs/cgroup", True)):
        root = os.path.join(base, CGROUP_DIR)
        try:
            if v2 and "pids" not in open(os.path.join(base, "cgroup.controllers")).read().split():
                continue
            os.makedirs(root, exist_ok=True)
            if v2:
                for d in (base, root):
                    with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                        f.write("+pids")
            _remove_patiently(new_run_cgroup(root, 8), 1.0)
        except OSError as e:
            log.debug("no pids cgroup under %s: %s", base, e)
            continue
        _remove_stale(root)
        return root
    return None


def new_run_cgroup(root: str, max_processes: int) -> str:
    """Make ``root/run-<pid>-<id>`` with ``pids.max = max_processes``; returns its path."""
    path = os.path.join(root, f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}")
    os.mkdir(path)
    try:
        with open(os.path.join(path, "pids.max"), "w") as f:
            f.write(str(max_processes))
    except OSError:
        os.rmdir(path)
        raise
    return path


def remove_run_cgroup(path: str, wait_s: float = 2.0) -> None:
    """SIGKILL whatever is still in the cgroup and remove it. Returns at once; when tasks are
    still exiting, a daemon thread retries for up to ``wait_s`` seconds."""
    if not _try_remove(path):
        threading.Thread(target=_remove_patiently, args=(path, wait_s), daemon=True).start()


def _try_remove(path: str) -> bool:
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            for pid in f.read().split():
                _kill(int(pid))
    except OSError:
        pass
    return False


def _remove_patiently(path: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not _try_remove(path):
        if time.monotonic() > deadline:
            log.warning("sandbox cgroup %s still busy; left in place", path)
            return
        time.sleep(0.01)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _remove_stale(root: str) -> None:
    """Remove run cgroups left by processes that died without cleaning up."""
    for name in os.listdir(root):
        parts = name.split("-")
        if name.startswith("run-") and len(parts) == 3 and parts[1].isdigit() and not _alive(int(parts[1])):
            _remove_patiently(os.path.join(root, name), 0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


_cache: dict[tuple[str, str], Isolation] = {}
_lock = threading.Lock()


def resolve(requested: str, python: str, probe: Callable[[Isolation], str | None]) -> Isolation:
    """The isolation to use for ``requested`` (``auto``, ``namespaces`` or ``process``), probed
    once per (mode, interpreter) and cached. ``probe`` runs a trivial program under a candidate
    and returns None when it worked, else the error.

    Raises:
        UnknownNameError: ``requested`` is not a mode.
        SandboxUnavailableError: ``namespaces`` was asked for and does not work here.
    """
    if requested not in MODES:
        raise UnknownNameError("isolation mode", requested, MODES)
    with _lock:
        key = (requested, python)
        if key not in _cache:
            _cache[key] = _detect(requested, probe)
            iso = _cache[key]
            log.info("sandbox isolation: %s (%s)", iso.mode, iso.note)
        return _cache[key]


def _detect(requested: str, probe: Callable[[Isolation], str | None]) -> Isolation:
    if requested == "process":
        return Isolation("process", note="requested")
    prefix = namespace_prefix()
    errors = [] if prefix else ["no util-linux unshare on this platform"]
    if prefix:
        cgroup = pids_cgroup_root()
        for root in ([cgroup, None] if cgroup else [None]):
            candidate = Isolation("namespaces", prefix, root,
                                  f"unshare; pids cgroup {'at ' + root if root else 'unavailable'}")
            err = probe(candidate)
            if err is None:
                return candidate
            errors.append(err)
    if requested == "namespaces":
        raise SandboxUnavailableError(f"namespaces isolation does not work here: {'; '.join(errors)}")
    return Isolation("process", note=f"namespaces unavailable: {'; '.join(errors)}")
