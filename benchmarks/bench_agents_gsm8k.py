"""Quality/cost benchmark of the prebuilt agents on real GSM8K train questions, embedded model.

Runs each (model, agent, n) configuration through the same ``Runner`` the CLI uses, into
``benchmarks/results/agents/<model>/<agent>/`` (resumable: rerun to continue; the completion
cache makes finished calls free), then prints a table of accuracy, LLM calls, tokens and wall
time, and plots accuracy against LLM calls and tokens (``accuracy_vs_cost.png``).

Default plan (issue "Foundation", section 7):
    qwen2.5-coder-0.5b-instruct, first 30: cot, self-consistency (k=5), self-refine (3), debate (3x2)
    qwen2.5-coder-1.5b-instruct, first 20: cot, debate (3x2)

Usage:
    python benchmarks/bench_agents_gsm8k.py [--only 0.5b:cot,1.5b:cot] [--report-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from agentforge.agents import build_agent_spec
from agentforge.llm import LLM
from agentforge.runner import Runner
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "agents"
PLAN = [
    ("qwen2.5-coder-0.5b-instruct", "cot", 30, {}),
    ("qwen2.5-coder-1.5b-instruct", "cot", 20, {}),
    ("qwen2.5-coder-0.5b-instruct", "self-consistency", 30, {"samples": 5}),
    ("qwen2.5-coder-0.5b-instruct", "self-refine", 30, {"max_iters": 3}),
    ("qwen2.5-coder-0.5b-instruct", "debate", 30, {"agents": 3, "rounds": 2}),
    ("qwen2.5-coder-1.5b-instruct", "debate", 20, {"agents": 3, "rounds": 2}),
]


def short(model: str) -> str:
    return model.split("-")[2]  # "0.5b" / "1.5b"


def run_one(model: str, agent: str, n: int, options: dict) -> dict:
    task = load_task("gsm8k", limit=n)
    spec = build_agent_spec(agent, **options)
    out = ROOT / model / agent
    t0 = time.time()

    def on_result(row, done, total):
        if done:
            print(f"  [{short(model)} {agent}] {done}/{total} correct={row['correct']} "
                  f"elapsed={time.time() - t0:.0f}s", flush=True)

    llm = LLM(model=f"local/{model}", seed=0, max_tokens=512, cache_dir=str(ROOT / "cache"))
    runner = Runner(task, spec, llm, out, on_result=on_result)
    return asyncio.run(runner.arun())


def report() -> list[dict]:
    rows = []
    for model, agent, n, _ in PLAN:
        path = ROOT / model / agent / "summary.json"
        if path.exists():
            s = json.loads(path.read_text())
            results = [json.loads(x) for x in (path.parent / "results.jsonl").read_text().splitlines() if x.strip()]
            s["s_per_q"] = sum(r.get("wall_s", 0.0) for r in results) / max(len(results), 1)
            rows.append({**s, "model": short(model)})
    print("\n(s/q: mean wall seconds per question from results.jsonl; wall_s: the run's total)")
    print(f"{'model':6} {'agent':17} {'n':>3} {'acc':>6} {'calls':>6} {'prompt_tok':>10} {'compl_tok':>9} {'wall_s':>8} {'s/q':>6}")
    for r in rows:
        print(f"{r['model']:6} {r['agent']:17} {r['n']:>3} {r['accuracy']:>6.3f} {r['llm_calls']:>6} "
              f"{r['prompt_tokens']:>10} {r['completion_tokens']:>9} {r['wall_s']:>8.0f} {r['s_per_q']:>6.1f}")
    if rows:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, key, label in ((axes[0], "llm_calls", "LLM calls per question"),
                               (axes[1], "completion_tokens", "completion tokens per question")):
            for idx, r in enumerate(rows):
                x = r[key] / max(r["n"], 1)
                ax.scatter(x, r["accuracy"], s=40)
                ax.annotate(f"{r['model']} {r['agent']}", (x, r["accuracy"]), fontsize=8,
                            xytext=(4, 4 - 12 * (idx % 2)), textcoords="offset points")
            ax.set_xlabel(label)
            ax.set_ylabel("accuracy (GSM8K train, first n)")
            ax.grid(alpha=0.3)
        fig.suptitle("Prebuilt agents: accuracy against cost (embedded Qwen2.5-Coder GGUF, 2 CPU cores)")
        fig.tight_layout()
        fig.savefig(ROOT / "accuracy_vs_cost.png", dpi=110)
        print(f"plot: {ROOT / 'accuracy_vs_cost.png'}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma list of <0.5b|1.5b>:<agent> to run")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    wanted = {tuple(x.split(":")) for x in args.only.split(",") if x}
    if not args.report_only:
        for model, agent, n, options in PLAN:
            if wanted and (short(model), agent) not in wanted:
                continue
            print(f"== {model} {agent} n={n} {options}", flush=True)
            s = run_one(model, agent, n, options)
            print(f"   accuracy={s['accuracy']:.3f} calls={s['llm_calls']} wall={s['wall_s']:.0f}s", flush=True)
    report()


if __name__ == "__main__":
    main()
