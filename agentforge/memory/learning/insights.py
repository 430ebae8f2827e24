"""Concept learning (ExpeL insight extraction, Zhao et al. 2023): general rules across tasks.

From batches of episodes (successes and failures) the model proposes operations on a bounded
set of insights, one per line: ``ADD: <rule>``, ``EDIT <n>: <rule>``, ``UPVOTE <n>``,
``DOWNVOTE <n>`` (n numbers the current list). Each insight keeps its votes and provenance (the
episode records it came from). An ADD that nearly duplicates an existing insight (embedding
similarity >= ``merge_threshold``) upvotes that insight instead; an insight voted below zero is
retired (deleted); past ``max_insights`` the lowest-voted are retired. Malformed operations are
skipped with a logged reason and never crash the run. The top insights go into prompts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from agentforge.core.templates import render
from agentforge.llm import LLM
from agentforge.llm.types import Usage
from agentforge.memory.base import MemoryStore
from agentforge.memory.learning.episodes import gist, record_id
from agentforge.memory.records import MemoryRecord

log = logging.getLogger(__name__)
_OP = re.compile(r"^\s*(?:[-*]\s*|\d+[.)]\s*)?(ADD|EDIT|UPVOTE|DOWNVOTE)\b\s*(\d+)?\s*:?\s*(.*)$", re.IGNORECASE)


@dataclass
class Operation:
    """One parsed operation: ``op`` in ADD/EDIT/UPVOTE/DOWNVOTE, ``index`` 1-based or None, ``text``."""

    op: str
    index: int | None = None
    text: str = ""


@dataclass
class UpdateReport:
    """What one update did: operations applied and skipped (with reasons), insights retired,
    and the model usage of the call that proposed them (``aupdate`` only)."""

    applied: list[Operation] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


# the words of the prompt's operation format: a "rule" made only of these restates the format
_PLACEHOLDER_WORDS = frozenset("new general improve improved rule rules text your here add edit upvote "
                               "downvote number operation operations insight insights".split())
_STOPWORDS = frozenset("a an the to of for in on at and or with that this these is are be by each every all "
                       "any it its as from".split())


def words_of(text: str) -> frozenset[str]:
    """Lower-case alphanumeric words of ``text`` (what ``is_placeholder`` compares)."""
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def is_placeholder(text: str, vocabulary: frozenset[str] = _PLACEHOLDER_WORDS) -> bool:
    """True for rule text that only echoes the prompt (``<new general rule>``, ``Improve rule
    text``, ``Add a general rule to solve gsm8k problems``) or is bracketed like a template slot:
    small models copy those. ``vocabulary``: the prompt's own words (default: the format's);
    a rule whose content words (stop words aside) all come from it says nothing new."""
    t = text.strip()
    if t.startswith("<") and t.endswith(">"):
        return True
    return words_of(t) - _STOPWORDS <= vocabulary


def parse_operations(text: str, n_rules: int, vocabulary: frozenset[str] = _PLACEHOLDER_WORDS,
                     ) -> tuple[list[Operation], list[tuple[str, str]]]:
    """Parse model output into operations; returns (operations, [(line, reason) skipped]).

    ``vocabulary``: words of the prompt's instructions; ADD/EDIT text made only of them is
    skipped as a copied placeholder (see ``is_placeholder``)."""
    ops, skipped = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _OP.match(line)
        if not m:
            skipped.append((line, "not an operation"))
            continue
        op, idx, rest = m.group(1).upper(), m.group(2), m.group(3).strip()
        index = int(idx) if idx else None
        if op == "ADD":
            if len(rest) < 8:
                skipped.append((line, "ADD without a rule"))
            elif is_placeholder(rest, vocabulary):
                skipped.append((line, "ADD only restates the prompt (a copied placeholder), not a rule"))
            else:
                ops.append(Operation("ADD", None, rest))
        elif index is None or not 1 <= index <= n_rules:
            skipped.append((line, f"{op} needs a rule number between 1 and {n_rules}"))
        elif op == "EDIT" and len(rest) < 8:
            skipped.append((line, "EDIT without new text"))
        elif op == "EDIT" and is_placeholder(rest, vocabulary):
            skipped.append((line, "EDIT only restates the prompt (a copied placeholder), not a rule"))
        else:
            ops.append(Operation(op, index, rest if op == "EDIT" else ""))
    return ops, skipped


class InsightMemory:
    """A bounded, voted set of insights of one namespace.

    Args:
        store: any MemoryStore.
        llm: the model that proposes operations.
        namespace: task family.
        max_insights: bound on active insights (default 12).
        merge_threshold: similarity at which an ADD counts as a duplicate (default 0.85).
        top: insights put into prompts (default 6).
        max_ops: operations asked for per update (default 4).
    """

    def __init__(self, store: MemoryStore, llm: LLM, namespace: str = "default", max_insights: int = 12,
                 merge_threshold: float = 0.85, top: int = 6, max_ops: int = 4, prompt: str = "@insights"):
        self.store, self.llm, self.namespace = store, llm, namespace
        self.max_insights, self.merge_threshold, self.top, self.max_ops, self.prompt = (
            max_insights, merge_threshold, top, max_ops, prompt)
        self._vocabulary: frozenset[str] | None = None

    def vocabulary(self) -> frozenset[str]:
        """Words of the prompt's instructions (rendered with no rules and no episodes) and of
        the operation format: rule text made only of these is a copied placeholder."""
        if self._vocabulary is None:
            blank = render(self.prompt, {"namespace": self.namespace, "rules": [], "episodes": [],
                                         "max_ops": self.max_ops})
            self._vocabulary = _PLACEHOLDER_WORDS | words_of(blank)
        return self._vocabulary

    def current(self) -> list[MemoryRecord]:
        """Active insights, most votes first (ties: oldest first)."""
        recs = self.store.list(kind="insight", namespace=self.namespace)
        return sorted(recs, key=lambda r: (-r.votes, r.created_at))

    def retrieve(self, question: str = "", exclude_episode: str | None = None) -> str:
        """Prompt text: the top insights as a numbered list ("" if none)."""
        return "\n".join(f"{i}. {r.text}" for i, r in enumerate(self.current()[: self.top], 1))

    async def aupdate(self, episodes: list[dict], provenance: list[str], sample_index: int = 0) -> UpdateReport:
        """Ask the model for operations given ``episodes`` and apply them.

        Args:
            episodes: dicts with ``question``, ``solution``, ``correct``.
            provenance: ids of the episode records, stored on insights the update creates or edits.
        """
        rules = self.current()
        content = render(self.prompt, {
            "namespace": self.namespace, "rules": [r.text for r in rules], "max_ops": self.max_ops,
            "episodes": [{**e, "solution": gist(e.get("solution", ""), 500)} for e in episodes],
        })
        comp = await self.llm.acomplete([{"role": "user", "content": content}], sample_index=sample_index)
        report = self.apply(comp.text, provenance, rules)
        report.usage = comp.usage
        return report

    def apply(self, text: str, provenance: list[str], rules: list[MemoryRecord] | None = None) -> UpdateReport:
        """Apply the operations in ``text`` (model output) to the insight set."""
        rules = self.current() if rules is None else rules
        ops, skipped = parse_operations(text, len(rules), self.vocabulary())
        report = UpdateReport(skipped=list(skipped))
        for line, reason in skipped:
            log.info("insight operation skipped (%s): %r", reason, line[:200])
        for op in ops[: self.max_ops]:
            if op.op == "ADD":
                self._add(op.text, provenance)
            else:
                rec = self.store.get(rules[op.index - 1].id)
                if rec is None:
                    report.skipped.append((op.op, "rule was already retired"))
                    continue
                if op.op == "EDIT":
                    rec = rec.model_copy(update={"text": op.text, "provenance": _union(rec.provenance, provenance)})
                else:
                    rec = rec.model_copy(update={"votes": rec.votes + (1 if op.op == "UPVOTE" else -1)})
                self.store.update(rec)
            report.applied.append(op)
        report.retired = self._retire()
        return report

    def _add(self, text: str, provenance: list[str]) -> None:
        hits = self.store.search(text, k=1, kind="insight", namespace=self.namespace)
        if hits and hits[0].similarity >= self.merge_threshold:
            rec = hits[0].record
            self.store.update(rec.model_copy(update={"votes": rec.votes + 1,
                                                     "provenance": _union(rec.provenance, provenance)}))
            return
        self.store.add([MemoryRecord(id=record_id(self.namespace, "insight", text.lower()), kind="insight",
                                     namespace=self.namespace, text=text, votes=1, provenance=list(provenance))])

    def _retire(self) -> list[str]:
        recs = self.current()
        gone = [r.id for r in recs if r.votes < 0] + [r.id for r in recs if r.votes >= 0][self.max_insights:]
        if gone:
            self.store.delete(gone)
        return gone


def _union(a: list[str], b: list[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))
