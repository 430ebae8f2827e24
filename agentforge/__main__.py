"""``python -m agentforge`` runs the CLI."""

from agentforge.cli import main

main()
