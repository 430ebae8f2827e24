"""PRM quality: step AUROC and first-error F1 of a trained PRM on held-out labeled steps.

Pipeline: a stepwise label file (``agentforge prm label`` output, or, by default, data labeled
here by the Math-Shepherd procedure on a scripted fake policy) is split by question into train
and held-out parts; a PRM is trained on the train part (``train_prm``, qwen-prm layout) from
``--base`` (default: a tiny random Qwen2 token classifier from ``agentforge.judges.testing``);
the untrained base and the trained PRM are scored on the held-out steps. It prints figures and
asserts nothing.

The scripted policy (default data) solves "has a, gets b more, gives away c" problems in three
steps; about half its solutions carry one error at step 2 or 3, either a swapped operation
(``a - b`` where ``a + b`` is meant; visible in the text) or an arithmetic slip (``a + b = a+b+1``;
a tiny model cannot check sums). Rollouts from a wrong prefix never reach the gold; rollouts
from a sound one fail 10% of the time. So labels are Math-Shepherd-like and noisy, and a tiny
PRM can learn part of the signal (the swapped operations) but not all of it.

``--data champ`` uses CHAMP's human first-wrong-step annotations (540 solutions of competition
problems) untruncated, steps after the first error labeled False: an encoder base such as MiniLM
reads the whole input both ways, so on records cut at their first error it learns "the last step
is the wrong one" (AUROC 0.998 held-out, and 0.987 for that rule with no model at all). A
"position only" row (score 1 - i/len) shows what step position alone buys.

    python benchmarks/bench_prm_quality.py                         # fake data, tiny base, CPU
    python benchmarks/bench_prm_quality.py --data champ --base <minilm folder> --lr 5e-5 --max-length 512
    python benchmarks/bench_prm_quality.py --data labels.jsonl --base ~/models/Qwen2.5-0.5B \\
        --epochs 2 --lr 1e-5 --device cuda --max-length 2048
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import tempfile
import time
from pathlib import Path

import agentforge  # noqa: F401  (offline environment defaults)
import torch

from agentforge.core.errors import UserError
from agentforge.prm.data import label_stats, load_champ, read_stepwise, split_records
from agentforge.prm.eval import evaluate_judge, evaluate_scores, score_records
from agentforge.prm.label import label_task
from agentforge.prm.train import train_prm
from agentforge.llm import LLM
from agentforge.tasks import Example, GSM8KTask

NAMES = ["Tom", "Ana", "Lee", "Sam", "Kim"]
ITEMS = ["apples", "dollars", "cards", "books"]
_Q = re.compile(r"(\w+) has (\d+) (\w+) and gets (\d+) more, then gives away (\d+)")
_EQ = re.compile(r"Step (\d+):.*?(\d+) ([+-]) (\d+) = (-?\d+)")


def toy_task(n: int, seed: int = 0) -> GSM8KTask:
    """``n`` "has a, gets b more, gives away c" questions; gold ``a + b - c``."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b, c = rng.randint(10, 60), rng.randint(2, 30), rng.randint(1, 9)
        examples.append(Example(id=f"toy-{i}", question=f"{name} has {a} {item} and gets {b} more, then gives "
                                                        f"away {c}. How many {item} are left?", gold=str(a + b - c)))
    return GSM8KTask("gsm8k", examples)


def _rng(*parts) -> random.Random:
    return random.Random(int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16))


def _solution(name, item, a, b, c, rng) -> str:
    where, kind = rng.choice([None, None, 2, 3]), rng.choice(["op", "slip"])
    x, op2 = a + b, "+"
    if where == 2:
        x, op2 = (a - b, "-") if kind == "op" else (a + b + rng.choice([-1, 1, 10]), "+")
    y, op3 = x - c, "-"
    if where == 3:
        y, op3 = (x + c, "+") if kind == "op" else (x - c + rng.choice([-1, 1, 10]), "-")
    return (f"Step 1: {name} starts with {a} {item}.\n\n"
            f"Step 2: After getting {b} more, {name} has {a} {op2} {b} = {x} {item}.\n\n"
            f"Step 3: After giving away {c}, {name} has {x} {op3} {c} = {y} {item}.\n\nAnswer: {y}")


def _sound(prefix: str) -> bool:
    for step, p, op, q, r in _EQ.findall(prefix):
        want = {"2": "+", "3": "-"}.get(step)
        value = int(p) + int(q) if op == "+" else int(p) - int(q)
        if op != want or value != int(r):
            return False
    return True


def scripted_policy(messages, info) -> str:
    """Solutions with planted errors; rollouts that reach the gold only from sound prefixes."""
    text = messages[-1]["content"]
    name, a, item, b, c = _Q.search(text).groups()
    a, b, c = int(a), int(b), int(c)
    if "Here is the beginning of a solution:" in text:
        prefix = text.split("Here is the beginning of a solution:")[1]
        ok = _sound(prefix) and _rng(prefix, info.sample_index).random() > 0.1
        return f"Finishing the remaining steps.\n\nAnswer: {a + b - c if ok else a + b - c + 7}"
    return _solution(name, item, a, b, c, _rng(text, info.sample_index))


def position_scores(records: list[dict], like: list[list[float]]) -> list[list[float]]:
    """Score ``1 - i/len`` for step ``i``, NaN where ``like`` is NaN (steps a judge cut off), so
    the position-only baseline is measured on the same steps as the judge."""
    return [[math.nan if s != s else 1 - i / len(r["completions"]) for i, s in enumerate(sc)]
            for r, sc in zip(records, like)]


def fmt(x) -> str:
    """A metric for the table (``n/a`` for NaN/None)."""
    return "  n/a " if x is None or x != x else f"{x:6.3f}"


def main() -> None:
    """Label (or read), split, train, evaluate before/after; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="stepwise label file, or 'champ' for CHAMP's human first-wrong-step "
                                   "annotations (default: label toy data with a fake policy)")
    ap.add_argument("--questions", type=int, default=60, help="fake data: questions to label")
    ap.add_argument("--samples", type=int, default=4, help="fake data: solutions per question")
    ap.add_argument("--completions", type=int, default=4, help="fake data: rollouts per step")
    ap.add_argument("--base", type=Path, help="base model folder (default: tiny random Qwen2 classifier)")
    ap.add_argument("--held-out", type=float, default=0.25, help="fraction of questions held out")
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--lr", type=float, default=2e-3, help="default suits the tiny base; ~1e-5 for real models")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny models: 1 is fastest)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from agentforge.judges import PRMJudge
    from agentforge.judges.testing import make_tiny_prm

    work = Path(tempfile.mkdtemp(prefix="bench-prm-quality-"))
    t0 = time.perf_counter()
    if args.data is None:
        args.data = work / "labels.jsonl"
        stats = label_task(toy_task(args.questions, args.seed), LLM(model=scripted_policy, cache=False), args.data,
                           samples=args.samples, completions=args.completions, concurrency=8)
        print(f"labeled {stats.questions} toy questions with a scripted policy: {stats.solutions} solutions, "
              f"{stats.policy_calls} samples + {stats.completions} rollouts in {time.perf_counter() - t0:.1f}s")
    # CHAMP untruncated: steps after the first error stay in, labeled False (Math-Shepherd's
    # convention). Truncated records end at their first error, so "the last step is the wrong
    # one" would score near-perfect AUROC without reading a step.
    records = load_champ(truncate=False) if args.data == "champ" else read_stepwise(args.data)
    train, test = split_records(records, args.held_out, args.seed)
    for name, part in (("all", records), ("train", train), ("held-out", test)):
        s = label_stats(part)
        print(f"{name:9} {s['records']:5} solutions {s['steps']:6} steps  positive {s['positive_fraction']:.3f}  "
              f"with an error {s['with_error']}")
    base = args.base or make_tiny_prm(work / "base", "qwen-prm", marker=False, seed=args.seed)
    try:
        before = evaluate_judge(PRMJudge(base, device=args.device, format="qwen-prm"), test, args.threshold)
    except UserError as exc:  # a pretrained base without a token-classification head: nothing to score
        print(f"untrained base not scored: {exc}")
        before = None

    def on_step(step, total, loss):
        if step % 10 == 0 or step == total:
            print(f"  train step {step}/{total} loss {loss:.3f} ({time.perf_counter() - t0:.0f}s)", flush=True)

    report = train_prm(train, base, work / "prm", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                       max_length=args.max_length, seed=args.seed, device=args.device, on_step=on_step)
    judge = PRMJudge(work / "prm", device=args.device)
    held = score_records(judge, test)
    after, fit = evaluate_scores(test, held, args.threshold), evaluate_judge(judge, train, args.threshold)
    position = evaluate_scores(test, position_scores(test, held), args.threshold)
    tail = report.losses[-5:]
    print(f"trained {report.steps} steps ({report.labeled_steps} step labels) in {report.wall_s:.1f}s; "
          f"loss {report.losses[0]:.3f} -> {sum(tail) / len(tail):.3f}")
    print(f"\n{'judge':26} {'AUROC':>6} {'err acc':>7} {'ok acc':>6} {'F1':>6}   (threshold {args.threshold})")
    rows = (("position only, held-out", position), ("untrained base, held-out", before),
            ("trained PRM, held-out", after), ("trained PRM, train", fit))
    for label, r in rows:
        if r is not None:
            print(f"{label:26} {fmt(r.auroc)} {fmt(r.error_acc)}  {fmt(r.correct_acc)} {fmt(r.f1)}")
    if args.json:
        args.json.write_text(json.dumps({k: r.as_dict() for k, r in zip(("position", "base", "held_out", "train"),
                                                                         (position, before, after, fit)) if r is not None}
                                        | {"train_report": {"steps": report.steps, "wall_s": report.wall_s,
                                                            "labeled_steps": report.labeled_steps}}, indent=2))


if __name__ == "__main__":
    main()
