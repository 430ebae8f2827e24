"""PRM judge throughput: dynamic batching vs one-at-a-time, and served vs in-process.

A Qwen2-architecture PRM (token-classification head, 2 labels, the qwen-prm format) with
random weights at a chosen size scores the same random inputs four ways, in one run:

1. in-process, one item per call (``judge.score`` in a loop);
2. in-process, all items in one ``score_batch`` call (dynamic batching by token budget);
3. served (``BackgroundServer`` on loopback), N concurrent clients each sending one item per
   request (the server merges concurrent requests into one ``score_batch`` call);
4. in-process, the same N threads calling ``judge.score`` directly (no server, no merging).

It prints steps/s for each and the ratios; it asserts nothing about speed. Sizes: ``tiny``
(hidden 32, 2 layers), ``0.5b`` (Qwen2.5-0.5B shape), ``1.5b`` (hidden 1536, 28 layers, 12
heads, 2 kv heads, intermediate 8960, vocab 151936). On CPU use ``tiny`` or ``0.5b`` with few
items; on a GPU box: ``--device cuda --size 1.5b --items 256``.

    python benchmarks/bench_prm_throughput.py --size tiny --items 64
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time

import agentforge  # noqa: F401  (offline environment defaults)
import torch

from agentforge.judges import BackgroundServer, HTTPJudge, PRMJudge
from agentforge.judges.prm import resolve_device, resolve_dtype
from agentforge.judges.prm_formats import render
from agentforge.judges.testing import build_tokenizer, make_tiny_prm, qwen2_config, random_items


def build_judge(size: str, device: str | None, dtype: str | None, budget: int) -> PRMJudge:
    """The tiny model goes through the real folder-loading path; bigger ones are built in memory."""
    if size == "tiny":
        folder = make_tiny_prm(tempfile.mkdtemp(prefix="bench-prm-"), "qwen-prm")
        return PRMJudge(folder, device=device, dtype=dtype, max_tokens_per_batch=budget)
    from transformers import Qwen2ForTokenClassification

    dev = resolve_device(device)
    torch.manual_seed(0)
    with torch.device(dev):
        model = Qwen2ForTokenClassification(qwen2_config(size)).to(resolve_dtype(dtype, dev))
    return PRMJudge.from_model(model, build_tokenizer(), "qwen-prm", max_tokens_per_batch=budget)


def sync(judge: PRMJudge) -> None:
    if judge.device.type == "cuda":
        torch.cuda.synchronize()


def in_worker_thread(fn):
    """Run ``fn`` in a fresh thread. Every mode runs its model calls off the main thread (the
    server and the client threads must), because on a busy CPU torch's intra-op threads
    behave very differently on the main thread than elsewhere; this keeps modes comparable."""
    box = []
    t = threading.Thread(target=lambda: box.append(fn()))
    t.start()
    t.join()
    return box[0]


def best_of(repeats: int, fn, judge: PRMJudge) -> tuple[float, object, int]:
    """Run ``fn`` ``repeats`` times; (fastest seconds, last result, forward passes per run).
    The fastest run is the least disturbed one on a shared machine."""
    best, out = float("inf"), None
    for _ in range(repeats):
        judge.forward_calls = 0
        sync(judge)
        t0 = time.perf_counter()
        out = in_worker_thread(fn)
        sync(judge)
        best = min(best, time.perf_counter() - t0)
    return best, out, judge.forward_calls


def run_clients(n_clients: int, items, score_one) -> float:
    """n threads share ``items`` round-robin, one item per call; returns wall seconds."""
    barrier = threading.Barrier(n_clients + 1)
    errors = []

    def client(c: int) -> None:
        barrier.wait()
        try:
            for q, s in items[c::n_clients]:
                score_one(c, q, s)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(n_clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=["tiny", "0.5b", "1.5b"], default="tiny")
    ap.add_argument("--device", default=None, help="cuda / cpu (default: cuda if available)")
    ap.add_argument("--dtype", default=None, help="default: bf16 on cuda, fp32 on cpu")
    ap.add_argument("--items", type=int, default=64, help="solutions to score")
    ap.add_argument("--max-steps", type=int, default=8)
    ap.add_argument("--max-tokens-per-batch", type=int, default=8192)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch-wait-ms", type=float, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="each mode runs this often; fastest kept")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    ap.add_argument("--no-server", action="store_true")
    args = ap.parse_args()

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    judge = build_judge(args.size, args.device, args.dtype, args.max_tokens_per_batch)
    items = random_items(args.items, seed=1, max_steps=args.max_steps, words=(10, 40))
    n_steps = sum(len(s) for _, s in items)
    lengths = [len(judge.tokenizer(render(judge.format, judge.tokenizer, q, s).text)["input_ids"]) for q, s in items]
    params = sum(p.numel() for p in judge.model.parameters())
    print(f"model: qwen2 PRM size={args.size} ({params / 1e6:.1f}M params) device={judge.device} "
          f"dtype={next(judge.model.parameters()).dtype} threads={torch.get_num_threads()}")
    print(f"inputs: {len(items)} solutions, {n_steps} steps, tokens/input mean {statistics.mean(lengths):.0f} "
          f"max {max(lengths)}; budget {args.max_tokens_per_batch} tokens/batch")

    judge.score_batch(items[:4])  # warm-up
    n = args.repeats
    t_one, one, f_one = best_of(n, lambda: [judge.score(q, s) for q, s in items], judge)
    t_batch, batched, f_batch = best_of(n, lambda: judge.score_batch(items), judge)
    diff = max(abs(a - b) for ra, rb in zip(one, batched) for a, b in zip(ra, rb))
    rows = [("in-process, one at a time", t_one, f_one),
            ("in-process, dynamic batching", t_batch, f_batch)]

    if not args.no_server:
        k = args.clients
        t_threads, _, f_threads = best_of(
            n, lambda: run_clients(k, items, lambda c, q, s: judge.score(q, s)), judge)
        rows.append((f"in-process, {k} threads x 1 item", t_threads, f_threads))
        with BackgroundServer(judge, max_batch_wait_ms=args.batch_wait_ms) as server:
            clients = [HTTPJudge(server.url) for _ in range(k)]
            run_clients(k, items[: 2 * k], lambda c, q, s: clients[c].score(q, s))  # connect, warm up
            server.batcher.calls = 0
            t_served, _, f_served = best_of(
                n, lambda: run_clients(k, items, lambda c, q, s: clients[c].score(q, s)), judge)
            merges = server.batcher.calls / n
            rows.append((f"served, {k} clients x 1 item/request", t_served, f_served))

    print(f"\n{'mode':44s} {'seconds':>8s} {'steps/s':>9s} {'forwards':>9s}")
    for name, t, fwd in rows:
        print(f"{name:44s} {t:8.2f} {n_steps / t:9.1f} {fwd:9d}")
    print(f"\ndynamic batching vs one at a time: x{t_one / t_batch:.2f} (max |score diff| {diff:.2e})")
    if not args.no_server:
        print(f"served ({args.clients} clients) vs in-process threads: x{t_threads / t_served:.2f}; "
              f"vs in-process one at a time: x{t_one / t_served:.2f}; "
              f"{len(items)} requests merged into {merges:.1f} score_batch calls on average")


if __name__ == "__main__":
    main()
