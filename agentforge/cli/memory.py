"""``agentforge memory stats|search|show|export|import|compact URI``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from agentforge.cli.app import app, console, handle_errors
from agentforge.core.errors import UserError
from agentforge.cli.common import open_store
from agentforge.memory.hygiene import compact

memory_app = typer.Typer(help="Inspect and maintain a memory store (URI: chroma:///path, qdrant:///path, "
                              "qdrant+http://host:6333, memory://).", no_args_is_help=True)
app.add_typer(memory_app, name="memory")

URI = typer.Argument(..., help="memory URI, e.g. chroma:///home/me/agentforge-memory")


def _open(uri: str):
    return open_store(uri)


@memory_app.command("stats")
@handle_errors
def stats(uri: str = URI) -> None:
    """Record counts per namespace and kind."""
    store = _open(uri)
    table = Table("namespace", "experience", "reflection", "insight", "total")
    for ns in store.namespaces():
        counts = [store.count(kind=k, namespace=ns) for k in ("experience", "reflection", "insight")]
        table.add_row(ns, *map(str, counts), str(sum(counts)))
    console.print(table)
    console.print(f"total records: {store.count()}")


@memory_app.command("search")
@handle_errors
def search(uri: str = URI, query: str = typer.Argument(...), k: int = typer.Option(5, min=1),
           kind: str = typer.Option(None), namespace: str = typer.Option(None)) -> None:
    """The k records most similar to QUERY."""
    for hit in _open(uri).search(query, k=k, kind=kind, namespace=namespace):
        r = hit.record
        console.print(f"[bold]{hit.similarity:.3f}[/] {r.kind}/{r.namespace} {r.id} votes={r.votes} score={r.score}")
        console.print("   " + r.text.replace("\n", "\n   ")[:600], highlight=False, markup=False)


@memory_app.command("show")
@handle_errors
def show(uri: str = URI, record_id: str = typer.Argument(...)) -> None:
    """One record as JSON (with provenance)."""
    rec = _open(uri).get(record_id)
    if rec is None:
        raise UserError(f"no record with id {record_id!r} in {uri}")
    console.print_json(rec.model_dump_json())


@memory_app.command("export")
@handle_errors
def export(uri: str = URI, path: Path = typer.Argument(..., help="JSONL file to write")) -> None:
    """Write every record as JSON lines."""
    console.print(f"exported {_open(uri).export_jsonl(path)} records to {path}")


@memory_app.command("import")
@handle_errors
def import_(uri: str = URI, path: Path = typer.Argument(..., help="JSONL file to read")) -> None:
    """Add records from JSON lines (existing ids are kept as they are)."""
    console.print(f"imported {_open(uri).import_jsonl(path)} records from {path}")


@memory_app.command("compact")
@handle_errors
def compact_cmd(uri: str = URI, threshold: float = typer.Option(0.95, help="similarity that counts as duplicate"),
                namespace: str = typer.Option(None)) -> None:
    """Merge near-duplicate records and prune retired insights."""
    report = compact(_open(uri), threshold=threshold, namespace=namespace)
    console.print(f"merged {report['merged']} near-duplicates, pruned {report['pruned']} retired insights")
