"""Meta-search quality benchmark on GSM8K with the embedded 0.5B model.

For each search level (prompt, module, system) the search runs on GSM8K train questions 1-40
(1-20 train, 21-40 validation) with a budget of 600 LLM calls (agent, judge and meta-model calls
together; the meta model is the same 0.5B model), then the best agent of each level and the
``cot`` baseline are scored on train questions 41-140, which the search never saw. Prints a table
of held-out accuracy with bootstrap 95% intervals and the budget each search used, and writes
``benchmarks/results/search/summary.json`` and ``heldout_accuracy.png``.

Everything is resumable: each search keeps its run store in ``benchmarks/results/search/<level>/``
and the held-out evaluations share ``heldout.sqlite``; rerun the same command to continue after
an interruption (nothing already paid for is called again). The completion cache is in
``benchmarks/results/search/cache``.

``--dspy none,mipro,copro`` adds DSPy's unoptimized program, MIPROv2 and/or COPRO
(``pip install 'dspy[optuna]'``) on the same split and model, for a side-by-side: DSPy programs
are ``ChainOfThought("question -> answer")`` scored with the same GSM8K metric; their LLM calls
are counted from DSPy's history (DSPy has no hard call budget, so their spend is reported, not
capped).

On 2 CPU cores the 0.5B model answers a GSM8K question in about 9 s: a 600-call search takes
roughly 1.5 h, and each held-out evaluation of 100 questions 15 min (more for multi-call agents).

Usage:
    python benchmarks/bench_search_gsm8k.py [--levels prompt,module,system] [--budget 600]
        [--model local/qwen2.5-coder-0.5b-instruct] [--meta-model M] [--dspy none,mipro,copro] [--report-only]

``--levels ''`` with ``--dspy`` runs only DSPy; rows of earlier runs stay in summary.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from tqdm import tqdm

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.core.stats import paired_difference
from agentforge.llm import LLM, model_requests_allowed
from agentforge.search import Budget, Evaluator, RunStore, make_optimizer, write_outputs
from agentforge.tasks import load_task

ROOT = Path(__file__).parent / "results" / "search"
MODEL = "local/qwen2.5-coder-0.5b-instruct"


def split():
    """(task, train 1-20, validation 21-40, held-out test 41-140) of the GSM8K train file."""
    task = load_task("gsm8k", limit=140)
    ex = task.examples
    return task, ex[:20], ex[20:40], ex[40:140]


def llm_for(model: str, max_tokens: int = 512) -> LLM:
    return LLM(model=model, seed=0, temperature=0.0, max_tokens=max_tokens, cache_dir=str(ROOT / "cache"))


def run_search(level: str, args, task, train, val) -> dict:
    out = ROOT / level
    t0 = time.time()

    def on_event(ev, opt) -> None:
        if ev.kind in ("evaluate", "reject", "fail", "stop"):
            best = "-" if ev.best_score is None else f"{ev.best_score:.3f}"
            print(f"  [{level}] step {ev.step} {ev.kind}: {ev.message[:100]} | calls {ev.calls}/{args.budget} "
                  f"best {best} | {time.time() - t0:.0f}s", flush=True)

    llm = llm_for(args.model)
    meta = llm_for(args.meta_model or args.model, max_tokens=1024)
    opt = make_optimizer(level, task, llm, meta_llm=meta, store=RunStore(out / "store.sqlite"), resume=True,
                         concurrency=args.concurrency, max_candidates=args.max_candidates,
                         max_failures=args.max_failures, on_event=on_event)
    result = opt.optimize(build_agent_spec("cot"), train, val, Budget(max_calls=args.budget))
    return {"result": result, "summary": write_outputs(result, out)}


def heldout(spec, args, task, test) -> dict:
    ev = Evaluator(task, llm_for(args.model), store=RunStore(ROOT / "heldout.sqlite"), concurrency=args.concurrency)
    res = asyncio.run(ev.aevaluate(spec, test))
    return {"accuracy": round(res.accuracy, 4), "ci": [round(x, 4) for x in res.accuracy_ci], "n": res.n,
            "calls_per_example": round(res.calls_per_example, 2),
            "tokens_per_example": round(res.tokens_per_example, 1), "errors": res.errors,
            "correct_ids": sorted(r.example_id for r in res.rows if r.correct)}


def keep_cached_usage() -> None:
    """Make DSPy keep the token counts of cache hits in its history (it blanks them), so a rerun
    served from the cache reports the spend of the run that paid for it; cache hits stay marked."""
    from dspy.clients.cache import Cache

    if getattr(Cache, "_agentforge_keeps_usage", False):
        return
    blank = Cache._prepare_cached_response

    def prepare(self, response):
        usage = getattr(response, "usage", None)
        out = blank(self, response)
        if usage:
            out.usage = usage
        return out

    Cache._prepare_cached_response, Cache._agentforge_keeps_usage = prepare, True


def total_tokens(entry: dict) -> int:
    """Tokens of one DSPy history entry (read from the response, where cache hits keep them)."""
    usage = getattr(entry["response"], "usage", None) or entry.get("usage") or {}
    return int((usage.get("total_tokens") if isinstance(usage, dict) else getattr(usage, "total_tokens", 0)) or 0)


def run_dspy(args, task, train, val, test) -> list[dict]:
    """DSPy's optimizers on the same split, model and (approximately) call budget as ours.

    MIPROv2 runs with explicit settings instead of ``auto`` so that its spend matches ``--budget``:
    ``num_trials = budget // len(val) - 3`` full validation evaluations (minibatch off, as our
    searches score every candidate on the whole validation set), the rest going to bootstrapping
    demonstrations and proposing instructions. COPRO (``--dspy copro,mipro``) uses breadth 4 and
    ``--copro-depth`` rounds (default 2, about 350 calls here; 3 is about 530) on train +
    validation. DSPy has no hard call cap: calls are counted from its global history (cache hits
    included, so a rerun reports the same figure) and reported.
    """
    try:
        import dspy
        from dspy.clients.base_lm import GLOBAL_HISTORY
    except ImportError:
        print("dspy is not installed (pip install 'dspy[optuna]'); skipping the DSPy side-by-side")
        return []
    from agentforge.llm import local
    from agentforge.search import bootstrap_ci

    local.ensure_registered()  # DSPy goes through litellm too: the local/ provider serves it
    keep_cached_usage()
    dspy.configure_cache(enable_disk_cache=True, disk_cache_dir=str(ROOT / "dspy_cache"))
    lm = dspy.LM(args.model, temperature=0.0, max_tokens=512, cache=True)
    dspy.configure(lm=lm)
    example_by_q = {e.question: e for e in [*train, *val, *test]}

    def to_dspy(examples):
        return [dspy.Example(question=e.question, answer=e.gold).with_inputs("question") for e in examples]

    def metric(example, pred, trace=None):
        return bool(task.score(task.extract(str(getattr(pred, "answer", "")) or ""), example_by_q[example.question]))

    def safe_metric(d, program) -> bool:
        try:
            return metric(d, program(question=d.question))
        except Exception as exc:  # a malformed reply DSPy could not parse counts as wrong
            print(f"  dspy: {type(exc).__name__}: {str(exc)[:120]}")
            return False

    rows = []
    for name in [x.strip().lower() for x in args.dspy.split(",") if x.strip()]:
        out = ROOT / f"dspy-{name}{args.dspy_tag}"
        out.mkdir(parents=True, exist_ok=True)
        before = len(GLOBAL_HISTORY)
        student = dspy.ChainOfThought("question -> answer")
        t0 = time.time()
        settings: dict = {}
        if name == "none":  # DSPy's program as written, no optimizer: separates format from search
            program = student
        elif name == "copro":
            # DSPy's default init_temperature (1.4) makes the 0.5B write unparseable proposals and
            # COPRO raises AdapterParseError at its first one; 0.7 is what our meta model samples at
            settings = {"breadth": 4, "depth": args.copro_depth, "init_temperature": args.copro_temperature}
            opt = dspy.teleprompt.COPRO(metric=metric, **settings)
            try:
                program = opt.compile(student, trainset=to_dspy(train + val), eval_kwargs={"num_threads": 1})
            except Exception as exc:  # DSPy's optimizers do not catch a malformed proposal
                print(f"== dspy-{name} failed after {len(GLOBAL_HISTORY) - before} calls: "
                      f"{type(exc).__name__}: {str(exc)[:300]}", flush=True)
                continue
        elif name == "gepa":
            # GEPA (Agrawal et al. 2025) in DSPy: the metric returns the gold check as feedback text, as
            # ours does; the reflection model is --dspy-reflection-model (default: the task model)
            def feedback_metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
                ok = metric(gold, pred)
                said = str(getattr(pred, "answer", ""))[:200]
                return dspy.Prediction(score=float(ok), feedback=f"The answer {said!r} is {'correct' if ok else 'wrong'}"
                                       f"; the correct answer is {gold.answer}.")

            reflection = dspy.LM(args.dspy_reflection_model or args.model, temperature=1.0, max_tokens=1024,
                                 cache=True)
            settings = {"max_metric_calls": args.budget - args.budget // 10, "reflection_minibatch_size": 3,
                        "reflection_model": args.dspy_reflection_model or args.model}
            opt = dspy.GEPA(metric=feedback_metric, max_metric_calls=settings["max_metric_calls"],
                            reflection_minibatch_size=3, reflection_lm=reflection, num_threads=1, seed=0,
                            log_dir=str(out / "gepa_log"))
            program = opt.compile(student, trainset=to_dspy(train), valset=to_dspy(val))
        elif name == "mipro":
            trials = max(1, args.budget // len(val) - 3)
            init = {"num_candidates": 5, "max_bootstrapped_demos": 2, "max_labeled_demos": 2}
            run = {"num_trials": trials, "minibatch": False}
            settings = {**init, **run}
            opt = dspy.teleprompt.MIPROv2(metric=metric, auto=None, num_threads=1, seed=0, **init)
            program = opt.compile(student, trainset=to_dspy(train), valset=to_dspy(val), **run)
        else:
            raise SystemExit(f"unknown --dspy optimizer {name!r}: use none, copro, mipro and/or gepa")
        calls, wall = len(GLOBAL_HISTORY) - before, round(time.time() - t0, 1)
        tokens = sum(map(total_tokens, GLOBAL_HISTORY[before:]))
        fresh = sum(not getattr(h["response"], "cache_hit", False) for h in GLOBAL_HISTORY[before:])
        earlier = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
        if fresh == 0 and calls:  # all from the cache: the wall is the paying run's, when it recorded one
            same = earlier.get("settings") == settings and earlier.get("search_calls") == calls
            wall = earlier.get("search_wall_s") if same else None
        # the optimizer's own score of its pick: MIPROv2 on validation (21-40), COPRO on 1-40
        score = getattr(program, "score", None)
        if score is None and getattr(program, "candidate_programs", None):
            score = program.candidate_programs[0].get("score")
        program.save(str(out / "program.json"))
        shown = "unknown" if wall is None else f"{wall:.0f} s"
        print(f"== dspy-{name}: search done, {calls} calls ({fresh} paid now), wall {shown}; held-out evaluation",
              flush=True)
        before = len(GLOBAL_HISTORY)
        correct = [safe_metric(d, program) for d in tqdm(to_dspy(test), desc=f"dspy-{name} held-out")]
        test_calls = GLOBAL_HISTORY[before:]
        row = {"level": f"dspy-{name}{args.dspy_tag}", "agent": f"ChainOfThought+{name}",
               "accuracy": round(sum(correct) / len(correct), 4),
               "ci": [round(x, 4) for x in bootstrap_ci([float(c) for c in correct])], "n": len(correct),
               "calls_per_example": round(len(test_calls) / len(correct), 2),
               "tokens_per_example": round(sum(map(total_tokens, test_calls)) / len(correct), 1),
               "search_calls": calls, "search_tokens": tokens, "search_wall_s": wall, "settings": settings,
               "search_score": None if score is None else round(float(score) / 100, 4),
               "search_score_on": {"mipro": "21-40", "copro": "1-40", "gepa": "21-40"}.get(name),
               "correct_ids": sorted(e.id for e, ok in zip(test, correct) if ok)}
        (out / "summary.json").write_text(json.dumps(row, indent=2))
        rows.append(row)
    return rows


def paired_vs_baseline(base: set[str], other: set[str], ids: list[str]) -> dict:
    """Accuracy difference ``other - base`` on the same questions (``paired_difference``)."""
    return paired_difference([i in base for i in ids], [i in other for i in ids])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    names = [r["level"] for r in rows]
    acc = [r["accuracy"] for r in rows]
    err = [[a - r["ci"][0] for a, r in zip(acc, rows)], [r["ci"][1] - a for a, r in zip(acc, rows)]]
    colors = ["tab:gray" if n.startswith("cot") else "tab:orange" if n.startswith("dspy") else "tab:blue" for n in names]
    ax.bar(names, acc, yerr=err, capsize=4, color=colors)
    ax.set_ylabel("held-out accuracy (GSM8K train 41-140)")
    ax.set_title("best agent of each search level (blue), DSPy (orange) vs cot (0.5B model)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="prompt,module,system")
    ap.add_argument("--budget", type=int, default=600, help="LLM calls per search")
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--meta-model", default=None, help="proposing model (default: --model)")
    ap.add_argument("--max-candidates", type=int, default=30)
    ap.add_argument("--max-failures", type=int, default=10, help="failed proposal steps in a row that end a search")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--dspy", default="", help="add DSPy optimizers, comma-separated: none (unoptimized), mipro, copro "
                                           "(needs dspy[optuna])")
    ap.add_argument("--copro-depth", type=int, default=2, help="COPRO's rounds of proposals (breadth is 4)")
    ap.add_argument("--dspy-reflection-model", default=None, help="dspy.GEPA's reflection model (default: --model)")
    ap.add_argument("--dspy-tag", default="", help="suffix of the DSPy result folders and rows (e.g. -meta1.5b)")
    ap.add_argument("--copro-temperature", type=float, default=0.7, help="COPRO's init_temperature (DSPy: 1.4)")
    ap.add_argument("--report-only", action="store_true",
                    help="no search: rebuild the table, paired statistics and plot from the stored runs")
    args = ap.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    task, train, val, test = split()
    levels = [] if args.report_only else [x.strip() for x in args.levels.split(",") if x.strip()]
    rows = []
    if levels:
        base = heldout(build_agent_spec("cot"), args, task, test)
        rows.append({"level": "cot (baseline)", "agent": "cot", **base, "search_calls": 0})
    for level in levels:
        print(f"== {level}-level search, budget {args.budget} calls", flush=True)
        got = run_search(level, args, task, train, val)
        s, best = got["summary"], got["result"].best_spec
        print(f"== {level}: best {best.name} (validation {s['best_score']}); held-out evaluation", flush=True)
        rows.append({"level": level, "agent": best.name, "val_score": s["best_score"],
                     **heldout(best, args, task, test), "search_calls": s["llm_calls"], "search_tokens": s["tokens"],
                     "search_wall_s": s["wall_s"], "stop_reason": s["stop_reason"]})
    if args.dspy and not args.report_only:
        rows += run_dspy(args, task, train, val, test)
    # rows of earlier runs (other levels, DSPy) stay; a level measured again replaces its row
    path = ROOT / "summary.json"
    earlier = json.loads(path.read_text())["rows"] if path.exists() else []
    fresh = {r["level"] for r in rows}
    rows = [r for r in earlier if r["level"] not in fresh] + rows
    order = ["cot (baseline)", "prompt", "module", "system", "dspy-none", "dspy-mipro", "dspy-copro", "dspy-gepa"]
    rows.sort(key=lambda r: order.index(r["level"]) if r["level"] in order else len(order))
    for r in rows:  # rows written before per-question results were kept: read them from the store
        spec_file = ROOT / r["level"] / "best.json"
        missing = any(r.get(k) is None for k in ("correct_ids", "tokens_per_example"))
        if missing and (r["level"] == "cot (baseline)" or spec_file.exists()):
            spec = build_agent_spec("cot") if r["level"] == "cot (baseline)" else AgentSpec.load(spec_file)
            with model_requests_allowed(False):  # stored results only: never a model call here
                r.update(heldout(spec, args, task, test))
    ids = [e.id for e in test]
    base = next((set(r["correct_ids"]) for r in rows if r["level"] == "cot (baseline)" and "correct_ids" in r), None)
    for r in rows:
        if base is not None and "correct_ids" in r and r["level"] != "cot (baseline)":
            r["vs_cot"] = paired_vs_baseline(base, set(r["correct_ids"]), ids)
    print(f"\n{'level':16} {'agent':32} {'held-out acc [95% CI]':24} {'vs cot [paired 95% CI], p':34} "
          f"{'calls/q':>8} {'search calls':>13}")
    for r in rows:
        ci = f"{r['accuracy']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
        v = r.get("vs_cot")
        vs = f"{v['diff']:+.3f} [{v['diff_ci'][0]:+.3f}, {v['diff_ci'][1]:+.3f}], {v['mcnemar_p']:.2f}" if v else "-"
        print(f"{r['level']:16} {str(r.get('agent', '')):32} {ci:24} {vs:34} {r.get('calls_per_example', '-')!s:>8} "
              f"{r.get('search_calls', '-')!s:>13}")
    path.write_text(json.dumps({"model": args.model, "budget_calls": args.budget, "train": "1-20", "val": "21-40",
                                "test": "41-140", "rows": rows}, indent=2))
    plot(rows, ROOT / "heldout_accuracy.png")


if __name__ == "__main__":
    main()
