"""One-call GPU check of the PRM judge (issue 15): bf16 on CUDA, batching, serving, memory.

For each size (Qwen2.5 0.5B / 1.5B / 7B shapes; ``tiny`` for the CPU dry run) it writes a
random-weight PRM in the Qwen2.5-Math-PRM layout to a local folder (``gpu_prm_build``: weights
made on the GPU in bf16, the model class as remote code, no marker file), loads it with
``PRMJudge(folder, trust_remote_code=True)`` (the real loading path; bf16 on CUDA) and, on 256
real GSM8K solutions (4-10 steps; about 217 tokens per input, as with Qwen2.5's tokenizer),
measures steps/s one solution at a time and with dynamic batching at each token budget, peak
GPU memory (``torch.cuda.max_memory_allocated``), and the max abs difference between batched
and one-at-a-time scores. For one size (``--serve-size``, default 1.5b) it serves the judge
(``agentforge.judges.server.BackgroundServer`` on loopback: the code ``agentforge prm serve``
runs) and measures 1/8/32 concurrent clients (a separate process, ``gpu_clients.py``, one
solution per request) against as many threads calling the judge in-process. Run order is 1.5b,
7b, 0.5b, so the three goals come first; a size that does not fit the time left
(``--time-budget``, seconds from start) or the free GPU memory is skipped and reported.

Goals (printed PASS/FAIL/N/A, never asserted): batching >= 5x one-at-a-time for 1.5b; served
>= 0.9x in-process with 8 clients; the 7b PRM fits and scores >= 100 steps/s. Checks: scores
agree (bf16: max abs diff <= 0.02; fp32: 1e-4); each folder loaded as qwen-prm.

Output: the Markdown table on stdout, and ``prm_gpu_check.json`` + ``prm_gpu_check.md`` in
``--out`` (default ``$OUT``, else ``benchmarks/gpu/out``), rewritten after each size so a run
cut short keeps what it measured. JSON keys: ``env`` (versions, GPU, ``server_import``),
``inputs`` (items, source, steps_mean, tokens_mean/max), ``sizes[size]`` (status ok/skipped/
failed + reason, params, load {path, build_s, save_s, load_s, error?}, peak_load_gib,
one_at_a_time {items, steps, seconds, steps_per_s, peak_gib}, batched [{budget, seconds,
steps_per_s, forwards, peak_gib} or {budget, error}], max_abs_diff), ``served`` {size, budget,
rows [{clients, served_steps_per_s, inprocess_steps_per_s, served_vs_inprocess,
served_vs_batched, requests_per_call}]}, ``goals``, ``checks``, ``absent_imports``.

On the GPU machine (Python 3.12, torch, transformers 5.x; no registry) the judge's import path
needs, besides what is there, only these wheels (pure Python except pydantic-core), fetched
here by ``fetch_wheels.sh`` into ``benchmarks/gpu/.whl`` (3.4 MiB, ignored by git): fastapi,
starlette, uvicorn, pydantic, pydantic-core, annotated-types, typing-inspection,
opentelemetry-api (fastapi imports it), annotated-doc, typing-extensions, anyio,
pydantic-settings and python-dotenv (``agentforge.core.settings``). litellm, langgraph and the
other project dependencies the machine lacks are not on that path; ``gpu_clients.install_guard``
makes them unimportable here too, so the CPU dry run proves it (``absent_imports`` stays empty).

    bash benchmarks/gpu/fetch_wheels.sh        # here, once: the wheels -> benchmarks/gpu/.whl
    device run: command "bash benchmarks/gpu/run.sh", carry ["benchmarks/gpu/.whl"], timeout_s 600

``run.sh`` installs them with ``pip install --no-index --no-deps --target /tmp/site``, sets
``PYTHONPATH=$PWD:/tmp/site`` and runs this script under ``timeout 450`` with
``--time-budget 390`` (README.md beside it has the details). CPU dry run (tiny model, well
under a minute; ``tests/test_gpu_check.py`` runs it):

    python benchmarks/gpu/prm_gpu_check.py --dry-run --out /tmp/prm-gpu-dry
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[1:1] = [str(REPO)]  # this checkout's agentforge, also when another copy is installed
T0 = time.perf_counter()

import gpu_clients  # noqa: E402
import gpu_measure as gm  # noqa: E402
import gpu_prm_build as build  # noqa: E402
import gpu_report  # noqa: E402

GUARD = gpu_clients.install_guard()
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny model on CPU, small settings (< 1 min)")
    ap.add_argument("--sizes", default=None, help="run order, comma-separated (default 1.5b,7b,0.5b)")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--dtype", default=None, choices=list(DTYPES), help="default: bf16 on cuda, fp32 on cpu")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(HERE / "out"))
    ap.add_argument("--items", type=int, default=256, help="GSM8K solutions per batched run")
    ap.add_argument("--one-items", type=int, default=128, help="at most this many scored one at a time")
    ap.add_argument("--one-seconds", type=float, default=8.0, help="time cap of the one-at-a-time run")
    ap.add_argument("--budgets", default="4096,16384,65536", help="max_tokens_per_batch values")
    ap.add_argument("--repeats", type=int, default=2, help="batched runs per budget (fastest kept)")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--client-seconds", type=float, default=6.0, help="time cap per client count")
    ap.add_argument("--serve-size", default="1.5b", help="size served over HTTP ('' = none)")
    ap.add_argument("--serve-budget", type=int, default=8192, help="max_tokens_per_batch when served")
    ap.add_argument("--vocab", type=int, default=8192, help="tokenizer vocabulary trained on GSM8K")
    ap.add_argument("--time-budget", type=float, default=390.0, help="seconds for the whole run")
    ap.add_argument("--work-dir", default=None, help="where model folders go (default /dev/shm or tmp)")
    ap.add_argument("--goal-batching-size", default="1.5b")
    ap.add_argument("--goal-fit-size", default="7b")
    args = ap.parse_args(argv)
    if args.dry_run:
        for k, v in dict(sizes=args.sizes or "tiny", device=args.device or "cpu", items=24, one_items=24,
                         one_seconds=5.0, budgets="512,2048", repeats=1, client_seconds=1.5, serve_size="tiny",
                         vocab=2048, time_budget=150.0, goal_batching_size="tiny", goal_fit_size="tiny").items():
            setattr(args, k, v)
    args.sizes = [s for s in (args.sizes or "1.5b,7b,0.5b").split(",") if s]
    args.budgets = [int(b) for b in args.budgets.split(",")]
    args.clients = [int(c) for c in args.clients.split(",")]
    return args


def log(msg: str) -> None:
    """A progress line with the seconds since start (log.txt shows where a cut-short run was)."""
    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", flush=True)


def estimate_s(size: str, args, cuda: bool) -> float:
    """Rough seconds to build, save, load and measure ``size`` (used to skip what cannot fit)."""
    gb = build.param_count(size) * 2 / 1e9
    serve = (len(args.clients) * 2 * (args.client_seconds + 2) + 5) if size == args.serve_size else 0
    if cuda:
        return 10 + 7 * gb + 15 + 2 * gb + args.one_seconds + serve
    return 5 + serve + (0 if size == "tiny" else 500 * gb)


def run_size(size, args, dev, dtype, tokenizer, items, report) -> None:
    """Build, load, measure (and serve) one size; the entry records any failure."""
    import torch

    from agentforge.judges.prm import PRMJudge

    entry = report["sizes"][size] = {"params": build.param_count(size, len(tokenizer)), "status": "running"}
    left = args.time_budget - (time.perf_counter() - T0)
    need = estimate_s(size, args, dev.type == "cuda")
    if need > left:
        entry.update(status="skipped", reason=f"time: needs about {need:.0f} s, {left:.0f} s left")
        return
    if dev.type == "cuda":
        free = torch.cuda.mem_get_info()[0]
        if free < entry["params"] * 2 * 1.2 + 8 * 2**30:
            entry.update(status="skipped", reason=f"memory: {free / 2**30:.0f} GiB free")
            return
    folder = Path(args.work) / f"prm-qwen2-{size}"
    log(f"{size}: building ({entry['params'] / 1e9:.2f}B params, estimate {need:.0f} s, {left:.0f} s left)")
    entry["load"] = build.build_prm_folder(folder, size, tokenizer, dev, dtype)
    log(f"{size}: folder written {entry['load']}")
    gm.peak_gib(dev, reset=True)
    t = time.perf_counter()
    try:
        judge = PRMJudge(folder, device=dev, dtype=dtype, trust_remote_code=True)
        entry["load"]["path"] = "PRMJudge(folder, trust_remote_code=True)"
    except Exception as exc:  # noqa: BLE001 - a finding; measure on the in-memory model instead
        entry["load"]["error"] = f"{type(exc).__name__}: {exc}"
        judge = PRMJudge.from_model(build.build_model(size, len(tokenizer), dev, dtype), tokenizer, "qwen-prm")
        entry["load"]["path"] = "PRMJudge.from_model (folder load FAILED)"
    gm.sync(dev)
    entry["load"]["load_s"] = round(time.perf_counter() - t, 2)
    entry["peak_load_gib"] = gm.peak_gib(dev)
    shutil.rmtree(folder, ignore_errors=True)
    p = next(judge.model.parameters())
    entry.update(params_loaded=sum(x.numel() for x in judge.model.parameters()),
                 format=judge.format.name, model_class=type(judge.model).__name__, device=str(p.device),
                 dtype=str(p.dtype), attn=getattr(judge.model.config, "_attn_implementation", None))
    log(f"{size}: loaded via {entry['load']['path']} in {entry['load']['load_s']} s; {entry['dtype']} on "
        f"{entry['device']}, peak {entry['peak_load_gib']} GiB")
    try:
        gm.measure(judge, items, args, dev, entry)
        entry["status"] = "ok"
        log(f"{size}: one at a time {entry['one_at_a_time']['steps_per_s']} steps/s; batched "
            + ", ".join(f"@{b['budget']} {b.get('steps_per_s', b.get('error'))}" for b in entry["batched"]))
        if size == args.serve_size:
            try:
                gm.serve_and_measure(judge, items, args, report, GUARD)
                log(f"{size}: served " + ", ".join(f"{r['clients']} clients {r['served_steps_per_s']} vs "
                                                   f"{r['inprocess_steps_per_s']}" for r in report["served"]["rows"]))
            except Exception as exc:  # noqa: BLE001 - keep the in-process results of this size
                report["served"] = {"size": size, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:800],
                                    "rows": report.get("served", {}).get("rows", [])}
    finally:
        del judge, p
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()


def environment(dev, dtype) -> dict:
    import importlib.metadata as md

    import torch
    import transformers

    def version(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    try:
        importlib.import_module("agentforge.judges.server")  # fastapi, pydantic, uvicorn: carried

        server_import = "ok"
    except Exception as exc:  # noqa: BLE001 - reported; the in-process parts still run
        server_import = f"{type(exc).__name__}: {exc}"
    return {"python": platform.python_version(), "server_import": server_import, "torch": torch.__version__,
            "transformers": transformers.__version__, "device": str(dev), "dtype": str(dtype),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
            "packages": {n: version(n) for n in ("fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn",
                                                 "httpx", "anyio", "h11", "tokenizers", "safetensors")}}


def main(argv: list[str] | None = None) -> dict:
    """Run the check; returns the report dict (also written to ``--out``)."""
    args = parse(argv)
    need = max(build.param_count(s) for s in args.sizes) * 2
    args.work = str(build.work_root(need, args.work_dir))
    os.environ.setdefault("HF_MODULES_CACHE", str(Path(args.work) / "hf_modules"))  # remote code goes here
    for key, value in OFFLINE.items():  # before transformers is imported; never reach a hub
        os.environ.setdefault(key, value)
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()

    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, DTYPES[args.dtype or ("bf16" if dev.type == "cuda" else "fp32")])
    out = Path(args.out)
    report: dict = {"time_budget_s": args.time_budget, "env": environment(dev, dtype), "sizes": {},
                    "args": {k: v for k, v in vars(args).items() if k != "work"}}
    torch.manual_seed(0)
    t = time.perf_counter()
    tokenizer = build.build_tokenizer(args.vocab)
    items, source = build.gsm8k_items(args.items)
    lengths = build.token_lengths(tokenizer, items)
    report["inputs"] = {"items": len(items), "source": source, "steps_mean": sum(len(s) for _, s in items) / len(items),
                        "tokens_mean": sum(lengths) / len(lengths), "tokens_max": max(lengths),
                        "tokenizer": f"byte-level BPE, Qwen2 split, vocab {len(tokenizer)} trained on GSM8K "
                                     f"in {time.perf_counter() - t:.1f} s"}
    try:
        for size in args.sizes:
            try:
                run_size(size, args, dev, dtype, tokenizer, items, report)
            except Exception as exc:  # noqa: BLE001 - one size failing must not lose the others
                report["sizes"][size].update(status="failed", reason=f"{type(exc).__name__}: {exc}"[:500],
                                             traceback=traceback.format_exc()[-3000:])
            report["elapsed_s"] = round(time.perf_counter() - T0, 1)
            gpu_report.write(report, out)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    if args.serve_size and "served" not in report:
        report["served"] = {"status": "not run", "reason": f"size {args.serve_size} not measured"}
    report["goals"] = gpu_report.goals(report, args.goal_batching_size, args.goal_fit_size)
    tol = 0.02 if dtype in (torch.bfloat16, torch.float16) else 1e-4
    report["checks"] = [{"check": f"batched vs one-at-a-time max abs diff <= {tol:g} ({size})",
                         "value": e.get("max_abs_diff"), "pass": None if e.get("max_abs_diff") is None
                         else e["max_abs_diff"] <= tol} for size, e in report["sizes"].items() if "batched" in e]
    report["checks"] += [{"check": f"loaded through PRMJudge(folder) as qwen-prm ({size})",
                          "value": e.get("load", {}).get("error") or e.get("format"),
                          "pass": e.get("format") == "qwen-prm" and "error" not in e.get("load", {})}
                         for size, e in report["sizes"].items() if "format" in e]
    report["absent_imports"] = GUARD.attempts
    report["elapsed_s"] = round(time.perf_counter() - T0, 1)
    js, md = gpu_report.write(report, out)
    print(gpu_report.markdown(report))
    print(f"wrote {js} and {md}")
    return report


if __name__ == "__main__":
    main()
