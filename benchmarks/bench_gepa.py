"""GEPA-style search and its rivals, each beside compute-matched baselines, its cost estimate and
its break-even (issue 14).

GSM8K: train questions 1-20 feed the proposals, 21-40 rank candidates, 41-140 are held out; the
0.5B model runs the agents; 600 LLM calls per search (agent, judge and meta calls together).
Runs (``--runs``, comma-separated):

* ``gepa-meta0.5b`` / ``gepa-meta1.5b``: ``agentforge optimize --level gepa`` (instructions and the
  task's module space, grounded modules included) with the 0.5B / the 1.5B as the meta model,
  every mutation accepted on a 3-question minibatch as in GEPA;
* ``gepa-explore-meta1.5b``: the same with the 1.5B, module mutations tested on 8 questions, and an
  untried module when the meta model keeps the current one;
* ``gepa-tie-meta1.5b``: the same, and a child that ties its parent on the minibatch at no more
  than 0.8x its tokens is accepted too;
* ``gepa-race-sc5-meta1.5b``: every default, with 5 voted samples (so pal@5, the best hand-built
  agent of ``bench_gepa_handbuilt.py``, is in the space): a child that ties on the minibatch (and
  is not a cheaper tie) also races its parent on as many further training questions;
* ``gepa-race-seen-sc5-meta1.5b``: the same search, returning the winner of a race over training +
  validation (``--set select_on=seen``, declared in ``results/gepa/PREREGISTERED.md`` with its test
  on fresh questions); it replays ``gepa-race-sc5-meta1.5b`` from a copy of its stores (the final
  selection acts after the loop's 80% of the budget, and that run archived its last candidate at
  call 412), so only the race's missing training rows are new calls; ``gepa-tie-seen-meta1.5b``
  does the same for ``gepa-tie-meta1.5b`` (last candidate archived at call 375); both also take
  the held-out rows of ``bench_gepa_handbuilt.py`` (same specs, model and seed, so the same keys);
* ``gepa-demos-sc5-meta1.5b``: every default of today, 5 voted samples, and the ``demos`` step
  (3 verified demonstrations bootstrapped from the parent's correct training trajectories);
* ``gepa-sc5-meta0.5b``: ``gepa-race-sc5-meta1.5b`` with the 0.5B proposing for itself (the
  issue's comparison of meta models at its 600 calls and 100 held-out questions);
* ``module-grounded`` / ``system-grounded`` (``-meta1.5b``: the 1.5B proposing): the
  module and system levels, grounded modules in their space;
* ``dspy-gepa``: ``dspy.GEPA`` on ``ChainOfThought("question -> answer")``, same split, model
  (and reflection model) and about the same number of calls (``bench_search_gsm8k.py --dspy gepa``);
  ``dspy-gepa-meta1.5b``: the same with the 1.5B reflecting, as our ``-meta1.5b`` runs;
* ``humaneval-gepa``: GEPA (every default, the 1.5B proposing) on HumanEval 0-19 (train) and 20-39
  (validation), 40-163 held out; its space holds the grounded code modules (self-debug on the
  visible tests, reflexion with self-written tests).

Each of our runs is the CLI itself (``agentforge optimize ... --heldout``): the estimate before
the run, the search, and on the held-out questions the found agent, cot and self-consistency at
the found agent's tokens per question, then the break-even. Everything is resumable (rerun the
command); ``--report-only`` rebuilds ``benchmarks/results/gepa/results.md`` and ``summary.json``.

Usage:
    python benchmarks/bench_gepa.py --runs gepa-meta0.5b,dspy-gepa [--budget 600] [--heldout 100] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "benchmarks" / "results" / "gepa"
SMALL, LARGE = "local/qwen2.5-coder-0.5b-instruct", "local/qwen2.5-coder-1.5b-instruct"
GSM8K = ["--task", "gsm8k", "--train", "20", "--val", "20", "--offset", "0", "--heldout", "100"]
NO_FILTER = ["--set", "reject_specific=false"]
# likewise for the system runs, made before proposals whose prompts never show the problem were refused
NO_PROBLEM_CHECK = ["--set", "require_problem=false"]
NO_RACE = ["--set", "extend_ties=false", *NO_FILTER]
STRICT = ["--set", "tie_token_ratio=null", *NO_RACE]
SC5 = 'module_options={"sc_samples": 5}'
GEPA_AS_PAPER = ["--set", "module_minibatch=3", "--set", "explore_untried=false", *STRICT]
"""The first two GEPA runs: every mutation tested on a 3-example minibatch, no untried-module
exploration, only strict gains accepted (``gepa-explore-*`` keep strict acceptance but take the
other defaults: module mutations on 8 examples, exploration on; ``gepa-tie-*`` take the tie rule
too, but not the race of ties (``extend_ties``), which came later; ``gepa-race-*`` use every
default but ``reject_specific``, which came after every run here, as did ``humaneval-gepa``)."""
RUNS = {
    "gepa-meta0.5b": [*GSM8K, "--level", "gepa", *GEPA_AS_PAPER],
    "gepa-meta1.5b": [*GSM8K, "--level", "gepa", "--meta-model", LARGE, *GEPA_AS_PAPER],
    "gepa-explore-meta1.5b": [*GSM8K, "--level", "gepa", "--meta-model", LARGE, *STRICT],
    "gepa-tie-meta1.5b": [*GSM8K, "--level", "gepa", "--meta-model", LARGE, *NO_RACE],
    "gepa-race-sc5-meta1.5b": [*GSM8K, "--level", "gepa", "--meta-model", LARGE, "--set", SC5, *NO_FILTER],
    "gepa-race-seen-sc5-meta1.5b": [*GSM8K, "--level", "gepa", "--meta-model", LARGE, "--set", SC5, *NO_FILTER,
                                    "--set", "select_on=seen"],
    "gepa-tie-seen-meta1.5b": [*GSM8K, "--level", "gepa", "--meta-model", LARGE, *NO_RACE, "--set", "select_on=seen"],
    "gepa-demos-sc5-meta1.5b": [*GSM8K, "--level", "gepa", "--meta-model", LARGE, "--set", SC5, "--set", "demos=3"],
    "gepa-sc5-meta0.5b": [*GSM8K, "--level", "gepa", "--set", SC5, *NO_FILTER],
    "module-grounded": [*GSM8K, "--level", "module"],
    "module-grounded-meta1.5b": [*GSM8K, "--level", "module", "--meta-model", LARGE],
    "system-grounded": [*GSM8K, "--level", "system", "--max-failures", "60", *NO_PROBLEM_CHECK],
    "system-grounded-meta1.5b": [*GSM8K, "--level", "system", "--max-failures", "60", "--meta-model", LARGE,
                                 *NO_PROBLEM_CHECK],
    "humaneval-gepa": ["--task", "humaneval", "--train", "20", "--val", "20", "--offset", "0", "--heldout", "124",
                       "--heldout-offset", "40", "--level", "gepa", "--meta-model", LARGE, *NO_FILTER],
}


REPLAYS = {"gepa-race-seen-sc5-meta1.5b": "gepa-race-sc5-meta1.5b", "gepa-tie-seen-meta1.5b": "gepa-tie-meta1.5b"}
"""Runs that start from a copy of another run's stores (search, estimate, held-out rows)."""
SEEN = {"on": "seen", "reserve": 0.2, "top": 3}  # what ``Optimizer.describe`` records for select_on=seen


def seed_replay(name: str) -> None:
    """Copy the source run's stores into ``name``'s folder once, and bind the copy to the new option."""
    out, src = ROOT / name, ROOT / REPLAYS[name]
    if (out / "store.sqlite").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    for f in ("store.sqlite", "heldout.sqlite"):
        with sqlite3.connect(src / f) as a, sqlite3.connect(out / f) as b:
            a.backup(b)  # consistent even with a -wal file beside the source
    with sqlite3.connect(out / "heldout.sqlite") as db:  # hand-built rows the source run never needed
        db.execute("attach ? as hb", (str(ROOT / "handbuilt" / "heldout.sqlite"),))
        for table in ("results", "specs"):
            db.execute(f"insert or ignore into {table} select * from hb.{table}")
    (out / "estimate.json").write_bytes((src / "estimate.json").read_bytes())
    with sqlite3.connect(out / "store.sqlite") as db:
        config = json.loads(db.execute("select value from meta where key='config'").fetchone()[0])
        config["selection"] = SEEN
        db.execute("update meta set value=? where key='config'", (json.dumps(config, sort_keys=True),))
    print(f"== {name}: stores copied from {src.name}", flush=True)


SHARED_HELDOUT = {"gepa-demos-sc5-meta1.5b", "gepa-sc5-meta0.5b", "module-grounded-meta1.5b"}
"""Runs whose held-out store starts with the hand-built rows (same specs, model and seed, so the
same keys: an agent the hand-built run has scored is not paid for again)."""


SHARED_FROM = ("gepa-tie-meta1.5b",)
"""Held-out stores whose rows (cot, self-consistency with one sample) join the hand-built ones."""


def seed_heldout(name: str) -> None:
    """Start ``name``'s held-out store as a copy of the hand-built one, plus ``SHARED_FROM``'s rows
    (once per source: ``insert or ignore`` keeps every row already there)."""
    out = ROOT / name
    if not (out / "heldout.sqlite").exists():
        out.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(ROOT / "handbuilt" / "heldout.sqlite") as a, sqlite3.connect(out / "heldout.sqlite") as b:
            a.backup(b)
    with sqlite3.connect(out / "heldout.sqlite") as db:
        for src in SHARED_FROM:
            db.execute("attach ? as src", (str(ROOT / src / "heldout.sqlite"),))
            for table in ("results", "specs"):
                db.execute(f"insert or ignore into {table} select * from src.{table}")
            db.commit()
            db.execute("detach src")


def run_cli(name: str, budget: int, heldout: int | None = None) -> None:
    out = ROOT / name
    if name in REPLAYS:
        seed_replay(name)
    if name in SHARED_HELDOUT:
        seed_heldout(name)
    spec = list(RUNS[name])
    if heldout is not None:
        spec[spec.index("--heldout") + 1] = str(heldout)
    argv = [sys.executable, "-m", "agentforge", "-v", "optimize", *spec, "--model", SMALL, "--budget-calls",
            str(budget), "--concurrency", "1", "--max-candidates", "30", "--out", str(out)]
    if "--max-failures" not in RUNS[name]:  # the budget, not a streak of rejected children, ends a search
        argv += ["--max-failures", "40"]
    argv += ["--max-steps", "1000"]
    if (out / "store.sqlite").exists():
        argv.append("--resume")
    print(f"== {name}: {' '.join(argv[3:])}", flush=True)
    subprocess.run(argv, check=True)


DSPY_RUNS = {"dspy-gepa": None, "dspy-gepa-meta1.5b": LARGE}
"""``dspy.GEPA`` runs and their reflection model (None: the task model, the 0.5B)."""


def run_dspy_gepa(name: str, budget: int, reflection: str | None) -> None:
    argv = [sys.executable, str(REPO / "benchmarks" / "bench_search_gsm8k.py"), "--levels", "", "--dspy", "gepa",
            "--budget", str(budget), "--dspy-tag", name.removeprefix("dspy-gepa")]
    if reflection:
        argv += ["--dspy-reflection-model", reflection]
    print(f"== {name}", flush=True)
    subprocess.run(argv, check=True)


def row_of(name: str) -> dict | None:
    path = ROOT / name / "summary.json"
    if not path.exists():
        return None
    s = json.loads(path.read_text())
    held = s.get("heldout") or {}
    arms = {r["arm"]: r for r in held.get("rows", [])}
    found, vs = arms.get("found"), held.get("found_vs", {})
    est = (s.get("estimate") or {}).get("vs_actual", {})
    be = {(r["baseline"], r["unit"]): r for r in (s.get("breakeven") or {}).get("rows", [])}
    matched = next((a for a in arms if a.startswith("self-consistency")), None)
    race = s.get("race") or []
    raced = f" (race on {race[0]['n_train'] + race[0]['n_val']})" if race else ""
    return {"run": name, "best": f"{s.get('best_name')}{raced}", "val": s.get("best_score"),
            "meta_model": s.get("meta_model"),
            "found": found, "cot": arms.get("cot"), "matched": arms.get(matched) if matched else None,
            "matched_name": matched, "vs_cot": vs.get("cot"), "vs_matched": vs.get(matched) if matched else None,
            "calls": s.get("llm_calls"), "tokens": s.get("tokens"), "wall_s": s.get("wall_s"),
            "estimate": {k: (v.get("estimate"), v.get("actual"), v.get("within")) for k, v in est.items()},
            "breakeven_cot": be.get(("cot", "tokens")), "breakeven_matched": be.get((matched, "tokens"))}


def fmt_acc(arm: dict | None) -> str:
    return "-" if not arm else f"{arm['accuracy']:.3f} [{arm['accuracy_ci'][0]:.2f}, {arm['accuracy_ci'][1]:.2f}]"


def fmt_vs(d: dict | None) -> str:
    if not d:
        return "-"
    p = "p<0.001" if d["mcnemar_p"] < 0.001 else f"p={d['mcnemar_p']:.2g}"
    return f"{d['diff']:+.3f} [{d['diff_ci'][0]:+.2f}, {d['diff_ci'][1]:+.2f}] {p}"


def fmt_be(b: dict | None) -> str:
    return "-" if not b else (str(b["queries"]) if b.get("queries") is not None else "never")


def stored_correct(folder: str) -> dict[str, dict[str, bool]]:
    """Per agent name in ``folder``'s held-out store: question id -> whether it got it right."""
    with sqlite3.connect(ROOT / folder / "heldout.sqlite") as db:
        names = {key: json.loads(spec)["name"] for key, spec in db.execute("select key, spec from specs")}
        out: dict[str, dict[str, bool]] = {}
        for cand, example, data in db.execute("select cand, example, data from results"):
            out.setdefault(names.get(cand, cand), {})[example] = bool(json.loads(data).get("correct"))
        return out


def dspy_row(name: str) -> str | None:
    """A ``dspy.GEPA`` row of the table: paired against cot and against self-consistency with one
    sample (its compute match: DSPy's ChainOfThought makes one call of about cot's tokens), both read
    from ``gepa-tie-meta1.5b``'s held-out store (same questions 41-140, model and seed)."""
    path = REPO / "benchmarks" / "results" / "search" / name / "summary.json"
    if not path.exists():
        return None
    from agentforge.core.stats import paired_difference  # only where a DSPy row is reported

    d = json.loads(path.read_text())
    got = set(d["correct_ids"])
    base = stored_correct("gepa-tie-meta1.5b")
    ids = sorted(base["cot"])  # the held-out questions (41-140: ids train-40 to train-139)
    if len(ids) != d["n"]:
        raise SystemExit(f"{name}: {d['n']} held-out questions, the cot rows have {len(ids)}")
    vs = {k: paired_difference([base[k][i] for i in ids], [i in got for i in ids])
          for k in ("cot", "self-consistency")}
    sc = sum(base["self-consistency"][i] for i in ids) / len(ids)
    tie = json.loads((ROOT / "gepa-tie-meta1.5b" / "summary.json").read_text())["heldout"]["rows"]
    sc_tokens = next(r["tokens_per_question"] for r in tie if r["arm"] == "self-consistency k=1")
    # break-even is "never" when the gain is not above zero with 95% confidence (as in optimize's report)
    be = " / ".join("never" if vs[k]["diff_ci"][0] <= 0 else "-" for k in vs)
    return (f"| {name} | {d['agent']} | {d.get('search_score')} | {d['accuracy']:.3f} [{d['ci'][0]:.2f}, "
            f"{d['ci'][1]:.2f}] | {fmt_vs(vs['cot'])} | self-consistency k=1: {sc:.3f} | "
            f"{fmt_vs(vs['self-consistency'])} | {d['tokens_per_example']} / {sc_tokens} | "
            f"{d['search_calls']} / {d['search_tokens']:,} / {d['search_wall_s']} s | - | {be} |")


def report() -> None:
    rows = [r for name in RUNS if (r := row_of(name)) is not None]
    lines = ["| run | best agent | val | held-out acc [95% CI] | vs cot | matched baseline: acc | "
             "found minus matched | tokens/q (found / matched) | search calls / tokens / wall | "
             "estimate vs actual (calls, tokens) | break-even vs cot / vs matched (queries) |", "|" + "---|" * 11]
    for r in rows:
        f, m = r["found"], r["matched"]
        est = r["estimate"]
        e = "; ".join(f"{k} ~{v[0]:,.0f} vs {v[1]:,.0f}{'' if v[2] else ' (outside)'}" for k, v in est.items()
                      if k in ("calls", "tokens") and v[0] is not None)
        lines.append(f"| {r['run']} | {r['best']} | {r['val']} | {fmt_acc(f)} | {fmt_vs(r['vs_cot'])} | "
                     f"{r['matched_name'] or '-'}: {fmt_acc(m)} | {fmt_vs(r['vs_matched'])} | "
                     f"{f['tokens_per_question'] if f else '-'} / {m['tokens_per_question'] if m else '-'} | "
                     f"{r['calls']} / {r['tokens']:,} / {r['wall_s']:.0f} s | {e} | "
                     f"{fmt_be(r['breakeven_cot'])} / {fmt_be(r['breakeven_matched'])} |")
    lines += [row for name in DSPY_RUNS if (row := dspy_row(name)) is not None]
    text = "\n".join(lines)
    ROOT.mkdir(parents=True, exist_ok=True)
    (ROOT / "results.md").write_text(text + "\n")
    (ROOT / "summary.json").write_text(json.dumps(rows, indent=2))
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="gepa-meta0.5b")
    ap.add_argument("--budget", type=int, default=600)
    ap.add_argument("--heldout", type=int, default=None,
                    help="held-out questions per run (default: each run's own, 100 on GSM8K, 124 on HumanEval)")
    ap.add_argument("--dspy-reflection-model", default=None)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if not args.report_only:
        for name in [x.strip() for x in args.runs.split(",") if x.strip()]:
            if name in DSPY_RUNS:
                run_dspy_gepa(name, args.budget, args.dspy_reflection_model or DSPY_RUNS[name])
            elif name in RUNS:
                run_cli(name, args.budget, args.heldout)
            else:
                raise SystemExit(f"unknown run {name!r}; valid: {', '.join([*RUNS, *DSPY_RUNS])}")
    report()


if __name__ == "__main__":
    main()
