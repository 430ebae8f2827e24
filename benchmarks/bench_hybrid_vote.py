"""Post-hoc: majority votes that pool program answers with chain-of-thought answers (no new calls).

Reads the run stores of ``bench_gepa_handbuilt.py`` (GSM8K train 41-140 and 141-240), runs each
stored pal@5 program again in the sandbox to recover its own answer (the stores keep only the
vote's), takes the chain answers of self-consistency (3 chains) and greedy cot from their
trajectories, and scores majority votes over pooled answers (a tie goes to the answer seen
first, programs first) beside cot on the same questions: paired bootstrap 95% CI and McNemar.
The pooling is the idea of mixing program-aided and chain-of-thought answers (as in Zhao et al.
2023, "Automatic Model Selection with Large Language Models for Reasoning"); these votes were
chosen *after* looking at 41-140, so only 141-240 (fresh for this question) is a test.
The re-run pal@5 vote must equal the stored one (checked, as a test of the recovery).

Usage: python benchmarks/bench_hybrid_vote.py   (writes results/gepa/hybrid-vote.{json,md})
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from agentforge.core.stats import bootstrap_ci, paired_difference
from agentforge.sandbox import run_program
from agentforge.tasks import load_task
from agentforge.tasks.extraction import extract_code
from agentforge.tasks.programs import printed_answer, with_entry_call

ROOT = Path(__file__).parent / "results" / "gepa"
SETS = {"41-140": ("handbuilt", 40), "141-240": ("handbuilt-141-240", 140)}
AGENTS = {"cot": "cot", "sc@3": "self-consistency:3", "pal@5": "modular:pal/none/self-consistency/none:5"}
VOTES = {"pal@5": ["pal@5"], "pal@5 + sc@3": ["pal@5", "sc@3"], "pal@5 + cot": ["pal@5", "cot"],
         "pal@5 + sc@3 + cot": ["pal@5", "sc@3", "cot"]}


def answers(db: sqlite3.Connection, task, examples: dict) -> dict[str, dict[str, list]]:
    """Per agent, per question: the answers of its samples (None for a failed program)."""
    keys = {}
    for key, text in db.execute("select key, spec from specs"):
        spec = json.loads(text)
        label = f"{spec['name']}:{spec['nodes'][0].get('samples', 1)}" if len(spec["nodes"]) > 1 else spec["name"]
        keys.update({agent: key for agent, want in AGENTS.items() if want == label})
    out: dict[str, dict[str, list]] = {}
    for agent, key in keys.items():
        rows = {e: json.loads(d) for e, d in db.execute("select example, data from results where cand=?", (key,))
                if e in examples}
        got = out[agent] = {}
        for e, row in tqdm(rows.items(), desc=agent, unit="q"):
            got[e] = [_answer(task, s, examples[e]) for s in row["trajectory"] if s["role"] in ("solver", "programmer")]
            if agent == "pal@5":
                stored = task.normalize(row["answer"]) if row["answer"] not in (None, "", "None") else None
                if _vote(task, got[e]) != stored:
                    raise SystemExit(f"{e}: re-run programs vote {_vote(task, got[e])!r}, the store says {stored!r}")
    return out


def _answer(task, step: dict, example) -> str | None:
    if step["role"] == "solver":
        return step["answer"]
    code = extract_code(step["output"])
    result = run_program(with_entry_call(code)) if code else None
    return printed_answer(task, result.stdout, example) if result is not None and result.ok else None


def _vote(task, pooled: list) -> str | None:
    kept = [task.normalize(a) for a in pooled if a not in (None, "", "None")]
    return Counter(kept).most_common(1)[0][0] if kept else None


def main() -> None:
    results = {}
    for span, (folder, offset) in SETS.items():
        task = load_task("gsm8k", limit=100, offset=offset)
        examples = {ex.id: ex for ex in task.examples}
        got = answers(sqlite3.connect(ROOT / folder / "heldout.sqlite"), task, examples)
        ids = sorted(examples, key=lambda e: int(e.split("-")[-1]))
        cot = [task.score(_vote(task, got["cot"][e]) or "", examples[e]) for e in ids]
        rows = {"cot": {"accuracy": sum(cot) / len(ids), "ci": bootstrap_ci(cot)}}
        for name, parts in VOTES.items():
            mine = [task.score(_vote(task, sum((got[p][e] for p in parts), [])) or "", examples[e]) for e in ids]
            rows[name] = {"accuracy": sum(mine) / len(ids), "ci": bootstrap_ci(mine),
                          "vs_cot": paired_difference(cot, mine, seed=0)}
        results[span] = rows
    (ROOT / "hybrid-vote.json").write_text(json.dumps(results, indent=2, default=str))
    lines = ["| vote over | " + " | ".join(f"GSM8K {s}: acc, minus cot [95% CI], McNemar p" for s in SETS) + " |",
             "|---|" + "---|" * len(SETS)]
    for name in ["cot", *VOTES]:
        cells = []
        for span in SETS:
            r = results[span][name]
            d = r.get("vs_cot")
            cells.append(f"{r['accuracy']:.2f}" + (f", {d['diff']:+.2f} [{d['diff_ci'][0]:+.2f}, "
                                                   f"{d['diff_ci'][1]:+.2f}], p={d['mcnemar_p']:.2g}" if d else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    (ROOT / "hybrid-vote.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
