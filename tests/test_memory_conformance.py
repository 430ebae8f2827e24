"""The conformance suite every MemoryStore backend must pass (memory, chroma, qdrant local).

One real Embedder (local all-MiniLM-L6-v2) is shared by the whole module; the cross-process
persistence test uses the model-free HashEmbedder so the child process starts fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from agentforge.core.errors import DataFormatError, UserError
from agentforge.memory import (
    ChromaMemory,
    Embedder,
    HashEmbedder,
    InMemoryMemory,
    MemoryRecord,
    MemoryStore,
    QdrantMemory,
    RecordNotFoundError,
)

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ["memory", "chroma", "qdrant"]


def make_store(backend: str, path: Path, embedder) -> MemoryStore:
    if backend == "memory":
        return InMemoryMemory(path, embedder)
    if backend == "chroma":
        return ChromaMemory(path, embedder)
    return QdrantMemory(path=path, embedder=embedder)


class TinyEmbedder:
    """A user-written embedder of another dimension (8), to trigger the mismatch check."""

    name = "tiny-test-embedder"
    dim = 8

    def embed(self, texts):
        out = np.ones((len(texts), self.dim), dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(backend, tmp_path, embedder):
    s = make_store(backend, tmp_path / "store", embedder)
    yield s
    s.close()


def rec(text: str, **kw) -> MemoryRecord:
    return MemoryRecord(text=text, **kw)


def sample() -> list[MemoryRecord]:
    return [
        rec("Natalia sold clips in April and May; halve then add.", id="e1", kind="experience", namespace="gsm8k",
            metadata={"split": "train", "difficulty": 2, "correct": True, "ratio": 0.5}, score=1.0),
        rec("I forgot to convert minutes to hours before multiplying.", id="r1", kind="reflection", namespace="gsm8k",
            metadata={"split": "train", "difficulty": 4, "correct": False}, provenance=["e1"], score=0.0),
        rec("Always check the units of every quantity before computing.", id="i1", kind="insight", namespace="gsm8k",
            metadata={"split": "dev", "difficulty": 3}, votes=2),
        rec("Evaluate boolean expressions from the innermost parentheses outward.", id="b1", kind="insight",
            namespace="bbh", metadata={"split": "train", "difficulty": 1}),
    ]


# -- records -----------------------------------------------------------------------------------


def test_round_trip_preserves_every_field(store):
    created = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    record = rec("Weng earns $12 an hour for babysitting.", id="x1", kind="reflection", namespace="gsm8k",
                 metadata={"tags": ["rate", "time"], "extra": {"a": 1}, "n": 3, "f": 0.25, "ok": True, "s": "x"},
                 created_at=created, provenance=["e9", "e10"], score=0.75, votes=-2)
    assert store.add([record]) == ["x1"]
    got = store.get("x1")
    assert got == record
    assert isinstance(got.metadata["ok"], bool) and isinstance(got.metadata["n"], int)
    assert store.get("missing") is None
    hits = store.search("How much does Weng earn babysitting?", k=1)
    assert hits[0].record.id == "x1" and hits[0].similarity > 0.5


def test_add_is_idempotent_by_id(store):
    first = rec("Original text about apples.", id="dup")
    assert store.add([first]) == ["dup"]
    changed = rec("Completely different text about trains.", id="dup", kind="insight")
    assert store.add([changed, rec("Another.", id="other"), changed]) == ["dup", "other", "dup"]
    assert store.count() == 2
    assert store.get("dup").text == "Original text about apples."
    assert store.get("dup").kind == "experience"


def test_add_with_precomputed_embeddings(store, embedder):
    records = sample()
    vectors = embedder.embed([r.text for r in records]) * 3.0  # not unit length: normalized on add
    store.add(records, embeddings=vectors)
    hits = store.search(vectors[1], k=1)
    assert hits[0].record.id == "r1" and hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(UserError):
        store.add([rec("x", id="bad")], embeddings=np.zeros((2, embedder.dim)))


def test_search_sorted_limited_and_validated(store):
    store.add(sample())
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


def test_filters_kind_namespace_metadata(store):
    store.add(sample())
    q = "how to solve the problem"
    assert {h.record.id for h in store.search(q, kind="insight")} == {"i1", "b1"}
    assert {h.record.id for h in store.search(q, namespace="bbh")} == {"b1"}
    assert {h.record.id for h in store.search(q, kind="insight", namespace="gsm8k")} == {"i1"}
    assert {h.record.id for h in store.search(q, where={"split": "train"})} == {"e1", "r1", "b1"}
    assert {h.record.id for h in store.search(q, where={"split": "train", "difficulty": {"$gte": 2}})} == {"e1", "r1"}
    assert {h.record.id for h in store.search(q, where={"split": {"$in": ["dev"]}})} == {"i1"}
    assert {h.record.id for h in store.search(q, where={"correct": True})} == {"e1"}
    assert {h.record.id for h in store.search(q, where={"split": {"$ne": "train"}})} == {"i1"}
    assert {h.record.id for h in store.search(q, where={"ratio": 0.5})} == {"e1"}
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


def test_update_replaces_record_and_vector(store):
    store.add(sample())
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


def test_delete(store):
    store.add(sample())
    assert store.delete(["e1", "nope", "e1"]) == 1
    assert store.get("e1") is None
    assert store.count() == 3
    assert "e1" not in {h.record.id for h in store.search("Natalia sold clips", k=10)}
    assert store.delete("r1") == 1
    assert store.delete([]) == 0
    assert {r.id for r in store.list()} == {"i1", "b1"}


def test_concurrent_adds_from_8_threads(store):
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(5):
                store.add([rec(f"thread {t} memory {i} about apples", id=f"t{t}-{i}"), rec("shared", id="shared")])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert store.count() == 8 * 5 + 1
    assert len({r.id for r in store.list()}) == 41


def test_unicode_and_very_long_text(store):
    uni = rec("Ünïcödé ✓ 数学题 — مسألة رياضية 🚀 naïve café", id="ü-1", metadata={"note": "日本語 🎌"})
    long_text = ("The quick brown fox jumps over the lazy dog. " * 500)[:20_000]
    long = rec(long_text, id="long")
    store.add([uni, long])
    assert store.get("ü-1") == uni
    assert store.get("long").text == long_text and len(long_text) == 20_000
    assert store.search("数学题 🚀", k=1)[0].record.id == "ü-1"
    assert store.search("quick brown fox", k=1)[0].record.id == "long"


def test_empty_text_rejected():
    for text in ("", "   ", "\n\t "):
        with pytest.raises(ValidationError, match="empty or whitespace"):
            MemoryRecord(text=text)
    with pytest.raises(ValidationError):
        MemoryRecord(text="ok", kind="opinion")


def test_dimension_mismatch_is_detected(backend, tmp_path, embedder):
    path = tmp_path / "store"
    first = make_store(backend, path, embedder)
    first.add([rec("made with MiniLM", id="a")])
    first.close()
    other = make_store(backend, path, TinyEmbedder())
    with pytest.raises(UserError) as info:
        other.count()
    message = str(info.value)
    for part in ("384", "8", "all-MiniLM-L6-v2", "tiny-test-embedder"):
        assert part in message
    other.close()
    again = make_store(backend, path, embedder)  # the right model still opens it
    assert again.get("a").text == "made with MiniLM"
    again.close()


def test_export_import_round_trip(store, backend, tmp_path, embedder):
    store.add(sample())
    out = tmp_path / "export.jsonl"
    assert store.export_jsonl(out) == 4
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    fresh = make_store(backend, tmp_path / "fresh", embedder)
    assert fresh.import_jsonl(out) == 4
    assert {r.id: r for r in fresh.list()} == {r.id: r for r in store.list()}
    assert fresh.import_jsonl(out) == 0  # idempotent
    assert fresh.search("units of every quantity", k=1)[0].record.id == "i1"
    fresh.close()


def test_malformed_import_names_the_line(store, tmp_path):
    store.add(sample()[:1])
    bad = tmp_path / "bad.jsonl"
    good = rec("fine line", id="ok").model_dump_json()
    bad.write_text(good + "\n\n" + '{"id": "x", "text": ""}\n' + "{not json\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        store.import_jsonl(bad)
    assert info.value.line == 3 and f"{bad}:3" in str(info.value)
    bad.write_text(good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=":2"):
        store.import_jsonl(bad)
    assert store.count() == 1 and store.get("ok") is None  # nothing lost, nothing half-imported


CHILD = textwrap.dedent(
    """
    import sys
    from agentforge.memory import ChromaMemory, HashEmbedder, InMemoryMemory, MemoryRecord, QdrantMemory
    backend, path = sys.argv[1], sys.argv[2]
    emb = HashEmbedder(dim=32)
    store = {"memory": lambda: InMemoryMemory(path, emb), "chroma": lambda: ChromaMemory(path, emb),
             "qdrant": lambda: QdrantMemory(path=path, embedder=emb)}[backend]()
    store.add([MemoryRecord(id=f"p{i}", kind="insight", namespace="gsm8k", text=f"persisted fact number {i} {w}",
                            metadata={"i": i}) for i, w in enumerate(["apples", "trains", "clocks"])])
    store.delete(["p2"])
    store.close()
    print("ok")
    """
)


def test_persistence_across_a_fresh_process(backend, tmp_path):
    path = tmp_path / "persist"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", CHILD, backend, str(path)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    store = make_store(backend, path, HashEmbedder(dim=32))
    assert store.count() == 2 and store.count(kind="insight", namespace="gsm8k") == 2
    assert store.get("p1").metadata == {"i": 1} and store.get("p2") is None
    assert store.search("trains", k=1)[0].record.id == "p1"
    store.close()


def test_created_at_is_utc():
    naive = MemoryRecord(text="t", created_at=datetime(2024, 1, 1, 12, 0))
    assert naive.created_at.tzinfo == UTC and naive.created_at.hour == 12
    shifted = MemoryRecord(text="t", created_at=datetime(2024, 1, 1, 12, 0, tzinfo=UTC) + timedelta(0))
    assert json.loads(shifted.model_dump_json())["created_at"].endswith("Z")
