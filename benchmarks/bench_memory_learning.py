"""Learning benchmark: does memory make the agent better on later questions? (issue "Memory" §5)

On a stream of GSM8K train questions 1-120 with the 0.5B local model:
  * ``memory``: cot with a fresh Chroma memory learning online (experience, reflection, insight)
    over all 120, in order; accuracy reported on questions 61-120.
  * ``baseline``: the same cot agent without memory on questions 61-120.
  * ``reflexion``: the reflexion agent (3 trials, exact-match evaluator as in Reflexion) on
    questions 61-120 without cross-task memory; accuracy after trial 1, 2 and 3.
Everything is resumable (rerun to continue) and writes to ``benchmarks/results/memory/``.

Usage: python benchmarks/bench_memory_learning.py [--n 120] [--only memory,baseline,reflexion]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from agentforge.agents import build_agent_spec
from agentforge.llm import LLM
from agentforge.runner import Runner, read_results
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "memory"
MODEL = "local/qwen2.5-coder-0.5b-instruct"


def _llm() -> LLM:
    return LLM(model=MODEL, seed=0, max_tokens=512, cache_dir=str(ROOT / "cache"))


def _progress(name):
    def on_result(row, done, total):
        if done:
            print(f"  [{name}] {done}/{total} correct={row['correct']}", flush=True)
    return on_result


def run_memory(n: int) -> None:
    from agentforge.memory import open_memory
    from agentforge.memory.learning.learner import MemoryLearner

    llm = _llm()
    learner = MemoryLearner(open_memory(f"chroma://{(ROOT / 'chroma').resolve()}"), llm, "gsm8k")
    task = load_task("gsm8k", limit=n)
    asyncio.run(Runner(task, build_agent_spec("cot"), llm, ROOT / "memory", memory=learner,
                       on_result=_progress("memory")).arun())


def run_plain(name: str, spec, n: int) -> None:
    task = load_task("gsm8k", limit=n - n // 2, offset=n // 2)
    asyncio.run(Runner(task, spec, _llm(), ROOT / name, on_result=_progress(name)).arun())


def report(n: int) -> None:
    second = {e.id for e in load_task("gsm8k", limit=n - n // 2, offset=n // 2).examples}
    out = {}
    for name in ("memory", "baseline", "reflexion"):
        rows = [r for r in read_results(ROOT / name / "results.jsonl") if r["id"] in second]
        if not rows:
            continue
        out[name] = {"n": len(rows), "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 4),
                     "llm_calls": sum(r["usage"]["calls"] for r in rows)}
        if name == "reflexion":
            for t in (1, 2, 3):
                ok = sum(any(tr["correct"] for tr in (r.get("trials") or [])[:t]) for r in rows)
                out[name][f"accuracy_after_trial_{t}"] = round(ok / len(rows), 4)
    out["top_insights"] = top_insights()
    print(json.dumps(out, indent=2))
    (ROOT / "summary.json").write_text(json.dumps(out, indent=2))
    plot(second)


def top_insights(k: int = 10) -> list[dict]:
    """The learned insights with the most votes (text, votes, provenance count), for the report."""
    if not (ROOT / "chroma").exists():
        return []
    from agentforge.memory import open_memory

    store = open_memory(f"chroma://{(ROOT / 'chroma').resolve()}")
    recs = sorted(store.list(kind="insight", namespace="gsm8k", limit=1000), key=lambda r: -(r.votes or 0))
    return [{"text": r.text, "votes": r.votes, "sources": len(r.provenance)} for r in recs[:k]]


def plot(second: set[str]) -> None:
    """Running accuracy over questions 61-120, memory against baseline (``learning_curve.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in ("baseline", "memory"):
        rows = sorted((r for r in read_results(ROOT / name / "results.jsonl") if r["id"] in second),
                      key=lambda r: int(r["id"].split("-")[-1]))
        ok = 0
        xs, ys = [], []
        for i, r in enumerate(rows, 1):
            ok += bool(r["correct"])
            xs.append(i)
            ys.append(ok / i)
        if xs:
            ax.plot(xs, ys, label=f"cot {'with' if name == 'memory' else 'without'} memory ({ok}/{len(xs)})")
    ax.set_xlabel("questions 61-120 seen")
    ax.set_ylabel("running accuracy")
    ax.set_title("GSM8K train, qwen2.5-coder-0.5b: online memory learning")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "learning_curve.png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--only", default="memory,baseline,reflexion")
    args = ap.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    if "baseline" in only:
        run_plain("baseline", build_agent_spec("cot"), args.n)
    if "memory" in only:
        run_memory(args.n)
    if "reflexion" in only:
        run_plain("reflexion", build_agent_spec("reflexion", trials=3), args.n)
    report(args.n)


if __name__ == "__main__":
    main()
