"""``AgentMemory``: what an agent needs from a memory module (``agentforge.memory.learning``'s
``MemoryLearner`` implements it; so can any object with these methods)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from agentforge.llm.types import Usage


@runtime_checkable
class AgentMemory(Protocol):
    """A memory module attached to an agent.

    Attributes:
        usage: the model calls the module made itself (self-reflections, insight updates).
    """

    usage: Usage

    def retrieve(self, question: str, example: Any = None) -> str:
        """Text for the prompt's ``{{ memory }}`` before a run ("" for nothing)."""

    async def aafter_episode(self, question: str, example: Any, result: Any, correct: bool) -> list[str]:
        """Learn from a finished episode (``result`` is the ``AgentResult``); the ids written."""

    async def aflush(self) -> None:
        """Finish pending learning (e.g. a partial batch of insight updates) at the end of a run."""
