"""The ``agentforge`` command line (typer). Subcommands live one group per module."""

from __future__ import annotations

from agentforge.cli.app import app, main

__all__ = ["app", "main"]
