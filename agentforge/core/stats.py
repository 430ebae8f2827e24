"""Statistics every comparison reports: bootstrap confidence intervals and paired tests.

ADAS (Hu et al. 2024, "Automated Design of Agentic Systems") reports each agent's accuracy with
a 95% bootstrap confidence interval over the evaluation questions; the search archive does the
same for every candidate. Two agents on the *same* questions are compared with a paired
bootstrap of the difference and McNemar's exact test over the discordant questions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (NaN for no values)."""
    return float(sum(values) / len(values)) if len(values) else math.nan


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values``.

    Args:
        values: per-example scores (e.g. 0/1 correctness).
        confidence: coverage of the interval (default 0.95).
        n_resamples: bootstrap resamples (default 1000).
        seed: resampling seed; the interval is deterministic for a given seed.

    Returns:
        ``(low, high)``; ``(nan, nan)`` for no values and ``(v, v)`` for a single value.

    Raises:
        ValueError: ``confidence`` is not in (0, 1) or ``n_resamples`` < 1.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    if arr.size == 1 or np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_resamples, arr.size))
    means = arr[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_difference(base: Sequence[bool], other: Sequence[bool], n_resamples: int = 10_000,
                      seed: int = 0) -> dict[str, float | int | list[float]]:
    """Accuracy of ``other`` minus ``base`` on the same questions, with its uncertainty.

    Args:
        base, other: per-question correctness, aligned (question i is the same in both).
        n_resamples: bootstrap resamples of the questions (default 10,000). seed: their seed.

    Returns:
        ``diff`` (mean difference), ``diff_ci`` (paired percentile bootstrap 95% interval:
        questions resampled together), ``only_this`` / ``only_baseline`` (questions solved by one
        only) and ``mcnemar_p`` (McNemar's exact two-sided p over those discordant questions).

    Raises:
        ValueError: sequences of different lengths, or empty.
    """
    if len(base) != len(other) or not base:
        raise ValueError(f"need two aligned, non-empty correctness lists, got {len(base)} and {len(other)}")
    diff = np.array([float(o) - float(b) for b, o in zip(base, other)])
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(n_resamples, len(diff)))
    low, high = np.percentile(diff[idx].mean(axis=1), [2.5, 97.5])
    gain, loss = int((diff > 0).sum()), int((diff < 0).sum())
    p = min(1.0, 2 * sum(math.comb(gain + loss, j) for j in range(min(gain, loss) + 1)) / 2 ** (gain + loss))
    return {"diff": round(float(diff.mean()), 4), "diff_ci": [round(float(low), 4), round(float(high), 4)],
            "only_this": gain, "only_baseline": loss, "mcnemar_p": round(p, 4)}
