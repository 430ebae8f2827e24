"""``MemoryLearner``: the memory module an agent run uses: retrieve before, learn after.

It combines experiential (ExpeL), reflective (Reflexion) and concept (ExpeL insights) learning
over one store and namespace. ``retrieve(question, example)`` returns the text that goes into
prompts as ``{{ memory }}`` (quoted as context, never as instructions); ``aafter_episode`` writes
what the episode taught. Records of the current episode are never retrieved for it, so a
re-run after a crash sees the same memory it saw the first time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from agentforge.core.errors import UnknownNameError
from agentforge.llm import LLM
from agentforge.llm.types import Usage
from agentforge.memory.base import MemoryStore
from agentforge.memory.learning.experience import ExperientialMemory
from agentforge.memory.learning.insights import InsightMemory
from agentforge.memory.learning.reflection import ReflectiveMemory

log = logging.getLogger(__name__)
LEARN_KINDS = ("experience", "reflection", "insight")


def episode_key(question: str, example: Any = None) -> str:
    """The episode's key: the example id when there is one, else the question text."""
    return str(getattr(example, "id", None) or question)


class MemoryLearner:
    """Retrieve-before / learn-after memory for agent runs.

    Args:
        store: the MemoryStore (``open_memory(uri)``).
        llm: model for reflections and insight extraction.
        namespace: task family (default: the task name).
        learn: which of ``experience``, ``reflection``, ``insight`` to write (and read).
        k: experiences / reflections recalled (default 2 / 3).
        insight_every: episodes between insight-extraction updates (default 10).

    Attributes:
        usage: ``Usage`` of the model calls this learner made itself (self-reflections on
            failures, insight updates) since it was created; the agent's own calls are not in it.

    Raises:
        UnknownNameError: an unknown learning kind.
    """

    def __init__(self, store: MemoryStore, llm: LLM, namespace: str, learn: Iterable[str] = LEARN_KINDS,
                 k: int = 2, insight_every: int = 10):
        self.learn = list(dict.fromkeys(learn))
        for kind in self.learn:
            if kind not in LEARN_KINDS:
                raise UnknownNameError("learning kind", kind, LEARN_KINDS)
        self.store, self.llm, self.namespace, self.insight_every = store, llm, namespace, insight_every
        self.experience = ExperientialMemory(store, namespace, k=k)
        self.reflection = ReflectiveMemory(store, llm, namespace)
        self.insights = InsightMemory(store, llm, namespace)
        self._pending: list[dict] = []
        self.usage = Usage()  # model calls spent on learning (reflections, insight updates)

    def retrieve(self, question: str, example: Any = None) -> str:
        """Memory text for a prompt: insights, reflections, then exemplars ("" if memory is empty)."""
        key = episode_key(question, example)
        sections = []
        if "insight" in self.learn and (text := self.insights.retrieve()):
            sections.append(f"General rules learned so far:\n{text}")
        if "reflection" in self.learn and (text := self.reflection.retrieve(question, key)):
            sections.append(f"Lessons from earlier mistakes:\n{text}")
        if "experience" in self.learn and (text := self.experience.retrieve(question, key)):
            sections.append(text)
        return "\n\n".join(sections)

    async def aafter_episode(self, question: str, example: Any, result: Any, correct: bool) -> list[str]:
        """Learn from a finished episode; returns the ids written. Never raises for model misbehaviour.

        ``result`` is an ``AgentResult``; reflections written during Reflexion trials are in
        ``result.metadata["reflections"]`` and are stored rather than generated again.
        """
        key, ids = episode_key(question, example), []
        try:
            exp_id = None
            if "experience" in self.learn or "insight" in self.learn:
                rec = self.experience.record(key, question, result.text or "", result.answer, correct,
                                             result.metadata.get("execution"))
                exp_id = rec.id
                ids.append(rec.id)
            if "reflection" in self.learn:
                reflections = list(result.metadata.get("reflections") or [])
                if not correct and not reflections:
                    comp = await self.reflection.areflect(question, result.text or "")
                    self.usage = self.usage + comp.usage
                    reflections = [comp.text]
                for trial, text in enumerate(reflections):
                    if text.strip():
                        ids.append(self.reflection.record(key, question, text, trial, [exp_id] if exp_id else []).id)
            if "insight" in self.learn:
                self._pending.append({"question": question, "solution": result.text or "", "correct": correct,
                                      "id": exp_id})
                if len(self._pending) >= self.insight_every:
                    await self.aflush()
        except Exception as exc:  # learning must never kill the run
            log.warning("memory learning failed for episode %s: %s: %s", key, type(exc).__name__, exc)
        return ids

    async def aflush(self) -> None:
        """Run insight extraction on the episodes still pending (the runner calls it at the end).

        Episodes pending when a process is killed are not replayed: insights are only ever
        extracted from completed batches, so a kill loses at most ``insight_every - 1`` episodes'
        contribution to insights (their experiences and reflections are stored).
        """
        if "insight" not in self.learn or not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            report = await self.insights.aupdate(batch, [e["id"] for e in batch if e["id"]])
            self.usage = self.usage + report.usage
            log.info("insights: %d applied, %d skipped, %d retired", len(report.applied),
                     len(report.skipped), len(report.retired))
        except Exception as exc:
            log.warning("insight extraction failed: %s: %s", type(exc).__name__, exc)
