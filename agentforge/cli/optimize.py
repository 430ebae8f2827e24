"""``agentforge optimize``: meta-search over prompts, modules or whole agent graphs.

Writes to ``--out``: ``store.sqlite`` (every paid-for evaluation and meta-model call; what
``--resume`` reads), ``summary.json``, ``best.json`` (run it with ``agentforge run --agent-spec``),
``archive.json``, ``history.json``, ``best_vs_budget.png``, ``pareto.png`` and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentforge.cli.app import app, console, err_console, handle_errors
from agentforge.cli.common import MAX_TOKENS, TEMPERATURE, finite, output_dir, resolve_model, resolve_spec
from agentforge.core.errors import UserError
from agentforge.judges.factory import make_judge
from agentforge.llm import LLM
from agentforge.search import Budget, Objective, make_backend, make_optimizer
from agentforge.search.report import write_checkpoint, write_outputs
from agentforge.tasks import load_task

LEVEL_HELP = "prompt (instructions, demos), module (AgentSquare slots) or system (new AgentSpec graphs)"


def _split(task_name: str, data: Path | None, train: int, val: int, offset: int):
    if train < 0 or val < 1:
        raise UserError(f"need --train >= 0 and --val >= 1, got --train {train} --val {val}")
    the_task = load_task(task_name, data=data, limit=train + val, offset=offset)
    if len(the_task.examples) < train + val:
        raise UserError(f"task {task_name!r} has only {len(the_task.examples)} examples after --offset {offset}; "
                        f"--train {train} --val {val} needs {train + val}")
    return the_task, the_task.examples[:train], the_task.examples[train:]


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
    judge: str = typer.Option(None, help="scoring judge: llm, verifier, prm:DIR, http://... (default: none)"),
    judge_weight: float = typer.Option(None, "--judge-weight", callback=finite(0.0, 1.0),
                                       help="score = (1-w) * metric + w * judge score, w in [0, 1] (default 0.5 "
                                            "with --judge)"),
    cost_weight: float = typer.Option(0.0, "--cost-weight", callback=finite(0.0),
                                      help="penalty per cost unit per example"),
    cost_unit: str = typer.Option("tokens", "--cost-unit", help="tokens (per 1,000) or usd"),
    model: str = typer.Option(None, help="the agents' model (default $AGENTFORGE_MODEL or the embedded default)"),
    meta_model: str = typer.Option(None, "--meta-model", help="the proposing model (default: the agents' model)"),
    backend: str = typer.Option("local", help="evaluation backend: local (asyncio) or ray"),
    concurrency: int = typer.Option(4, min=1, help="examples in flight"),
    seed: int = typer.Option(0, help="search and sampling seed"),
    temperature: float = TEMPERATURE, max_tokens: int = MAX_TOKENS,
    no_cache: bool = typer.Option(False, "--no-cache", help="do not use the completion cache"),
    pull: bool = typer.Option(True, help="pull a missing local model automatically"),
    out: Path = typer.Option(None, help="output folder (default runs/search-<task>-<level>)"),
    resume: bool = typer.Option(False, "--resume", help="continue the search stored in --out"),
) -> None:
    """Search for a better agent; writes summary, best spec, archive, history, plots and report.html."""
    if cost_unit not in ("tokens", "usd"):
        raise UserError(f"--cost-unit must be tokens or usd, got {cost_unit!r}")
    the_task, trainset, valset = _split(task, data, train, val, offset)
    spec = resolve_spec(agent, agent_spec, {})
    model_id = resolve_model(model, pull=pull)
    llm = LLM(model=model_id, seed=seed, temperature=temperature, max_tokens=max_tokens, cache=not no_cache)
    meta_llm = llm if not meta_model else LLM(model=resolve_model(meta_model, pull=pull), seed=seed,
                                              max_tokens=max_tokens, cache=not no_cache)
    the_judge = make_judge(judge, llm, the_task) if judge else None
    weight = judge_weight if judge_weight is not None else (0.5 if judge else 0.0)
    objective = Objective(judge_weight=weight, cost_weight=cost_weight, cost_unit=cost_unit)
    out = output_dir(out or Path("runs") / f"search-{task.replace('/', '_')}-{level}")
    store = out / "store.sqlite"
    if store.exists() and not resume:
        raise UserError(f"{out} already holds a search; add --resume to continue it, or use another --out")
    budget = Budget(max_calls=budget_calls, max_tokens=budget_tokens, max_cost_usd=budget_usd, max_wall_s=budget_wall)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("calls"),
               TextColumn("| {task.fields[cands]} candidates | best {task.fields[best]} | {task.fields[last]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"{level} search on {the_task.name}", total=budget_calls, cands=0, best="-", last="")

        def on_event(event, opt) -> None:
            best = "-" if event.best_score is None else f"{event.best_score:.3f}"
            progress.update(bar, completed=event.calls, cands=len(opt.archive), best=best,
                            last=f"{event.kind}: {event.message[:60]}")

        optimizer = make_optimizer(level, the_task, llm, meta_llm=meta_llm, judge=the_judge, objective=objective,
                                   store=store, resume=resume, backend=make_backend(backend, concurrency),
                                   concurrency=concurrency, seed=seed, max_candidates=max_candidates,
                                   on_event=on_event, checkpoint=lambda r: write_checkpoint(r, out))
        try:
            result = optimizer.optimize(spec, trainset, valset, budget)
        except KeyboardInterrupt:
            err_console.print(f"interrupted; paid-for work is in {store} (rerun with --resume to continue)")
            raise typer.Exit(130) from None
    s = write_outputs(result, out)
    ci = s["best_score_ci"] or [float("nan")] * 2
    console.print(
        f"{level} search | {the_task.name} | best {s['best_name']} score={s['best_score']} "
        f"[{ci[0]:.3f}, {ci[1]:.3f}] baseline={s['baseline_score']} | {s['candidates']} candidates | "
        f"calls={s['llm_calls']} tokens={s['tokens']} cost=${s['cost_usd']:.4f} wall={s['wall_s']:.1f}s | "
        f"stopped: {s['stop_reason']} -> {out}", highlight=False, soft_wrap=True)
    console.print(f"run the best agent: agentforge run --task {task} --agent-spec {out / 'best.json'}",
                  highlight=False, soft_wrap=True)
