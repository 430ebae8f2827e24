"""The shape of the house, before and after a change, measured in one run.

For two commits (``--before``, default the last commit before the layering redesign, and
``--after``, default HEAD) it checks each out into a temporary worktree and reports:

* lines of code by package (non-blank lines of ``agentforge/**/*.py``);
* package-level import cycles (package A imports B and B imports A, any import anywhere) and
  function-local imports of agentforge itself (imports inside a function body);
* seconds for ``python -c "import agentforge"`` and ``agentforge --help`` (best of 5, each tree
  on ``PYTHONPATH`` of the same interpreter);
* with ``--install``: ``pip install`` of each tree into a fresh venv, wall seconds and number of
  packages installed (before: everything, as its README said, torch first; after: the base
  package only). pip's cache is warm for both (built wheels are reused), so these are the
  seconds of a second install, not of a cold one.

Writes ``benchmarks/results/house/house.json`` and ``house.md``.

Usage:
    python benchmarks/bench_house.py [--before 17a27cb] [--after HEAD] [--install]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "house"


def worktree(commit: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(where), commit], check=True)
    return where


def lines_by_package(tree: Path) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for p in (tree / "agentforge").rglob("*.py"):
        rel = p.relative_to(tree / "agentforge").parts
        pkg = rel[0] if len(rel) > 1 else p.stem
        counts[pkg] += sum(1 for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip())
    return dict(sorted(counts.items()))


def imports(tree: Path) -> tuple[list[str], int]:
    """(package-level cycles, function-local agentforge imports outside TYPE_CHECKING blocks)."""
    root = tree / "agentforge"
    units = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")}
    units |= {p.stem for p in root.glob("*.py") if p.name != "__init__.py"}
    edges: dict[str, set[str]] = {}
    local = 0
    for p in root.rglob("*.py"):
        rel = p.relative_to(root).parts
        src = rel[0] if len(rel) > 1 else p.stem
        tree_ = ast.parse(p.read_text(encoding="utf-8"))
        in_func = set()
        for fn in ast.walk(tree_):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                in_func |= {id(n) for n in ast.walk(fn) if n is not fn}
        for n in ast.walk(tree_):
            mods = []
            if isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or "").startswith("agentforge"):
                parts = n.module.split(".")
                mods = [parts[1]] if len(parts) > 1 else [a.name for a in n.names]
            elif isinstance(n, ast.Import):
                mods = [a.name.split(".")[1] for a in n.names if a.name.startswith("agentforge.")]
            if mods and id(n) in in_func:
                local += 1
            for t in mods:
                if t in units and t != src:
                    edges.setdefault(src, set()).add(t)
    cycles = sorted({" <-> ".join(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, set())})
    return cycles, local


def best_time(cmd: list[str], env: dict[str, str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
        if r.returncode != 0:  # cwd is not the repo, whose agentforge would shadow PYTHONPATH
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
        times.append(time.perf_counter() - t0)
    return min(times)


def startup(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("HF_HUB_OFFLINE", None)
    return {"import_s": round(best_time([sys.executable, "-c", "import agentforge"], env), 3),
            "help_s": round(best_time([sys.executable, "-m", "agentforge", "--help"], env), 3)}


def install(tree: Path, spec: str, torch_first: bool, work: Path) -> dict[str, float | int]:
    venv = work / f"venv-{tree.name}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    t0 = time.perf_counter()
    if torch_first:
        subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, spec.format(tree=tree)], check=True)
    wall = time.perf_counter() - t0
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True).stdout
    return {"install_s": round(wall, 1), "packages": len(json.loads(listed))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="17a27cb")
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--install", action="store_true")
    args = ap.parse_args()
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, commit, spec, torch_first in (("before", args.before, "{tree}", True),
                                                 ("after", args.after, "{tree}", False)):
            tree = worktree(commit, work / label)
            try:
                cycles, local = imports(tree)
                row = {"commit": subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                                                capture_output=True, text=True).stdout.strip(),
                       "loc": lines_by_package(tree), "cycles": cycles, "function_local_imports": local,
                       **startup(tree)}
                if args.install:
                    row.update(install(tree, spec, torch_first, work))
                report[label] = row
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "house.json").write_text(json.dumps(report, indent=2))
    b, a = report["before"], report["after"]
    pkgs = sorted(set(b["loc"]) | set(a["loc"]))
    md = ["| | before | after |", "|---|---|---|"]
    md += [f"| loc {p} | {b['loc'].get(p, 0):,} | {a['loc'].get(p, 0):,} |" for p in pkgs]
    md += [f"| loc total | {sum(b['loc'].values()):,} | {sum(a['loc'].values()):,} |",
           f"| package-level import cycles | {len(b['cycles'])} ({'; '.join(b['cycles'])}) | {len(a['cycles'])} |",
           f"| function-local agentforge imports | {b['function_local_imports']} | {a['function_local_imports']} |",
           f"| `import agentforge` s | {b['import_s']} | {a['import_s']} ({a['import_s'] / b['import_s']:.2f}x) |",
           f"| `agentforge --help` s | {b['help_s']} | {a['help_s']} ({a['help_s'] / b['help_s']:.2f}x) |"]
    if args.install:
        md += [f"| pip install s (before: everything; after: base) | {b['install_s']} | {a['install_s']} |",
               f"| packages installed | {b['packages']} | {a['packages']} |"]
    (OUT / "house.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
