"""Measurements of the PRM GPU check: one at a time, dynamic batching, served vs in-process.

Each function fills part of the report dict (keys in ``prm_gpu_check.py``'s docstring). Rates are
steps (scored step positions) per second of wall time, with ``torch.cuda.synchronize`` around
timed GPU work; peak memory is ``torch.cuda.max_memory_allocated`` since the last reset, in GiB
(None on CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gpu_clients

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def scores_of(result) -> list[float]:
    """Step scores from what ``Judge.score`` returns (a ``JudgeResult`` or a plain list)."""
    return list(result.scores) if hasattr(result, "scores") else list(result)


def sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def peak_gib(dev, reset: bool = False) -> float | None:
    import torch

    if dev.type != "cuda":
        return None
    if reset:
        torch.cuda.reset_peak_memory_stats()
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def measure(judge, items, args, dev, entry: dict) -> None:
    """Fill ``entry`` with ``one_at_a_time`` (at most ``args.one_items`` items or
    ``args.one_seconds``), ``batched`` (one row per ``args.budgets`` value, fastest of
    ``args.repeats`` runs over all ``items``; an out-of-memory budget gets ``error``) and
    ``max_abs_diff`` (batched vs one-at-a-time scores of the same items, all budgets)."""
    import torch

    from agentforge.core.errors import ModelError

    judge.score(*items[0])  # warm-up (kernels, allocator)
    peak_gib(dev, reset=True)
    one, steps, t0 = [], 0, time.perf_counter()
    for q, s in items[: args.one_items]:
        one.append(scores_of(judge.score(q, s)))
        steps += len(s)
        if time.perf_counter() - t0 > args.one_seconds:
            break
    sec = time.perf_counter() - t0
    entry["one_at_a_time"] = {"items": len(one), "steps": steps, "seconds": round(sec, 3),
                              "steps_per_s": round(steps / sec, 1), "peak_gib": peak_gib(dev)}
    n_steps, diffs = sum(len(s) for _, s in items), []
    entry["batched"] = []
    for budget in args.budgets:
        judge.max_tokens_per_batch = budget
        row: dict = {"budget": budget}
        try:
            judge.score_batch(items[:8])
            peak_gib(dev, reset=True)
            best = float("inf")
            for _ in range(args.repeats):
                judge.forward_calls = 0
                sync(dev)
                t = time.perf_counter()
                scores = [scores_of(r) for r in judge.score_batch(items)]
                sync(dev)
                best = min(best, time.perf_counter() - t)
            row.update(seconds=round(best, 3), steps_per_s=round(n_steps / best, 1),
                       forwards=judge.forward_calls, peak_gib=peak_gib(dev))
            diffs += [abs(a - b) for ra, rb in zip(one, scores) for a, b in zip(ra, rb)]
        except (ModelError, torch.cuda.OutOfMemoryError) as exc:  # out of memory at this budget
            row["error"] = f"{type(exc).__name__}: {exc}"
        entry["batched"].append(row)
    entry["max_abs_diff"] = max(diffs) if diffs else None


def serve_and_measure(judge, items, args, report: dict, guard) -> None:
    """Serve ``judge`` on loopback (``BackgroundServer``, budget ``args.serve_budget``); per
    client count in ``args.clients``, time the client process (``gpu_clients.py``, at most
    ``args.client_seconds``) and then as many threads calling the judge in-process. Rows go to
    ``report["served"]["rows"]``; the client process's blocked imports go to ``guard.attempts``.

    Raises:
        RuntimeError: the client process failed (its stderr is in the message).
    """
    from agentforge.judges.server import BackgroundServer

    judge.max_tokens_per_batch = args.serve_budget
    size_entry = report["sizes"][args.serve_size]
    best = max((b.get("steps_per_s") or 0 for b in size_entry.get("batched", [])), default=0)
    served = report["served"] = {"size": args.serve_size, "budget": args.serve_budget, "rows": []}
    path = Path(args.work) / "items.json"
    path.write_text(json.dumps(items))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with BackgroundServer(judge) as server:
        for n in args.clients:
            batcher = getattr(server, "batcher", None)
            if batcher is not None:
                batcher.calls = batcher.requests = 0
            proc = subprocess.run([sys.executable, str(HERE / "gpu_clients.py"), "--url", server.url, "--items",
                                   str(path), "--clients", str(n), "--seconds", str(args.client_seconds)],
                                  capture_output=True, text=True, env=env, timeout=120 + 4 * args.client_seconds)
            if proc.returncode != 0:
                raise RuntimeError(f"client process failed ({proc.returncode}): {proc.stderr[-2000:]}")
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            guard.attempts += [a for a in got.pop("absent_imports") if a not in guard.attempts]
            calls, requests = getattr(batcher, "calls", 0), getattr(batcher, "requests", 0)
            gpu_clients.run_clients(n, items[: 2 * n], lambda c, q, s: judge.score(q, s), 60, repeat=False)
            inproc = gpu_clients.run_clients(n, items, lambda c, q, s: judge.score(q, s), args.client_seconds)
            served["rows"].append({
                "clients": n, "served_steps_per_s": got["steps_per_s"], "served_items": got["items"],
                "inprocess_steps_per_s": inproc["steps_per_s"], "inprocess_items": inproc["items"],
                "served_vs_inprocess": round(got["steps_per_s"] / inproc["steps_per_s"], 3),
                "served_vs_batched": round(got["steps_per_s"] / best, 3) if best else None,
                "requests_per_call": round(requests / calls, 2) if calls else None})
