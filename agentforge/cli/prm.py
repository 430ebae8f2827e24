"""``agentforge prm serve|label|train|eval``: serve a PRM, label steps, train and evaluate PRMs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agentforge.cli.app import app, console, handle_errors
from agentforge.cli.common import resolve_model
from agentforge.core.aio import run_sync
from agentforge.core.errors import UserError
from agentforge.core.extras import require
from agentforge.llm import LLM
from agentforge.prm.data import load_champ, read_stepwise
from agentforge.prm.eval import evaluate_judge, make_judge
from agentforge.prm.label import alabel_task
from agentforge.tasks import load_task

prm_app = typer.Typer(help="Process reward models: serve, label data (Math-Shepherd), train, evaluate.",
                      no_args_is_help=True)
app.add_typer(prm_app, name="prm")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


@prm_app.command("serve")
@handle_errors
def serve_cmd(
    model: Path = typer.Option(..., help="local PRM folder (Hugging Face layout)"),
    host: str = typer.Option("127.0.0.1", help="bind address (loopback by default)"),
    port: int = typer.Option(8000, help="TCP port, 1-65535"),
    token_file: Path = typer.Option(None, "--token-file",
                                    help="file holding the bearer token to require (else $AGENTFORGE_JUDGE_TOKEN; "
                                         "neither: no token)"),
    token: str = typer.Option(None, "--token", hidden=True,
                              help="deprecated: visible to other users in the process list"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", envvar="AGENTFORGE_TRUST_REMOTE_CODE",
                                           help="allow the model folder's own code (Qwen2.5-Math-PRM needs it)"),
    max_request_bytes: int = typer.Option(4 * 1024 * 1024, "--max-request-bytes", min=1,
                                          help="larger bodies get 413"),
    max_items_per_request: int = typer.Option(1024, "--max-items-per-request", min=1,
                                              help="requests with more items get 413"),
    max_tokens_per_request: int = typer.Option(1024 * 1024, "--max-tokens-per-request", min=1,
                                               help="requests with more tokens (question + steps, counted with the "
                                                    "PRM's tokenizer) get 413"),
    max_batch_items: int = typer.Option(256, "--max-batch-items", min=1,
                                        help="most items per scoring call, merged across requests"),
    docs: bool = typer.Option(False, "--docs", help="serve /docs, /redoc, /openapi.json (behind the token)"),
    device: str = typer.Option(None, help="cuda, cpu, cuda:1 ... (default: CUDA if available)"),
    format: str = typer.Option(None, help="force the PRM format (qwen-prm, math-shepherd, rlhflow)"),
    max_tokens_per_batch: int = typer.Option(8192, "--max-tokens-per-batch", help="tokens per forward pass"),
) -> None:
    """Serve a PRM over HTTP (POST /score, GET /health) with fair cross-request batching.

    The bearer token comes from --token-file or $AGENTFORGE_JUDGE_TOKEN (--token is deprecated).
    Host, port and token are checked before the model loads and before anything binds.
    """
    from agentforge.judges.server_checks import check_bind_address, load_token

    check_bind_address(host, port)
    if token is not None:
        typer.secho("warning: --token is deprecated: other users can read it in the process list; use "
                    "--token-file PATH or $AGENTFORGE_JUDGE_TOKEN", err=True, fg="yellow")
        if token_file is not None:
            raise UserError("--token and --token-file both given; use --token-file")
    else:
        token = load_token(token_file)
    for module, extra in (("torch", "prm"), ("transformers", "prm"), ("fastapi", "serve"), ("uvicorn", "serve")):
        require(module, extra, "agentforge prm serve")
    from agentforge.judges.prm import PRMJudge
    from agentforge.judges.server import serve

    judge = PRMJudge(model, device=device, format=format, max_tokens_per_batch=max_tokens_per_batch,
                     trust_remote_code=trust_remote_code)
    console.print(f"serving {judge} on http://{host}:{port}" + (" (token required)" if token else ""),
                  highlight=False)
    serve(judge, host=host, port=port, token=token, max_request_bytes=max_request_bytes,
          max_batch_items=max_batch_items, max_items_per_request=max_items_per_request,
          max_tokens_per_request=max_tokens_per_request, docs=docs)


@prm_app.command("label")
@handle_errors
def label_cmd(
    out: Path = typer.Option(..., help="JSONL file to append labeled solutions to (resumable)"),
    task: str = typer.Option("gsm8k", help="task with gold answers"),
    limit: int = typer.Option(None, help="label the first N questions (after --offset)"),
    offset: int = typer.Option(0),
    data: Path = typer.Option(None, help="data file/folder instead of the bundled copy"),
    model: str = typer.Option(None, help="policy/completer model id (default: the embedded default)"),
    samples: int = typer.Option(4, help="solutions sampled per question (S)"),
    completions: int = typer.Option(4, help="rollouts per step prefix (C)"),
    soft: bool = typer.Option(False, "--soft", help="also write soft_labels (fraction of rollouts reaching gold)"),
    temperature: float = typer.Option(0.7, help="sampling temperature of solutions and rollouts"),
    concurrency: int = typer.Option(4, help="questions in flight"),
    max_tokens: int = typer.Option(512, "--max-tokens", help="completion token cap per call"),
    seed: int = typer.Option(0), no_cache: bool = typer.Option(False, "--no-cache"),
) -> None:
    """Label steps automatically (Math-Shepherd): correct if a rollout from it reaches the gold.

    Writes TRL stepwise JSONL (prompt, completions, labels); rerun the same command to resume.
    """

    the_task = load_task(task, data=data, limit=limit, offset=offset)
    llm = LLM(model=resolve_model(model), seed=seed, max_tokens=max_tokens, cache=not no_cache)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("steps {task.fields[steps]} pos {task.fields[pos]} rollouts {task.fields[calls]}"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"labeling {the_task.name}", total=len(the_task.examples), steps=0, pos="-", calls=0)

        def on_question(s) -> None:
            pos = f"{s.positive / s.steps:.2f}" if s.steps else "-"
            progress.update(bar, completed=s.questions + s.skipped + s.failed, steps=s.steps, pos=pos,
                            calls=s.completions)

        stats = run_sync(alabel_task(the_task, llm, out, samples=samples, completions=completions, soft=soft,
                                        temperature=temperature, concurrency=concurrency, on_question=on_question))
    console.print(f"labeled {stats.questions} questions ({stats.skipped} already done, {stats.failed} failed): "
                  f"{stats.solutions} solutions, {stats.steps} steps, {stats.positive} positive, "
                  f"{stats.policy_calls} samples + {stats.completions} rollouts -> {out}", highlight=False)
    for err in stats.errors[:5]:
        console.print(f"  failed: {err}", highlight=False, markup=False)


@prm_app.command("train")
@handle_errors
def train_cmd(
    data: Path = typer.Option(..., help="stepwise JSONL (prompt, completions, labels)"),
    base: Path = typer.Option(..., help="local base model folder (causal LM or token classifier)"),
    out: Path = typer.Option(..., help="output folder (loadable with PRMJudge / prm serve)"),
    epochs: float = typer.Option(1.0), lr: float = typer.Option(2e-5),
    batch_size: int = typer.Option(4, "--batch-size"), max_length: int = typer.Option(1024, "--max-length"),
    soft: bool = typer.Option(False, "--soft", help="train on soft_labels where present"),
    device: str = typer.Option(None), seed: int = typer.Option(0),
) -> None:
    """Train a PRM (Qwen2.5-Math-PRM layout: 2-way head at each <extra_0>) on stepwise data."""
    require("torch", "prm", "agentforge prm train")
    require("transformers", "prm", "agentforge prm train")
    from agentforge.prm.train import train_prm

    with Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("train", total=None, loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(bar, completed=step, total=total, loss=f"{loss:.4f}")

        report = train_prm(data, base, out, epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
                           soft=soft, device=device, seed=seed, on_step=on_step)
    first, last = report.losses[0], sum(report.losses[-5:]) / len(report.losses[-5:])
    console.print(f"trained {report.steps} steps on {report.examples} solutions ({report.labeled_steps} step "
                  f"labels seen, {report.skipped} skipped); loss {first:.4f} -> {last:.4f}; "
                  f"{report.wall_s:.1f}s -> {out}", highlight=False)


@prm_app.command("eval")
@handle_errors
def eval_cmd(
    judge: str = typer.Option(..., help="prm:<model folder> or http(s)://host:port of `prm serve`"),
    data: Path = typer.Option(None, help="stepwise JSONL with labels"),
    champ: bool = typer.Option(False, "--champ", help="evaluate on CHAMP's first-wrong-step annotations"),
    champ_file: Path = typer.Option(None, "--champ-file", help="CHAMP v0.json or wheel (default: fetch with pip)"),
    threshold: float = typer.Option(0.5, help="first-error threshold on step scores"),
    limit: int = typer.Option(None, help="evaluate the first N records"),
    token: str = typer.Option(None, help="bearer token for an http judge"),
    device: str = typer.Option(None), batch_size: int = typer.Option(32, "--batch-size"),
    out: Path = typer.Option(None, help="also write the report as JSON here"),
) -> None:
    """Step AUROC and ProcessBench first-error F1 of a judge on labeled steps."""

    if (data is None) == (not champ):
        raise UserError("give exactly one of --data FILE.jsonl or --champ")
    the_judge = make_judge(judge, token=token, device=device)
    records = load_champ(champ_file) if champ else read_stepwise(data)
    records = records[:limit] if limit is not None else records
    if not records:
        raise UserError("no records to evaluate")
    with console.status(f"scoring {len(records)} solutions..."):
        report = evaluate_judge(the_judge, records, threshold=threshold, batch_size=batch_size)
    r = report.as_dict()
    console.print(f"{'CHAMP' if champ else data}: {r['records']} solutions, {r['steps']} steps "
                  f"({r['positive']} correct, {r['scored_steps']} scored)", highlight=False)
    console.print(f"step AUROC {_fmt(r['auroc'])} | first-error acc: erroneous {_fmt(r['error_acc'])} "
                  f"(n={r['n_error']}), correct {_fmt(r['correct_acc'])} (n={r['n_correct']}) | "
                  f"F1 {_fmt(r['f1'])} (threshold {threshold})", highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"judge": judge, "data": "champ" if champ else str(data), **r}, indent=2))
