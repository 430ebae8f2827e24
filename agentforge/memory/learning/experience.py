"""Experiential learning (ExpeL, Zhao et al. 2023): recall similar past trajectories.

After each episode the trajectory's gist (question and final solution) is stored with its
outcome (``score`` 1.0 success, 0.0 failure) and, for agents that ran programs, what the sandbox
reported (``metadata["execution"]``: the grounded evidence of why it went right or wrong, shown
with a recalled failure). At inference the top-k most similar successes are retrieved as
few-shot exemplars, optionally with similar failures as warnings.
"""

from __future__ import annotations

from agentforge.memory.base import MemoryStore
from agentforge.memory.learning.episodes import gist, record_id
from agentforge.memory.records import MemoryRecord


class ExperientialMemory:
    """Store and recall episodes of one namespace.

    Args:
        store: any MemoryStore.
        namespace: task family, e.g. ``"gsm8k"``.
        k: successes recalled as exemplars (default 2).
        failures: similar failures recalled as warnings (default 1; 0 disables).
        max_chars: solution characters kept per record (default 800).
    """

    def __init__(self, store: MemoryStore, namespace: str = "default", k: int = 2, failures: int = 1,
                 max_chars: int = 800):
        self.store, self.namespace, self.k, self.failures, self.max_chars = store, namespace, k, failures, max_chars

    def record(self, episode_key: str, question: str, solution: str, answer: str | None, correct: bool,
               execution: dict[str, str] | None = None) -> MemoryRecord:
        """Store one episode (idempotent per ``episode_key``) and return its record.

        ``execution`` maps an ``execute`` node to the sandbox's report of its program run.
        """
        meta = {"episode": episode_key, "answer": answer or "", "correct": bool(correct)}
        if execution:
            meta["execution"] = "\n".join(f"{node}: {gist(text, 300)}" for node, text in execution.items())
        rec = MemoryRecord(
            id=record_id(self.namespace, "experience", episode_key), kind="experience", namespace=self.namespace,
            text=f"Question: {question.strip()}\nSolution: {gist(solution, self.max_chars)}",
            metadata=meta, score=1.0 if correct else 0.0,
        )
        self.store.add([rec])
        return rec

    def recall(self, question: str, exclude_episode: str | None = None) -> tuple[list[MemoryRecord], list[MemoryRecord]]:
        """(similar successes, similar failures), most similar first, never the excluded episode."""
        hits = self.store.search(question, k=(self.k + self.failures) * 3 + 2, kind="experience",
                                 namespace=self.namespace)
        recs = [h.record for h in hits if h.record.metadata.get("episode") != exclude_episode]
        good = [r for r in recs if r.score == 1.0][: self.k]
        bad = [r for r in recs if r.score == 0.0][: self.failures]
        return good, bad

    def retrieve(self, question: str, exclude_episode: str | None = None) -> str:
        """Prompt text: exemplars of solved similar problems, then warnings ("" if none)."""
        good, bad = self.recall(question, exclude_episode)
        parts = [f"Solved similar problem:\n{r.text}" for r in good]
        parts += [f"A similar problem answered WRONGLY (answer {r.metadata.get('answer') or '?'}); "
                  f"avoid its mistake:\n{r.text}" + (f"\nRunning its program showed: {r.metadata['execution']}"
                                                     if r.metadata.get("execution") else "") for r in bad]
        return "\n\n".join(parts)
