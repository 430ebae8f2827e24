"""How often GEPA's minibatch test accepts a module that is really better (no model calls).

GEPA (Agrawal et al. 2025) keeps a child only if it beats its parent on a minibatch of training
examples (strictly: sum of scores). With a small model whose accuracy is 0.2-0.4, a 3-question
minibatch is mostly ties. This script takes two agents' stored per-question results on the same
GSM8K questions (``bench_grounded_gsm8k.py``: cot as the parent, a grounded module as the
child) and computes, exactly, the probability that a minibatch of ``m`` questions drawn without
replacement accepts the child (child > parent), ties, or rejects it. Only the questions one agent
solves and the other does not move the sum, so the count of each kind in the draw follows a
multivariate hypergeometric law.

Writes ``benchmarks/results/gepa/acceptance.md`` and ``acceptance.json``.

Usage:
    python benchmarks/bench_gepa_acceptance.py [--sizes 3,5,8,12]
"""

from __future__ import annotations

import argparse
import json
from math import comb
from pathlib import Path

from agentforge.runner import read_results

RESULTS = Path(__file__).parent / "results"
GROUNDED = RESULTS / "grounded" / "gsm8k-qwen2.5-coder-0.5b-instruct"
CHILDREN = ["pal", "pal@5", "self-consistency@5", "critic"]


def acceptance(parent: dict[str, bool], child: dict[str, bool], m: int) -> dict[str, float]:
    """P(child's minibatch sum > parent's), P(equal), P(less) for ``m`` questions drawn without
    replacement from the questions both agents answered.

    Args:
        parent, child: question id -> solved. m: minibatch size (1 <= m <= shared questions).

    Raises:
        ValueError: ``m`` outside that range.
    """
    ids = sorted(set(parent) & set(child))
    n = len(ids)
    if not 1 <= m <= n:
        raise ValueError(f"minibatch size {m} must be between 1 and the {n} shared questions")
    gain = sum(child[i] and not parent[i] for i in ids)
    loss = sum(parent[i] and not child[i] for i in ids)
    rest = n - gain - loss
    out = {"accept": 0.0, "tie": 0.0, "reject": 0.0}
    for g in range(min(gain, m) + 1):
        for lo in range(min(loss, m - g) + 1):
            p = comb(gain, g) * comb(loss, lo) * comb(rest, m - g - lo) / comb(n, m)
            out["accept" if g > lo else "tie" if g == lo else "reject"] += p
    return {k: round(v, 4) for k, v in out.items()} | {"n": n, "gained": gain, "lost": loss}


def solved(agent: str) -> dict[str, bool]:
    """Question id -> solved, from ``GROUNDED/<agent>/results.jsonl`` (empty when absent)."""
    path = GROUNDED / agent / "results.jsonl"
    return {r["id"]: bool(r["correct"]) for r in read_results(path)} if path.exists() else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3,5,8,12", help="comma-separated minibatch sizes")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    parent = solved("cot")
    if not parent:
        raise SystemExit(f"no cot results under {GROUNDED}: run benchmarks/bench_grounded_gsm8k.py first")
    rows = []
    for name in CHILDREN:
        child = solved(name)
        if child:
            rows += [{"child": name, "m": m, **acceptance(parent, child, m)} for m in sizes]
    lines = ["| child (parent: cot) | questions (gained/lost) | minibatch | accepted | tied | rejected |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['child']} | {r['n']} (+{r['gained']}/-{r['lost']}) | {r['m']} | {r['accept']:.2f} | "
              f"{r['tie']:.2f} | {r['reject']:.2f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    out = RESULTS / "gepa"
    out.mkdir(parents=True, exist_ok=True)
    (out / "acceptance.md").write_text(text + "\n")
    (out / "acceptance.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
