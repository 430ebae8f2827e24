"""The MemoryStore conformance suite (agentforge.memory.conformance) run on the three built-in
backends, plus the record checks that are not about any backend.

``factory`` strings are what a fresh process imports to reopen a store; ``open_qdrant`` lives in
this module to exercise the path a third-party test module takes (its ``sys.path`` is passed on).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agentforge.core.errors import UserError
from agentforge.memory import HashEmbedder, MemoryRecord, QdrantMemory
from agentforge.memory.conformance import MemoryStoreConformance
from agentforge.memory.conformance_io import load_factory


def open_qdrant(path, embedder):
    """QdrantMemory in local mode (its second positional argument is a server url, not an embedder)."""
    return QdrantMemory(path=path, embedder=embedder)


class TestInMemoryMemory(MemoryStoreConformance):
    factory = "agentforge.memory.inmemory:InMemoryMemory"


class TestChromaMemory(MemoryStoreConformance):
    factory = "agentforge.memory.chroma:ChromaMemory"


class TestQdrantMemory(MemoryStoreConformance):
    factory = f"{__name__}:open_qdrant"


def test_a_suite_without_factory_says_what_is_missing(tmp_path):
    class NoFactory(MemoryStoreConformance):
        pass

    with pytest.raises(NotImplementedError, match="make_store.*factory"):
        NoFactory().make_store(tmp_path, HashEmbedder(8))
    with pytest.raises(pytest.skip.Exception, match="NoFactory sets no `factory"):
        NoFactory().test_persistence_across_a_fresh_process(tmp_path)
    for bad in ("no_colon", ":name", "json:"):
        with pytest.raises(UserError, match="pkg.module:function"):
            load_factory(bad)
    with pytest.raises(UserError, match="not callable"):
        load_factory("json:__name__")
    assert load_factory(f"{__name__}:open_qdrant") is open_qdrant


def test_empty_text_rejected():
    for text in ("", "   ", "\n\t "):
        with pytest.raises(ValidationError, match="empty or whitespace"):
            MemoryRecord(text=text)
    with pytest.raises(ValidationError):
        MemoryRecord(text="ok", kind="opinion")


def test_created_at_is_utc():
    naive = MemoryRecord(text="t", created_at=datetime(2024, 1, 1, 12, 0))
    assert naive.created_at.tzinfo == UTC and naive.created_at.hour == 12
    shifted = MemoryRecord(text="t", created_at=datetime(2024, 1, 1, 12, 0, tzinfo=UTC) + timedelta(0))
    assert json.loads(shifted.model_dump_json())["created_at"].endswith("Z")
