"""Helpers the agent benchmarks share: run one configuration resumably, summarize it against a
baseline (bootstrap interval, paired difference, McNemar), print a Markdown table, plot.

A configuration runs through the same ``Runner`` as ``agentforge run`` into its own folder, so
rerunning a benchmark resumes it, and the completion cache makes finished calls free.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from agentforge.agents import AgentSpec
from agentforge.core.aio import run_sync
from agentforge.core.stats import bootstrap_ci, paired_difference
from agentforge.llm import LLM
from agentforge.runner import Runner, read_results
from agentforge.tasks import Task


def run_config(task: Task, spec: AgentSpec, llm: LLM, out: Path, label: str) -> dict[str, Any]:
    """Run ``spec`` over ``task`` into ``out`` (resumable), printing one line per example."""
    t0 = time.time()

    def on_result(row: dict, done: int, total: int) -> None:
        if done:
            print(f"  [{label}] {done}/{total} correct={row['correct']} err={bool(row.get('error'))} "
                  f"elapsed={time.time() - t0:.0f}s", flush=True)

    return run_sync(Runner(task, spec, llm, out, on_result=on_result).arun())


def summarize(name: str, out: Path, ids: list[str], base: dict[str, bool] | None = None,
              oracle: bool = False) -> dict[str, Any] | None:
    """One table row for the results in ``out`` restricted to ``ids`` (None when incomplete)."""
    rows = {r["id"]: r for r in read_results(out / "results.jsonl")}
    if not all(i in rows for i in ids):
        return None
    picked = [rows[i] for i in ids]
    correct = [bool(r["correct"]) for r in picked]
    n = len(ids)
    usage = [r.get("usage") or {} for r in picked]
    row: dict[str, Any] = {
        "agent": name + (" (oracle: gold feedback)" if oracle else ""), "n": n,
        "accuracy": round(sum(correct) / n, 4), "ci": [round(x, 4) for x in bootstrap_ci([float(c) for c in correct])],
        "calls_per_q": round(sum(u.get("calls", 0) for u in usage) / n, 2),
        "completion_tokens_per_q": round(sum(u.get("completion_tokens", 0) for u in usage) / n, 1),
        "tokens_per_q": round(sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in usage) / n, 1),
        "wall_s_per_q": round(sum(r.get("wall_s", 0.0) for r in picked) / n, 2),
        "errors": sum(1 for r in picked if r.get("error")), "correct": {i: c for i, c in zip(ids, correct)},
    }
    if base is not None:
        row["vs_base"] = paired_difference([base[i] for i in ids], correct)
    return row


def done_ids(out: Path, ids: list[str]) -> list[str]:
    """The ids of ``ids`` (in their order) that ``out/results.jsonl`` already holds."""
    have = {r["id"] for r in read_results(out / "results.jsonl")}
    return [i for i in ids if i in have]


def partial_tables(runs: list[tuple[str, Path, bool]], base: tuple[str, Path],
                   ids: list[str]) -> list[tuple[str, list[dict[str, Any]], str]]:
    """For each run of ``runs`` (name, folder, oracle) that is started but not finished on ``ids``: a
    table of every run restricted to the questions it has done, paired against ``base`` (name,
    folder). Returns (caption, rows, markdown) triples; empty when every run is complete."""
    out = []
    for name, folder, _ in runs:
        done = done_ids(folder, ids)
        if not done or len(done) == len(ids):
            continue
        b = summarize(base[0], base[1], done)
        rows = [r for n, f, o in runs if (r := summarize(n, f, done, b["correct"] if b else None, o)) is not None]
        out.append((f"the {len(done)} questions {name} has done so far (partial run)", rows,
                    markdown(rows, base[0])))
    return out


def markdown(rows: list[dict[str, Any]], base_name: str) -> str:
    """A Markdown table of ``summarize`` rows."""
    head = (f"| agent | n | accuracy [95% CI] | vs {base_name}, paired [95% CI], McNemar p | calls/q | "
            "completion tokens/q | tokens/q | s/q |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        vs = r.get("vs_base")
        paired = (f"{vs['diff']:+.3f} [{vs['diff_ci'][0]:+.3f}, {vs['diff_ci'][1]:+.3f}], p={vs['mcnemar_p']:.3g} "
                  f"(+{vs['only_this']}/-{vs['only_baseline']})" if vs and r["agent"] != base_name else "")
        lines.append(f"| {r['agent']} | {r['n']} | {r['accuracy']:.3f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] | "
                     f"{paired} | {r['calls_per_q']:g} | {r['completion_tokens_per_q']:,.0f} | "
                     f"{r['tokens_per_q']:,.0f} | {r['wall_s_per_q']:.1f} |")
    return "\n".join(lines)


def plot_accuracy_vs_tokens(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Accuracy (with its interval) against tokens per question, one point per agent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        x, y = r["tokens_per_q"], r["accuracy"]
        ax.errorbar([x], [y], yerr=[[y - r["ci"][0]], [r["ci"][1] - y]], fmt="o", capsize=3)
        ax.annotate(r["agent"], (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("tokens per question (prompt + completion, log scale)")
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(root: Path, rows: list[dict[str, Any]], table: str) -> None:
    """``rows`` as ``summary.json`` (per-question correctness dropped) and the table as ``results.md``."""
    root.mkdir(parents=True, exist_ok=True)
    slim = [{k: v for k, v in r.items() if k != "correct"} for r in rows]
    (root / "summary.json").write_text(json.dumps(slim, indent=2))
    (root / "results.md").write_text(table + "\n")
