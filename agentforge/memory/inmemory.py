"""``InMemoryMemory``: numpy brute-force cosine search, optionally saved to a folder.

Exact search (a matrix-vector product over all stored vectors), so results are the true
top-k; fast enough for a few hundred thousand records. With ``path`` the store is loaded from
and saved to ``path/records.jsonl`` + ``path/vectors.npy`` + ``path/meta.json`` (rewritten
atomically after every change, so keep persistent in-memory stores small).
"""

from __future__ import annotations

import builtins
import json
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from agentforge.core.errors import DataFormatError, UserError
from agentforge.core.errors import RecordNotFoundError
from agentforge.memory.base import MemoryStore, check_embedder, check_kind, default_embedder
from agentforge.memory.embeddings import EmbedderLike
from agentforge.memory.filters import matches, parse_where
from agentforge.memory.records import RECORD_KINDS, MemoryRecord, SearchHit

_KIND_CODE = {kind: code for code, kind in enumerate(RECORD_KINDS)}


class InMemoryMemory(MemoryStore):
    """A process-local store; vectors in one growing float32 matrix.

    Args:
        path: optional folder to load from (if it holds a saved store) and save to after every
            change; None keeps everything in memory only.
        embedder: embedder for texts (default: the shared local all-MiniLM-L6-v2 ``Embedder``).

    Raises:
        UserError: if ``path`` holds a store saved with an embedding model of another dimension.
        DataFormatError: if the saved files are corrupt.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, embedder: EmbedderLike | None = None):
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path))) if path is not None else None
        if self.path is not None and os.path.exists(self.path) and not os.path.isdir(self.path):
            raise UserError(f"memory path {self.path!r} is a file, not a folder")
        self.embedder = embedder if embedder is not None else default_embedder()
        self._lock = threading.RLock()
        self._records: dict[str, MemoryRecord] = {}  # insertion-ordered
        self._row: dict[str, int] = {}
        self._ids: builtins.list[str] = []
        self._vecs = np.zeros((0, 0), dtype=np.float32)
        self._kinds = np.zeros(0, dtype=np.int8)
        self._ns_code: dict[str, int] = {}
        self._nss = np.zeros(0, dtype=np.int32)
        self._loaded = False

    # -- storage ------------------------------------------------------------------------------

    def _ensure(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            dim = self.embedder.dim
            self._vecs = np.zeros((64, dim), dtype=np.float32)
            self._kinds = np.zeros(64, dtype=np.int8)
            self._nss = np.zeros(64, dtype=np.int32)
            if self.path and os.path.exists(os.path.join(self.path, "meta.json")):
                self._load()
            self._loaded = True

    def _load(self) -> None:
        assert self.path is not None
        with open(os.path.join(self.path, "meta.json"), encoding="utf-8") as handle:
            meta = json.load(handle)
        check_embedder(meta.get("embedder"), meta.get("dim"), self.embedder, f"in-memory store at {self.path}")
        records = []
        records_path = os.path.join(self.path, "records.jsonl")
        with open(records_path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    records.append(MemoryRecord.model_validate_json(line))
                except ValueError as exc:
                    raise DataFormatError(records_path, number, f"not a valid memory record: {exc}") from None
        vectors = np.load(os.path.join(self.path, "vectors.npy"))
        if vectors.shape != (len(records), self.embedder.dim):
            expected = (len(records), self.embedder.dim)
            raise DataFormatError(self.path, None, f"vectors.npy has shape {vectors.shape}, expected {expected}")
        self._insert(records, vectors)

    def _save(self) -> None:
        if self.path is None:
            return
        os.makedirs(self.path, exist_ok=True)
        n = len(self._ids)
        tmp = f".tmp-{os.getpid()}-{threading.get_ident()}"
        files = {
            "records.jsonl": lambda h: h.writelines(self._records[i].model_dump_json() + "\n" for i in self._ids),
            "meta.json": lambda h: json.dump({"embedder": self.embedder.name, "dim": self.embedder.dim}, h),
        }
        for name, write in files.items():
            with open(os.path.join(self.path, name + tmp), "w", encoding="utf-8") as handle:
                write(handle)
        with open(os.path.join(self.path, "vectors.npy" + tmp), "wb") as handle:
            np.save(handle, self._vecs[:n])
        for name in ("records.jsonl", "vectors.npy", "meta.json"):  # meta last: marks a complete save
            os.replace(os.path.join(self.path, name + tmp), os.path.join(self.path, name))

    def _grow(self, need: int) -> None:
        capacity = self._vecs.shape[0]
        if need <= capacity:
            return
        capacity = max(need, capacity * 2)
        vecs = np.zeros((capacity, self._vecs.shape[1]), dtype=np.float32)
        vecs[: len(self._ids)] = self._vecs[: len(self._ids)]
        self._vecs = vecs
        self._kinds = np.resize(self._kinds, capacity)
        self._nss = np.resize(self._nss, capacity)

    def _insert(self, records: builtins.list[MemoryRecord], vectors: np.ndarray) -> None:
        start = len(self._ids)
        self._grow(start + len(records))
        self._vecs[start : start + len(records)] = vectors
        for offset, record in enumerate(records):
            row = start + offset
            self._records[record.id] = record.model_copy(deep=True)
            self._row[record.id] = row
            self._ids.append(record.id)
            self._kinds[row] = _KIND_CODE[record.kind]
            self._nss[row] = self._ns_code.setdefault(record.namespace, len(self._ns_code))

    def _existing(self, ids: builtins.list[str]) -> set[str]:
        self._ensure()
        return {i for i in ids if i in self._records}

    # -- MemoryStore --------------------------------------------------------------------------

    def add(self, records: Iterable[MemoryRecord], embeddings: np.ndarray | None = None) -> builtins.list[str]:
        """Store new records (see :meth:`MemoryStore.add`); existing ids are left unchanged."""
        ids, new, rows = self._new_records(records, embeddings)
        if not new:
            return ids
        vectors = self._vectors([r.text for r in new], rows)
        with self._lock:
            keep = [i for i, r in enumerate(new) if r.id not in self._records]
            self._insert([new[i] for i in keep], vectors[keep])
            self._save()
        return ids

    def get(self, id: str) -> MemoryRecord | None:
        """Return (a copy of) the record with this id, or None."""
        self._ensure()
        record = self._records.get(id)
        return record.model_copy(deep=True) if record is not None else None

    def _mask(self, n: int, kind: str | None, namespace: str | None) -> np.ndarray | None:
        check_kind(kind)
        mask = None
        if kind is not None:
            mask = self._kinds[:n] == _KIND_CODE[kind]
        if namespace is not None:
            code = self._ns_code.get(namespace, -1)
            ns_mask = self._nss[:n] == code
            mask = ns_mask if mask is None else mask & ns_mask
        return mask

    def _search(
        self, vector: np.ndarray, k: int, kind: str | None, namespace: str | None, where: Mapping[str, Any] | None
    ) -> builtins.list[SearchHit]:
        """Exact top-k by cosine similarity (see :meth:`MemoryStore.search`)."""
        conditions = parse_where(where)
        self._ensure()
        with self._lock:
            n = len(self._ids)
            sims = self._vecs[:n] @ vector
            mask = self._mask(n, kind, namespace)
            rows = np.flatnonzero(mask) if mask is not None else np.arange(n)
            if not conditions and len(rows) > k:
                top = rows[np.argpartition(-sims[rows], k - 1)[:k]]
                order = top[np.argsort(-sims[top], kind="stable")]
            else:
                order = rows[np.argsort(-sims[rows], kind="stable")]
            hits: builtins.list[SearchHit] = []
            for row in order:
                record = self._records[self._ids[row]]
                if conditions and not matches(record.metadata, conditions):
                    continue
                hits.append(SearchHit(record=record.model_copy(deep=True), similarity=float(sims[row])))
                if len(hits) == k:
                    break
        return hits

    def update(self, record: MemoryRecord) -> None:
        """Replace the record with ``record.id`` (re-embeds only if the text changed).

        Raises:
            RecordNotFoundError: if the id is not stored.
        """
        self._ensure()
        with self._lock:
            old = self._records.get(record.id)
            if old is None:
                raise RecordNotFoundError(f"no memory record with id {record.id!r} in this in-memory store")
            row = self._row[record.id]
            if old.text != record.text:
                self._vecs[row] = self._vectors([record.text])[0]
            self._records[record.id] = record.model_copy(deep=True)
            self._kinds[row] = _KIND_CODE[record.kind]
            self._nss[row] = self._ns_code.setdefault(record.namespace, len(self._ns_code))
            self._save()

    def delete(self, ids: str | Iterable[str]) -> int:
        """Delete records by id; unknown ids are ignored. Returns how many were deleted."""
        ids = [ids] if isinstance(ids, str) else builtins.list(dict.fromkeys(ids))
        self._ensure()
        deleted = 0
        with self._lock:
            for id in ids:
                row = self._row.pop(id, None)
                if row is None:
                    continue
                del self._records[id]
                last = len(self._ids) - 1
                if row != last:  # move the last row into the hole
                    moved = self._ids[last]
                    self._ids[row] = moved
                    self._row[moved] = row
                    self._vecs[row] = self._vecs[last]
                    self._kinds[row] = self._kinds[last]
                    self._nss[row] = self._nss[last]
                self._ids.pop()
                deleted += 1
            if deleted:
                self._save()
        return deleted

    def count(self, kind: str | None = None, namespace: str | None = None) -> int:
        """Number of records, optionally of one kind and/or namespace."""
        self._ensure()
        with self._lock:
            mask = self._mask(len(self._ids), kind, namespace)
            return len(self._ids) if mask is None else int(mask.sum())

    def _list(
        self, kind: str | None, namespace: str | None, limit: int | None, where: Mapping[str, Any] | None
    ) -> builtins.list[MemoryRecord]:
        """Records matching the filters in insertion order, at most ``limit``."""
        conditions = parse_where(where)
        self._ensure()
        out: builtins.list[MemoryRecord] = []
        with self._lock:
            for record in self._records.values():
                if limit is not None and len(out) >= limit:
                    break
                if kind is not None and record.kind != kind:
                    continue
                if namespace is not None and record.namespace != namespace:
                    continue
                if conditions and not matches(record.metadata, conditions):
                    continue
                out.append(record.model_copy(deep=True))
        return out

    def __repr__(self) -> str:
        return f"InMemoryMemory(path={self.path!r}, n={len(self._ids)}, embedder={self.embedder!r})"
