"""Deterministic record ids and small text helpers shared by the learning modules.

Learning writes use ids derived from (namespace, kind, episode key, extra), so re-running an
episode after a crash (``kill -9`` between the memory write and the results line) rewrites the
same records instead of duplicating them: ``MemoryStore.add`` is idempotent by id.
"""

from __future__ import annotations

import hashlib


def record_id(namespace: str, kind: str, key: str, extra: str = "") -> str:
    """A 32-hex-char id stable for the same (namespace, kind, key, extra)."""
    return hashlib.sha256(f"{namespace}\x1f{kind}\x1f{key}\x1f{extra}".encode()).hexdigest()[:32]


def gist(text: str, max_chars: int = 800) -> str:
    """The text trimmed to ``max_chars`` characters (head and tail kept, middle elided)."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half].rstrip() + "\n[...]\n" + text[-half:].lstrip()
