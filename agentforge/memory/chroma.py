"""``ChromaMemory``: the default backend, an embedded persistent Chroma collection.

Vectors are computed by our own embedder and handed to Chroma (``embeddings=`` on add,
``query_embeddings=`` on query); collections are opened with ``embedding_function=None`` so
Chroma's default ONNX embedding function (which downloads a model) is never used.

Layout of one Chroma entry: ``document`` = record text; metadata = ``af_kind``,
``af_namespace``, ``af_created_at`` (ISO), ``af_provenance`` (JSON list), ``af_votes``,
``af_score`` (absent when None), ``af_json`` (JSON list of metadata keys stored as JSON
strings) and every user metadata key prefixed with ``m.``. The collection metadata holds
``af_embedder`` and ``af_dim`` to detect a model change on reopen.
"""

from __future__ import annotations

import builtins
import json
import os
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from agentforge.core.errors import RecordNotFoundError, UserError
from agentforge.core.extras import require
from agentforge.core.settings import offline_env, settings
from agentforge.memory.base import (
    MemoryStore,
    check_embedder,
    check_kind,
    default_embedder,
    dump_json,
)
from agentforge.memory.embeddings import EmbedderLike
from agentforge.memory.filters import parse_where
from agentforge.memory.records import MemoryRecord, SearchHit, decode_metadata, encode_metadata

def default_path() -> str:
    """``$AGENTFORGE_HOME/memory/chroma`` (default ``~/.cache/agentforge/memory/chroma``)."""
    return str(settings().home_dir / "memory" / "chroma")
"""Where ``ChromaMemory()`` persists when no path is given (``~`` is expanded)."""

_USER = "m."


def _to_chroma(record: MemoryRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "af_kind": record.kind,
        "af_namespace": record.namespace,
        "af_created_at": record.created_at.isoformat(),
        "af_provenance": dump_json(record.provenance),
        "af_votes": record.votes,
    }
    if record.score is not None:
        meta["af_score"] = float(record.score)
    flat, json_keys = encode_metadata(record.metadata)
    meta.update({_USER + key: value for key, value in flat.items()})
    if json_keys:
        meta["af_json"] = dump_json(json_keys)
    return meta


def _from_chroma(id: str, text: str, meta: Mapping[str, Any]) -> MemoryRecord:
    flat = {key[len(_USER) :]: value for key, value in meta.items() if key.startswith(_USER)}
    metadata = decode_metadata(flat, json.loads(meta.get("af_json", "[]")))
    return MemoryRecord(
        id=id,
        kind=meta["af_kind"],
        namespace=meta["af_namespace"],
        text=text,
        metadata=metadata,
        created_at=datetime.fromisoformat(meta["af_created_at"]),
        provenance=json.loads(meta.get("af_provenance", "[]")),
        score=meta.get("af_score"),
        votes=int(meta.get("af_votes", 0)),
    )


def chroma_where(kind: str | None, namespace: str | None, where: Mapping[str, Any] | None) -> dict | None:
    """Translate our filters to a Chroma ``where`` dict (None when there is no filter)."""
    check_kind(kind)
    clauses: list[dict[str, Any]] = []
    if kind is not None:
        clauses.append({"af_kind": kind})
    if namespace is not None:
        clauses.append({"af_namespace": namespace})
    for cond in parse_where(where):
        clauses.append({_USER + cond.key: {cond.op: cond.value}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaMemory(MemoryStore):
    """Memory in an embedded, persistent Chroma database.

    Args:
        path: folder of the Chroma database (created if missing); default ``$AGENTFORGE_HOME/memory/chroma``.
        embedder: embedder for texts (default: the shared local all-MiniLM-L6-v2 ``Embedder``).
        collection: collection name (3-512 chars of ``[a-zA-Z0-9._-]``), default ``"agentforge"``.
        client: an existing ``chromadb`` client to use instead of opening ``path`` (e.g. an
            ``HttpClient``); telemetry is then the client's business.

    The collection is opened lazily (first call), with cosine distance. Writes are serialized
    by a lock; Chroma itself handles concurrent reads.

    Raises:
        UserError: (on first use) if the collection was created with an embedding model of
            another dimension; the message names both models and dims.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        embedder: EmbedderLike | None = None,
        *,
        collection: str = "agentforge",
        client: Any = None,
    ):
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path if path is not None else default_path())))
        self.embedder = embedder if embedder is not None else default_embedder()
        self.collection_name = collection
        self._client = client
        self._collection: Any = None
        self._lock = threading.RLock()

    def _col(self) -> Any:
        if self._collection is not None:
            return self._collection
        with self._lock:
            if self._collection is None:
                offline_env("chroma")
                chromadb = require("chromadb", "memory", "the Chroma memory backend")
                from chromadb.config import Settings
                from chromadb.errors import NotFoundError

                if self._client is None:
                    os.makedirs(self.path, exist_ok=True)
                    settings = Settings(anonymized_telemetry=False, allow_reset=False)
                    self._client = chromadb.PersistentClient(path=self.path, settings=settings)
                try:
                    col = self._client.get_collection(self.collection_name, embedding_function=None)
                except (NotFoundError, ValueError):
                    meta = {"af_embedder": self.embedder.name, "af_dim": self.embedder.dim, "hnsw:space": "cosine"}
                    col = self._client.get_or_create_collection(
                        self.collection_name, metadata=meta, embedding_function=None
                    )
                meta = col.metadata or {}
                where = f"Chroma collection {self.collection_name!r} at {self.path}"
                check_embedder(meta.get("af_embedder"), meta.get("af_dim"), self.embedder, where)
                self._collection = col
        return self._collection

    def _existing(self, ids: builtins.list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 5000):
            found.update(self._col().get(ids=ids[start : start + 5000], include=[])["ids"])
        return found

    def add(self, records: Iterable[MemoryRecord], embeddings: np.ndarray | None = None) -> builtins.list[str]:
        """Store new records (see :meth:`MemoryStore.add`); existing ids are left unchanged."""
        ids, new, rows = self._new_records(records, embeddings)
        if not new:
            return ids
        vectors = self._vectors([r.text for r in new], rows)
        col = self._col()
        with self._lock:
            stored = self._existing([r.id for r in new])  # another thread may have won the race
            keep = [i for i, r in enumerate(new) if r.id not in stored]
            batch = self._client.get_max_batch_size()
            for start in range(0, len(keep), batch):
                part = keep[start : start + batch]
                col.add(
                    ids=[new[i].id for i in part],
                    embeddings=vectors[part],
                    documents=[new[i].text for i in part],
                    metadatas=[_to_chroma(new[i]) for i in part],
                )
        return ids

    def get(self, id: str) -> MemoryRecord | None:
        """Return the record with this id, or None."""
        got = self._col().get(ids=[id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        return _from_chroma(got["ids"][0], got["documents"][0], got["metadatas"][0])

    def _search(
        self, vector: np.ndarray, k: int, kind: str | None, namespace: str | None, where: Mapping[str, Any] | None
    ) -> builtins.list[SearchHit]:
        """Nearest records by cosine similarity (see :meth:`MemoryStore.search`)."""
        flt = chroma_where(kind, namespace, where)
        col = self._col()
        res = col.query(
            query_embeddings=vector[None, :], n_results=k, where=flt, include=["documents", "metadatas", "distances"]
        )
        hits = [
            SearchHit(record=_from_chroma(i, doc, meta), similarity=1.0 - float(dist))
            for i, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        ]
        return sorted(hits, key=lambda h: -h.similarity)

    def update(self, record: MemoryRecord) -> None:
        """Replace the record with ``record.id`` (re-embeds only if the text changed).

        Raises:
            RecordNotFoundError: if the id is not stored.
        """
        col = self._col()
        with self._lock:
            got = col.get(ids=[record.id], include=["documents", "embeddings"])
            if not got["ids"]:
                raise RecordNotFoundError(f"no memory record with id {record.id!r} in {self.collection_name!r}")
            if got["documents"][0] == record.text:
                vector = np.asarray(got["embeddings"], dtype=np.float32)
            else:
                vector = self._vectors([record.text])
            # delete + add rather than col.update: Chroma merges metadata on update, and a
            # metadata key removed from the record must disappear from the store.
            col.delete(ids=[record.id])
            col.add(ids=[record.id], embeddings=vector, documents=[record.text], metadatas=[_to_chroma(record)])

    def delete(self, ids: str | Iterable[str]) -> int:
        """Delete records by id; unknown ids are ignored. Returns how many were deleted."""
        ids = [ids] if isinstance(ids, str) else builtins.list(dict.fromkeys(ids))
        if not ids:
            return 0
        col = self._col()
        with self._lock:
            present = builtins.list(self._existing(ids))
            if present:
                col.delete(ids=present)
        return len(present)

    def count(self, kind: str | None = None, namespace: str | None = None) -> int:
        """Number of records, optionally of one kind and/or namespace."""
        flt = chroma_where(kind, namespace, None)
        col = self._col()
        if flt is None:
            return col.count()
        return len(col.get(where=flt, include=[])["ids"])

    def _list(
        self, kind: str | None, namespace: str | None, limit: int | None, where: Mapping[str, Any] | None
    ) -> builtins.list[MemoryRecord]:
        """Records matching the filters (Chroma's order), at most ``limit``."""
        flt = chroma_where(kind, namespace, where)
        got = self._col().get(where=flt, limit=limit, include=["documents", "metadatas"])
        return [_from_chroma(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def close(self) -> None:
        """Drop the collection handle (Chroma's embedded client has no explicit close)."""
        with self._lock:
            self._collection = None

    def __repr__(self) -> str:
        return f"ChromaMemory(path={self.path!r}, collection={self.collection_name!r}, embedder={self.embedder!r})"
