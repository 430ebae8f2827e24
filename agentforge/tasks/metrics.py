"""pass@k: the chance that at least one of k samples solves a problem (Chen et al. 2021).

Sampling ``n >= k`` programs per problem, of which ``c`` pass, the unbiased estimator is
``1 - C(n - c, k) / C(n, k)``, computed here in the numerically stable product form of the
paper (its Figure 3), ``1 - prod_{i = n - c + 1}^{n} (1 - k / i)``, which never forms the huge
binomial coefficients. Average it over problems for a benchmark's pass@k.
"""

from __future__ import annotations

import math
import operator

from agentforge.core.errors import UserError


def _count(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise UserError(f"pass_at_k: {name} must be an integer, got the bool {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise UserError(f"pass_at_k: {name} must be an integer, got {value!r}") from None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimate for one problem (Chen et al. 2021, "Evaluating Large Language
    Models Trained on Code", eq. 1 and Fig. 3).

    Args:
        n: samples drawn for the problem (>= 1).
        c: how many of them passed (0 <= c <= n).
        k: the k of pass@k (1 <= k <= n).

    Returns:
        A probability in [0, 1]: ``1.0`` when ``n - c < k`` (every k-subset holds a passing
        sample), ``0.0`` when ``c == 0``; ``pass_at_k(n, c, 1) == c / n``.

    Raises:
        UserError: naming the argument, when one is not an integer (``bool`` included), ``n``
            is below 1, ``c`` is outside ``[0, n]`` or ``k`` is outside ``[1, n]``.
    """
    n, c, k = _count("n", n), _count("c", c), _count("k", k)
    if n < 1:
        raise UserError(f"pass_at_k: n (samples) must be >= 1, got {n}")
    if not 0 <= c <= n:
        raise UserError(f"pass_at_k: c (passing samples) must be in [0, n={n}], got {c}")
    if not 1 <= k <= n:
        raise UserError(f"pass_at_k: k must be in [1, n={n}], got {k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))
