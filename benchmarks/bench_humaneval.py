"""HumanEval (164 problems): direct generation against agents that learn from execution.

Embedded model (``--model``, default the 0.5B), greedy, max_tokens 512, seed 0. Agents:
direct (``cot``: one call, the program in a fenced block), self-debug (visible docstring tests
run in the sandbox, up to 3 revisions from the execution report, repairs sampled at T=0.7; the
greedy-repair variant of an earlier run is reported as ``self-debug (greedy repairs)``), reflexion with self-written
tests (3 trials; the model writes unit tests first and never sees the hidden ones), and
reflexion with the gold check (3 trials, each retry told it failed the hidden tests: an
**oracle** upper bound, labeled so). pass@1 = the hidden ``check`` passes. Rows are reported on
all 164 problems and on 40-163 (prompts may only be tuned on 0-39).

Resumable (``benchmarks/results/humaneval/<model>/<agent>/``); ``--report-only`` rebuilds tables.

Usage:
    python benchmarks/bench_humaneval.py [--model qwen2.5-coder-0.5b-instruct] [--only direct,self-debug]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import markdown, partial_tables, run_config, summarize, write_report

from agentforge.agents import build_agent_spec
from agentforge.llm import LLM, model_requests_allowed
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "humaneval"
PLAN = [
    ("direct", "cot", {}, False),
    ("self-debug", "self-debug", {"max_iters": 3, "repair_temperature": 0.7}, False),
    ("reflexion+self-tests", "reflexion", {"trials": 3, "evaluator": "self-tests"}, False),
    ("reflexion+gold", "reflexion", {"trials": 3, "evaluator": "verifier"}, True),
]
REPORTED = {"self-debug (greedy repairs)": "self-debug-greedy"}
"""Rows of earlier configurations, reported from their folders (not run again): self-debug whose
repairs were greedy (the agent's repair step samples at T=0.7 since)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--only", default="", help="comma-separated agent names from the plan")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    task = load_task("humaneval")
    root = ROOT / args.model
    llm = LLM(model=f"local/{args.model}", seed=0, max_tokens=512, cache_dir=str(ROOT / "cache"))
    only = {s for s in args.only.split(",") if s}
    if not args.report_only:
        for name, agent, opts, _ in PLAN:
            if not only or name in only:
                print(f"== {name}", flush=True)
                run_config(task, build_agent_spec(agent, **opts), llm, root / name, name)
    tables = []
    plan = [(name, name, oracle) for name, _, _, oracle in PLAN] + [(n, f, False) for n, f in REPORTED.items()]
    runs = [(name, root / folder, oracle) for name, folder, oracle in plan]
    with model_requests_allowed(False):
        for label, ids in (("all 164", [ex.id for ex in task.examples]),
                           ("40-163 (never used for prompt tuning)", [ex.id for ex in task.examples[40:]])):
            base = summarize("direct", root / "direct", ids)
            rows = [r for name, folder, oracle in runs
                    if (r := summarize(name, folder, ids, base["correct"] if base else None, oracle)) is not None]
            tables.append((label, rows, markdown(rows, "direct")))
        tables += partial_tables(runs, ("direct", root / "direct"), [ex.id for ex in task.examples])
    text = "\n\n".join(f"### HumanEval {label}, {args.model}\n\n{table}" for label, _, table in tables)
    print(text)
    write_report(root, tables[0][1] + tables[1][1], text)


if __name__ == "__main__":
    main()
