"""Helpers shared by CLI commands: choosing the model, the agent spec and its options.

Agent options are declared once here (``AGENT_OPTIONS``), each in the help panel of the agents
that take it, and reach ``build_agent_spec`` only when the user set them: an option the chosen
agent does not take is an error naming the valid ones (``--agent cot --agents 5`` fails).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import typer

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.cli.models import pull_with_progress
from agentforge.core.errors import AgentForgeError, ModelNotAvailableError, UnknownNameError, UserError
from agentforge.core.settings import settings
from agentforge.llm import models as registry
from agentforge.memory import MemoryStore, open_memory


def _opt(flag: str, panel: str, help: str, **kw: Any) -> Any:
    return typer.Option(None, flag, help=help, rich_help_panel=f"Agent options: {panel}", show_default=False, **kw)


AGENTS = _opt("--agents", "debate", "number of debaters (default 3)", min=2)
ROUNDS = _opt("--rounds", "debate", "rounds after the first answers (default 2)", min=0)
SAMPLES = _opt("--samples", "self-consistency, pal", "samples voted on (default 5 / 1)", min=1)
MAX_ITERS = _opt("--max-iters", "self-refine, self-debug, critic", "max revisions (default 3 / 3 / 1)", min=1)
TRIALS = _opt("--trials", "reflexion", "max trials (default 3)", min=1)
EVALUATORS = ("verifier", "llm", "visible-tests", "self-tests")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value
    return check


EVALUATOR = _opt("--evaluator", "reflexion", "verifier (gold: an oracle), llm, visible-tests, self-tests",
                 callback=_one_of(EVALUATORS))
N = _opt("--n", "best-of-n", "samples (default 4)", min=1)
WEIGHTED = typer.Option(None, "--weighted/--no-weighted", help="judge-weighted majority vote (default off)",
                        rich_help_panel="Agent options: best-of-n", show_default=False)
BEAM_WIDTH = _opt("--beam-width", "beam-search, lookahead", "beams kept (default 2)", min=1)
EXPANSIONS = _opt("--expansions", "beam-search, lookahead", "next steps sampled per beam (default 2)", min=1)
LOOKAHEAD_STEPS = _opt("--lookahead-steps", "lookahead", "rollout depth (default 1)", min=0)
MAX_SAMPLES = _opt("--max-samples", "best-of-n, beam-search, lookahead", "budget: generation calls per question",
                   min=1)
MAX_TOKENS_BUDGET = _opt("--max-tokens-budget", "best-of-n, beam-search, lookahead",
                         "budget: completion tokens per question", min=1)


def finite(lo: float | None = None, hi: float | None = None) -> Any:
    """A typer callback accepting a finite float in [lo, hi] (NaN and infinities refused)."""

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise typer.BadParameter(f"{value} is not a finite number in [{lo}, {hi}]")
        return value

    return check


TEMPERATURE = typer.Option(0.0, help="base temperature in [0, 2] (sampling agents use their own)",
                           callback=finite(0.0, 2.0))
MAX_TOKENS = typer.Option(512, "--max-tokens", min=1, help="completion token cap per call")


def output_dir(path: Path, what: str = "--out") -> Path:
    """Create ``path`` (and parents) for writing, or fail with the reason.

    Raises:
        UserError: ``path`` is a file, lies under a file, or cannot be created or written.
    """
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {str(path)!r} is a file, not a folder; use another {what}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".agentforge-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {what} {str(path)!r}: {exc.strerror or exc}") from None
    return path


def open_store(uri: str) -> MemoryStore:
    """Open the memory at ``uri`` now (not at the first example), or fail with the reason.

    Raises:
        UserError: an unknown scheme, a path that is a file or cannot be created, a store that
            cannot be read.
    """
    store = open_memory(uri)
    try:
        store.count()
    except AgentForgeError:
        raise
    except Exception as exc:  # backends raise their own types (OSError, sqlite3, chromadb errors)
        raise UserError(f"cannot open memory {uri!r}: {type(exc).__name__}: {exc}") from None
    return store


def check_credentials(model: str) -> None:
    """A remote model's provider needs its API key in the environment: checked before any call.

    Raises:
        UserError: the environment lacks a key the provider needs (named).
    """
    if model.startswith(("local/", "fake/")):
        return
    import litellm

    try:
        missing = litellm.validate_environment(model=model).get("missing_keys") or []
    except Exception:  # litellm cannot tell for this provider: the first call will
        return
    if missing:
        raise UserError(f"{model} needs {', '.join(missing)} in the environment (no call was made)")


def resolve_model(model: str | None, pull: bool = True) -> str:
    """The model id to use: ``--model``, else ``$AGENTFORGE_MODEL``, else the default local model.

    A ``local/`` model that is not pulled is pulled with a progress bar when ``pull`` is True;
    otherwise ModelNotAvailableError gives the exact pull command. A non-local id must name a
    provider litellm knows (``openai/gpt-4o-mini``, ``ollama/llama3``, ...).

    Raises:
        UnknownNameError: an unknown local model or an unknown provider (lists the valid ones).
    """
    model = model or settings().model
    if model.startswith("local/") or model in registry.LOCAL_MODELS:
        model = model if model.startswith("local/") else f"local/{model}"
        try:
            registry.resolve_model_path(model)
        except ModelNotAvailableError:
            if not pull or model.endswith(".gguf"):
                raise
            pull_with_progress(model.removeprefix("local/"))
        return model
    if model.startswith("fake/"):
        return model
    import litellm

    try:
        litellm.get_llm_provider(model)
    except Exception:
        valid = [f"local/{n}" for n in registry.LOCAL_MODELS] + ["<provider>/<model> for any litellm provider"]
        raise UnknownNameError("model", model, valid) from None
    check_credentials(model)
    return model


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve_spec(agent: str | None, agent_spec: Path | None, options: dict[str, Any]) -> AgentSpec:
    """A prebuilt agent's spec built with the options the user set (None = not set), or a spec
    loaded from ``agent_spec`` JSON.

    Raises:
        UnknownNameError: an unknown agent, or an option it does not take (named as flags).
        UserError: agent options together with ``--agent-spec``.
        SpecValidationError: a bad spec file.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if agent_spec is not None:
        if given:
            raise UserError(f"{', '.join(_flag(k) for k in given)} apply to prebuilt agents; with --agent-spec "
                            "edit the spec file instead")
        return AgentSpec.load(agent_spec)
    try:
        return build_agent_spec(agent or "cot", **given)
    except UnknownNameError as exc:
        if not exc.kind.endswith(" option"):
            raise
        raise UnknownNameError(f"{agent} option", _flag(exc.name), [_flag(v) for v in exc.valid]) from None
