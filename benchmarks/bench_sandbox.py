"""Sandbox cost and containment (agentforge.sandbox), in every isolation mode this machine has.

1. Overhead: wall time per execution of a trivial program (``print(1)``) through
   ``SubprocessExecutor.run`` against a bare ``subprocess.run([sys.executable, "-c", ...])`` in
   the same run (rounds interleaved, medians). The goal is a ratio of at most 1.5. The bare
   ``python -I -S`` startup is listed too: the sandbox child starts with ``-S``.
2. Throughput: executions/s of trivial programs at concurrency 1 and 2.
3. Containment: every hostile program from the brief (and a few more), each with its own check
   of what "contained" means, the time to contain it, and the result's summary. After each run
   the temp root must be empty and no process may still name it.

Writes benchmarks/results/sandbox/results.json and results.md.
Usage: python benchmarks/bench_sandbox.py [--calls 60] [--programs 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from agentforge.core.errors import SandboxUnavailableError
from agentforge.sandbox import ExecutionResult, Limits, SubprocessExecutor

OUT = Path(__file__).parent / "results" / "sandbox"
LIM = Limits(wall_s=2, cpu_s=5, memory_mb=256, max_processes=16, max_output_bytes=65536)


def executors() -> dict[str, SubprocessExecutor]:
    found = {}
    for mode in ("namespaces", "process"):
        try:
            ex = SubprocessExecutor(LIM, isolation=mode)
            ex.isolation  # probe
            found[mode] = ex
        except SandboxUnavailableError as e:
            print(f"[{mode}] unavailable: {e}")
    return found


def overhead(exs: dict[str, SubprocessExecutor], calls: int, rounds: int = 5) -> dict:
    bare = {"bare python -c": [sys.executable, "-c", "print(1)"],
            "bare python -I -S -c": [sys.executable, "-I", "-S", "-c", "print(1)"]}
    for ex in exs.values():
        ex.run("print(1)")  # warm-up
    times: dict[str, list[float]] = {k: [] for k in [*bare, *(f"sandbox {m}" for m in exs)]}
    per = max(1, calls // rounds)
    for _ in range(rounds):  # interleaved, so that load from other processes hits every variant
        for name, cmd in bare.items():
            for _ in range(per):
                t = time.perf_counter()
                subprocess.run(cmd, capture_output=True, check=True)
                times[name].append(time.perf_counter() - t)
        for mode, ex in exs.items():
            for _ in range(per):
                t = time.perf_counter()
                r = ex.run("print(1)")
                times[f"sandbox {mode}"].append(time.perf_counter() - t)
                assert r.ok and r.stdout == "1\n", r
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    low = {k: min(v) * 1000 for k, v in times.items()}  # least disturbed by other load on the machine
    base, base_low = med["bare python -c"], low["bare python -c"]
    return {k: {"median_ms": round(v, 2), "ratio_vs_bare_python_c": round(v / base, 2),
                "min_ms": round(low[k], 2), "ratio_of_mins": round(low[k] / base_low, 2), "n": len(times[k])}
            for k, v in med.items()}


async def throughput(mode: str, concurrency: int, programs: int) -> dict:
    ex = SubprocessExecutor(LIM, concurrency=concurrency, isolation=mode)
    await ex.arun("print(1)")
    t = time.perf_counter()
    results = await asyncio.gather(*(ex.arun("print(sum(range(1000)))") for _ in range(programs)))
    wall = time.perf_counter() - t
    assert all(r.ok for r in results)
    return {"mode": mode, "concurrency": concurrency, "programs": programs, "wall_s": round(wall, 2),
            "executions_per_s": round(programs / wall, 1)}


def hostile_cases(tag: str) -> list[tuple[str, str, list[str], Limits, bool, callable]]:
    """(name, program, tests, limits, audit_guard, check(result) -> (contained, note))."""
    escape = f"/tmp/sandbox_escape_{tag}"
    long_cpu = LIM.model_copy(update={"cpu_s": 30})
    bomb = ("import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n        n += 1\nexcept OSError as e:\n    print(n, e)")
    return [
        ("infinite loop", "while True:\n    pass", [], long_cpu, True,
         lambda r: (r.timed_out and r.duration_s < LIM.wall_s + 1, "killed at the wall clock")),
        ("CPU hog (cpu_s=1)", "while True:\n    pass", [], LIM.model_copy(update={"cpu_s": 1, "wall_s": 6}), True,
         lambda r: (r.exit_code == -24, "SIGXCPU at the CPU limit")),
        ("fork bomb", "import os\nwhile True:\n    os.fork()", [], LIM, True,
         lambda r: (not r.ok, "refused by the audit guard")),
        ("fork bomb, audit guard off", bomb, [], LIM, False,
         lambda r: (r.stdout != "" and int(r.stdout.split()[0]) < LIM.max_processes,
                    f"forks before refusal: {r.stdout.split()[0] if r.stdout else '?'}")),
        ("memory hog", "x = []\nwhile True:\n    x.append(' ' * 10 ** 6)", [], LIM, True,
         lambda r: (not r.ok and not r.timed_out, "MemoryError at the address-space limit")),
        ("100 MB of output", "import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 100_000)", [], LIM, True,
         lambda r: (r.truncated and len(r.stdout) <= LIM.max_output_bytes, f"kept {len(r.stdout)} bytes")),
        ("os.system", f"import os\nos.system('touch {escape}_sys')", [], LIM, True,
         lambda r: (not os.path.exists(f"{escape}_sys"), "no shell ran")),
        ("os.system, audit guard off", f"import os\nprint(os.system('touch {escape}_sys2'))", [], LIM, False,
         lambda r: (not os.path.exists(f"{escape}_sys2"), "shell ran; its write failed")),
        ("write outside the work dir", f"open('{escape}', 'w').write('x')", [], LIM, True,
         lambda r: (not os.path.exists(escape), "write refused")),
        ("write outside, audit guard off", f"open('{escape}_2', 'w').write('x')", [], LIM, False,
         lambda r: (not os.path.exists(f"{escape}_2"), "write refused")),
        ("read /etc/passwd", "print(open('/etc/passwd').read()[:4])", [], LIM, True,
         lambda r: (None, "read allowed (threat model: reads are not confined)")),
        ("network connect", "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)", [],
         LIM, True, lambda r: (not r.ok and r.duration_s < 1.5, "refused")),
        ("network connect, audit guard off", "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)",
         [], LIM, False, lambda r: (not r.ok and "unreachable" in (r.error or ""), "no route")),
        ("syntax error", "def f(:\n    pass", ["assert True"], LIM, True,
         lambda r: (not r.ok and (r.error or "").startswith("SyntaxError"), "reported")),
        ("sys.exit(0) before tests", "import sys\nsys.exit(0)\ndef f():\n    return 1", ["assert f() == 1"], LIM,
         True, lambda r: (not r.passed and not r.completed, "no completion marker")),
        ("os._exit(0) before tests", "import os\nos._exit(0)", ["assert True"], LIM, True,
         lambda r: (not r.passed and not r.completed, "no completion marker")),
        ("never prints", "x = 1", [], LIM, True, lambda r: (r.ok and r.stdout == "", "ok, empty output")),
        ("reads stdin, none given", "print(input())", [], LIM, True,
         lambda r: (not r.ok and r.duration_s < 1, "EOFError at once")),
    ]


def hostile(exs: dict[str, SubprocessExecutor], root: str) -> list[dict]:
    rows = []
    tag = uuid.uuid4().hex[:12]
    for mode in exs:
        raw = SubprocessExecutor(LIM, isolation=mode, audit_guard=False)
        for name, program, tests, lim, guard, check in hostile_cases(f"{tag}_{mode}"):
            if not guard and mode == "process":
                rows.append({"mode": mode, "program": name, "audit_guard": False, "contained": None,
                             "note": "not run: in process mode only the audit guard stops this"})
                continue
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            r: ExecutionResult = (exs[mode] if guard else raw).run(program, tests, limits=lim)
            rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
            contained, note = check(r)
            left = os.listdir(root) + [p for p in _pids_naming(root)]
            rows.append({"mode": mode, "program": name, "audit_guard": guard, "contained": contained and not left
                         if contained is not None else None, "time_to_contain_s": round(r.duration_s, 3),
                         "note": note, "error": r.error, "exit_code": r.exit_code, "left_behind": left,
                         "parent_maxrss_growth_kb": rss_kb})
            print(f"  [{mode:10s}] {name:34s} contained={rows[-1]['contained']!s:5s} "
                  f"{r.duration_s:6.3f}s  {note}; {r.error}")
    return rows


def _pids_naming(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def write_md(res: dict) -> str:
    lines = ["# Sandbox benchmark", "", f"Machine: {res['machine']}", "",
             "## Overhead per execution of `print(1)`", "",
             "Rounds interleave the variants. Other jobs share this machine, so medians move between runs; "
             "the minimum is the least disturbed figure. The sandbox child starts with `-S` (site-packages on "
             "the path, no `.pth` hooks), which is why it can beat a bare `python -c`.", "",
             "| variant | median ms | ratio vs bare `python -c` (medians) | min ms | ratio (mins) |",
             "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['median_ms']} | {v['ratio_vs_bare_python_c']} | {v['min_ms']} | {v['ratio_of_mins']} |"
              for k, v in res["overhead"].items()]
    lines += ["", "## Throughput (trivial programs)", "", "| mode | concurrency | executions/s |", "|---|---|---|"]
    lines += [f"| {t['mode']} | {t['concurrency']} | {t['executions_per_s']} |" for t in res["throughput"]]
    lines += ["", "## Hostile programs", "", "| mode | program | audit guard | contained | time to contain s | note |",
              "|---|---|---|---|---|---|"]
    for h in res["hostile"]:
        c = {True: "yes", False: "**NO**", None: "n/a"}[h["contained"]]
        lines.append(f"| {h['mode']} | {h['program']} | {'on' if h.get('audit_guard', False) else 'off'} | {c} "
                     f"| {h.get('time_to_contain_s', '')} | {h['note']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=60, help="executions per variant for the overhead")
    ap.add_argument("--programs", type=int, default=60, help="programs per throughput measurement")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench-sandbox-")
    tempfile.tempdir = root  # every run's temp dir lands here, so leftovers are easy to see
    exs = executors()
    res = {"machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
                      f"load average at start {os.getloadavg()[0]:.1f} (a shared machine)",
           "isolation": {m: ex.isolation.note for m, ex in exs.items()}}
    res["overhead"] = overhead(exs, args.calls)
    for k, v in res["overhead"].items():
        print(f"{k:28s} median {v['median_ms']:7.2f} ms  x{v['ratio_vs_bare_python_c']}   "
              f"min {v['min_ms']:7.2f} ms  x{v['ratio_of_mins']}")
    res["throughput"] = [asyncio.run(throughput(m, c, args.programs)) for m in exs for c in (1, 2)]
    for t in res["throughput"]:
        print(f"{t['mode']:10s} concurrency {t['concurrency']}: {t['executions_per_s']} executions/s")
    res["hostile"] = hostile(exs, root)
    os.rmdir(root)  # fails if anything was left behind
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / "results.md").write_text(write_md(res))
    print(f"wrote {OUT / 'results.json'} and results.md")


if __name__ == "__main__":
    main()
