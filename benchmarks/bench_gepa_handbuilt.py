"""Hand-built agents from the GEPA module space on the GEPA benchmark's held-out questions.

The reference a searched agent is read against: ``pal`` and ``pal`` with self-consistency (3
programs, the module space's default size) built from the same module configurations the search
composes, run on GSM8K train questions 41-140 (the held-out set of ``bench_gepa.py``) with the
same model and sampling as ``agentforge optimize`` (0.5B, greedy base, max_tokens 512, seed 0),
each beside cot on the same questions (paired bootstrap 95% CI, McNemar); ``sc@K`` adds
self-consistency with K chains, the compute-matched baseline ``agentforge optimize`` builds, and
``pal@K`` pal with K voted programs (the space's ``sc_samples=K``); a suffix ``+dN`` (``pal+d3``,
``pal@5+d3``, ``cot+d3``) shows N verified demonstrations (``agentforge.search.demos``)
bootstrapped from the greedy agent's correct trajectories on training questions 1-20 (the
search's training split); the first agent listed is
also compared, paired, with each of the others (``first_vs``). Rows go to a run store
(``benchmarks/results/gepa/handbuilt/heldout.sqlite``), so a rerun resumes, and the calls go
through the completion cache, so a search run that finds the same agent reuses them.

``--offset 140`` runs questions 141-240 instead (``handbuilt-141-240/``): questions that no search,
selection rule or earlier table of this benchmark has seen, for a confirmation declared before
it is run (``benchmarks/results/gepa/PREREGISTERED.md``).

Usage:
    python benchmarks/bench_gepa_handbuilt.py [--agents pal,pal@3,sc@2] [--n 100] [--offset 40]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agentforge.agents import build_agent_spec
from agentforge.core.aio import run_sync
from agentforge.core.stats import bootstrap_ci, paired_difference
from agentforge.llm import LLM
from agentforge.search.demos import bootstrap_demos, with_demos
from agentforge.search.evaluator import Evaluator
from agentforge.search.modules import DEFAULT_CONFIG, ModuleOptions, build_module_spec
from agentforge.search.store import RunStore
from agentforge.tasks import load_task

OUT = Path(__file__).parent / "results" / "gepa" / "handbuilt"
MODEL = "local/qwen2.5-coder-0.5b-instruct"
AGENTS = {"pal": {"reasoning": "pal"}, "pal@3": {"reasoning": "pal", "ensembling": "self-consistency"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", default="pal,pal@3")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--offset", type=int, default=40, help="questions offset+1 .. offset+n (default 41-140)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default: handbuilt, or "
                    "handbuilt-<first>-<last> for another --offset)")
    args = ap.parse_args()
    task = load_task("gsm8k", limit=args.n, offset=args.offset)
    span = f"handbuilt-{args.offset + 1}-{args.offset + args.n}"
    out = args.out or (OUT if args.offset == 40 else OUT.with_name(span))
    out.mkdir(parents=True, exist_ok=True)
    llm = LLM(model=MODEL, seed=0, temperature=0.0, max_tokens=512)
    ev = Evaluator(task, llm, store=RunStore(out / "heldout.sqlite"), concurrency=1, seed=0)
    cot = run_sync(ev.aevaluate(build_agent_spec("cot"), task.examples))
    base = [r.correct for r in cot.rows]
    rows = [{"agent": "cot", "accuracy": cot.accuracy, "ci": bootstrap_ci(base), "tokens_per_question":
             round(cot.tokens_per_example, 1), "calls_per_question": cot.calls_per_example}]
    correct: dict[str, list[bool]] = {}
    train = load_task("gsm8k", limit=20).examples
    for full in [a for a in args.agents.split(",") if a]:
        name, _, shots = full.partition("+d")
        if name == "cot":
            spec = build_agent_spec("cot")
        elif name.startswith("sc@"):
            spec = build_agent_spec("self-consistency", samples=int(name[3:]))
        elif name in AGENTS:
            spec = build_module_spec({**DEFAULT_CONFIG, **AGENTS[name]}, ModuleOptions(), task=task)
        elif name.startswith("pal@"):  # pal with self-consistency over K programs (the space's sc_samples=K)
            spec = build_module_spec({**DEFAULT_CONFIG, **AGENTS["pal@3"]}, ModuleOptions(sc_samples=int(name[4:])),
                                     task=task)
        else:
            raise SystemExit(f"unknown agent {name!r}: one of {', '.join(AGENTS)}, pal@K or sc@K")
        if shots:  # demonstrations from the greedy agent (pal@K -> pal) on the training split
            greedy = spec if "@" not in name else build_agent_spec("cot") if name.startswith("sc@") else \
                build_module_spec({**DEFAULT_CONFIG, **AGENTS["pal"]}, ModuleOptions(), task=task)
            src = run_sync(ev.aevaluate(greedy, train))
            demos = bootstrap_demos(list(zip(train, src.rows)), int(shots), seed=0)
            print(f"{full}: {len(demos)} demonstrations ({', '.join(d['id'] for d in demos)}) from "
                  f"{sum(r.correct for r in src.rows)}/{len(train)} correct training rows")
            spec = with_demos(spec, demos)
            name = full
        res = run_sync(ev.aevaluate(spec, task.examples))
        mine = correct[name] = [r.correct for r in res.rows]
        rows.append({"agent": name, "accuracy": res.accuracy, "ci": bootstrap_ci(mine),
                     "tokens_per_question": round(res.tokens_per_example, 1),
                     "calls_per_question": res.calls_per_example, "vs_cot": paired_difference(base, mine, seed=0)})
    first, *others = list(correct) or [None]
    first_vs = {o: paired_difference(correct[o], correct[first], seed=0) for o in others}  # first minus each
    questions = f"gsm8k train {args.offset + 1}-{args.offset + args.n}"
    (out / "summary.json").write_text(json.dumps({"questions": questions, "model": MODEL, "rows": rows,
                                                  "first": first, "first_vs": first_vs}, indent=2, default=str))
    for r in rows:
        vs = r.get("vs_cot")
        print(f"{r['agent']}: {r['accuracy']:.3f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] tokens/q "
              f"{r['tokens_per_question']}" + (f" vs cot {vs['diff']:+.3f} [{vs['diff_ci'][0]:+.2f}, "
                                               f"{vs['diff_ci'][1]:+.2f}] p={vs['mcnemar_p']:.2g}" if vs else ""))
    for o, d in first_vs.items():
        print(f"{first} minus {o}: {d['diff']:+.3f} [{d['diff_ci'][0]:+.2f}, {d['diff_ci'][1]:+.2f}] "
              f"p={d['mcnemar_p']:.2g}")


if __name__ == "__main__":
    main()
