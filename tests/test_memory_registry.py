"""open_memory URIs, entry-point backends, the filter language and HashEmbedder."""

from __future__ import annotations

import numpy as np
import pytest

from agentforge.core.errors import UnknownNameError, UserError
from agentforge.memory import ChromaMemory, HashEmbedder, InMemoryMemory, MemoryRecord, QdrantMemory, open_memory
from agentforge.memory import registry
from agentforge.memory.filters import matches, parse_where


def test_builtin_schemes(tmp_path, monkeypatch):
    emb = HashEmbedder(16)
    chroma = open_memory(f"chroma://{tmp_path}/db?collection=notes", embedder=emb)
    assert isinstance(chroma, ChromaMemory) and chroma.path == f"{tmp_path}/db"
    assert chroma.collection_name == "notes" and chroma.embedder is emb
    monkeypatch.chdir(tmp_path)
    rel = open_memory("chroma://rel/db", embedder=emb)
    assert rel.path == str(tmp_path / "rel" / "db")
    monkeypatch.setenv("AGENTFORGE_HOME", str(tmp_path / "home"))  # defaults live under AGENTFORGE_HOME
    assert open_memory("chroma://", embedder=emb).path == str(tmp_path / "home" / "memory" / "chroma")
    qd = open_memory(f"qdrant://{tmp_path}/q", embedder=emb)
    assert isinstance(qd, QdrantMemory) and qd.path == f"{tmp_path}/q" and qd.url is None
    server = open_memory("qdrant+http://localhost:6333", embedder=emb)
    assert server.url == "http://localhost:6333" and server.path is None  # lazy: no connection yet
    mem = open_memory("MEMORY://", embedder=emb)
    assert isinstance(mem, InMemoryMemory) and mem.path is None
    mem.add([MemoryRecord(id="a", text="hello there")])
    assert mem.search("hello", k=1)[0].record.id == "a"


def test_unknown_scheme_and_missing_scheme():
    with pytest.raises(UnknownNameError) as info:
        open_memory("redis://localhost")
    for scheme in ("chroma", "memory", "qdrant", "qdrant+http"):
        assert scheme in str(info.value)
    with pytest.raises(UserError, match="no scheme"):
        open_memory("/just/a/path")


def test_entry_point_backend(monkeypatch):
    opened = {}

    def factory(uri, embedder=None):
        opened["uri"] = uri
        return InMemoryMemory(embedder=embedder)

    class FakeEntryPoint:
        name = "lance"

        def load(self):
            return factory

    def fake_entry_points(group):
        return [FakeEntryPoint()] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    store = open_memory("lance:///data", embedder=HashEmbedder(8))
    assert isinstance(store, InMemoryMemory) and opened["uri"] == "lance:///data"
    assert "lance" in registry.available_backends()


def test_filter_language():
    conds = parse_where({"a": 1, "b": {"$in": ["x", "y"]}, "c": {"$gt": 0.5}})
    assert matches({"a": 1, "b": "y", "c": 0.7}, conds)
    assert not matches({"a": True, "b": "y", "c": 0.7}, conds)  # True is not 1
    assert not matches({"a": 1, "b": "z", "c": 0.7}, conds)
    assert matches({}, parse_where({"a": {"$ne": 1}}))  # a missing key satisfies $ne
    assert not matches({"a": [1]}, parse_where({"a": 1}))  # lists are not filterable
    for bad in ({"a": {"$gt": "x"}}, {"a": {"$in": []}}, {"a": [1]}, {"a": {"$eq": 1, "$ne": 2}}, {"a": {"$like": 1}}):
        with pytest.raises(UserError):
            parse_where(bad)


def test_hash_embedder_is_deterministic_and_normalized():
    emb = HashEmbedder(32)
    a, b = emb.embed(["apples and pears", "apples and pears"]), emb.embed(["  "])
    assert a.shape == (2, 32) and a.dtype == np.float32 and np.allclose(a[0], a[1])
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0) and np.isclose(np.linalg.norm(b), 1.0)
