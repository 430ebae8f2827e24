"""Best-of-N under each judge against self-consistency with the same samples (issue "Judges" §5).

On the first 30 GSM8K train questions with the 0.5B local model, for N in (4, 8):
  * self-consistency (k=N, majority vote),
  * best-of-n and PRM-weighted vote under the LLM step judge (the same model grading),
  * best-of-n and PRM-weighted vote under a PRM folder if ``--prm DIR`` is given (``prm:DIR``),
  * best-of-n under the exact verifier (oracle upper bound: pass@N).
All variants draw the same N samples (same prompt, temperature 0.7 and sample indices), so with
the completion cache every variant after the first only pays for its judge calls. Resumable;
results in ``benchmarks/results/best_of_n/``.

Usage: python benchmarks/bench_best_of_n.py [--n 30] [--samples 4,8] [--prm DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from agentforge.agents import build_agent_spec
from agentforge.judges.factory import make_judge
from agentforge.llm import LLM
from agentforge.runner import Runner
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "best_of_n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--samples", default="4,8")
    ap.add_argument("--prm", default=None, help="a PRM folder for --judge prm:DIR")
    ap.add_argument("--model", default="local/qwen2.5-coder-0.5b-instruct")
    args = ap.parse_args()
    task = load_task("gsm8k", limit=args.n)
    llm = LLM(model=args.model, seed=0, max_tokens=512, cache_dir=str(ROOT / "cache"))
    rows = []
    for k in (int(x) for x in args.samples.split(",")):
        variants = [("self-consistency", build_agent_spec("self-consistency", samples=k), None),
                    ("best-of-n/llm", build_agent_spec("best-of-n", n=k), "llm"),
                    ("weighted/llm", build_agent_spec("best-of-n", n=k, weighted=True), "llm"),
                    ("best-of-n/verifier", build_agent_spec("best-of-n", n=k), "verifier")]
        if args.prm:
            variants[3:3] = [("best-of-n/prm", build_agent_spec("best-of-n", n=k), f"prm:{args.prm}"),
                             ("weighted/prm", build_agent_spec("best-of-n", n=k, weighted=True), f"prm:{args.prm}")]
        for name, spec, judge in variants:
            out = ROOT / f"N{k}" / name.replace("/", "-")
            print(f"== N={k} {name}", flush=True)
            runner = Runner(task, spec, llm, out, judge=make_judge(judge, llm, task) if judge else None)
            s = asyncio.run(runner.arun())
            rows.append({"N": k, "variant": name, **{x: s[x] for x in ("n", "accuracy", "llm_calls", "cached_calls",
                                                                          "completion_tokens", "wall_s")}})
            print(f"   accuracy={s['accuracy']:.3f} calls={s['llm_calls']} (cached {s['cached_calls']})", flush=True)
    print(json.dumps(rows, indent=2))
    (ROOT / "summary.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
