"""The bad-input suite (``tests/bad_inputs.py``) against two commits: the share of cases that end
cleanly (the expected exit code, one message, no traceback), with the verdict of every case.

Each tree runs the whole table in one process of its own (``PYTHONPATH`` = a temporary worktree
of ``--before``, default 17a27cb, then this tree), in-process through typer's ``CliRunner``.
Writes ``benchmarks/results/bad_inputs/verdicts.json`` and ``verdicts.md``.

Usage:
    python benchmarks/bench_bad_inputs.py [--before 17a27cb]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "bad_inputs"
DRIVER = """
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, {tests!r})
from bad_inputs import CASES, run_case
from agentforge.cli.app import _register, app
from agentforge.llm.fake import FunctionModel
_register()
out = {{}}
for case in CASES:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            verdict, _ = run_case(case, Path(tmp), app, lambda name, fn: FunctionModel(fn, name=name))
        except BaseException as exc:  # the harness itself broke on this tree
            verdict = "traceback"
    out[case.name] = verdict
print("VERDICTS " + json.dumps(out))
"""


def verdicts(tree: Path) -> dict[str, str]:
    r = subprocess.run([sys.executable, "-c", DRIVER.format(tests=str(REPO / "tests"))], capture_output=True,
                       text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
                       timeout=1800, cwd=tempfile.gettempdir())  # not the repo: it would shadow PYTHONPATH
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("VERDICTS ")), None)
    if line is None:
        raise SystemExit(f"driver failed on {tree}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return json.loads(line.removeprefix("VERDICTS "))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="17a27cb")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(old), args.before], check=True)
        try:
            before = verdicts(old)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    after = verdicts(REPO)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "verdicts.json").write_text(json.dumps({"before": before, "after": after}, indent=2))
    n = len(after)
    counts = {k: Counter(v.values()) for k, v in (("before", before), ("after", after))}
    md = [f"{n} cases. Clean: before {counts['before']['clean']} ({counts['before']['clean'] / n:.0%}), after "
          f"{counts['after']['clean']} ({counts['after']['clean'] / n:.0%}); tracebacks before "
          f"{counts['before']['traceback']}, after {counts['after']['traceback']}; wrong (another exit code or no "
          f"message) before {counts['before']['wrong']}, after {counts['after']['wrong']}.", "",
          "| case | before | after |", "|---|---|---|"]
    md += [f"| {name} | {before.get(name, '-')} | {after[name]} |" for name in after]
    (OUT / "verdicts.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
