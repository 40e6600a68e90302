"""A change between two periods or two units: the difference of two independent shares.

References
----------
Newcombe, R. G. (1998). Interval estimation for the difference between independent
proportions: comparison of eleven methods. *Statistics in Medicine* 17(8), 873-890
(method 10, the hybrid score interval; worked examples in Table II).
Agresti, A. & Caffo, B. (2000). Simple and effective confidence intervals for proportions and
differences of proportions result from adding two successes and two failures. *The American
Statistician* 54(4), 280-288.
"""

from __future__ import annotations

import math

from scipy import stats

from analytics._validate import check_confidence, check_counts, check_method
from analytics.proportion import Interval, _bounds, z_value

__all__ = ["DIFFERENCE_METHODS", "difference_ci", "difference_test"]

DIFFERENCE_METHODS = ("newcombe", "wald", "agresti_caffo")


def difference_ci(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    confidence: float = 0.95,
    method: str = "newcombe",
) -> Interval:
    """Confidence interval for ``p1 - p2`` from two independent samples.

    Methods
    -------
    - ``"newcombe"`` (default): hybrid score interval (Newcombe 1998, method 10) from the two
      Wilson intervals ``[l_i, u_i]``::

          low  = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
          high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)

      Good coverage, never outside [-1, 1]. Reference: statsmodels
      ``confint_proportions_2indep(..., compare="diff", method="newcomb")``.
    - ``"wald"``: ``d +/- z sqrt(p1 q1 / n1 + p2 q2 / n2)``, clipped to [-1, 1].
    - ``"agresti_caffo"``: Wald after adding one success and one failure to each sample
      (Agresti & Caffo 2000), clipped to [-1, 1].

    The estimate is always the observed ``p1 - p2``; ``n`` is ``n1 + n2``. Raises
    ``ValueError`` for impossible counts (including ``n1 = 0`` or ``n2 = 0``), confidence
    outside (0, 1) or an unknown method.
    """
    level = check_confidence(confidence)
    check_method(method, DIFFERENCE_METHODS)
    a, size1 = check_counts(x1, n1)
    b, size2 = check_counts(x2, n2)
    p1, p2 = a / size1, b / size2
    diff = p1 - p2
    if method == "newcombe":
        l1, u1 = _bounds(float(a), float(size1), level, "wilson")
        l2, u2 = _bounds(float(b), float(size2), level, "wilson")
        low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    else:
        add = 1 if method == "agresti_caffo" else 0
        q1 = (a + add) / (size1 + 2 * add)
        q2 = (b + add) / (size2 + 2 * add)
        half = z_value(level) * math.sqrt(
            q1 * (1 - q1) / (size1 + 2 * add) + q2 * (1 - q2) / (size2 + 2 * add)
        )
        low, high = (q1 - q2) - half, (q1 - q2) + half
    low, high = min(max(low, -1.0), 1.0), min(max(high, -1.0), 1.0)
    return Interval(diff, low, high, level, method, size1 + size2)


def difference_test(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of H0: p1 = p2.

    ``z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with the pooled share
    ``p = (x1 + x2) / (n1 + n2)``; p-value ``2 * norm.sf(|z|)``. This equals Pearson's chi-square
    test without continuity correction. When the pooled share is 0 or 1 both samples agree
    exactly and the p-value is 1.0 (no evidence of a difference).

    Reference: statsmodels ``proportions_ztest([x1, x2], [n1, n2])``; scipy
    ``chi2_contingency(..., correction=False)``. Raises ``ValueError`` for impossible counts.
    """
    a, size1 = check_counts(x1, n1)
    b, size2 = check_counts(x2, n2)
    pooled = (a + b) / (size1 + size2)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / size1 + 1.0 / size2))
    z = (a / size1 - b / size2) / se
    return float(min(1.0, 2.0 * stats.norm.sf(abs(z))))
