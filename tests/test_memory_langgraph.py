"""The LangGraph BaseStore adapter over an AgentForge MemoryStore."""

from __future__ import annotations

import asyncio

import pytest
from langgraph.store.base import BaseStore, InvalidNamespaceError, Item, SearchItem

from agentforge.memory import Embedder, InMemoryMemory, MemoryRecord
from agentforge.memory.langgraph_store import MemoryBaseStore


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


@pytest.fixture
def lg(embedder):
    return MemoryBaseStore(InMemoryMemory(embedder=embedder), fields=["text"])


def test_put_get_search(lg):
    assert isinstance(lg, BaseStore)
    lg.put(("gsm8k", "user1"), "m1", {"text": "Convert minutes to hours before multiplying rates.", "n": 1})
    lg.put(("gsm8k", "user1"), "m2", {"text": "Boolean logic: evaluate innermost parentheses first.", "n": 2})
    lg.put(("bbh",), "m3", {"text": "Dates: count days month by month.", "n": 3})
    item = lg.get(("gsm8k", "user1"), "m1")
    assert isinstance(item, Item) and item.key == "m1" and item.namespace == ("gsm8k", "user1")
    assert item.value == {"text": "Convert minutes to hours before multiplying rates.", "n": 1}
    assert lg.get(("gsm8k", "user2"), "m1") is None
    hits = lg.search(("gsm8k",), query="time unit conversion", limit=2)
    assert [h.key for h in hits] == ["m1", "m2"] and isinstance(hits[0], SearchItem)
    assert hits[0].score > hits[1].score
    assert [h.key for h in lg.search(("gsm8k",), query="anything", filter={"n": {"$gt": 1}})] == ["m2"]
    assert {h.key for h in lg.search((), limit=10)} == {"m1", "m2", "m3"}
    assert lg.list_namespaces() == [("bbh",), ("gsm8k", "user1")]
    assert lg.list_namespaces(prefix=("gsm8k",), max_depth=1) == [("gsm8k",)]


def test_update_keeps_created_at_and_delete(lg):
    lg.put(("notes",), "k", {"text": "first version"})
    first = lg.get(("notes",), "k")
    lg.put(("notes",), "k", {"text": "second version"})
    second = lg.get(("notes",), "k")
    assert second.value["text"] == "second version" and second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert lg.store.count() == 1
    lg.delete(("notes",), "k")
    assert lg.get(("notes",), "k") is None and lg.store.count() == 0


def test_native_records_are_visible_and_namespaces_validated(lg):
    lg.store.add([MemoryRecord(id="r1", kind="insight", namespace="gsm8k", text="Check units of every quantity.")])
    item = lg.get(("gsm8k",), "r1")
    assert item.value["text"] == "Check units of every quantity." and item.value["kind"] == "insight"
    assert lg.search(("gsm8k",), query="units", limit=1)[0].key == "r1"
    with pytest.raises(InvalidNamespaceError):
        lg.put(("a/b",), "k", {"text": "x"})


def test_async_batch(lg):
    async def run():
        await lg.aput(("async",), "k", {"text": "async value"})
        return await lg.aget(("async",), "k"), await lg.asearch(("async",), query="value")

    got, hits = asyncio.run(run())
    assert got.value == {"text": "async value"} and hits[0].key == "k"
