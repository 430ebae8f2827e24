"""``open_memory(uri)``: pick and open a memory backend from a URI.

Built-in schemes::

    chroma:///abs/path   chroma://rel/path   chroma://     (default $AGENTFORGE_HOME/memory/chroma)
    qdrant:///abs/path   qdrant://rel/path   qdrant://     (local mode; default $AGENTFORGE_HOME/memory/qdrant)
    qdrant+http://host:6333   qdrant+https://host:6333    (a Qdrant server)
    memory://            memory:///abs/path (in-memory, saved to that folder)

A query string ``?collection=name`` picks the Chroma/Qdrant collection.

Third-party backends register a factory under the entry-point group
``agentforge.memory_backends``, keyed by scheme::

    [project.entry-points."agentforge.memory_backends"]
    lancedb = "my_pkg.memory:open_lancedb"     # called as open_lancedb(uri, embedder=embedder)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import entry_points
from urllib.parse import parse_qs, urlsplit

from agentforge.core.errors import UnknownNameError, UserError
from agentforge.memory.base import MemoryStore
from agentforge.memory.chroma import ChromaMemory
from agentforge.memory.inmemory import InMemoryMemory
from agentforge.memory.qdrant import QdrantMemory
from agentforge.memory.embeddings import EmbedderLike

ENTRY_POINT_GROUP = "agentforge.memory_backends"

Factory = Callable[..., MemoryStore]


def _path_and_options(uri: str) -> tuple[str | None, dict[str, str]]:
    """``scheme:///abs`` -> ``/abs``; ``scheme://rel/p`` -> ``rel/p``; ``scheme://`` -> None."""
    parts = urlsplit(uri)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    path = (parts.netloc + parts.path) if parts.netloc else parts.path
    return (os.path.expanduser(path) if path else None), options


def _chroma(uri: str, embedder: EmbedderLike | None = None) -> MemoryStore:
    path, options = _path_and_options(uri)
    return ChromaMemory(path, embedder, collection=options.get("collection", "agentforge"))


def _qdrant(uri: str, embedder: EmbedderLike | None = None) -> MemoryStore:
    path, options = _path_and_options(uri)
    return QdrantMemory(path=path, embedder=embedder, collection=options.get("collection", "agentforge"))


def _qdrant_server(uri: str, embedder: EmbedderLike | None = None) -> MemoryStore:
    parts = urlsplit(uri)
    if not parts.netloc:
        raise UserError(f"{uri!r}: a Qdrant server URI needs a host, e.g. qdrant+http://localhost:6333")
    url = f"{parts.scheme.split('+', 1)[1]}://{parts.netloc}{parts.path.rstrip('/')}"
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return QdrantMemory(url=url, embedder=embedder, collection=options.get("collection", "agentforge"))


def _memory(uri: str, embedder: EmbedderLike | None = None) -> MemoryStore:
    path, _ = _path_and_options(uri)
    return InMemoryMemory(path, embedder)


BUILTIN_BACKENDS: dict[str, Factory] = {
    "chroma": _chroma,
    "qdrant": _qdrant,
    "qdrant+http": _qdrant_server,
    "qdrant+https": _qdrant_server,
    "memory": _memory,
}


def available_backends() -> dict[str, Factory]:
    """Scheme -> factory: the built-ins plus entry points (a built-in scheme cannot be replaced)."""
    backends: dict[str, Factory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        backends[ep.name] = ep.load  # loaded only when used
    backends.update(BUILTIN_BACKENDS)
    return backends


def open_memory(uri: str, embedder: EmbedderLike | None = None) -> MemoryStore:
    """Open the memory store a URI names (see the module docstring for the schemes).

    Args:
        uri: ``scheme://...``; the scheme is matched case-insensitively.
        embedder: embedder for the store (default: the local all-MiniLM-L6-v2 ``Embedder``).

    Returns:
        A :class:`MemoryStore` (opened lazily: files are touched on first use).

    Raises:
        UserError: if ``uri`` has no ``scheme://``.
        UnknownNameError: for a scheme no built-in or entry-point backend provides; the
            message lists the valid schemes.
    """
    if "://" not in uri:
        raise UserError(f"memory URI {uri!r} has no scheme; use e.g. chroma:///path/to/db or memory://")
    scheme = uri.split("://", 1)[0].lower()
    backends = available_backends()
    if scheme not in backends:
        raise UnknownNameError("memory backend", scheme, backends)
    factory = backends[scheme]
    if scheme not in BUILTIN_BACKENDS:
        factory = factory()  # the entry point's object
    return factory(uri, embedder=embedder)
