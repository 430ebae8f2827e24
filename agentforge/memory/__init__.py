"""Agent memory: records, embedders, the ``MemoryStore`` contract and its backends.

Quick start::

    from agentforge.memory import MemoryRecord, open_memory

    memory = open_memory("chroma:///tmp/agentforge-mem")      # or memory://, qdrant:///path
    memory.add([MemoryRecord(kind="reflection", namespace="gsm8k", text="Check units first.")])
    hits = memory.search("unit conversion mistakes", k=3, namespace="gsm8k")

Backends: :class:`ChromaMemory` (default, embedded and persistent), :class:`InMemoryMemory`
(numpy, optionally saved to a folder), :class:`QdrantMemory` (local folder or server). The
Chroma and Qdrant clients are imported on first use only. ``MemoryBaseStore`` (in
``agentforge.memory.langgraph_store``) exposes any store as a LangGraph ``BaseStore``.
"""

from __future__ import annotations

from typing import Any

from agentforge.core.errors import RecordNotFoundError
from agentforge.memory.base import MemoryStore, default_embedder
from agentforge.memory.chroma import ChromaMemory
from agentforge.memory.embeddings import DEFAULT_MODEL, Embedder, EmbedderLike, HashEmbedder
from agentforge.memory.inmemory import InMemoryMemory
from agentforge.memory.qdrant import QdrantMemory
from agentforge.memory.records import RECORD_KINDS, MemoryRecord, RecordKind, SearchHit
from agentforge.memory.registry import available_backends, open_memory

__all__ = [
    "DEFAULT_MODEL",
    "RECORD_KINDS",
    "ChromaMemory",
    "Embedder",
    "EmbedderLike",
    "HashEmbedder",
    "InMemoryMemory",
    "MemoryBaseStore",
    "MemoryRecord",
    "MemoryStore",
    "QdrantMemory",
    "RecordKind",
    "RecordNotFoundError",
    "SearchHit",
    "available_backends",
    "default_embedder",
    "open_memory",
]


def __getattr__(name: str) -> Any:
    if name == "MemoryBaseStore":  # imports langgraph; only when asked for
        from agentforge.memory.langgraph_store import MemoryBaseStore

        return MemoryBaseStore
    raise AttributeError(f"module 'agentforge.memory' has no attribute {name!r}")
