"""Judging a judge: step AUROC and ProcessBench's first-error F1 on labeled stepwise data.

- **Step AUROC**: every labeled step is one example, its judge score the prediction, its label
  the truth; the AUROC is the probability that a random correct step outscores a random wrong
  one (ties count half), computed from average ranks (Mann-Whitney U), no scikit-learn needed.
- **First-error F1** (ProcessBench, Zheng et al. 2024, "ProcessBench: Identifying Process
  Errors in Mathematical Reasoning"): the judge "predicts" the first step whose score is below
  ``threshold`` (default 0.5), or ``-1`` (no error) if there is none; a solution counts as
  right when that index equals the labeled first error. Accuracy is taken separately on the
  erroneous solutions and on the correct ones, and F1 is their harmonic mean.

Steps the judge did not score (NaN, e.g. cut by a PRM's ``max_length``) are left out of the
AUROC and never predicted as the first error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from agentforge.core.errors import UserError
from agentforge.judges.base import Judge
from agentforge.judges.http import HTTPJudge
from agentforge.prm.data import first_error


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks with ties given their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve of ``scores`` for positive ``labels`` (Mann-Whitney U / n+ n-).

    NaN scores are dropped. Returns NaN when only one class remains.

    Raises:
        UserError: ``scores`` and ``labels`` differ in length.
    """
    if len(scores) != len(labels):
        raise UserError(f"{len(scores)} scores but {len(labels)} labels")
    pairs = [(float(s), bool(y)) for s, y in zip(scores, labels) if not math.isnan(float(s))]
    n_pos = sum(y for _, y in pairs)
    n_neg = len(pairs) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _ranks([s for s, _ in pairs])
    rank_sum = sum(r for r, (_, y) in zip(ranks, pairs) if y)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def predict_first_error(scores: Sequence[float], threshold: float = 0.5) -> int:
    """Index of the first step scored below ``threshold`` (NaN skipped), ``-1`` if none."""
    return next((k for k, s in enumerate(scores) if not math.isnan(float(s)) and float(s) < threshold), -1)


def first_error_f1(predicted: Sequence[int], gold: Sequence[int]) -> dict[str, float]:
    """ProcessBench's metric from predicted and labeled first-error indices (``-1`` = no error).

    Returns:
        ``{"error_acc", "correct_acc", "f1", "n_error", "n_correct"}``; an accuracy is NaN
        when its group is empty, and then so is ``f1``; ``f1`` is 0 when both accuracies are 0.

    Raises:
        UserError: the two sequences differ in length.
    """
    if len(predicted) != len(gold):
        raise UserError(f"{len(predicted)} predictions but {len(gold)} labels")
    err = [p == g for p, g in zip(predicted, gold) if g >= 0]
    ok = [p == g for p, g in zip(predicted, gold) if g < 0]
    acc_e = sum(err) / len(err) if err else math.nan
    acc_c = sum(ok) / len(ok) if ok else math.nan
    if math.isnan(acc_e) or math.isnan(acc_c):
        f1 = math.nan
    else:
        f1 = 0.0 if acc_e + acc_c == 0 else 2 * acc_e * acc_c / (acc_e + acc_c)
    return {"error_acc": acc_e, "correct_acc": acc_c, "f1": f1, "n_error": len(err), "n_correct": len(ok)}


@dataclass
class EvalReport:
    """Step AUROC and first-error F1 of a judge on stepwise records.

    Attributes:
        auroc: step-level AUROC (NaN if all scored steps share one label).
        error_acc / correct_acc / f1 / n_error / n_correct: see ``first_error_f1``.
        records: solutions evaluated; ``steps``: labeled steps; ``scored_steps``: of those, not NaN;
        ``positive``: steps labeled correct; ``threshold``: the first-error threshold used.
    """

    auroc: float
    error_acc: float
    correct_acc: float
    f1: float
    n_error: int
    n_correct: int
    records: int
    steps: int
    scored_steps: int
    positive: int
    threshold: float

    def as_dict(self) -> dict:
        """The report as a JSON-ready dict (NaN becomes ``None``)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def evaluate_scores(records: list[dict], scores: list[list[float]], threshold: float = 0.5) -> EvalReport:
    """Metrics from already computed step scores (``scores[i]`` aligned with ``records[i]``).

    Raises:
        UserError: a score list's length differs from its record's steps.
    """
    if len(scores) != len(records):
        raise UserError(f"{len(scores)} score lists for {len(records)} records")
    flat_s, flat_y, pred, gold = [], [], [], []
    for i, (rec, sc) in enumerate(zip(records, scores)):
        if len(sc) != len(rec["labels"]):
            raise UserError(f"record {i}: {len(sc)} scores for {len(rec['labels'])} steps")
        flat_s += [float(s) for s in sc]
        flat_y += list(rec["labels"])
        pred.append(predict_first_error(sc, threshold))
        gold.append(first_error(rec["labels"]))
    fe = first_error_f1(pred, gold)
    return EvalReport(auroc=auroc(flat_s, flat_y), **fe, records=len(records), steps=len(flat_s),
                      scored_steps=sum(not math.isnan(s) for s in flat_s), positive=sum(flat_y),
                      threshold=threshold)


def evaluate_judge(judge: Judge, records: list[dict], threshold: float = 0.5, batch_size: int = 32) -> EvalReport:
    """Score every record's steps with ``judge`` (``score_batch`` in chunks of ``batch_size``)
    and compute the metrics (see ``evaluate_scores``).

    Raises:
        UserError / ModelError: from the judge.
    """
    return evaluate_scores(records, score_records(judge, records, batch_size), threshold)


def score_records(judge: Judge, records: list[dict], batch_size: int = 32) -> list[list[float]]:
    """Each record's step scores from ``judge.score_batch``, in chunks of ``batch_size`` records.

    Raises:
        UserError / ModelError: from the judge.
    """
    scores: list[list[float]] = []
    for start in range(0, len(records), max(1, batch_size)):
        chunk = records[start:start + batch_size]
        scores += [r.scores for r in judge.score_batch([(r["prompt"], r["completions"]) for r in chunk])]
    return scores


def make_judge(spec: str, *, token: str | None = None, device: str | None = None) -> Judge:
    """A judge from a command-line spec: ``prm:DIR`` (a local PRM folder, ``PRMJudge``) or an
    ``http://`` / ``https://`` URL of ``agentforge prm serve`` (``HTTPJudge``).

    Raises:
        UserError: any other spec (the message lists the accepted forms), or an unloadable PRM.
    """
    if spec.startswith("prm:") and spec[4:]:
        from agentforge.judges.prm import PRMJudge

        return PRMJudge(spec[4:], device=device)
    if spec.startswith(("http://", "https://")):
        return HTTPJudge(spec, token=token)
    raise UserError(f"unknown judge {spec!r}; use prm:<model folder> or http(s)://host:port "
                    "(a server started by `agentforge prm serve`)")
