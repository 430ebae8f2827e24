"""AgentForge: verbal reinforcement for LLM agents.

The front door::

    from agentforge import Agent
    result = Agent("debate", model="local/qwen2.5-coder-0.5b-instruct").run_sync("What is 17 * 3?")
    print(result.answer, result.usage)

Names are imported on first use, so ``import agentforge`` is cheap and changes nothing in the
process (no environment variables are set; offline switches are applied where models load).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "Agent": "agentforge.agents", "AgentSpec": "agentforge.agents", "AgentResult": "agentforge.agents",
    "Episode": "agentforge.agents", "build_agent_spec": "agentforge.agents", "run_example": "agentforge.agents",
    "AGENTS": "agentforge.agents",
    "LLM": "agentforge.llm", "FunctionModel": "agentforge.llm", "Usage": "agentforge.llm",
    "load_task": "agentforge.tasks", "Task": "agentforge.tasks", "Example": "agentforge.tasks",
    "Judge": "agentforge.judges", "JudgeResult": "agentforge.judges", "make_judge": "agentforge.judges",
    "open_memory": "agentforge.memory", "MemoryLearner": "agentforge.memory.learning",
    "Runner": "agentforge.runner",
    "run_program": "agentforge.sandbox", "ExecutionResult": "agentforge.sandbox",
    "settings": "agentforge.core.settings",
    "AgentForgeError": "agentforge.core.errors", "UserError": "agentforge.core.errors",
    "ModelError": "agentforge.core.errors", "RunError": "agentforge.core.errors",
    "AgentRunError": "agentforge.core.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agentforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
