"""The conformance suite every ``MemoryStore`` backend must pass, as a reusable pytest base class.

Subclass :class:`MemoryStoreConformance` in a test module, give it a way to open your store, and
pytest runs every check as a method of your class. This module (and its second half,
:mod:`agentforge.memory.conformance_io`) imports ``pytest``; only test code imports it.

A third-party backend registered under the ``agentforge.memory_backends`` entry point (say
``lance = "my_pkg.memory:open_lancedb"``) runs the suite from its own tests, e.g.
``my_pkg/tests/test_lance_conformance.py``, with ``pytest``::

    from agentforge.memory import open_memory
    from agentforge.memory.conformance import MemoryStoreConformance

    def open_store(path, embedder):           # the store kept in folder `path`, opened by URI
        return open_memory(f"lance://{path}", embedder=embedder)

    class TestLanceMemory(MemoryStoreConformance):
        factory = f"{__name__}:open_store"     # make_store, and the fresh-process check, call it

The fresh process gets this process's ``sys.path``, so a factory in the test module itself is
importable there under pytest's default ``prepend`` import mode; with ``--import-mode=importlib``
put the factory in an importable module of your package.

Fixtures a subclass may override: ``embedder`` (default ``HashEmbedder(dim=64)``, model-free and
fast) and ``semantic_embedder`` (default the local all-MiniLM-L6-v2 ``Embedder``, which needs
the ``memory`` extra; used by the paraphrase-search check only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentforge.core.errors import RecordNotFoundError, UserError
from agentforge.memory.base import MemoryStore, default_embedder
from agentforge.memory.conformance_io import StoreIOConformance, load_factory, rec, sample_records
from agentforge.memory.embeddings import EmbedderLike, HashEmbedder

__all__ = ["MemoryStoreConformance", "rec", "sample_records"]


class MemoryStoreConformance(StoreIOConformance):
    """Base class of a backend's conformance tests (not collected itself: no ``Test`` prefix).

    Attributes:
        factory: ``"pkg.module:function"`` naming ``function(path: Path, embedder) -> MemoryStore``
            that opens the store kept under the folder ``path`` (creating it when absent).
            Used by the default ``make_store`` and, in a fresh Python process, by the
            persistence check, which is skipped (with a message) when ``factory`` is None.
    """

    factory: str | None = None

    def make_store(self, path: Path, embedder: EmbedderLike) -> MemoryStore:
        """Open (or create) the store kept under ``path`` (a folder that may not exist yet).

        The same ``path`` opened again must show what was written before ``close()``. Override
        it, or set ``factory`` (the default calls it).

        Raises:
            NotImplementedError: neither overridden nor ``factory`` set.
        """
        if self.factory is None:
            raise NotImplementedError(f"{type(self).__name__} must override make_store(path, embedder) "
                                      "or set factory = 'pkg.module:function'")
        return load_factory(self.factory)(path, embedder)

    @pytest.fixture
    def embedder(self) -> EmbedderLike:
        """The embedder of most checks: ``HashEmbedder(dim=64)`` (lexical, model-free)."""
        return HashEmbedder(dim=64)

    @pytest.fixture
    def semantic_embedder(self) -> EmbedderLike:
        """A semantic model for the paraphrase check: the process-wide default ``Embedder``."""
        return default_embedder()

    @pytest.fixture
    def store(self, tmp_path, embedder):
        """A fresh, empty store under ``tmp_path / "store"`` (closed after the test)."""
        s = self.make_store(tmp_path / "store", embedder)
        yield s
        s.close()

    # -- records -----------------------------------------------------------------------------

    def test_round_trip_preserves_every_field(self, store):
        created = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        text = "Weng earns $12 an hour for babysitting."
        record = rec(text, id="x1", kind="reflection", namespace="gsm8k",
                     metadata={"tags": ["rate", "time"], "extra": {"a": 1}, "n": 3, "f": 0.25, "ok": True, "s": "x"},
                     created_at=created, provenance=["e9", "e10"], score=0.75, votes=-2)
        assert store.add([record]) == ["x1"]
        got = store.get("x1")
        assert got == record
        assert isinstance(got.metadata["ok"], bool) and isinstance(got.metadata["n"], int)
        assert store.get("missing") is None
        hits = store.search(text, k=1)
        assert hits[0].record.id == "x1" and hits[0].similarity == pytest.approx(1.0, abs=1e-4)

    def test_semantic_search_finds_a_paraphrase(self, tmp_path, semantic_embedder):
        store = self.make_store(tmp_path / "semantic", semantic_embedder)
        store.add([rec("Weng earns $12 an hour for babysitting.", id="x1"),
                   rec("Evaluate boolean expressions from the innermost parentheses outward.", id="b1")])
        hits = store.search("How much does Weng earn babysitting?", k=2)
        assert [h.record.id for h in hits] == ["x1", "b1"] and hits[0].similarity > 0.5
        store.close()

    def test_add_is_idempotent_by_id(self, store):
        first = rec("Original text about apples.", id="dup")
        assert store.add([first]) == ["dup"]
        changed = rec("Completely different text about trains.", id="dup", kind="insight")
        assert store.add([changed, rec("Another.", id="other"), changed]) == ["dup", "other", "dup"]
        assert store.count() == 2
        assert store.get("dup").text == "Original text about apples."
        assert store.get("dup").kind == "experience"

    def test_add_with_precomputed_embeddings(self, store, embedder):
        records = sample_records()
        vectors = embedder.embed([r.text for r in records]) * 3.0  # not unit length: normalized on add
        store.add(records, embeddings=vectors)
        hits = store.search(vectors[1], k=1)
        assert hits[0].record.id == "r1" and hits[0].similarity == pytest.approx(1.0, abs=1e-4)
        with pytest.raises(UserError):
            store.add([rec("x", id="bad")], embeddings=vectors[:2])

    # -- search and filters ------------------------------------------------------------------

    def test_search_sorted_limited_and_validated(self, store):
        store.add(sample_records())
        hits = store.search("unit conversion mistakes in word problems", k=3)
        assert 1 <= len(hits) <= 3
        sims = [h.similarity for h in hits]
        assert sims == sorted(sims, reverse=True)
        assert all(-1.0001 <= s <= 1.0001 for s in sims)
        assert len(store.search("anything", k=50)) == 4
        with pytest.raises(UserError):
            store.search("x", k=0)
        with pytest.raises(UserError):
            store.search("x", kind="opinion")

    def test_filters_kind_namespace_metadata(self, store):
        store.add(sample_records())
        q = "how to solve the problem"

        def ids(**kw) -> set[str]:
            return {h.record.id for h in store.search(q, **kw)}

        assert ids(kind="insight") == {"i1", "b1"}
        assert ids(namespace="bbh") == {"b1"}
        assert ids(kind="insight", namespace="gsm8k") == {"i1"}
        assert ids(where={"split": "train"}) == {"e1", "r1", "b1"}
        assert ids(where={"split": "train", "difficulty": {"$gte": 2}}) == {"e1", "r1"}
        assert ids(where={"split": {"$in": ["dev"]}}) == {"i1"}
        assert ids(where={"correct": True}) == {"e1"}
        assert ids(where={"split": {"$ne": "train"}}) == {"i1"}
        assert ids(where={"ratio": 0.5}) == {"e1"}
        assert store.search(q, namespace="nowhere") == []
        assert store.count() == 4
        assert store.count(kind="insight") == 2
        assert store.count(namespace="gsm8k") == 3
        assert store.count(kind="insight", namespace="bbh") == 1
        assert {r.id for r in store.list(kind="insight")} == {"i1", "b1"}
        assert {r.id for r in store.list(namespace="gsm8k", where={"difficulty": {"$lt": 3}})} == {"e1"}
        assert len(store.list(limit=2)) == 2
        assert store.namespaces() == ["bbh", "gsm8k"]
        with pytest.raises(UserError):
            store.search(q, where={"split": {"$regex": "t.*"}})

    # -- update and delete -------------------------------------------------------------------

    def test_update_replaces_record_and_vector(self, store):
        store.add(sample_records())
        new = store.get("i1").model_copy(update={"text": "Draw a diagram of the train schedule first.",
                                                 "metadata": {"split": "dev"}, "votes": 5})
        store.update(new)
        got = store.get("i1")
        assert got.text.startswith("Draw a diagram") and got.votes == 5 and got.metadata == {"split": "dev"}
        assert store.search("diagram of a train schedule", k=1)[0].record.id == "i1"
        assert store.search("q", where={"difficulty": 3}) == []  # removed key is gone
        store.update(store.get("e1").model_copy(update={"score": 0.5}))  # same text: vector kept
        assert store.get("e1").score == 0.5
        assert store.count() == 4
        with pytest.raises(RecordNotFoundError):
            store.update(rec("nobody", id="missing"))

    def test_delete(self, store):
        store.add(sample_records())
        assert store.delete(["e1", "nope", "e1"]) == 1
        assert store.get("e1") is None
        assert store.count() == 3
        assert "e1" not in {h.record.id for h in store.search("Natalia sold clips", k=10)}
        assert store.delete("r1") == 1
        assert store.delete([]) == 0
        assert {r.id for r in store.list()} == {"i1", "b1"}

    def test_unicode_and_very_long_text(self, store):
        uni = rec("Ünïcödé ✓ 数学题 — مسألة رياضية 🚀 naïve café", id="ü-1", metadata={"note": "日本語 🎌"})
        long_text = ("The quick brown fox jumps over the lazy dog. " * 500)[:20_000]
        store.add([uni, rec(long_text, id="long")])
        assert store.get("ü-1") == uni
        assert store.get("long").text == long_text and len(long_text) == 20_000
        assert store.search("数学题 🚀", k=1)[0].record.id == "ü-1"
        assert store.search("quick brown fox", k=1)[0].record.id == "long"
