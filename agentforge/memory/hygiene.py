"""Memory hygiene: ``compact`` merges near-duplicates and prunes retired records.

Dedup on write is done by the learners (deterministic ids; near-duplicate insights upvote the
existing one). ``compact`` is the offline pass (``agentforge memory compact URI``): within each
(kind, namespace) it merges records whose embedding similarity is >= ``threshold`` into the
oldest one (votes summed, provenance united, the duplicates' ids added to provenance) and deletes
insights voted below zero.
"""

from __future__ import annotations

from agentforge.memory.base import MemoryStore


def compact(store: MemoryStore, threshold: float = 0.95, namespace: str | None = None) -> dict[str, int]:
    """Merge near-duplicates and prune retired insights; returns ``{"merged": n, "pruned": m}``.

    Records of kind ``experience`` are only merged when they also share the outcome score, so a
    success is never folded into a failure.
    """
    merged = pruned = 0
    retired = [r.id for r in store.list(kind="insight", namespace=namespace) if r.votes < 0]
    pruned += store.delete(retired)
    for kind in ("experience", "reflection", "insight"):
        recs = sorted(store.list(kind=kind, namespace=namespace), key=lambda r: r.created_at)
        gone: set[str] = set()
        for rec in recs:
            if rec.id in gone:
                continue
            hits = store.search(rec.text, k=10, kind=kind, namespace=rec.namespace)
            dupes = [h.record for h in hits if h.record.id != rec.id and h.record.id not in gone
                     and h.similarity >= threshold and (kind != "experience" or h.record.score == rec.score)]
            if not dupes:
                continue
            prov = list(dict.fromkeys([*rec.provenance, *(p for d in dupes for p in [*d.provenance, d.id])]))
            store.update(rec.model_copy(update={"votes": rec.votes + sum(d.votes for d in dupes), "provenance": prov}))
            store.delete([d.id for d in dupes])
            gone.update(d.id for d in dupes)
            merged += len(dupes)
    return {"merged": merged, "pruned": pruned}
