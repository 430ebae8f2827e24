"""Goals, the Markdown table and the output files of the PRM GPU check.

The report is a plain dict (see ``prm_gpu_check.py``'s docstring for its keys); this module
only reads it. Goals are reported pass/fail, never asserted: a miss is a finding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _best(entry: dict) -> float | None:
    rates = [b["steps_per_s"] for b in entry.get("batched", []) if b.get("steps_per_s")]
    return max(rates) if rates else None


def goals(report: dict, batching_size: str, fit_size: str, *, batching_x: float = 5.0,
          served_x: float = 0.9, served_clients: int = 8, fit_steps: float = 100.0) -> list[dict]:
    """The issue's three goals, each ``{"goal", "value", "target", "pass"}``; ``pass`` is None
    (and ``value`` says why) when the size or measurement was not run."""
    sizes = report.get("sizes", {})
    out = []
    e = sizes.get(batching_size, {})
    one = e.get("one_at_a_time", {}).get("steps_per_s")
    best = _best(e)
    ratio = round(best / one, 2) if best and one else None
    out.append({"goal": f"dynamic batching >= {batching_x}x one-at-a-time ({batching_size})",
                "value": ratio if ratio is not None else f"not measured ({e.get('status', 'not run')})",
                "target": batching_x, "pass": None if ratio is None else ratio >= batching_x})
    row = next((r for r in report.get("served", {}).get("rows", []) if r["clients"] == served_clients), None)
    ratio = row.get("served_vs_inprocess") if row else None
    out.append({"goal": f"served >= {served_x}x in-process with {served_clients} clients "
                        f"({report.get('served', {}).get('size', 'n/a')})",
                "value": ratio if ratio is not None else
                f"not measured ({report.get('served', {}).get('status', 'not run')})",
                "target": served_x, "pass": None if ratio is None else ratio >= served_x})
    e = sizes.get(fit_size, {})
    best = _best(e)
    out.append({"goal": f"{fit_size} PRM fits and scores >= {fit_steps:g} steps/s",
                "value": best if best is not None else f"not measured ({e.get('status', 'not run')})",
                "target": fit_steps, "pass": None if best is None else
                (e.get("status") == "ok" and best >= fit_steps)})
    return out


def _f(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}e}" if 0 < abs(x) < 1e-2 else f"{x:,.{nd}f}"
    return str(x)


def markdown(report: dict) -> str:
    """The report as Markdown: environment, per-size table, served table, goals, checks."""
    env, inp = report.get("env", {}), report.get("inputs", {})
    lines = [f"# PRM judge GPU check: {env.get('device_name', '?')} ({env.get('dtype', '?')})", "",
             f"torch {env.get('torch')}, transformers {env.get('transformers')}, python {env.get('python')}; "
             f"elapsed {_f(report.get('elapsed_s'))} s of a {report.get('time_budget_s')} s budget; "
             f"server import: {env.get('server_import')}", "",
             f"inputs: {inp.get('items')} solutions from {inp.get('source')}; steps/solution mean "
             f"{_f(inp.get('steps_mean'), 2)}; tokens/input mean {_f(inp.get('tokens_mean'), 0)}, max "
             f"{inp.get('tokens_max')} ({inp.get('tokenizer')})", ""]
    sizes = report.get("sizes", {})
    budgets = sorted({b["budget"] for e in sizes.values() for b in e.get("batched", [])})
    lines += ["| size | params | status | load path (build / save / load s) | one-at-a-time steps/s | "
              + " | ".join(f"batched @{b} steps/s" for b in budgets)
              + " | best / one | peak GiB (load / one / best) | max abs diff |",
              "|---" * (8 + len(budgets)) + "|"]
    for size, e in sizes.items():
        ld = e.get("load", {})
        by = {b["budget"]: b for b in e.get("batched", [])}
        one = e.get("one_at_a_time", {})
        best = _best(e)
        peak_best = max((b["peak_gib"] for b in e.get("batched", []) if b.get("peak_gib") is not None),
                        default=None)
        params = e.get("params") or 0
        cells = [size, f"{params / 1e9:.2f}B" if params >= 1e8 else f"{params / 1e6:.2f}M",
                 e.get("status", "?") + (f": {e['reason']}" if e.get("reason") else ""),
                 f"{ld.get('path', '-')} ({_f(ld.get('build_s'))} / {_f(ld.get('save_s'))} / {_f(ld.get('load_s'))})"
                 if ld else "-", _f(one.get("steps_per_s"))]
        cells += [_f(by[b].get("steps_per_s")) if b in by and by[b].get("steps_per_s")
                  else (by[b].get("error", "-")[:40] if b in by else "-") for b in budgets]
        cells += [f"x{best / one['steps_per_s']:.1f}" if best and one.get("steps_per_s") else "-",
                  f"{_f(e.get('peak_load_gib'))} / {_f(one.get('peak_gib'))} / {_f(peak_best)}",
                  _f(e.get("max_abs_diff"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    served = report.get("served", {})
    if served.get("rows"):
        lines += ["", f"Served ({served.get('size')}, BackgroundServer on loopback, budget "
                      f"{served.get('budget')}; clients in a separate process, one solution per request):", "",
                  "| clients | served steps/s | in-process steps/s (same threads) | served / in-process | "
                  "served / in-process batched | requests per score_batch |", "|---" * 6 + "|"]
        for r in served["rows"]:
            lines.append(f"| {r['clients']} | {_f(r.get('served_steps_per_s'))} | "
                         f"{_f(r.get('inprocess_steps_per_s'))} | {_f(r.get('served_vs_inprocess'), 2)} | "
                         f"{_f(r.get('served_vs_batched'), 2)} | {_f(r.get('requests_per_call'), 1)} |")
    if served.get("status"):
        lines += ["", f"Served: {served['status']}: {served.get('reason', '')}"]
    lines += ["", "Goals (reported, not asserted):", ""]
    for g in report.get("goals", []):
        mark = {True: "PASS", False: "FAIL", None: "N/A"}[g["pass"]]
        lines.append(f"- [{mark}] {g['goal']}: {g['value']}")
    for c in report.get("checks", []):
        mark = {True: "PASS", False: "FAIL", None: "N/A"}[c["pass"]]
        lines.append(f"- [{mark}] check: {c['check']}: {c['value']}")
    if report.get("absent_imports"):
        lines += ["", "Imports of packages absent on the GPU machine: "
                  + "; ".join(f"{a['module']} by {a['imported_by']}" for a in report["absent_imports"])]
    return "\n".join(lines) + "\n"


def write(report: dict, out: Path) -> tuple[Path, Path]:
    """Write ``prm_gpu_check.json`` and ``prm_gpu_check.md`` into ``out`` (created).

    Returns:
        the two paths.
    """
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "prm_gpu_check.json", out / "prm_gpu_check.md"
    js.write_text(json.dumps(report, indent=2, default=str))
    md.write_text(markdown(report))
    return js, md
