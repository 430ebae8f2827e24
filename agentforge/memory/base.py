"""The :class:`MemoryStore` contract every backend implements, plus shared helpers.

Backends implement the abstract methods; JSONL export/import, ``namespaces`` and the
context-manager protocol are shared here. ``agentforge.memory.conformance`` is the suite every
backend must pass (a third-party backend subclasses ``MemoryStoreConformance`` in its tests).
"""

from __future__ import annotations

import builtins
import json
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from agentforge.core.datafiles import iter_lines, parse_json
from agentforge.core.errors import DataFormatError, RecordNotFoundError, UserError
from agentforge.memory.embeddings import Embedder, EmbedderLike
from agentforge.memory.filters import parse_where
from agentforge.memory.records import RECORD_KINDS, MemoryRecord, SearchHit

_DEFAULT_EMBEDDER: Embedder | None = None



def default_embedder() -> Embedder:
    """The process-wide default :class:`Embedder` (local all-MiniLM-L6-v2), created once."""
    global _DEFAULT_EMBEDDER
    if _DEFAULT_EMBEDDER is None:
        _DEFAULT_EMBEDDER = Embedder()
    return _DEFAULT_EMBEDDER


def check_embedder(stored_name: str | None, stored_dim: int | None, embedder: EmbedderLike, where: str) -> None:
    """Compare the model a store was built with against the one it is opened with.

    Raises:
        UserError: if the dimensions differ (names both models and both dims).

    Warns (``UserWarning``) when only the names differ: the vectors have the right size but
    may come from another model, so similarities would be meaningless.
    """
    if stored_dim is not None and int(stored_dim) != embedder.dim:
        raise UserError(
            f"{where} was created with embedding model {stored_name!r} (dim {stored_dim}) but is "
            f"opened with {embedder.name!r} (dim {embedder.dim}); open it with the same model, or "
            f"export_jsonl() the records and import_jsonl() them into a new store"
        )
    if stored_name is not None and stored_name != embedder.name:
        warnings.warn(
            f"{where} was created with embedding model {stored_name!r} but is opened with "
            f"{embedder.name!r} (same dim {embedder.dim}); similarities may be meaningless",
            UserWarning,
            stacklevel=3,
        )


def check_kind(kind: str | None) -> None:
    """Raise UserError for a kind filter that is not one of ``RECORD_KINDS``."""
    if kind is not None and kind not in RECORD_KINDS:
        raise UserError(f"unknown memory kind {kind!r}; valid kinds: {', '.join(RECORD_KINDS)}")


class MemoryStore(ABC):
    """A persistent set of :class:`MemoryRecord` searchable by text similarity.

    Every backend stores, per record, the record itself and its embedding (computed by
    ``self.embedder`` from ``record.text``). Similarity is cosine. All methods are safe to call
    from several threads. Ids are unique: adding a record whose id is already stored is a no-op.

    Attributes:
        embedder: the :class:`~agentforge.memory.embeddings.EmbedderLike` used for records and
            text queries.
    """

    embedder: EmbedderLike

    # -- abstract contract -------------------------------------------------------------------

    @abstractmethod
    def add(self, records: Iterable[MemoryRecord], embeddings: np.ndarray | None = None) -> list[str]:
        """Store new records.

        Args:
            records: records to store. A record whose id is already stored (or repeated earlier
                in the same call) is skipped: nothing is updated, nothing duplicated.
            embeddings: optional precomputed ``(n, dim)`` vectors, one row per record in order
                (rows are L2-normalized before storing); default: ``embedder.embed(texts)``.

        Returns:
            The ids of all the given records, in order (stored before or now).

        Raises:
            UserError: if an item is not a MemoryRecord or ``embeddings`` has the wrong shape;
                or if the store's embedding dim differs from the embedder's.
        """

    @abstractmethod
    def get(self, id: str) -> MemoryRecord | None:
        """Return the record with this id, or None when there is none."""

    def search(
        self,
        query: str | np.ndarray,
        k: int = 5,
        kind: str | None = None,
        namespace: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """Return up to ``k`` records most similar to ``query``, highest similarity first.

        Args:
            query: text (embedded with ``self.embedder``) or a ``(dim,)`` vector.
            k: maximum number of hits (>= 1).
            kind: only records of this kind (``experience``, ``reflection``, ``insight``).
            namespace: only records of this namespace.
            where: metadata filter, see :mod:`agentforge.memory.filters`.

        Raises:
            UserError: for k < 1, an unknown kind, a bad filter, or a vector of the wrong size.
        """
        if k < 1:
            raise UserError(f"k must be >= 1, got {k}")
        check_kind(kind)
        parse_where(where)
        return self._search(self._query_vector(query), k, kind, namespace, where)

    @abstractmethod
    def _search(
        self, vector: np.ndarray, k: int, kind: str | None, namespace: str | None, where: Mapping[str, Any] | None
    ) -> list[SearchHit]:
        """The backend's nearest-neighbour query: ``vector`` is the unit ``(dim,)`` query and the
        other arguments are already validated by ``search``; hits sorted by similarity, best first."""

    @abstractmethod
    def update(self, record: MemoryRecord) -> None:
        """Replace the stored record that has ``record.id`` (re-embedding if the text changed).

        Raises:
            RecordNotFoundError: if no record has that id.
        """

    @abstractmethod
    def delete(self, ids: str | Iterable[str]) -> int:
        """Delete records by id (unknown ids are ignored); return how many were deleted."""

    @abstractmethod
    def count(self, kind: str | None = None, namespace: str | None = None) -> int:
        """Number of stored records, optionally of one kind and/or one namespace."""

    def list(
        self,
        kind: str | None = None,
        namespace: str | None = None,
        limit: int | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> builtins.list[MemoryRecord]:
        """Stored records matching the filters, at most ``limit`` (None: all; < 1: none).

        The order is the backend's (insertion order for in-memory and Chroma); sort the result
        if you need one.

        Raises:
            UserError: an unknown kind or a bad filter.
        """
        check_kind(kind)
        parse_where(where)
        if limit is not None and limit < 1:
            return []
        return self._list(kind, namespace, limit, where)

    @abstractmethod
    def _list(
        self, kind: str | None, namespace: str | None, limit: int | None, where: Mapping[str, Any] | None
    ) -> builtins.list[MemoryRecord]:
        """The backend's listing; arguments already validated by ``list`` (``limit`` None or >= 1)."""

    def close(self) -> None:
        """Release the backend's files or connections (the store is unusable afterwards)."""

    # -- shared behaviour --------------------------------------------------------------------

    def namespaces(self) -> builtins.list[str]:
        """Sorted distinct namespaces present in the store."""
        return sorted({record.namespace for record in self.list()})

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write every record as one JSON line (``MemoryRecord`` fields, no vectors).

        Returns the number of records written. The file is written atomically (temp + rename).
        """
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        records = self.list()
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(record.model_dump_json() + "\n")
        os.replace(tmp, path)
        return len(records)

    def import_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Add the records of a JSONL file written by :meth:`export_jsonl` (re-embedding texts).

        The whole file is parsed before anything is stored, so a bad file changes nothing.
        Blank lines are skipped; ids already stored are skipped (see :meth:`add`).

        Returns:
            The number of records that were new to this store.

        Raises:
            DataFormatError: naming the file and 1-based line of the first malformed record
                (invalid or too deeply nested JSON, bytes that are not UTF-8).
            UserError: the file does not exist or is a folder.
        """
        path = os.fspath(path)
        records: builtins.list[MemoryRecord] = []
        for number, line in iter_lines(path, "memory export"):
            try:
                records.append(MemoryRecord.model_validate(parse_json(line, path, number)))
            except ValidationError as exc:
                problem = "; ".join(
                    f"{'.'.join(map(str, err['loc'])) or 'line'}: {err['msg']}" for err in exc.errors()
                )
                raise DataFormatError(path, number, f"not a valid memory record ({problem})") from None
        unique = builtins.list(dict.fromkeys(record.id for record in records))
        before = len(self._existing(unique)) if unique else 0
        self.add(records)
        return len(unique) - before

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers for backends ----------------------------------------------------------------

    def _existing(self, ids: builtins.list[str]) -> set[str]:
        """The subset of ``ids`` already stored (backends override with a bulk lookup)."""
        return {i for i in ids if self.get(i) is not None}

    def _new_records(
        self, records: Iterable[MemoryRecord], embeddings: np.ndarray | None
    ) -> tuple[builtins.list[str], builtins.list[MemoryRecord], np.ndarray | None]:
        """Validate an ``add`` call; drop records already stored (see ``_existing``) or repeated.

        Returns (all ids in order, new records, their embedding rows or None).
        """
        records = builtins.list(records)
        for item in records:
            if not isinstance(item, MemoryRecord):
                raise UserError(f"add() takes MemoryRecord objects, got {type(item).__name__}")
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=np.float32)
            if embeddings.ndim != 2 or embeddings.shape[0] != len(records):
                raise UserError(
                    f"embeddings must have shape ({len(records)}, {self.embedder.dim}), got {embeddings.shape}"
                )
        ids = [r.id for r in records]
        stored = self._existing(builtins.list(dict.fromkeys(ids))) if records else set()
        seen: set[str] = set(stored)
        keep: builtins.list[int] = []
        for index, record in enumerate(records):
            if record.id not in seen:
                seen.add(record.id)
                keep.append(index)
        new = [records[i] for i in keep]
        rows = embeddings[keep] if embeddings is not None else None
        return ids, new, rows

    def _vectors(self, texts: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """Embed ``texts`` (or normalize precomputed ``rows``); check the dim. Returns (n, dim) float32."""
        vectors = self.embedder.embed(builtins.list(texts)) if rows is None else rows
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or (len(texts) and vectors.shape[1] != self.embedder.dim):
            raise UserError(f"embedding vectors must have shape (n, {self.embedder.dim}), got {vectors.shape}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms

    def _query_vector(self, query: str | np.ndarray) -> np.ndarray:
        """Turn a search query (text or vector) into a unit ``(dim,)`` float32 vector."""
        if isinstance(query, str):
            if not query.strip():
                raise UserError("search query is empty")
            return self._vectors([query])[0]
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.embedder.dim:
            raise UserError(f"query vector has dim {vector.shape[0]}, the store's embedder has dim {self.embedder.dim}")
        return self._vectors([""], vector[None, :])[0]


def dump_json(value: Any) -> str:
    """Compact JSON used to store lists/dicts in backends with scalar-only metadata."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
