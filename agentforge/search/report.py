"""Search outputs: ``summary.json``, ``best.json``, ``archive.json``, ``history.json``, two plots
and a static ``report.html``.

* ``best.json`` is an AgentSpec: ``agentforge run --agent-spec DIR/best.json`` runs it.
* ``best_vs_budget.png``: best validation score so far against LLM calls spent.
* ``pareto.png``: every candidate's score against its tokens per example, the cost-score Pareto
  front highlighted.
* ``baselines.png`` (with ``--heldout``): held-out accuracy with its 95% interval against tokens
  per question for the found agent and the compute-matched baselines
  (:mod:`agentforge.search.baselines`).
* ``summary.json`` adds ``estimate`` (the pre-run estimate with ``vs_actual``, see
  :mod:`agentforge.search.estimate`), ``heldout`` (the baselines table) and ``breakeven``
  (:mod:`agentforge.search.breakeven`) when the run has them (``SearchResult.info``).
* ``report.html``: one self-contained file (plots embedded as data URIs, the best agent's graph
  as inline SVG; no scripts, no network assets).

Files are replaced atomically, so a reader (or a kill) never sees half a file.
"""

from __future__ import annotations

import base64
import json
import logging
from html import escape
from pathlib import Path
from typing import Any

from agentforge.core.errors import MissingExtraError
from agentforge.core.extras import require
from agentforge.core.files import atomic_write_bytes
from agentforge.search.estimate import compare, fmt
from agentforge.search.graph_svg import spec_svg
from agentforge.search.result import SearchResult

log = logging.getLogger(__name__)


def _atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text as UTF-8) atomically (``agentforge.core.files``)."""
    atomic_write_bytes(path, data if isinstance(data, bytes) else data.encode("utf-8"))


def summary(result: SearchResult) -> dict[str, Any]:
    """The summary dict written to ``summary.json``."""
    best, base, u = result.best, result.baseline, result.usage
    kinds = [h.kind for h in result.history]
    return {
        "level": result.level, "task": result.info.get("task"), "model": result.info.get("model"),
        "meta_model": result.info.get("meta_model"),
        "best_name": result.best_spec.name, "best_score": round(best.score, 4) if best else None,
        "best_score_ci": [round(x, 4) for x in best.eval.score_ci] if best else None,
        "best_accuracy": round(best.eval.accuracy, 4) if best else None,
        "baseline_score": round(base.score, 4) if base else None,
        "baseline_score_ci": [round(x, 4) for x in base.eval.score_ci] if base else None,
        "best": best.brief() if best else None, "baseline": base.brief() if base else None,
        "candidates": len(result.archive), "rejected": kinds.count("reject"), "failed": kinds.count("fail"),
        "skipped": kinds.count("skip"), "llm_calls": u.calls, "cached_calls": u.cached_calls,
        "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "tokens": u.total_tokens,
        "cost_usd": round(u.cost_usd, 6), "wall_s": result.wall_s, "stop_reason": result.stop_reason,
        "budget": result.info.get("budget"), "n_train": len(result.info.get("train", [])),
        "n_val": len(result.info.get("val", [])),
        "estimate": _estimate(result), "heldout": result.info.get("heldout"),
        "breakeven": result.info.get("breakeven"),
        "selected_by": "race on training + validation" if result.info.get("race") else "validation score",
        "race": result.info.get("race"),
    }


def _estimate(result: SearchResult) -> dict[str, Any] | None:
    """The pre-run estimate with ``vs_actual`` (estimate, interval, actual, within, ratio per resource)."""
    est = result.info.get("estimate")
    if not est:
        return None
    u = result.usage
    actual = {"calls": u.calls, "tokens": u.total_tokens, "cost_usd": round(u.cost_usd, 6), "wall_s": result.wall_s}
    return {**est, "vs_actual": compare(est, actual)}


def write_checkpoint(result: SearchResult, out: str | Path) -> None:
    """Write the JSON outputs (no plots, no HTML): cheap enough to call after every candidate."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "summary.json", json.dumps(summary(result), indent=2))
    _atomic(out / "best.json", result.best_spec.to_json())
    _atomic(out / "archive.json", json.dumps([c.model_dump(mode="json") for c in result.archive], indent=1))
    _atomic(out / "history.json", json.dumps([h.model_dump(mode="json") for h in result.history], indent=1))


def _pyplot():
    """matplotlib's pyplot on the Agg backend (``MissingExtraError`` naming ``agentforge[plots]``)."""
    matplotlib = require("matplotlib", "plots", "search plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_best_vs_budget(result: SearchResult, path: Path) -> None:
    """Best score so far (step line) and each candidate's score against LLM calls spent."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [c.spent.get("calls", 0) for c in result.archive]
    ys = [c.score for c in result.archive]
    best, bx, by = float("-inf"), [], []
    for x, y in zip(xs, ys):
        best = max(best, y)
        bx.append(x)
        by.append(best)
    if bx:
        bx.append(max(result.usage.calls, bx[-1]))
        by.append(by[-1])
        ax.step(bx, by, where="post", label="best so far", color="tab:blue")
        ax.scatter(xs, ys, s=18, color="tab:gray", label="candidates", zorder=3)
    limit = (result.info.get("budget") or {}).get("max_calls")
    if limit:
        ax.axvline(limit, ls="--", color="tab:red", lw=1, label="call budget")
    ax.set_xlabel("LLM calls spent")
    ax.set_ylabel("validation score")
    ax.set_title(f"{result.level}-level search: best score vs budget")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pareto(result: SearchResult, path: Path) -> None:
    """Score against tokens per example for every candidate, the Pareto front joined."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    front = result.pareto_front()
    ax.scatter([c.cost() for c in result.archive], [c.score for c in result.archive], s=20, color="tab:gray",
               label="candidates")
    ax.plot([c.cost() for c in front], [c.score for c in front], "o-", color="tab:orange", label="Pareto front")
    for c in result.archive:
        ax.annotate(f"#{c.index}", (c.cost(), c.score), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if result.baseline is not None:
        ax.scatter([result.baseline.cost()], [result.baseline.score], marker="s", s=50, color="tab:blue",
                   label="baseline", zorder=3)
    ax.set_xlabel("tokens per example")
    ax.set_ylabel("validation score")
    ax.set_title("cost-score Pareto front of the archive")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_baselines(heldout: dict[str, Any], path: Path) -> None:
    """Held-out accuracy (95% interval as error bars) against tokens per question, one point per arm."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    style = [("s", "tab:red", 10), ("o", "tab:blue", 8), ("^", "tab:green", 6), ("D", "tab:purple", 4)]
    for r, (marker, color, size) in zip(heldout["rows"], style):  # shrinking markers: coinciding arms stay visible
        acc, (lo, hi) = r["accuracy"], r["accuracy_ci"]
        ax.errorbar([r["tokens_per_question"]], [acc], yerr=[[acc - lo], [hi - acc]], fmt=marker, markersize=size,
                    capsize=4, color=color, label=r["arm"])
    ax.set_xlabel("tokens per question (held-out)")
    ax.set_ylabel(f"held-out accuracy ({heldout['n']} questions)")
    ax.set_title("found agent vs compute-matched baselines")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _img(path: Path) -> str:
    if not path.exists():
        return "<p>(no plot)</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'


def _ci(c) -> str:
    lo, hi = c.eval.score_ci
    return f"{c.score:.3f} [{lo:.3f}, {hi:.3f}]"


def _pd(d: dict[str, Any] | None) -> str:
    """A paired difference as ``+0.060 [-0.030, +0.150], p=0.29``."""
    if not d:
        return ""
    lo, hi = d["diff_ci"]
    return f"{d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}], p={d['mcnemar_p']:.2g}"


def _breakeven_row(r: dict[str, Any]) -> str:
    per_correct = "" if r["base_cost_per_correct"] is None else f"{r['base_cost_per_correct']:.4g}"
    lo, hi = r["delta_accuracy_ci"]
    return (f"<tr><td>{escape(r['baseline'])}</td><td>{r['unit']}</td><td>{r['search_cost']:.6g}</td>"
            f"<td>{r['delta_accuracy']:+.3f} [{lo:+.3f}, {hi:+.3f}]</td><td>{per_correct}</td>"
            f"<td>{r['delta_cost_per_query']:+.4g}</td><td><b>{escape(r['verdict'])}</b></td>"
            f"<td>{escape(r['reason'])}</td></tr>")


def _sections(s: dict[str, Any], out: Path) -> str:
    """The estimate-vs-actual, compute-matched baselines and break-even sections."""
    html, est = "", s.get("estimate")
    if est:
        rows = "".join(f"<tr><td>{k}</td><td>{fmt(k, v['estimate'])}</td><td>[{fmt(k, v['interval'][0])}, "
                       f"{fmt(k, v['interval'][1])}]</td><td>{fmt(k, v['actual'])}</td>"
                       f"<td>{'yes' if v['within'] else 'no'}</td></tr>" for k, v in est["vs_actual"].items())
        pr = est["probe"]
        html += (f"<h2>Estimate vs actual</h2><p>Estimated before the run (bound by {escape(est['basis'])}; "
                 f"{escape(est['method'])}) from a probe: the seed on {pr['examples']} validation questions and "
                 f"{'one' if pr['meta'] else 'no'} meta call, {pr['usage']['calls']} calls through the completion "
                 f"cache{'; the search reused the probed questions' if pr['shared'] else ''}.</p><table><tr>"
                 "<th>resource</th><th>estimate</th><th>interval</th><th>actual</th><th>within</th></tr>"
                 f"{rows}</table>")
    held = s.get("heldout")
    if not held:
        return html + ("<h2>Compute-matched baselines</h2><p>No held-out comparison: rerun with <code>--heldout N"
                       "</code> to compare the found agent with cot and compute-matched baselines on unseen "
                       "questions, and to see the break-even.</p>")
    found_vs = held["found_vs"]
    rows = "".join(
        f"<tr><td>{escape(r['arm'])}</td><td>{escape(r['agent'])}</td><td>{r['accuracy']:.3f} "
        f"[{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}]</td><td>{_pd(r['vs_cot'])}</td>"
        f"<td>{_pd(found_vs.get(r['arm']))}</td><td>{r['tokens_per_question']:.0f}</td>"
        f"<td>{r['calls_per_question']:.2f}</td><td>{r['cost_usd_per_question']:.6f}</td></tr>" for r in held["rows"])
    html += (f"<h2>Compute-matched baselines ({held['n']} held-out questions)</h2><p>{escape(held['rule'])}.</p>"
             "<table><tr><th>arm</th><th>agent</th><th>accuracy [95% CI]</th><th>vs cot, paired [95% CI], "
             "McNemar p</th><th>found minus this, paired</th><th>tokens/q</th><th>calls/q</th><th>USD/q</th></tr>"
             f"{rows}</table>{_img(out / 'baselines.png')}")
    be = s.get("breakeven") or {"rows": [], "definition": ""}
    rows = "".join(_breakeven_row(r) for r in be["rows"])
    return html + (f"<h2>Break-even</h2><p>After how many queries the search has paid for itself: "
                   f"{escape(be['definition'])}.</p><table><tr><th>baseline</th><th>unit</th><th>search cost</th>"
                   "<th>accuracy gain [paired 95% CI]</th><th>base cost per correct</th><th>extra cost per query</th>"
                   f"<th>break-even</th><th>how</th></tr>{rows}</table>")


def html_report(result: SearchResult, out: Path) -> str:
    """The static HTML report (plots read from ``out``)."""
    s = summary(result)
    front = {c.key for c in result.pareto_front()}
    rows = "".join(
        f"<tr><td>{c.index}</td><td>{escape(c.spec.name)}</td><td>{escape(c.origin)}</td><td>{_ci(c)}</td>"
        f"<td>{c.eval.accuracy:.3f}</td><td>{c.eval.calls_per_example:.1f}</td><td>{c.eval.tokens_per_example:.0f}</td>"
        f"<td>{'yes' if c.key in front else ''}</td></tr>" for c in result.ranked_archive())
    hist = "".join(
        f"<tr><td>{h.step}</td><td>{h.kind}</td><td>{escape(h.message)}</td><td>{h.calls}</td>"
        f"<td>{'' if h.best_score is None else f'{h.best_score:.3f}'}</td></tr>" for h in result.history)
    facts = "".join(f"<tr><th>{escape(k)}</th><td>{escape(json.dumps(v))}</td></tr>" for k, v in s.items()
                    if k not in ("best", "baseline", "estimate", "heldout", "breakeven", "race"))
    best = result.best
    best_line = f"{escape(best.spec.name)}: {_ci(best)}" if best else "(none evaluated)"
    if s["race"]:
        best_line += " (chosen by a race over training + validation: " + ", ".join(
            f"#{r['index']} {escape(r['name'])} {r['seen_mean']:.3f}" for r in s["race"]) + ")"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>AgentForge {escape(result.level)}-level search</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}}
pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}}img{{max-width:48%;margin-right:1%}}</style>
</head><body>
<h1>{escape(result.level).capitalize()}-level search on {escape(str(s['task']))}</h1>
<p>Best agent {best_line}; baseline {s['baseline_score']}. Stopped: {escape(result.stop_reason)}.</p>
<h2>Summary</h2><table>{facts}</table>
<h2>Plots</h2>{_img(out / 'best_vs_budget.png')}{_img(out / 'pareto.png')}
{_sections(s, out)}
<h2>Best agent</h2>{spec_svg(result.best_spec)}
<details><summary>best.json</summary><pre>{escape(result.best_spec.to_json())}</pre></details>
<h2>Archive (best first)</h2><table><tr><th>#</th><th>name</th><th>origin</th><th>score [95% CI]</th>
<th>accuracy</th><th>calls/ex</th><th>tokens/ex</th><th>Pareto</th></tr>{rows}</table>
<h2>History</h2><table><tr><th>step</th><th>event</th><th>message</th><th>calls</th><th>best</th></tr>{hist}</table>
</body></html>
"""


def write_outputs(result: SearchResult, out: str | Path, plots: bool = True) -> dict[str, Any]:
    """Write every output file to ``out`` (created); returns the summary dict."""
    out = Path(out)
    write_checkpoint(result, out)
    if plots:
        try:
            plot_best_vs_budget(result, out / "best_vs_budget.png")
            plot_pareto(result, out / "pareto.png")
            if result.info.get("heldout"):
                plot_baselines(result.info["heldout"], out / "baselines.png")
        except MissingExtraError as exc:  # the search's results are written; only the pictures are missing
            log.warning("no plots: %s", exc)
    _atomic(out / "report.html", html_report(result, out))
    return summary(result)
