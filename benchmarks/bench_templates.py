"""Hostile prompt templates: wall time and peak memory of rendering each, before and after.

The payloads are those of ``tests/test_templates.py`` (loops, nested loops over the question,
``center``/``ljust``/``zfill``/``%``/``format``/``replace``/``indent`` blow-ups, repetition, ``**``,
an output flood, mutation of the run state, private attributes), rendered against a 10,000-char
question. "Before" is the template module of ``--before`` (default 17a27cb, the last commit before
render-time limits), run from a temporary worktree; "after" is this tree. Each render runs in its
own process (imports excluded from the timing) under a 4 GB address-space limit and a 20 s alarm.

Writes ``benchmarks/results/templates/hostile.json`` and ``hostile.md``.

Usage:
    python benchmarks/bench_templates.py [--before 17a27cb]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "templates"
CHILD = """
import json, resource, signal, sys, time
from {module} import render
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
payload = sys.stdin.read()
ctx = {{"question": "q" * 10000, "peers": [1, 2]}}

def alarm(*_):
    raise TimeoutError

signal.signal(signal.SIGALRM, alarm)
signal.alarm(20)
base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
t0 = time.perf_counter()
try:
    out = render(payload, ctx)
    result = f"rendered {{len(out):,}} chars"
except TimeoutError:
    result = "still running after 20 s (stopped)"
except MemoryError:
    result = "MemoryError (hit the 4 GB cap)"
except Exception as exc:
    result = f"refused: {{type(exc).__name__}}"
wall = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({{"result": result, "wall_s": round(wall, 3), "peak_mb": peak_mb, "added_mb": peak_mb - base_mb,
                  "mutated": ctx["peers"] != [1, 2]}}))
"""


def hostile() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("test_templates", REPO / "tests" / "test_templates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HOSTILE


def run(payload: str, module: str, pythonpath: Path) -> dict:
    try:
        r = subprocess.run([sys.executable, "-c", CHILD.format(module=module)], input=payload, text=True,
                           capture_output=True, timeout=180, env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin"},
                           cwd=tempfile.gettempdir())  # not this repo: its agentforge would shadow PYTHONPATH
    except subprocess.TimeoutExpired:
        return {"result": "hung past the 20 s alarm (killed)", "wall_s": None, "peak_mb": None, "mutated": None}
    if r.returncode == -signal.SIGALRM:  # stuck in C code, the alarm's default action ended the process
        return {"result": "hung: killed by the 20 s alarm", "wall_s": 20.0, "peak_mb": None, "mutated": None}
    if r.returncode != 0 or not r.stdout.strip():
        tail = (r.stderr.strip().splitlines() or [""])[-1][:120]
        return {"result": f"process died (exit {r.returncode}: {tail})", "wall_s": None, "peak_mb": None,
                "mutated": None}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="17a27cb")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(old), args.before], check=True)
        try:
            for name, payload in hostile().items():
                before = run(payload, "agentforge.agents.prompts", old)
                after = run(payload, "agentforge.core.templates", REPO)
                rows.append({"template": name, "before": before, "after": after})
                print(f"{name:26} before: {before}\n{'':26} after:  {after}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hostile.json").write_text(json.dumps(rows, indent=2))
    md = ["| template | before | before s / MB peak / MB added | after | after s / MB peak / MB added |",
          "|---|---|---|---|---|"]
    for r in rows:
        b, a = r["before"], r["after"]
        md.append(f"| {r['template']} | {b['result']}{' (state mutated)' if b['mutated'] else ''} | "
                  f"{b['wall_s']} / {b['peak_mb']} / {b.get('added_mb')} | "
                  f"{a['result']}{' (state mutated)' if a['mutated'] else ''} | "
                  f"{a['wall_s']} / {a['peak_mb']} / {a.get('added_mb')} |")
    worst = (max((r["after"]["wall_s"] or 0.0) for r in rows), max((r["after"]["peak_mb"] or 0) for r in rows),
             max((r["after"].get("added_mb") or 0) for r in rows))
    md.append(f"\nAfter, worst case: {worst[0]} s, {worst[1]} MB peak (process total, interpreter included), "
              f"{worst[2]} MB added by rendering over the loaded interpreter's peak before it.")
    (OUT / "hostile.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
