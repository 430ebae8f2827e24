"""Memory store benchmark: add throughput and search latency for every backend, same data.

Data: GSM8K train questions (../shared/data/gsm8k/train.jsonl, 7,473 rows); variants
("Variant j: <question>") bring the count of unique texts to 10,000, which are embedded once
with the local all-MiniLM-L6-v2 (cached under ~/.cache/agentforge/bench). Sizes above 10,000
reuse those vectors (plus small noise, renormalized) under new ids and new variant texts.

For each size and backend, in a fresh store:

- add, embedding excluded: all ``size`` records with precomputed vectors, in batches.
- add, embedding included: ``--embed-sample`` more records whose texts the store embeds.
- search latency p50/p95 (k=``--k``) over ``--queries`` queries given as vectors, and over
  ``--text-queries`` queries given as text (query embedding included).

Usage::

    python benchmarks/bench_memory_store.py --sizes 10000,100000 --backends memory,chroma,qdrant

Prints figures; asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentforge.memory import (  # noqa: E402
    ChromaMemory,
    Embedder,
    InMemoryMemory,
    MemoryRecord,
    MemoryStore,
    QdrantMemory,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"
UNIQUE = 10_000
KINDS = ("experience", "reflection", "insight")
console = Console()


def texts_for(questions: list[str], n: int, start: int = 0) -> list[str]:
    """n distinct texts: the questions first, then ``Variant j: question`` variants."""
    out = []
    for i in range(start, start + n):
        q = questions[i % len(questions)]
        out.append(q if i < len(questions) else f"Variant {i // len(questions)}: {q}")
    return out


def unique_vectors(embedder: Embedder, texts: list[str], cache_dir: Path) -> np.ndarray:
    """Embeddings of the 10k unique texts, from cache when the same texts were embedded before."""
    digest = hashlib.sha256(("\n".join(texts) + embedder.name).encode()).hexdigest()[:16]
    cache = cache_dir / f"gsm8k-{len(texts)}-{digest}.npy"
    if cache.exists():
        console.print(f"[dim]embeddings from cache {cache}[/dim]")
        return np.load(cache)
    vectors = []
    start = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("embed unique texts", total=len(texts))
        for i in range(0, len(texts), 256):
            vectors.append(embedder.embed(texts[i : i + 256]))
            bar.advance(task, len(texts[i : i + 256]))
    elapsed = time.perf_counter() - start
    console.print(f"embedder alone: {len(texts) / elapsed:,.0f} texts/s ({embedder.name}, batch 64)")
    out = np.concatenate(vectors)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def dataset(size: int, questions: list[str], base: np.ndarray, seed: int = 0) -> tuple[list[MemoryRecord], np.ndarray]:
    """``size`` records and their vectors (rows past 10k: noisy copies of the unique vectors)."""
    rng = np.random.default_rng(seed)
    texts = texts_for(questions, size)
    vectors = base[np.arange(size) % len(base)].copy()
    if size > len(base):
        vectors[len(base) :] += rng.normal(0, 0.02, size=(size - len(base), base.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [
        MemoryRecord(id=f"r{i}", kind=KINDS[i % 3], namespace="gsm8k", text=t, metadata={"row": i})
        for i, t in enumerate(texts)
    ]
    return records, vectors


def progress() -> Progress:
    """A transient rich progress bar (description, bar, done/total, elapsed)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def open_store(backend: str, folder: Path, embedder: Embedder) -> MemoryStore:
    """A fresh store of one backend under ``folder`` (in-memory: not persisted)."""
    if backend == "memory":
        return InMemoryMemory(embedder=embedder)
    if backend == "chroma":
        return ChromaMemory(folder / "chroma", embedder)
    if backend == "qdrant":
        return QdrantMemory(path=folder / "qdrant", embedder=embedder)
    raise SystemExit(f"unknown backend {backend!r}; valid: memory, chroma, qdrant")


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def run_one(backend: str, size: int, records, vectors, extra: list[MemoryRecord], queries: list[str],
            query_vecs: np.ndarray, args, embedder: Embedder) -> dict:
    """Load one fresh store, time adds and searches; returns the figures (rec/s, ms)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
    try:
        store = open_store(backend, folder, embedder)
        store.count()  # open/create the collection outside the timings
        with progress() as bar:
            task = bar.add_task(f"{backend} {size:,}: add (vectors given)", total=size)
            start = time.perf_counter()
            for i in range(0, size, args.batch):
                store.add(records[i : i + args.batch], embeddings=vectors[i : i + args.batch])
                bar.advance(task, len(records[i : i + args.batch]))
            add_pre = size / (time.perf_counter() - start)
            task = bar.add_task(f"{backend} {size:,}: add (store embeds)", total=len(extra))
            start = time.perf_counter()
            for i in range(0, len(extra), args.batch):
                store.add(extra[i : i + args.batch])
                bar.advance(task, len(extra[i : i + args.batch]))
            add_emb = len(extra) / (time.perf_counter() - start)
            task = bar.add_task(f"{backend} {size:,}: search", total=len(query_vecs) + args.text_queries)
            vec_times, text_times = [], []
            store.search(query_vecs[0], k=args.k)  # warm-up
            for q in query_vecs:
                t0 = time.perf_counter()
                store.search(q, k=args.k)
                vec_times.append(time.perf_counter() - t0)
                bar.advance(task)
            for q in queries[: args.text_queries]:
                t0 = time.perf_counter()
                store.search(q, k=args.k)
                text_times.append(time.perf_counter() - t0)
                bar.advance(task)
        assert store.count() == size + len(extra)
        store.close()
        return {"backend": backend, "size": size, "add_pre": add_pre, "add_emb": add_emb,
                "vec": percentiles(vec_times), "text": percentiles(text_times) if text_times else (float("nan"),) * 2}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Parse options, build the data once, run every (size, backend), print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated store sizes (default 10000)")
    parser.add_argument("--backends", default="memory,chroma,qdrant")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="GSM8K train.jsonl")
    parser.add_argument("--queries", type=int, default=200, help="vector queries per size/backend")
    parser.add_argument("--text-queries", type=int, default=50, help="text queries (embedding included)")
    parser.add_argument("--embed-sample", type=int, default=500, help="records added with embedding included")
    parser.add_argument("--batch", type=int, default=1000, help="records per add() call")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "agentforge" / "bench")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    with open(args.data, encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle if line.strip()]
    embedder = Embedder()
    console.print(f"{len(questions):,} GSM8K questions; embedder {embedder.name} (dim {embedder.dim}); "
                  f"{os.cpu_count()} CPUs")
    base = unique_vectors(embedder, texts_for(questions, UNIQUE), args.cache_dir)
    # Extra records (embedded by the store) and queries: texts not in any store.
    extra_texts = [f"Reworded: {q}" for q in questions[: args.embed_sample]]
    queries = [f"How would you solve: {q}" for q in questions[-max(args.queries, args.text_queries):]]
    query_vecs = embedder.embed(queries[: args.queries])

    results = []
    for size in sizes:
        records, vectors = dataset(size, questions, base)
        for backend in backends:
            extra = [MemoryRecord(id=f"x{i}", kind="reflection", namespace="gsm8k", text=t)
                     for i, t in enumerate(extra_texts)]
            res = run_one(backend, size, records, vectors, extra, queries, query_vecs, args, embedder)
            results.append(res)
            console.print(f"{backend:>7} {size:>7,}: add {res['add_pre']:,.0f} rec/s (vectors given), "
                          f"{res['add_emb']:,.0f} rec/s (embedding incl.); search p50/p95 "
                          f"{res['vec'][0]:.2f}/{res['vec'][1]:.2f} ms (vector), "
                          f"{res['text'][0]:.2f}/{res['text'][1]:.2f} ms (text)")

    table = Table(title=f"Memory stores (k={args.k}, batch {args.batch}, {os.cpu_count()} CPUs)")
    for col in ("backend", "records", "add rec/s (vectors given)", "add rec/s (embedding incl.)",
                "search p50/p95 ms (vector)", "search p50/p95 ms (text)"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(r["backend"], f"{r['size']:,}", f"{r['add_pre']:,.0f}", f"{r['add_emb']:,.0f}",
                      f"{r['vec'][0]:.2f} / {r['vec'][1]:.2f}", f"{r['text'][0]:.2f} / {r['text'][1]:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
