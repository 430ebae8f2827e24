"""Judge server fairness: a small request sent while a huge one is being scored, FIFO vs fair.

Two servers run in the same process on loopback, their rounds alternating:

- ``before``: ``agentforge/judges/server.py`` as of ``--before-rev`` (default 3ccbeb3, the last
  FIFO micro-batcher: it merges whole requests, so a request is one ``ascore_batch`` call);
- ``after``: the current ``agentforge.judges.server`` (chunks of every request, least-served
  request first, ``max_batch_items`` per call).

Each serves the same judge, whose cost is proportional to items: ``sleep``, a ``SyncBatchJudge``
that sleeps ``--per-item-ms`` per item (default 0.2 ms), with a ``--big`` request (default
20,000 items, 3 rounds); and ``prm``, the tiny random Qwen PRM of ``agentforge.judges.testing``
on CPU, with a ``--prm-big`` request (default 4,000 items, 2 rounds); ``--judge both`` (default)
runs both. Per round, one client sends the single big request and, once scoring has begun, ``--small``
clients each send one 1-item request, spaced ``--gap-ms`` apart (all while the big request is
still being scored). Measured: each small request's latency (s), and the big request's
wall time and throughput (items/s). Also the small latency on an idle server, for reference.

Prints a table and writes ``benchmarks/results/prm_server/fairness.json`` and ``.md``.

    python benchmarks/bench_prm_server_fairness.py            # about 75 s on 2 cores
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import agentforge  # noqa: F401  (offline environment defaults)
from agentforge.judges import HTTPJudge, SyncBatchJudge
from agentforge.judges.testing import random_items

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "prm_server"


class SleepPerItem(SyncBatchJudge):
    """Sleeps ``per_item_s`` seconds per item (a GPU whose time is proportional to work)."""

    def __init__(self, per_item_s: float):
        self.per_item_s = per_item_s
        self.started = threading.Event()

    def score_steps(self, items):
        self.started.set()
        time.sleep(self.per_item_s * len(items))
        return [[0.5] * len(steps) for _, steps in items]


class Started(SyncBatchJudge):
    """Wraps a judge; sets ``started`` when the first batch begins."""

    def __init__(self, inner):
        self.inner, self.started = inner, threading.Event()

    def score_steps(self, items):
        self.started.set()
        return self.inner.score_steps(items)


def load_before(rev: str):
    """The server module at ``rev``, imported from a temporary file as ``server_before``."""
    src = subprocess.run(["git", "show", f"{rev}:agentforge/judges/server.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="server-before-")) / "server_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("server_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["server_before"] = module
    spec.loader.exec_module(module)
    return module


def one_round(server_cls, make_judge, big_items, small_n: int, gap_s: float, extra: dict) -> dict:
    """One big request plus ``small_n`` 1-item requests sent while it is scored."""
    judge = make_judge()
    with server_cls(judge, max_request_bytes=256 * 1024 * 1024, **extra) as server:
        small_client = HTTPJudge(server.url)
        small_client.score("warm up", ["x"])
        idle = []
        for _ in range(3):
            t0 = time.monotonic()
            small_client.score("idle", ["x"])
            idle.append(time.monotonic() - t0)
        judge.started.clear()
        out: dict = {}

        def big():
            t = time.monotonic()
            HTTPJudge(server.url, max_items_per_request=len(big_items), timeout=600).score_batch(big_items)
            out["big_s"] = time.monotonic() - t
            out["big_done"] = time.monotonic()

        def small(i: int, lat: list):
            t = time.monotonic()
            HTTPJudge(server.url).score(f"small {i}", ["one step"])
            lat[i] = (t, time.monotonic())

        thread = threading.Thread(target=big)
        thread.start()
        judge.started.wait(600)
        lat: list = [None] * small_n
        smalls = []
        for i in range(small_n):
            time.sleep(gap_s)
            smalls.append(threading.Thread(target=small, args=(i, lat)))
            smalls[-1].start()
        for t in smalls:
            t.join(600)
        thread.join(600)
    sent_during = [e - s for s, e in lat if s < out["big_done"]]  # sent while the big one was scored
    return {"idle_small_s": statistics.median(idle), "small_s": sent_during, "big_s": out["big_s"],
            "big_items_per_s": len(big_items) / out["big_s"]}


def summarize(rounds: list[dict]) -> dict:
    """Medians over rounds (small latencies pooled over all rounds)."""
    small = [x for r in rounds for x in r["small_s"]]
    return {"small_latency_median_s": round(statistics.median(small), 4), "small_latency_max_s": round(max(small), 4),
            "small_requests": len(small),
            "idle_small_latency_median_s": round(statistics.median(r["idle_small_s"] for r in rounds), 4),
            "big_wall_median_s": round(statistics.median(r["big_s"] for r in rounds), 3),
            "big_items_per_s_median": round(statistics.median(r["big_items_per_s"] for r in rounds), 1)}


def compare(servers: dict, make_judge, big_items, args, repeats: int) -> dict:
    """Rounds on each server, alternating before/after so that machine load hits both alike."""
    rounds: dict = {k: [] for k in servers}
    for _ in range(repeats):
        for label, (cls, fair) in servers.items():
            extra = {"chunk_items": 32, "max_items_per_request": len(big_items)} if fair else {}
            rounds[label].append(one_round(cls, make_judge, big_items, args.small, args.gap_ms / 1000, extra))
    out = {}
    for label, rs in rounds.items():
        out[label] = {**summarize(rs), "rounds": rs}
        print(f"  {label}: {json.dumps(summarize(rs))}", flush=True)
    return out


def table(results: dict) -> str:
    """A Markdown table and the before/after ratios of one judge's results."""
    rows = "".join(f"| {k} | {v['small_latency_median_s']:.3f} s ({v['small_latency_max_s']:.3f} s) | "
                   f"{v['idle_small_latency_median_s']:.3f} s | {v['big_wall_median_s']:.2f} s | "
                   f"{v['big_items_per_s_median']:.0f} |\n" for k, v in results.items())
    b, a = results.values()
    return ("| server | small request latency, median (max) | same, idle server | big request wall | "
            "big request items/s |\n|---|---|---|---|---|\n" + rows +
            f"\nSmall-request latency {b['small_latency_median_s'] / a['small_latency_median_s']:.0f}x lower; "
            f"big-request throughput after/before = {a['big_items_per_s_median'] / b['big_items_per_s_median']:.3f}.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--judge", choices=("sleep", "prm", "both"), default="both")
    ap.add_argument("--per-item-ms", type=float, default=0.2, help="sleep judge: cost per item")
    ap.add_argument("--big", type=int, default=20_000, help="items in the big request (sleep judge)")
    ap.add_argument("--prm-big", type=int, default=4_000, help="items in the big request (tiny PRM on CPU)")
    ap.add_argument("--small", type=int, default=5, help="1-item requests per round")
    ap.add_argument("--gap-ms", type=float, default=300, help="spacing of the 1-item requests")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per server (sleep judge; the PRM gets 2)")
    ap.add_argument("--before-rev", default="3ccbeb3", help="git revision of the FIFO server.py")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    from agentforge.judges.server import BackgroundServer as After

    before = load_before(args.before_rev)
    servers = {"before (FIFO, whole requests)": (before.BackgroundServer, False),
               "after (fair chunks)": (After, True)}
    report = {"before_rev": args.before_rev, "small_requests_per_round": args.small, "gap_ms": args.gap_ms,
              "max_batch_items": 256, "chunk_items": 32, "judges": {}}
    md = (f"# Judge server fairness\n\nOne big request; {args.small} one-item requests sent {args.gap_ms:.0f} ms "
          f"apart once its scoring began (all while it was being scored). Before: `server.py` at "
          f"{args.before_rev} (FIFO, a request is one `ascore_batch` call). After: chunks of at most 32 items "
          f"per request per round, least-served request first, at most 256 items per call. Medians over rounds; "
          f"before/after rounds alternate.\n\nReproduce: `python benchmarks/bench_prm_server_fairness.py`.\n")
    if args.judge in ("sleep", "both"):
        label = f"sleep {args.per_item_ms} ms per item, {args.big:,}-item request, {args.repeats} rounds"
        print(label, flush=True)
        big_items = [(f"q{i}", ["step one", "step two"]) for i in range(args.big)]
        res = compare(servers, lambda: SleepPerItem(args.per_item_ms / 1000), big_items, args, args.repeats)
        report["judges"][label] = res
        md += f"\n## {label}\n\n" + table(res)
    if args.judge in ("prm", "both"):
        from agentforge.judges import PRMJudge
        from agentforge.judges.testing import make_tiny_prm

        prm = PRMJudge(make_tiny_prm(tempfile.mkdtemp(prefix="bench-prm-"), "qwen-prm"), device="cpu")
        prm.score_steps(random_items(64, seed=2))  # warm up
        label = f"tiny random Qwen PRM on CPU, {args.prm_big:,}-item request, 2 rounds"
        print(label, flush=True)
        big_items = random_items(args.prm_big, seed=1, min_steps=1, max_steps=3, words=(3, 8))
        res = compare(servers, lambda: Started(prm), big_items, args, 2)
        report["judges"][label] = res
        md += f"\n## {label}\n\n" + table(res)
    print("\n" + md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fairness.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "fairness.md").write_text(md)


if __name__ == "__main__":
    main()
