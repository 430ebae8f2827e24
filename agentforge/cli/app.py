"""The root typer app, shared error handling and the entry point ``main``.

Exit codes: 0 success, 1 a model/provider failure, 2 bad input (unknown task, agent or model,
malformed data; the message lists the valid choices), 130 interrupted (finished work is kept).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from agentforge import _env  # noqa: F401
from agentforge.core.errors import AgentForgeError, ModelError, UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AgentForge: verbal reinforcement for LLM agents.")
err_console = Console(stderr=True)
console = Console()


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn AgentForge errors into a one-line message and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except (ModelError, AgentForgeError) as exc:
            err_console.print(f"[bold red]model error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; finished work is saved (rerun the same command to resume)")
            raise typer.Exit(130) from None

    return wrapper


def _register() -> None:
    from agentforge.cli import memory, models, run  # noqa: F401  (modules add their commands to app)
    from agentforge.cli import prm  # noqa: F401
    from agentforge.cli import optimize  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``agentforge`` console script."""
    _register()
    app(args=argv if argv is not None else sys.argv[1:], prog_name="agentforge")
