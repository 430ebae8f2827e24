"""``agentforge run`` (the main job), ``agentforge solve`` and ``agentforge agents``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agentforge.agents import AGENTS as AGENTS_REGISTRY
from agentforge.agents import Agent, agent_options
from agentforge.cli.app import app, console, handle_errors
from agentforge.cli.common import (AGENTS, BEAM_WIDTH, EVALUATOR, EXPANSIONS, LOOKAHEAD_STEPS, MAX_ITERS, MAX_SAMPLES,
                                   MAX_TOKENS, MAX_TOKENS_BUDGET, N, ROUNDS, SAMPLES, TEMPERATURE, TRIALS, WEIGHTED,
                                   open_store, output_dir, resolve_model, resolve_spec)
from agentforge.core.errors import RunError, UserError
from agentforge.core.aio import run_sync
from agentforge.judges.factory import make_judge
from agentforge.llm import LLM
from agentforge.memory.learning import MemoryLearner
from agentforge.runner import Runner, read_results
from agentforge.tasks import TASK_NAMES, load_task

agents_app = typer.Typer(help="Inspect the prebuilt agents.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")

AGENT_HELP = f"prebuilt agent: {', '.join(AGENTS_REGISTRY)} (options: see the panels below)"


def _llm(model: str, seed: int | None, temperature: float, max_tokens: int, no_cache: bool) -> LLM:
    return LLM(model=model, seed=seed, temperature=temperature, max_tokens=max_tokens, cache=not no_cache)


@app.command()
@handle_errors
def run(
    task: str = typer.Option("gsm8k", help=f"task name ({', '.join(TASK_NAMES[:3])}, bbh/<subtask>, humaneval)"),
    agent: str = typer.Option("cot", help=AGENT_HELP),
    agent_spec: Path = typer.Option(None, "--agent-spec", help="run an AgentSpec JSON file instead"),
    limit: int = typer.Option(None, min=0, help="run the first N examples (after --offset)"),
    offset: int = typer.Option(0, min=0, help="skip the first N examples"),
    model: str = typer.Option(None, help="litellm model id or local/<name>; default $AGENTFORGE_MODEL or the embedded default"),
    data: Path = typer.Option(None, help="data file/folder instead of the bundled copy"),
    concurrency: int = typer.Option(1, min=1, help="examples in flight"),
    out: Path = typer.Option(None, help="output folder (default runs/<task>-<agent>)"),
    seed: int = typer.Option(0, help="sampling seed"),
    judge: str = typer.Option("llm", help="test-time search judge: llm, verifier (oracle), prm:DIR, http://..."),
    memory: str = typer.Option(None, help="memory URI (chroma:///path, qdrant:///path, memory://) to learn into"),
    learn: str = typer.Option(None, help="with --memory: what to learn, from experience,reflection,insight "
                                         "(default: the spec's memory list, else all three)"),
    temperature: float = TEMPERATURE, max_tokens: int = MAX_TOKENS,
    no_cache: bool = typer.Option(False, "--no-cache", help="do not use the completion cache"),
    pull: bool = typer.Option(True, help="pull a missing local model automatically"),
    agents: int = AGENTS, rounds: int = ROUNDS, samples: int = SAMPLES, max_iters: int = MAX_ITERS,
    trials: int = TRIALS, evaluator: str = EVALUATOR, n: int = N, weighted: bool = WEIGHTED,
    beam_width: int = BEAM_WIDTH, expansions: int = EXPANSIONS, lookahead_steps: int = LOOKAHEAD_STEPS,
    max_samples: int = MAX_SAMPLES, max_tokens_budget: int = MAX_TOKENS_BUDGET,
) -> None:
    """Run an agent over a task, writing results.jsonl and summary.json to --out (resumable)."""
    the_task = load_task(task, data=data, limit=limit, offset=offset)
    if not the_task.examples:
        raise UserError(f"task {task!r} has no examples to run (data {str(data) if data else 'bundled'}, "
                        f"--offset {offset}, --limit {limit})")
    spec = resolve_spec(agent, agent_spec, dict(
        agents=agents, rounds=rounds, samples=samples, max_iters=max_iters, trials=trials, evaluator=evaluator, n=n,
        weighted=weighted, beam_width=beam_width, expansions=expansions, lookahead_steps=lookahead_steps,
        max_samples=max_samples, max_tokens_budget=max_tokens_budget))
    model_id = resolve_model(model, pull=pull)
    out = output_dir(out or Path("runs") / f"{task.replace('/', '_')}-{spec.name}")
    llm = _llm(model_id, seed, temperature, max_tokens, no_cache)
    learn = learn or ",".join(spec.memory or ["experience", "reflection", "insight"])
    learner = _learner(memory, learn, llm, the_task.name) if memory else None
    the_judge = make_judge(judge, llm, the_task) if any(nd.kind == "search" for nd in spec.nodes) else None
    runner = Runner(the_task, spec, llm, out, concurrency, memory=learner, judge=the_judge)
    stats = {"correct": 0, "seen": 0}
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("acc {task.fields[acc]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(escape(f"{spec.name} on {the_task.name}"), total=len(the_task.examples), acc="-")

        def on_result(row, done, total) -> None:
            stats["seen"] += 1
            stats["correct"] += int(bool(row.get("correct")))
            progress.update(bar, completed=stats["seen"], acc=f"{stats['correct'] / stats['seen']:.3f}")

        runner.on_result = on_result
        summary = run_sync(runner.arun())
    learned = summary.get("learning_usage")
    learning = (f" (+{learned['calls']} learning calls, {learned['prompt_tokens']}+"
                f"{learned['completion_tokens']} tokens)" if learned else "")
    orphaned = summary.get("orphaned_usage")
    if orphaned:  # calls paid by examples a kill interrupted (see agentforge.run_folder)
        learning += f" (+{orphaned['calls']} calls paid by interrupted examples)"
    console.print(
        f"{summary['task']} | {summary['agent']} | {summary['model']} | n={summary['n']} "
        f"accuracy={summary['accuracy']:.3f} errors={summary['errors']} calls={summary['llm_calls']} "
        f"tokens={summary['prompt_tokens']}+{summary['completion_tokens']}{learning} "
        f"cost=${summary['cost_usd'] + (learned or {}).get('cost_usd', 0.0):.4f} "
        f"wall={summary['wall_s']:.1f}s -> {out}", highlight=False, soft_wrap=True, markup=False)
    if summary["n"] and summary["errors"] == summary["n"]:
        first = next((r["error"] for r in read_results(out / "results.jsonl") if r.get("error")), "")
        raise RunError(f"{summary['errors']} of {summary['n']} examples failed; the first: {first}")


def _learner(uri: str, learn: str, llm: LLM, namespace: str):
    kinds = [k.strip() for k in learn.split(",") if k.strip()]
    return MemoryLearner(open_store(uri), llm, namespace=namespace.split("/")[0], learn=kinds)


@app.command()
@handle_errors
def solve(
    question: str = typer.Argument(..., help="the question"),
    agent: str = typer.Option("cot", help=AGENT_HELP),
    agent_spec: Path = typer.Option(None, "--agent-spec", help="an AgentSpec JSON file instead"),
    task: str = typer.Option("gsm8k", help="task whose answer format to use"),
    model: str = typer.Option(None, help="model id (default: embedded default)"),
    memory: str = typer.Option(None, help="memory URI to retrieve from (read-only)"),
    seed: int = typer.Option(0), max_tokens: int = MAX_TOKENS,
    no_cache: bool = typer.Option(False, "--no-cache"),
    agents: int = AGENTS, rounds: int = ROUNDS, samples: int = SAMPLES, max_iters: int = MAX_ITERS,
    trials: int = TRIALS, evaluator: str = EVALUATOR, n: int = N, weighted: bool = WEIGHTED,
) -> None:
    """Answer one question and print a readable trace of every model call."""
    fmt = load_task(task, limit=0)
    spec = resolve_spec(agent, agent_spec, dict(agents=agents, rounds=rounds, samples=samples, max_iters=max_iters,
                                                trials=trials, evaluator=evaluator, n=n, weighted=weighted))
    llm = _llm(resolve_model(model), seed, 0.0, max_tokens, no_cache)
    learner = _learner(memory, "experience,reflection,insight", llm, fmt.name) if memory else None
    with console.status(f"{escape(spec.name)} is thinking..."):
        result = Agent(spec, llm, fmt, memory=learner).run_sync(question)
    console.print(printable(result.trace()), highlight=False, markup=False)
    console.print(f"answer: {printable(str(result.answer))}  ({result.usage.calls} calls, "
                  f"{result.usage.total_tokens} tokens, {result.wall_s:.1f}s)", highlight=False, markup=False)


@agents_app.command("list")
@handle_errors
def agents_list() -> None:
    """List the prebuilt agents and the options each takes."""
    for name, builder in AGENTS_REGISTRY.items():
        opts = ", ".join(f"--{k.replace('_', '-')}" for k in agent_options(name)) or "(no options)"
        console.print(f"{name:18} {(builder.__doc__ or '').strip().splitlines()[0]}  [{opts}]", highlight=False,
                      markup=False)


@agents_app.command("show")
@handle_errors
def agents_show(name: str, agents: int = AGENTS, rounds: int = ROUNDS, samples: int = SAMPLES,
                max_iters: int = MAX_ITERS, trials: int = TRIALS, evaluator: str = EVALUATOR, n: int = N,
                weighted: bool = WEIGHTED, beam_width: int = BEAM_WIDTH, expansions: int = EXPANSIONS,
                lookahead_steps: int = LOOKAHEAD_STEPS) -> None:
    """Print a prebuilt agent's AgentSpec as JSON (edit it and run it with --agent-spec)."""
    spec = resolve_spec(name, None, dict(agents=agents, rounds=rounds, samples=samples, max_iters=max_iters,
                                         trials=trials, evaluator=evaluator, n=n, weighted=weighted,
                                         beam_width=beam_width, expansions=expansions, lookahead_steps=lookahead_steps))
    console.print_json(spec.to_json())


def printable(text: str) -> str:
    """Model text made safe for a terminal: control characters (escape sequences) removed."""
    return "".join(ch for ch in text if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127 and not 0x80 <= ord(ch) < 0xA0))
