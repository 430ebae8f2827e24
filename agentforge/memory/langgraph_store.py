"""Expose a :class:`MemoryStore` as a LangGraph ``BaseStore`` (``langgraph.store.base``).

Mapping (LangGraph -> AgentForge):

- namespace tuple ``("gsm8k", "user1")`` <-> record namespace ``"gsm8k/user1"`` (labels may not
  contain ``/``; LangGraph already forbids ``.``).
- ``put(ns, key, value)`` stores one record with id ``lg:<json [*ns, key]>``; ``value`` is kept
  verbatim (JSON) in metadata ``lg_value``, ``key`` in ``lg_key``. The embedded text is the
  value's indexed fields (``index=[...]`` on put, else the adapter's ``fields``), falling back
  to the whole value as JSON. ``put(..., None)`` deletes.
- Records written by AgentForge itself (no ``lg_key``) are visible too: key = record id,
  value = ``{"text", "kind", "metadata", "score", "votes", "provenance"}``. So a LangGraph agent
  can ``search(("gsm8k",), query=...)`` the memories the learning layer stored.
- ``search`` with a query ranks by cosine similarity (``SearchItem.score``); ``filter``
  applies to the item value (``$eq $ne $gt $gte $lt $lte``, as LangGraph's InMemoryStore).

TTL is not supported (``supports_ttl = False``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    get_text_at_path,
    validate_op_namespace,
)

from agentforge.memory.base import MemoryStore
from agentforge.memory.records import MemoryRecord, RecordKind


def record_id(namespace: tuple[str, ...], key: str) -> str:
    """The record id the adapter uses for ``(namespace, key)``."""
    return "lg:" + json.dumps([*namespace, key], ensure_ascii=False, separators=(",", ":"))


def _compare(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        if any(str(k).startswith("$") for k in expected):
            return all(_operator(actual, op, value) for op, value in expected.items())
        return isinstance(actual, dict) and all(_compare(actual.get(k), v) for k, v in expected.items())
    return actual == expected


def _operator(actual: Any, op: str, value: Any) -> bool:
    if op == "$eq":
        return actual == value
    if op == "$ne":
        return actual != value
    try:
        a, b = float(actual), float(value)
    except (TypeError, ValueError):
        return False
    checks = {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}
    if op not in checks:
        raise ValueError(f"unsupported filter operator {op!r}; supported: $eq $ne $gt $gte $lt $lte")
    return checks[op]


def _matches_condition(namespace: tuple[str, ...], cond: MatchCondition) -> bool:
    path = tuple(cond.path)
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path) if cond.match_type == "prefix" else zip(reversed(namespace), reversed(path))
    return all(p == "*" or n == p for n, p in pairs)


class MemoryBaseStore(BaseStore):
    """A LangGraph ``BaseStore`` backed by any AgentForge :class:`MemoryStore`.

    Args:
        store: the memory store to expose.
        kind: kind given to records created through ``put`` (default ``"experience"``).
        fields: value fields embedded for search when ``put`` gets no ``index`` (LangGraph path
            syntax, e.g. ``["text", "meta.title"]``); default None embeds the whole value as JSON.

    ``batch`` runs ops in order; ``abatch`` runs ``batch`` in a worker thread.
    """

    def __init__(self, store: MemoryStore, *, kind: RecordKind = "experience", fields: Sequence[str] | None = None):
        self.store = store
        self.kind = kind
        self.fields = list(fields) if fields else None

    # -- conversions ------------------------------------------------------------------------

    @staticmethod
    def _ns_string(namespace: tuple[str, ...]) -> str:
        for label in namespace:
            if "/" in label:
                raise InvalidNamespaceError(
                    f"namespace label {label!r} contains '/', which AgentForge uses as separator"
                )
        return "/".join(namespace)

    @staticmethod
    def _item(record: MemoryRecord, score: float | None = None) -> Item:
        namespace = tuple(record.namespace.split("/"))
        meta = record.metadata
        if "lg_key" in meta:
            key, value = str(meta["lg_key"]), json.loads(str(meta["lg_value"]))
            updated = datetime.fromisoformat(str(meta.get("lg_updated_at", record.created_at.isoformat())))
        else:
            key, updated = record.id, record.created_at
            value = {
                "text": record.text,
                "kind": record.kind,
                "metadata": dict(meta),
                "score": record.score,
                "votes": record.votes,
                "provenance": list(record.provenance),
            }
        if score is None:
            return Item(value=value, key=key, namespace=namespace, created_at=record.created_at, updated_at=updated)
        return SearchItem(namespace, key, value, record.created_at, updated, score=score)

    def _text(self, value: dict[str, Any], index: list[str] | None) -> str:
        fields = index or self.fields
        if fields and fields != ["$"]:
            parts = [text for path in fields for text in get_text_at_path(value, path)]
            text = "\n".join(p for p in parts if p and p.strip())
            if text.strip():
                return text
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    # -- ops --------------------------------------------------------------------------------

    def _get(self, op: GetOp) -> Item | None:
        ns = self._ns_string(op.namespace)
        record = self.store.get(record_id(op.namespace, op.key))
        if record is None:
            record = self.store.get(op.key)
            if record is None or record.namespace != ns or "lg_key" in record.metadata:
                return None
        return self._item(record)

    def _put(self, op: PutOp) -> None:
        ns = self._ns_string(op.namespace)
        rid = record_id(op.namespace, op.key)
        if op.value is None:
            if not self.store.delete([rid]):
                native = self.store.get(op.key)
                if native is not None and native.namespace == ns and "lg_key" not in native.metadata:
                    self.store.delete([op.key])
            return
        value = dict(op.value)
        now = datetime.now(UTC)
        existing = self.store.get(rid)
        record = MemoryRecord(
            id=rid,
            kind=existing.kind if existing else self.kind,
            namespace=ns,
            text=self._text(value, op.index if isinstance(op.index, list) else None),
            metadata={
                "lg_key": op.key,
                "lg_value": json.dumps(value, ensure_ascii=False),
                "lg_updated_at": now.isoformat(),
            },
            created_at=existing.created_at if existing else now,
        )
        if existing is None:
            self.store.add([record])
        else:
            self.store.update(record)

    def _namespaces_under(self, prefix: tuple[str, ...]) -> list[str]:
        return [ns for ns in self.store.namespaces() if tuple(ns.split("/"))[: len(prefix)] == prefix]

    def _search(self, op: SearchOp) -> list[Item]:
        want = op.offset + op.limit
        namespaces = self._namespaces_under(tuple(op.namespace_prefix))
        items: list[Item] = []
        for ns in namespaces:
            if op.query:
                k = want if not op.filter else max(self.store.count(namespace=ns), 1)
                found = [self._item(h.record, h.similarity) for h in self.store.search(op.query, k=k, namespace=ns)]
            else:
                found = [self._item(r) for r in self.store.list(namespace=ns, limit=None if op.filter else want)]
            if op.filter:
                found = [i for i in found if all(_compare(i.value.get(k), v) for k, v in op.filter.items())]
            items.extend(found)
        if op.query:
            items.sort(key=lambda i: -(i.score or 0.0))
        return items[op.offset : op.offset + op.limit]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        found = [tuple(ns.split("/")) for ns in self.store.namespaces()]
        found = [ns for ns in found if all(_matches_condition(ns, c) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            found = [ns[: op.max_depth] for ns in found]
        return sorted(set(found))[op.offset : op.offset + op.limit]

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops in order; results align with ops (None for puts).

        Raises:
            InvalidNamespaceError: for a bad namespace label.
            ValueError: for an unknown op type or filter operator.
        """
        results: list[Result] = []
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, GetOp):
                results.append(self._get(op))
            elif isinstance(op, PutOp):
                results.append(self._put(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                raise ValueError(f"unknown store op {type(op).__name__}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch` (runs in a worker thread)."""
        return await asyncio.to_thread(self.batch, list(ops))
