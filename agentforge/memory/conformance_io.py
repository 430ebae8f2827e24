"""Conformance checks of a ``MemoryStore`` that touch files, threads and processes (test code only).

This module is the second half of :mod:`agentforge.memory.conformance` (see there for how to run
the suite): :class:`StoreIOConformance` is a mixin of its base class, holding the checks for
embedding-model mismatch, JSONL export/import, concurrent writers and persistence across a fresh
process, plus the sample records both halves use. It imports ``pytest`` and is imported by test
code only, never by the library.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentforge.core.errors import DataFormatError, UserError
from agentforge.memory.base import MemoryStore
from agentforge.memory.embeddings import EmbedderLike, HashEmbedder
from agentforge.memory.records import MemoryRecord

StoreFactory = Callable[[Path, EmbedderLike], MemoryStore]
"""``factory(path, embedder) -> MemoryStore``: open (or create) the store kept under ``path``."""


def rec(text: str, **fields: Any) -> MemoryRecord:
    """A ``MemoryRecord`` with ``text`` and any other fields given by keyword."""
    return MemoryRecord(text=text, **fields)


def sample_records() -> list[MemoryRecord]:
    """Four records over two namespaces, three kinds and filterable metadata (ids e1, r1, i1, b1)."""
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


class TinyEmbedder:
    """An embedder of another size than the suite's (``dim`` 8, or 16 when that one is 8): every
    text maps to the same unit vector. It exists to trigger the dimension-mismatch check."""

    name = "tiny-test-embedder"

    def __init__(self, other_dim: int):
        self.dim = 16 if other_dim == 8 else 8

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit rows, all equal."""
        out = np.ones((len(texts), self.dim), dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def load_factory(spec: str) -> StoreFactory:
    """Import ``"pkg.module:name"`` (``name`` may be dotted: ``"mod:Class.method"``) and return it.

    Raises:
        UserError: ``spec`` has no ``:``, or names nothing callable.
        ImportError / AttributeError: the module or the name does not exist.
    """
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise UserError(f"factory {spec!r} must look like 'pkg.module:function'")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"factory {spec!r} is not callable")
    return obj


CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path[:0] = [p for p in json.loads(sys.argv[1]) if p not in sys.path]
    from agentforge.memory import HashEmbedder, MemoryRecord
    from agentforge.memory.conformance_io import load_factory
    store = load_factory(sys.argv[2])(Path(sys.argv[3]), HashEmbedder(dim=32))
    store.add([MemoryRecord(id=f"p{i}", kind="insight", namespace="gsm8k", text=f"persisted fact number {i} {w}",
                            metadata={"i": i}) for i, w in enumerate(["apples", "trains", "clocks"])])
    store.delete(["p2"])
    store.close()
    print("ok")
    """
)


class StoreIOConformance:
    """Mixin of :class:`~agentforge.memory.conformance.MemoryStoreConformance` (which supplies the
    ``make_store`` method, the ``factory`` attribute and the ``store``/``embedder`` fixtures)."""

    factory: str | None = None
    make_store: Callable[..., MemoryStore]

    def test_dimension_mismatch_is_detected(self, tmp_path, embedder):
        path = tmp_path / "store"
        first = self.make_store(path, embedder)
        first.add([rec("made with the suite's embedder", id="a")])
        first.close()
        tiny = TinyEmbedder(embedder.dim)
        other = self.make_store(path, tiny)
        with pytest.raises(UserError) as info:
            other.count()
        message = str(info.value)
        for part in (str(embedder.dim), str(tiny.dim), embedder.name, tiny.name):
            assert part in message
        other.close()
        again = self.make_store(path, embedder)  # the right model still opens it
        assert again.get("a").text == "made with the suite's embedder"
        again.close()

    def test_export_import_round_trip(self, store, tmp_path, embedder):
        store.add(sample_records())
        out = tmp_path / "export.jsonl"
        assert store.export_jsonl(out) == 4
        assert len(out.read_text(encoding="utf-8").splitlines()) == 4
        fresh = self.make_store(tmp_path / "fresh", embedder)
        assert fresh.import_jsonl(out) == 4
        assert {r.id: r for r in fresh.list()} == {r.id: r for r in store.list()}
        assert fresh.import_jsonl(out) == 0  # idempotent
        assert fresh.search("units of every quantity", k=1)[0].record.id == "i1"
        fresh.close()

    def test_malformed_import_names_the_line(self, store, tmp_path):
        store.add(sample_records()[:1])
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

    def test_concurrent_adds_from_8_threads(self, store):
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

    def test_persistence_across_a_fresh_process(self, tmp_path):
        if self.factory is None:
            pytest.skip(f"{type(self).__name__} sets no `factory = 'pkg.module:function'` (called as "
                        "function(path, embedder) in a fresh process), so persistence across processes "
                        "is not checked")
        path = tmp_path / "persist"
        done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(sys.path), self.factory, str(path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        store = self.make_store(path, HashEmbedder(dim=32))
        assert store.count() == 2 and store.count(kind="insight", namespace="gsm8k") == 2
        assert store.get("p1").metadata == {"i": 1} and store.get("p2") is None
        assert store.search("trains", k=1)[0].record.id == "p1"
        store.close()
