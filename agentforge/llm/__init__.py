"""Model access: ``LLM`` (litellm underneath), the embedded ``local/`` provider, the scripted
``fake/`` provider for tests, the completion cache and usage accounting."""

from typing import Any

from agentforge.llm.types import Completion, Message, Usage

_LAZY = {"LLM": "agentforge.llm.client", "model_requests_allowed": "agentforge.llm.client",
         "FunctionModel": "agentforge.llm.fake", "CallInfo": "agentforge.llm.fake",
         "observe_calls": "agentforge.llm.observers", "UsageLedger": "agentforge.llm.observers"}

__all__ = ["LLM", "Completion", "Message", "Usage", "FunctionModel", "CallInfo", "model_requests_allowed",
           "observe_calls", "UsageLedger"]


def __getattr__(name: str) -> Any:  # litellm loads on first use, not on ``import agentforge.llm.types``
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentforge.llm' has no attribute {name!r}")
