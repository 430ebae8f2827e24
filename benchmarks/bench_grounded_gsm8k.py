"""Grounded feedback on GSM8K: program-aided agents against cot and self-consistency.

GSM8K train questions 1-100 (``--limit``), the embedded 0.5B model (``--model``), max_tokens 512,
seed 0. Agents: cot (greedy), pal (greedy: the model writes ``solution()``, the sandbox runs it),
pal@5 (5 programs at T=0.7, vote over executed outputs; failed programs do not vote),
self-consistency@5 (T=0.7), critic (cot checked by an executed program, one revision on
disagreement). Each row gives accuracy with a bootstrap 95% interval, the paired difference to
cot with McNemar's p, and calls/tokens/seconds per question, so compute-matched comparisons can
be read off the table; ``accuracy_vs_tokens.png`` plots accuracy against tokens per question.

Resumable: each agent writes ``benchmarks/results/grounded/gsm8k-<model>/<agent>/`` through the
``Runner``; rerun to continue. ``--report-only`` rebuilds the table without model calls.

Usage:
    python benchmarks/bench_grounded_gsm8k.py [--model qwen2.5-coder-0.5b-instruct] [--limit 100]
        [--only cot,pal] [--report-only]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import markdown, partial_tables, plot_accuracy_vs_tokens, run_config, summarize, write_report

from agentforge.agents import build_agent_spec
from agentforge.llm import LLM, model_requests_allowed
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "grounded"
PLAN = [
    ("cot", "cot", {}),
    ("pal", "pal", {}),
    ("pal@5", "pal", {"samples": 5}),
    ("self-consistency@5", "self-consistency", {"samples": 5}),
    ("critic", "critic", {"max_iters": 1}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--only", default="", help="comma-separated agent names from the plan")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    task = load_task("gsm8k", limit=args.limit)
    root = ROOT / f"gsm8k-{args.model}"
    llm = LLM(model=f"local/{args.model}", seed=0, max_tokens=512, cache_dir=str(ROOT / "cache"))
    only = {s for s in args.only.split(",") if s}
    if not args.report_only:
        for name, agent, opts in PLAN:
            if not only or name in only:
                print(f"== {name}", flush=True)
                run_config(task, build_agent_spec(agent, **opts), llm, root / name, name)
    ids = [ex.id for ex in task.examples]
    with model_requests_allowed(False):
        base = summarize("cot", root / "cot", ids)
        rows = [r for name, _, _ in PLAN
                if (r := summarize(name, root / name, ids, base["correct"] if base else None)) is not None]
        partial = partial_tables([(name, root / name, False) for name, _, _ in PLAN], ("cot", root / "cot"), ids)
    table = "\n\n".join([markdown(rows, "cot"), *(f"GSM8K, {cap}:\n\n{md}" for cap, _, md in partial)])
    print(table)
    write_report(root, rows, table)
    if rows:
        plot_accuracy_vs_tokens(rows, root / "accuracy_vs_tokens.png",
                                f"GSM8K train 1-{args.limit}, {args.model}: accuracy vs tokens per question")


if __name__ == "__main__":
    main()
