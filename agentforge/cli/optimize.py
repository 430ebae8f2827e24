"""``agentforge optimize``: meta-search over prompts, modules or whole agent graphs.

Writes to ``--out``: ``store.sqlite`` (every paid-for evaluation and meta-model call; what
``--resume`` reads), ``summary.json``, ``best.json`` (run it with ``agentforge run --agent-spec``),
``archive.json``, ``history.json``, ``best_vs_budget.png``, ``pareto.png``, ``estimate.json`` and
``report.html``; with ``--heldout N`` also ``heldout.sqlite`` (and ``heldout-judge.sqlite``) and
``baselines.png``.

Before spending, a probe estimates the run's calls, tokens, USD and wall time
(:mod:`agentforge.search.estimate`): ``--estimate`` prints it and exits; a real run prints it
first, keeps it in ``estimate.json`` (a resume reuses it) and reports it against the actual
spend. The probe's one meta call comes out of the ``--budget-*`` limits. ``--heldout N`` then
scores the found agent, cot and compute-matched baselines on N unseen questions
(:mod:`agentforge.search.baselines`) and computes the break-even (:mod:`agentforge.search.breakeven`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentforge.cli.app import app, console, err_console, handle_errors
from agentforge.cli.common import MAX_TOKENS, TEMPERATURE, finite, output_dir, resolve_model, resolve_spec
from agentforge.core.errors import UnknownNameError, UserError
from agentforge.core.files import atomic_write_bytes
from agentforge.judges.factory import make_judge
from agentforge.llm import LLM
from agentforge.search import LEVELS, Budget, Objective, RunStore, make_backend, make_optimizer
from agentforge.search import baselines, breakeven
from agentforge.search.estimate import RESOURCES, Estimate, aprobe, fmt, meta_calls_high, project, remaining
from agentforge.search.report import write_checkpoint, write_outputs
from agentforge.tasks import load_task

LEVEL_HELP = ("prompt (instructions, demos), module (AgentSquare slots), system (new AgentSpec graphs) or gepa "
              "(reflective evolution of instructions and modules over a Pareto front, GEPA)")


def _split(task_name: str, data: Path | None, train: int, val: int, offset: int):
    if train < 0 or val < 1:
        raise UserError(f"need --train >= 0 and --val >= 1, got --train {train} --val {val}")
    the_task = load_task(task_name, data=data, limit=train + val, offset=offset)
    if len(the_task.examples) < train + val:
        raise UserError(f"task {task_name!r} has only {len(the_task.examples)} examples after --offset {offset}; "
                        f"--train {train} --val {val} needs {train + val}")
    return the_task, the_task.examples[:train], the_task.examples[train:]


def _heldout(task_name: str, data: Path | None, n: int, at: int | None, offset: int, train: int, val: int):
    """The held-out questions (none for ``n == 0``); they must not overlap the search's."""
    if n == 0:
        return []
    at = offset + train + val if at is None else at
    if at < offset + train + val and at + n > offset:
        raise UserError(f"--heldout-offset {at} with --heldout {n} overlaps the search's questions "
                        f"({offset}..{offset + train + val - 1}); use --heldout-offset {offset + train + val} or more")
    examples = load_task(task_name, data=data, limit=n, offset=at).examples
    if len(examples) < n:
        raise UserError(f"task {task_name!r} has only {len(examples)} examples from --heldout-offset {at}; "
                        f"--heldout {n} needs {n}")
    return examples


def _estimate(spec, task, llm, meta_llm, level, trainset, valset, *, probe_k, judge, objective, store, budget,
              concurrency, seed, max_candidates) -> Estimate | None:
    """Probe and project (None when the budget ran out before one probed example finished)."""
    probe = asyncio.run(aprobe(spec, task, llm, valset, level=level, trainset=trainset, meta_llm=meta_llm, k=probe_k,
                               judge=judge, objective=objective, store=store, budget=budget,
                               concurrency=concurrency, seed=seed))
    if not probe.calls:
        return None
    limit = llm.max_concurrency or (1 if llm.model.startswith("local/") else 16)
    return project(probe, n_val=len(valset), budget=budget, max_candidates=max_candidates, concurrency=concurrency,
                   parallel_limit=limit, meta_high=meta_calls_high(level))


def estimate_line(est: Estimate, reused: str = "") -> str:
    """One printable line: each resource ``~point [low, high]``, the basis, the probe's spend."""
    labels = {"calls": "calls", "tokens": "tokens", "cost_usd": "USD", "wall_s": "wall"}
    parts = [f"{labels[r]} ~{fmt(r, v[0])} [{fmt(r, v[1])}, {fmt(r, v[2])}]" for r, v in
             ((r, getattr(est, r)) for r in RESOURCES)]
    pr = est.probe
    meta = "1 meta call" if pr.meta else "no meta call"
    return (f"estimate: {', '.join(parts)} | bound by {est.basis} | probe: seed on {pr.examples} validation "
            f"example(s) + {meta}, {pr.usage.calls} calls ({pr.usage.cached_calls} cached), "
            f"{pr.usage.total_tokens} tokens, {pr.wall:.1f} s{reused}")


CACHE_NOTE = ("; the probe's calls went through the completion cache: a run started now gets them from it "
              "(they still count as calls against --budget-calls)")


REUSE_NOTE = "; the search reuses the probed examples from its run store, the meta call comes out of the budget"


def _saved_or_probed(saved: Path, resume: bool, probe, run_store: RunStore) -> tuple[Estimate | None, str]:
    """A resume's saved estimate (``estimate.json``), else a new probe (saved): (estimate, line to print).

    A new run probes into its run store (the search reuses the rows); a resume without a readable
    estimate probes beside it, as the store may hold another configuration (bind refuses it later).
    """
    if resume and saved.exists():
        try:
            est = Estimate.model_validate_json(saved.read_bytes())
            return est, estimate_line(est, " (made before the first session)")
        except ValueError:  # damaged: estimate again
            pass
    est = probe(None if resume else run_store)
    if est is None:
        return None, "estimate: none (the budget ran out during the probe)"
    atomic_write_bytes(saved, est.model_dump_json(indent=1).encode())
    return est, estimate_line(est, "" if resume else REUSE_NOTE)


OWN_OPTIONS = {"self", "task", "llm", "kwargs", "meta_llm", "judge", "objective", "store", "resume", "backend",
               "concurrency", "seed", "max_candidates", "max_failures", "max_steps", "on_event", "checkpoint"}
"""Optimizer parameters that ``optimize`` sets from its own flags (not settable with ``--set``)."""


def optimizer_options(level: str, pairs: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs as keyword options of ``level``'s optimizer (values parsed as JSON,
    else kept as text).

    Raises:
        UserError: a pair without ``=``, or a key the optimizer's constructor does not take (lists them).
    """
    params = {name for cls in LEVELS[level].__mro__ if "__init__" in vars(cls)
              for name in inspect.signature(cls.__init__).parameters} - OWN_OPTIONS
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or key.strip() not in params:
            raise UserError(f"--set {pair!r}: need KEY=VALUE with KEY one of {sorted(params)}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


@app.command()
@handle_errors
def optimize(
    task: str = typer.Option("gsm8k", help="task name (gsm8k, bbh, bbh/<subtask>)"),
    level: str = typer.Option("prompt", help=LEVEL_HELP),
    agent: str = typer.Option("cot", help="seed agent (prebuilt name)"),
    agent_spec: Path = typer.Option(None, "--agent-spec", help="seed agent from an AgentSpec JSON file"),
    train: int = typer.Option(20, min=0, help="training examples: proposals read their trajectories"),
    val: int = typer.Option(20, min=1, help="validation examples: candidates are scored on them"),
    offset: int = typer.Option(0, min=0, help="skip the first N examples (train, then val, follow)"),
    data: Path = typer.Option(None, help="data file/folder instead of the bundled copy"),
    budget_calls: int = typer.Option(None, "--budget-calls", min=1, help="hard stop: LLM calls (agent, judge and meta)"),
    budget_tokens: int = typer.Option(None, "--budget-tokens", min=1, help="hard stop: tokens"),
    budget_usd: float = typer.Option(None, "--budget-usd", callback=finite(0.0), help="hard stop: US dollars"),
    budget_wall: float = typer.Option(None, "--budget-wall", callback=finite(0.0), help="hard stop: wall seconds"),
    max_candidates: int = typer.Option(20, "--max-candidates", min=1, help="stop when the archive holds this many"),
    max_failures: int = typer.Option(5, "--max-failures", min=1,
                                     help="stop after this many proposals in a row that gave no new candidate"),
    max_steps: int = typer.Option(None, "--max-steps", min=1,
                                  help="stop after this many proposal steps (default 3 x --max-candidates)"),
    judge: str = typer.Option(None, help="scoring judge: llm, verifier, prm:DIR, http://... (default: none)"),
    judge_weight: float = typer.Option(None, "--judge-weight", callback=finite(0.0, 1.0),
                                       help="score = (1-w) * metric + w * judge score, w in [0, 1] (default 0.5 "
                                            "with --judge)"),
    cost_weight: float = typer.Option(0.0, "--cost-weight", callback=finite(0.0),
                                      help="penalty per cost unit per example"),
    cost_unit: str = typer.Option("tokens", "--cost-unit", help="tokens (per 1,000) or usd"),
    model: str = typer.Option(None, help="the agents' model (default $AGENTFORGE_MODEL or the embedded default)"),
    meta_model: str = typer.Option(None, "--meta-model", help="the proposing model (default: the agents' model)"),
    meta_max_tokens: int = typer.Option(1024, "--meta-max-tokens", min=16,
                                        help="completion token cap per meta-model (proposal) call"),
    backend: str = typer.Option("local", help="evaluation backend: local (asyncio) or ray"),
    concurrency: int = typer.Option(4, min=1, help="examples in flight"),
    seed: int = typer.Option(0, help="search and sampling seed"),
    temperature: float = TEMPERATURE, max_tokens: int = MAX_TOKENS,
    no_cache: bool = typer.Option(False, "--no-cache", help="do not use the completion cache"),
    pull: bool = typer.Option(True, help="pull a missing local model automatically"),
    out: Path = typer.Option(None, help="output folder (default runs/search-<task>-<level>)"),
    resume: bool = typer.Option(False, "--resume", help="continue the search stored in --out"),
    estimate: bool = typer.Option(False, "--estimate", help="probe, print the expected calls, tokens, USD and "
                                                           "wall time with intervals, and exit (no search)"),
    probe: int = typer.Option(3, "--probe", min=1, help="validation examples the estimate's probe runs the seed on"),
    heldout: int = typer.Option(0, "--heldout", min=0, help="after the search, score the found agent, cot and "
                                                            "compute-matched baselines on N unseen questions"),
    heldout_offset: int = typer.Option(None, "--heldout-offset", min=0,
                                       help="first held-out question (default: right after train and val)"),
    set_: list[str] = typer.Option(None, "--set", help="an option of the level's optimizer, KEY=VALUE with a JSON "
                                                       "value (repeatable), e.g. --set module_minibatch=3"),
) -> None:
    """Search for a better agent; writes summary, best spec, archive, history, plots and report.html."""
    if cost_unit not in ("tokens", "usd"):
        raise UserError(f"--cost-unit must be tokens or usd, got {cost_unit!r}")
    if level not in LEVELS:  # before the probe spends anything
        raise UnknownNameError("search level", level, LEVELS)
    extra = optimizer_options(level, set_ or [])
    the_backend = make_backend(backend, concurrency)
    the_task, trainset, valset = _split(task, data, train, val, offset)
    spec = resolve_spec(agent, agent_spec, {})
    model_id = resolve_model(model, pull=pull)
    llm = LLM(model=model_id, seed=seed, temperature=temperature, max_tokens=max_tokens, cache=not no_cache)
    meta_llm = LLM(model=resolve_model(meta_model, pull=pull) if meta_model else model_id, seed=seed,
                   max_tokens=meta_max_tokens, cache=not no_cache)
    the_judge = make_judge(judge, llm, the_task) if judge else None
    weight = judge_weight if judge_weight is not None else (0.5 if judge else 0.0)
    objective = Objective(judge_weight=weight, cost_weight=cost_weight, cost_unit=cost_unit)
    budget = Budget(max_calls=budget_calls, max_tokens=budget_tokens, max_cost_usd=budget_usd, max_wall_s=budget_wall)
    probe_args = dict(probe_k=probe, judge=the_judge, objective=objective, budget=budget, concurrency=concurrency,
                      seed=seed, max_candidates=max_candidates)
    if estimate:
        est = _estimate(spec, the_task, llm, meta_llm, level, trainset, valset, store=None, **probe_args)
        console.print(estimate_line(est, CACHE_NOTE if not no_cache else "") if est else
                      "estimate: none (the budget ran out before the probe finished one example)",
                      highlight=False, soft_wrap=True)
        return
    held = _heldout(task, data, heldout, heldout_offset, offset, train, val)
    out = output_dir(out or Path("runs") / f"search-{task.replace('/', '_')}-{level}")
    store = out / "store.sqlite"
    if store.exists() and not resume:
        raise UserError(f"{out} already holds a search; add --resume to continue it, or use another --out")
    run_store = RunStore(store)
    est, line = _saved_or_probed(out / "estimate.json", resume, lambda shared: _estimate(
        spec, the_task, llm, meta_llm, level, trainset, valset, store=shared, **probe_args), run_store)
    console.print(line, highlight=False, soft_wrap=True)
    search_budget = remaining(budget, est.probe) if est else budget
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("calls"),
               TextColumn("| {task.fields[cands]} candidates | best {task.fields[best]} | {task.fields[last]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"{level} search on {the_task.name}", total=search_budget.max_calls, cands=0,
                                best="-", last="")

        def on_event(event, opt) -> None:
            best = "-" if event.best_score is None else f"{event.best_score:.3f}"
            progress.update(bar, completed=event.calls, cands=len(opt.archive), best=best,
                            last=f"{event.kind}: {event.message[:60]}")

        optimizer = make_optimizer(level, the_task, llm, meta_llm=meta_llm, judge=the_judge, objective=objective,
                                   store=run_store, resume=resume, backend=the_backend,
                                   concurrency=concurrency, seed=seed, max_candidates=max_candidates,
                                   max_failures=max_failures, max_steps=max_steps,
                                   on_event=on_event, checkpoint=lambda r: write_checkpoint(r, out), **extra)
        try:
            result = optimizer.optimize(spec, trainset, valset, search_budget)
        except KeyboardInterrupt:
            err_console.print(f"interrupted; paid-for work is in {store} (rerun with --resume to continue)")
            raise typer.Exit(130) from None
    info = {**result.info, "budget": budget.model_dump(), "search_budget": search_budget.model_dump()}
    if est:  # the whole run: the search plus the probe's calls it did not reuse
        info["estimate"] = est.model_dump(mode="json")
        result = result.model_copy(update={"usage": result.usage + est.probe.extra,
                                           "wall_s": round(result.wall_s + est.probe.wall, 3)})
    if held:
        console.print(f"held-out comparison on {len(held)} questions (outside the budget)", highlight=False)
        info["heldout"] = baselines.compare(result.best_spec, the_task, llm, held, judge=the_judge,
                                            store=RunStore(out / "heldout.sqlite"),
                                            judge_store=RunStore(out / "heldout-judge.sqlite") if the_judge else None,
                                            concurrency=concurrency, seed=seed)
        spent = {"tokens": result.usage.total_tokens, "cost_usd": result.usage.cost_usd, "wall_s": result.wall_s}
        info["breakeven"] = breakeven.table(spent, info["heldout"])
    result = result.model_copy(update={"info": info})
    s = write_outputs(result, out)
    ci = s["best_score_ci"] or [float("nan")] * 2
    console.print(
        f"{level} search | {the_task.name} | best {s['best_name']} score={s['best_score']} "
        f"[{ci[0]:.3f}, {ci[1]:.3f}] baseline={s['baseline_score']} | {s['candidates']} candidates | "
        f"calls={s['llm_calls']} tokens={s['tokens']} cost=${s['cost_usd']:.4f} wall={s['wall_s']:.1f}s | "
        f"stopped: {s['stop_reason']} -> {out}", highlight=False, soft_wrap=True)
    for line in _report_lines(s):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"run the best agent: agentforge run --task {task} --agent-spec {out / 'best.json'}",
                  highlight=False, soft_wrap=True)


def _report_lines(s: dict) -> list[str]:
    """Estimate vs actual, the held-out table and the break-even, as printed lines."""
    lines = []
    if s.get("estimate"):
        vs = s["estimate"]["vs_actual"]
        lines.append("estimate vs actual: " + ", ".join(
            f"{k} {fmt(k, v['actual'])} vs ~{fmt(k, v['estimate'])} [{fmt(k, v['interval'][0])}, "
            f"{fmt(k, v['interval'][1])}]{'' if v['within'] else ' (outside)'}" for k, v in vs.items()))
    held = s.get("heldout")
    if held:
        lines.append(f"held-out, {held['n']} questions (matched k={held['k']}: found tokens/q over cot's, rounded):")
        def diff(label: str, d: dict | None) -> str:
            return "" if d is None else f" | {label} {d['diff']:+.3f} [{d['diff_ci'][0]:+.3f}, {d['diff_ci'][1]:+.3f}]"

        for r in held["rows"]:
            lo, hi = r["accuracy_ci"]
            lines.append(f"  {r['arm']:24} acc {r['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] | "
                         f"{r['tokens_per_question']:.0f} tokens/q{diff('vs cot', r['vs_cot'])}"
                         f"{diff('found minus this', held['found_vs'].get(r['arm']))}")
        be = [r for r in (s.get("breakeven") or {}).get("rows", []) if r["unit"] == "tokens"]
        lines.append("break-even (tokens): " + "; ".join(f"vs {r['baseline']}: {r['verdict']}" for r in be))
    return lines
