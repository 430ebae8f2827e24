"""``QdrantMemory``: memory in Qdrant, local on-disk mode (``path``) or a server (``url``).

Qdrant point ids must be UUIDs or integers, so each record is stored under
``uuid5(AGENTFORGE_NS, record.id)`` with the record's own id in the payload. Payload fields:
``id``, ``kind``, ``namespace``, ``text``, ``created_at`` (ISO), ``provenance``, ``score``,
``votes``, ``metadata`` (lists/dicts as JSON strings, see ``af_json``). The collection metadata
holds ``af_embedder`` and ``af_dim``.
"""

from __future__ import annotations

import builtins
import os
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from agentforge.core.errors import RecordNotFoundError, UserError
from agentforge.core.extras import require
from agentforge.core.settings import settings
from agentforge.memory.base import MemoryStore, check_embedder, check_kind, default_embedder
from agentforge.memory.embeddings import EmbedderLike
from agentforge.memory.filters import parse_where
from agentforge.memory.records import MemoryRecord, SearchHit, decode_metadata, encode_metadata

def default_path() -> str:
    """``$AGENTFORGE_HOME/memory/qdrant`` (default ``~/.cache/agentforge/memory/qdrant``)."""
    return str(settings().home_dir / "memory" / "qdrant")
"""Where ``QdrantMemory()`` stores data when neither path nor url is given."""

_NS = uuid.UUID("6f1c1d0e-5b7a-4c3e-9f2a-0a9d8e7c6b5a")


def point_id(record_id: str) -> str:
    """The Qdrant point id (a UUID string) for a record id."""
    return str(uuid.uuid5(_NS, record_id))


def _payload(record: MemoryRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    data["metadata"], json_keys = encode_metadata(record.metadata)
    data["af_json"] = json_keys
    return data


def _record(payload: Mapping[str, Any]) -> MemoryRecord:
    data = dict(payload)
    data["metadata"] = decode_metadata(data.get("metadata") or {}, data.pop("af_json", []))
    return MemoryRecord.model_validate(data)


def qdrant_filter(kind: str | None, namespace: str | None, where: Mapping[str, Any] | None) -> Any:
    """Translate our filters to a ``qdrant_client.models.Filter`` (None when there is none)."""
    from qdrant_client import models

    check_kind(kind)

    def equal(key: str, value: Any) -> Any:
        if isinstance(value, float):
            return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    must: builtins.list[Any] = []
    must_not: builtins.list[Any] = []
    if kind is not None:
        must.append(equal("kind", kind))
    if namespace is not None:
        must.append(equal("namespace", namespace))
    for key, op, value in parse_where(where):
        field = f"metadata.{key}"
        if op == "$eq":
            must.append(equal(field, value))
        elif op == "$ne":
            must_not.append(equal(field, value))
        elif op == "$in":
            must.append(models.Filter(should=[equal(field, v) for v in value]))
        elif op == "$nin":
            must_not.extend(equal(field, v) for v in value)
        else:
            bound = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}[op]
            must.append(models.FieldCondition(key=field, range=models.Range(**{bound: value})))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


class QdrantMemory(MemoryStore):
    """Memory in a Qdrant collection (cosine distance).

    Args:
        path: folder for Qdrant's local mode (no server; one process at a time may open it);
            default ``$AGENTFORGE_HOME/memory/qdrant`` when ``url`` is not given either.
        url: a Qdrant server, e.g. ``"http://localhost:6333"`` (``path`` must then be None).
        embedder: embedder for texts (default: the shared local all-MiniLM-L6-v2 ``Embedder``).
        collection: collection name, default ``"agentforge"``.
        api_key: server API key (default: env ``QDRANT_API_KEY``); never logged.

    Every call takes a lock: local mode is not thread-safe.

    Raises:
        UserError: if both path and url are given; (on first use) if the collection was
            created with an embedding model of another dimension (names both).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        embedder: EmbedderLike | None = None,
        *,
        collection: str = "agentforge",
        api_key: str | None = None,
    ):
        if path is not None and url is not None:
            raise UserError("QdrantMemory takes a path (local mode) or a url (server), not both")
        self.url = url
        self.path = None if url else os.path.abspath(os.path.expanduser(os.fspath(path or default_path())))
        self.embedder = embedder if embedder is not None else default_embedder()
        self.collection_name = collection
        self._api_key = api_key if api_key is not None else os.environ.get("QDRANT_API_KEY")
        self._client: Any = None
        self._lock = threading.RLock()

    def _qc(self) -> Any:
        """The client, with the collection created/validated (call under the lock)."""
        if self._client is not None:
            return self._client
        require("qdrant_client", "qdrant", "the Qdrant memory backend")
        from qdrant_client import QdrantClient, models

        if self.url:
            client = QdrantClient(url=self.url, api_key=self._api_key)
        else:
            os.makedirs(self.path, exist_ok=True)
            client = QdrantClient(path=self.path)
        name = self.collection_name
        if not client.collection_exists(name):
            client.create_collection(
                name,
                vectors_config=models.VectorParams(size=self.embedder.dim, distance=models.Distance.COSINE),
                metadata={"af_embedder": self.embedder.name, "af_dim": self.embedder.dim},
            )
        config = client.get_collection(name).config
        meta = getattr(config, "metadata", None) or {}
        vectors = config.params.vectors
        stored_dim = meta.get("af_dim", getattr(vectors, "size", None))
        where = f"Qdrant collection {name!r} at {self.url or self.path}"
        try:
            check_embedder(meta.get("af_embedder"), stored_dim, self.embedder, where)
        except UserError:
            client.close()
            raise
        self._client = client
        return client

    def _existing(self, ids: builtins.list[str]) -> set[str]:
        with self._lock:
            found = self._qc().retrieve(
                self.collection_name, ids=[point_id(i) for i in ids], with_payload=["id"], with_vectors=False
            )
        return {p.payload["id"] for p in found}

    def _upsert(self, records: builtins.list[MemoryRecord], vectors: np.ndarray) -> None:
        from qdrant_client import models

        for start in range(0, len(records), 1024):
            points = [
                models.PointStruct(id=point_id(r.id), vector=v.tolist(), payload=_payload(r))
                for r, v in zip(records[start : start + 1024], vectors[start : start + 1024])
            ]
            self._qc().upsert(self.collection_name, points=points, wait=True)

    def add(self, records: Iterable[MemoryRecord], embeddings: np.ndarray | None = None) -> builtins.list[str]:
        """Store new records (see :meth:`MemoryStore.add`); existing ids are left unchanged."""
        ids, new, rows = self._new_records(records, embeddings)
        if not new:
            return ids
        vectors = self._vectors([r.text for r in new], rows)
        with self._lock:
            stored = self._existing([r.id for r in new])
            keep = [i for i, r in enumerate(new) if r.id not in stored]
            self._upsert([new[i] for i in keep], vectors[keep])
        return ids

    def get(self, id: str) -> MemoryRecord | None:
        """Return the record with this id, or None."""
        with self._lock:
            found = self._qc().retrieve(self.collection_name, ids=[point_id(id)], with_payload=True)
        return _record(found[0].payload) if found else None

    def _search(
        self, vector: np.ndarray, k: int, kind: str | None, namespace: str | None, where: Mapping[str, Any] | None
    ) -> builtins.list[SearchHit]:
        """Nearest records by cosine similarity (see :meth:`MemoryStore.search`)."""
        flt = qdrant_filter(kind, namespace, where)
        with self._lock:
            res = self._qc().query_points(
                self.collection_name, query=vector.tolist(), limit=k, query_filter=flt, with_payload=True
            )
        hits = [SearchHit(record=_record(p.payload), similarity=float(p.score)) for p in res.points]
        return sorted(hits, key=lambda h: -h.similarity)

    def update(self, record: MemoryRecord) -> None:
        """Replace the record with ``record.id`` (re-embeds only if the text changed).

        Raises:
            RecordNotFoundError: if the id is not stored.
        """
        with self._lock:
            found = self._qc().retrieve(
                self.collection_name, ids=[point_id(record.id)], with_payload=True, with_vectors=True
            )
            if not found:
                raise RecordNotFoundError(f"no memory record with id {record.id!r} in {self.collection_name!r}")
            if found[0].payload.get("text") == record.text:
                vectors = np.asarray([found[0].vector], dtype=np.float32)
            else:
                vectors = self._vectors([record.text])
            self._upsert([record], vectors)

    def delete(self, ids: str | Iterable[str]) -> int:
        """Delete records by id; unknown ids are ignored. Returns how many were deleted."""
        from qdrant_client import models

        ids = [ids] if isinstance(ids, str) else builtins.list(dict.fromkeys(ids))
        if not ids:
            return 0
        with self._lock:
            present = builtins.list(self._existing(ids))
            if present:
                selector = models.PointIdsList(points=[point_id(i) for i in present])
                self._qc().delete(self.collection_name, points_selector=selector, wait=True)
        return len(present)

    def count(self, kind: str | None = None, namespace: str | None = None) -> int:
        """Number of records, optionally of one kind and/or namespace."""
        flt = qdrant_filter(kind, namespace, None)
        with self._lock:
            return self._qc().count(self.collection_name, count_filter=flt, exact=True).count

    def _list(
        self, kind: str | None, namespace: str | None, limit: int | None, where: Mapping[str, Any] | None
    ) -> builtins.list[MemoryRecord]:
        """Records matching the filters (Qdrant's point-id order), at most ``limit``."""
        flt = qdrant_filter(kind, namespace, where)
        out: builtins.list[MemoryRecord] = []
        offset = None
        with self._lock:
            while limit is None or len(out) < limit:
                page = 1000 if limit is None else min(1000, limit - len(out))
                points, offset = self._qc().scroll(
                    self.collection_name, scroll_filter=flt, limit=page, offset=offset, with_payload=True
                )
                out.extend(_record(p.payload) for p in points)
                if offset is None:
                    break
        return out

    def close(self) -> None:
        """Close the client (releases local mode's folder lock)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __repr__(self) -> str:
        where = f"url={self.url!r}" if self.url else f"path={self.path!r}"
        return f"QdrantMemory({where}, collection={self.collection_name!r}, embedder={self.embedder!r})"
