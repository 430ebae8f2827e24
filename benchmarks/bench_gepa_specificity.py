"""Replay GEPA's instruction rewrites through the problem-specific check (no model calls).

Every instruction rewrite a meta model wrote in our stored GEPA runs (the ``gepa-<step>`` meta calls
of each run's ``store.sqlite``) is checked with ``agentforge.search.specificity.specific_copy``
against the 3 training problems of its step's minibatch (GEPA's rotation, rebuilt from the step
number), with the task's answer format and the instruction of every candidate archived before
that step as allowed text (the parent is one of them; the live check allows only the parent's
instruction, so this can only flag fewer), and with ``same_instruction`` against those
instructions (the live check compares with the parent's only, so this can flag more). Each rewrite is listed with what happened to it in the run (the step's history
line) and the calls that step spent after its meta call, which the check saves when it flags.

Writes ``benchmarks/results/gepa/specificity.md`` and ``specificity.json``.

Usage:
    python benchmarks/bench_gepa_specificity.py [--runs gepa-tie-meta1.5b,humaneval-gepa]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

from agentforge.agents import AgentSpec
from agentforge.core.errors import TemplateError, TemplateLimitError
from agentforge.core.templates import render, template_source
from agentforge.search.gepa_parts import WRITER_ROLES
from agentforge.search.parse import extract_json_object
from agentforge.search.specificity import same_instruction, specific_copy
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "gepa"
RUNS = ["gepa-explore-meta1.5b", "gepa-tie-meta1.5b", "gepa-race-sc5-meta1.5b", "gepa-sc5-meta0.5b", "humaneval-gepa"]
TRAIN, MINIBATCH = 20, 3


def rewrites(store: Path) -> list[tuple[int, str]]:
    """(step, instruction) of every instruction rewrite stored in a run's meta calls."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = con.execute("select tag, data from calls where tag like 'gepa-%'").fetchall()
    finally:
        con.close()
    out = []
    for tag, data in rows:
        try:
            got = extract_json_object(json.loads(data)["text"], ("instruction",))
        except Exception:  # a module choice or a malformed reply: not an instruction rewrite
            continue
        if str(got.get("instruction") or "").strip():
            out.append((int(tag.split("-")[1]), str(got["instruction"]).strip()))
    return sorted(out)


def writer_instruction(spec: AgentSpec, task) -> str:
    """What the rewrite replaces in ``spec``: its instruction component, else its first writer
    node's system prompt with the task's persona filled in."""
    node = next((n for n in spec.nodes if n.kind == "llm" and n.system and n.role in WRITER_ROLES), None)
    if node is None:
        return ""
    try:
        return render(node.system, {"persona": task.persona})
    except (TemplateError, TemplateLimitError):
        return template_source(node.system)


def replay(name: str) -> list[dict]:
    run = ROOT / name
    summary = json.loads((run / "summary.json").read_text())
    task = load_task(summary.get("task", "gsm8k"), limit=TRAIN)
    history = json.loads((run / "history.json").read_text())
    archive = [(c["step"], writer_instruction(AgentSpec.validate_dict(c["spec"]), task))
               for c in json.loads((run / "archive.json").read_text())]
    out = []
    for step, instruction in rewrites(run / "store.sqlite"):
        known = [text for made, text in archive if made < step]  # the parent is one of these
        allowed = "\n".join([*known, task.instructions])
        start = ((step - 1) * MINIBATCH) % TRAIN
        batch = [task.examples[(start + i) % TRAIN] for i in range(MINIBATCH)]
        lines = [h for h in history if h["step"] == step]
        before = max((h["calls"] for h in history if h["step"] < step), default=0)
        spent = max((h["calls"] for h in lines), default=before) - before - 1
        out.append({"run": name, "step": step, "instruction": instruction[:300],
                    "flagged": specific_copy(instruction, [e.question for e in batch], allowed=allowed),
                    "repeats": any(same_instruction(instruction, k) for k in known),
                    "outcome": lines[-1]["message"][:160] if lines else "(not in history)",
                    "calls_after_meta": spent})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=",".join(RUNS))
    args = ap.parse_args()
    rows = [r for name in args.runs.split(",") if (ROOT / name / "store.sqlite").exists() for r in replay(name)]
    flagged = [r for r in rows if r["flagged"] or r["repeats"]]
    accepted = [r for r in flagged if r["outcome"].startswith("#")]  # "#<index> ...": archived
    md = ["| run | step | problem-specific (copied piece) | repeats an instruction | outcome in the run | "
          "calls after the meta call |", "|---|---|---|---|---|---|"]
    md += [f"| {r['run']} | {r['step']} | {r['flagged'] or 'no'} | {'yes' if r['repeats'] else 'no'} | "
           f"{r['outcome'].replace('|', '/')} | {r['calls_after_meta']} |" for r in rows]
    head = (f"{len(rows)} instruction rewrites: {sum(1 for r in rows if r['flagged'])} problem-specific, "
            f"{sum(1 for r in rows if r['repeats'])} repeating the instruction of a candidate archived before them; "
            f"{len(accepted)} of those {len(flagged)} were accepted in the run, and the steps testing them "
            f"spent {sum(r['calls_after_meta'] for r in flagged)} calls after their meta call.\n\n")
    (ROOT / "specificity.md").write_text(head + "\n".join(md) + "\n")
    (ROOT / "specificity.json").write_text(json.dumps(rows, indent=1))
    print(head + "\n".join(md))


if __name__ == "__main__":
    main()
