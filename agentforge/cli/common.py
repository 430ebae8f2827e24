"""Helpers shared by CLI commands: choosing the model and the agent spec."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentforge.agents import AgentSpec, build_agent_spec
from agentforge.core.errors import UnknownNameError, UserError
from agentforge.llm import models as registry


def resolve_model(model: str | None, pull: bool = True) -> str:
    """The model id to use: ``--model``, else ``$AGENTFORGE_MODEL``, else the default local model.

    A ``local/`` model that is not pulled is pulled with a progress bar when ``pull`` is True;
    otherwise ModelNotAvailableError gives the exact pull command. A non-local id must name a
    provider litellm knows (``openai/gpt-4o-mini``, ``ollama/llama3``, ...).

    Raises:
        UnknownNameError: an unknown local model or an unknown provider (lists the valid ones).
    """
    model = model or os.environ.get("AGENTFORGE_MODEL") or registry.DEFAULT_MODEL
    if model.startswith("local/") or model in registry.LOCAL_MODELS:
        model = model if model.startswith("local/") else f"local/{model}"
        try:
            registry.resolve_model_path(model)
        except UserError as exc:
            if not pull or type(exc).__name__ != "ModelNotAvailableError" or model.endswith(".gguf"):
                raise
            from agentforge.cli.models import pull_with_progress

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
    return model


def resolve_spec(agent: str | None, agent_spec: Path | None, options: dict[str, Any]) -> AgentSpec:
    """A prebuilt agent's spec with ``options``, or a spec loaded from ``agent_spec`` JSON."""
    if agent_spec is not None:
        return AgentSpec.load(agent_spec)
    return build_agent_spec(agent or "cot", **options)
