"""The root typer app: global options, logging, error handling and the entry point ``main``.

Exit codes: 0 success, 1 a model/provider failure or a run stopped part-way, 2 bad input (unknown
task, agent, option or model, malformed data; the message lists the valid choices), 130
interrupted (finished work is kept). Errors map to codes by family (``agentforge.core.errors``).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from agentforge import __version__
from agentforge.core.errors import AgentForgeError, AgentRunError, ModelError, UserError, exit_code, root_cause

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AgentForge: verbal reinforcement for LLM agents.")
err_console = Console(stderr=True)
console = Console()
LEVELS = ("debug", "info", "warning", "error")


def version_text() -> str:
    """``agentforge <version>`` from the installed distribution's metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"agentforge {version('agentforge')}"
    except PackageNotFoundError:  # running from a source tree that was not installed
        return f"agentforge {__version__}"


def setup_logging(level: str) -> None:
    """Log to stderr through rich at ``level``; rich keeps log lines above live progress bars."""
    handler = RichHandler(console=err_console, show_path=False, markup=False, rich_tracebacks=False)
    logging.basicConfig(level=level.upper(), format="%(name)s: %(message)s", handlers=[handler], force=True)
    for noisy in ("httpx", "LiteLLM", "litellm", "chromadb", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="print the version and exit", is_eager=True),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="more log output (-v info, -vv debug)"),
    log_level: str = typer.Option(None, "--log-level", help=f"log level: {', '.join(LEVELS)} (default warning)"),
) -> None:
    if version:
        console.print(version_text(), highlight=False)
        raise typer.Exit(0)
    level = log_level or ("debug" if verbose >= 2 else "info" if verbose == 1 else "warning")
    if level.lower() not in LEVELS:
        err_console.print(f"[bold red]error:[/] --log-level must be one of {', '.join(LEVELS)}, got {escape(level)!r}")
        raise typer.Exit(2)
    setup_logging(level)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn AgentForge errors into a one-line message and the exit code of their family."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentForgeError as exc:
            code = exit_code(exc)
            shown = root_cause(exc) if isinstance(exc, AgentRunError) else exc
            label = ("error" if isinstance(shown, UserError) else "model error" if isinstance(shown, ModelError)
                     else "stopped")
            err_console.print(f"[bold red]{label}:[/] {escape(str(shown))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; finished work is saved (rerun the same command to resume)")
            raise typer.Exit(130) from None

    return wrapper


def _register() -> None:
    from agentforge.cli import memory, models, optimize, prm, run  # noqa: F401  (modules add their commands)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``agentforge`` console script."""
    _register()
    app(args=argv if argv is not None else sys.argv[1:], prog_name="agentforge")
