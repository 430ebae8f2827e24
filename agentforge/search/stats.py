"""Bootstrap confidence intervals for candidate scores.

ADAS (Hu et al. 2024, "Automated Design of Agentic Systems") reports each agent's accuracy with
a 95% bootstrap confidence interval over the evaluation questions; the archive does the same
for every candidate's score and accuracy.
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
