"""Reflective learning (Reflexion, Shinn et al. 2023): self-reflections on failed attempts.

After a failed attempt the model writes a short self-reflection (what went wrong, what to do
next time). Reflections are stored with provenance (the attempt's experience record, if any)
and retrieved for similar tasks and for retries of the same task.
"""

from __future__ import annotations

from agentforge.core.templates import render
from agentforge.llm import LLM
from agentforge.llm.types import Completion
from agentforge.memory.base import MemoryStore
from agentforge.memory.learning.episodes import record_id
from agentforge.memory.records import MemoryRecord


class ReflectiveMemory:
    """Write and recall self-reflections of one namespace.

    Args:
        store: any MemoryStore.
        llm: the model that writes reflections.
        namespace: task family.
        k: reflections recalled for a new question (default 3).
        prompt: the reflection template (default ``@reflect``; variables question, draft, feedback).
    """

    def __init__(self, store: MemoryStore, llm: LLM, namespace: str = "default", k: int = 3,
                 prompt: str = "@reflect"):
        self.store, self.llm, self.namespace, self.k, self.prompt = store, llm, namespace, k, prompt

    async def areflect(self, question: str, attempt: str, feedback: str = "", sample_index: int = 0) -> Completion:
        """Ask the model for a self-reflection on a failed ``attempt`` (one model call)."""
        content = render(self.prompt, {"question": question, "draft": attempt, "feedback": feedback})
        return await self.llm.acomplete([{"role": "user", "content": content}], sample_index=sample_index)

    def record(self, episode_key: str, question: str, reflection: str, trial: int = 0,
               provenance: list[str] | None = None) -> MemoryRecord:
        """Store a reflection (idempotent per episode and trial)."""
        rec = MemoryRecord(
            id=record_id(self.namespace, "reflection", episode_key, str(trial)), kind="reflection",
            namespace=self.namespace, text=f"Question: {question.strip()[:400]}\nLesson: {reflection.strip()}",
            metadata={"episode": episode_key, "trial": trial, "lesson": reflection.strip()},
            provenance=list(provenance or []),
        )
        self.store.add([rec])
        return rec

    def retrieve(self, question: str, exclude_episode: str | None = None) -> str:
        """Prompt text: the most similar reflections as a bulleted list ("" if none)."""
        hits = self.store.search(question, k=self.k * 2 + 2, kind="reflection", namespace=self.namespace)
        recs = [h.record for h in hits if h.record.metadata.get("episode") != exclude_episode][: self.k]
        return "\n".join(f"- {r.metadata.get('lesson') or r.text}" for r in recs)
