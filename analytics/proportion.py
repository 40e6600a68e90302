"""One share from counts: confidence intervals, the exact binomial test and the verdict.

The database counts (``GROUP BY``); these functions take ``successes`` (positive answers) and
``n`` (valid answers) and return named, immutable results.

References
----------
Agresti, A. & Coull, B. A. (1998). Approximate is better than "exact" for interval estimation of
binomial proportions. *The American Statistician* 52(2), 119-126.
Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a binomial proportion.
*Statistical Science* 16(2), 101-133.
Clopper, C. J. & Pearson, E. S. (1934). The use of confidence or fiducial limits illustrated in
the case of the binomial. *Biometrika* 26(4), 404-413.
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
*JASA* 22(158), 209-212.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import stats

from analytics._validate import check_confidence, check_counts, check_method, check_share

__all__ = [
    "PROPORTION_METHODS",
    "Interval",
    "Verdict",
    "binomial_test",
    "proportion_ci",
    "responses_to_settle",
    "verdict",
]

PROPORTION_METHODS = ("wilson", "clopper_pearson", "jeffreys", "agresti_coull", "wald")
ALTERNATIVES = ("greater", "less", "two-sided")


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    ``n`` is the number of valid answers behind the estimate (for a difference of two shares,
    ``n1 + n2``).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n: int


class Verdict(enum.StrEnum):
    """The verdict of a figure against a target (sipas.md section 5)."""

    MET = "met"  # đạt: the whole interval is at or above the target
    NOT_MET = "not_met"  # không đạt: the whole interval is below the target
    INCONCLUSIVE = "inconclusive"  # chưa đủ căn cứ: the interval contains the target


class _HasBounds(Protocol):
    @property
    def low(self) -> float | None: ...

    @property
    def high(self) -> float | None: ...


@functools.lru_cache(maxsize=64)
def z_value(confidence: float) -> float:
    """Two-sided normal quantile ``norm.ppf(1 - alpha/2)`` (1.959963984540054 at 95 %); cached:
    a dashboard page asks for it once per unit, and each scipy call costs ~0.3 ms."""
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def _bounds(x: float, n: float, confidence: float, method: str) -> tuple[float, float]:
    """Interval bounds for a (possibly fractional) count ``x`` out of ``n`` (n > 0)."""
    alpha = 1.0 - confidence
    share = x / n
    if method == "clopper_pearson":
        low = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
        high = 1.0 if x == n else float(stats.beta.isf(alpha / 2, x + 1, n - x))
        return low, high
    if method == "jeffreys":
        # Equal-tailed Beta(x + 1/2, n - x + 1/2) limits with Brown, Cai & DasGupta's (2001,
        # section 4.1.2) boundary modification: low = 0 when x = 0 and high = 1 when x = n,
        # so the interval always contains the estimate.
        low = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x + 0.5, n - x + 0.5))
        high = 1.0 if x == n else float(stats.beta.isf(alpha / 2, x + 0.5, n - x + 0.5))
        return low, high
    z = z_value(confidence)
    if method == "wilson":
        # Score interval: the set of p0 not rejected by the score test (Wilson 1927).
        z2 = z * z
        centre = (x + z2 / 2.0) / (n + z2)
        half = z * math.sqrt(x * (n - x) / n + z2 / 4.0) / (n + z2)
        low = 0.0 if x == 0 else centre - half
        high = 1.0 if x == n else centre + half
    elif method == "agresti_coull":
        # Add z^2/2 successes and z^2/2 failures, then Wald (Agresti & Coull 1998).
        n_tilde = n + z * z
        p_tilde = (x + z * z / 2.0) / n_tilde
        half = z * math.sqrt(p_tilde * (1.0 - p_tilde) / n_tilde)
        low, high = p_tilde - half, p_tilde + half
    else:  # wald
        half = z * math.sqrt(share * (1.0 - share) / n)
        low, high = share - half, share + half
    return min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0)


def proportion_ci(
    successes: int, n: int, *, confidence: float = 0.95, method: str = "wilson"
) -> Interval:
    """Confidence interval for the share ``successes / n``.

    Parameters
    ----------
    successes, n : int
        Positive answers and valid answers (whole numbers, ``0 <= successes <= n``, ``n > 0``).
    confidence : float
        Two-sided confidence level in (0, 1).
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull", "wald"}
        - ``"wilson"`` (default): score interval (Wilson 1927); near-nominal coverage, never
          outside [0, 1] (Agresti & Coull 1998; Brown, Cai & DasGupta 2001).
        - ``"clopper_pearson"``: "exact" interval from beta quantiles, conservative (Clopper &
          Pearson 1934); ``low = 0`` at ``x = 0``, ``high = 1`` at ``x = n``.
        - ``"jeffreys"``: equal-tailed Beta(x + 1/2, n - x + 1/2) interval with the boundary
          modification of Brown, Cai & DasGupta (2001). Not for verdicts (it calls 24/24 met).
        - ``"agresti_coull"``: Wald on x + z^2/2 out of n + z^2, clipped to [0, 1].
        - ``"wald"``: p +/- z sqrt(p(1-p)/n), clipped to [0, 1]; poor coverage, for comparison.

        ``z = norm.ppf(1 - alpha/2)``. Reference software: statsmodels
        ``proportion_confint(x, n, alpha, method=...)`` with "wilson", "beta", "jeffreys",
        "agresti_coull", "normal".

    Returns
    -------
    Interval
        ``estimate = successes / n`` and the interval; ``n`` as given.

    Raises
    ------
    ValueError
        ``n = 0`` ("no answers"), negative or non-whole counts, ``successes > n``, confidence
        outside (0, 1), unknown method.
    """
    level = check_confidence(confidence)
    check_method(method, PROPORTION_METHODS)
    x, size = check_counts(successes, n)
    low, high = _bounds(float(x), float(size), level, method)
    return Interval(x / size, low, high, level, method, size)


def binomial_test(successes: int, n: int, p0: float, *, alternative: str = "greater") -> float:
    """Exact binomial test p-value for H0: p = ``p0``.

    ``alternative="greater"`` (default) gives P(X >= successes), the one-sided p-value reported
    beside a verdict "share above target"; ``"less"`` gives P(X <= successes); ``"two-sided"``
    sums the probabilities of outcomes no more likely than the observed one (relative tolerance
    1e-7), as R ``binom.test`` and ``scipy.stats.binomtest`` do.

    Raises ``ValueError`` for impossible counts, ``p0`` outside [0, 1] or an unknown alternative.
    """
    check_method(alternative, ALTERNATIVES)
    x, size = check_counts(successes, n)
    prob = check_share(p0, "p0")
    dist = stats.binom(size, prob)
    if alternative == "greater":
        value = float(dist.sf(x - 1))
    elif alternative == "less":
        value = float(dist.cdf(x))
    else:
        d = float(dist.pmf(x))
        expected = size * prob
        rel_err = 1.0 + 1e-7
        if x == expected:
            value = 1.0
        elif x < expected:
            others = np.arange(math.ceil(expected), size + 1)
            y = int(np.count_nonzero(dist.pmf(others) <= d * rel_err))
            value = float(dist.cdf(x) + dist.sf(size - y))
        else:
            others = np.arange(0, math.floor(expected) + 1)
            y = int(np.count_nonzero(dist.pmf(others) <= d * rel_err))
            value = float(dist.cdf(y - 1) + dist.sf(x - 1))
    return min(max(value, 0.0), 1.0)


def verdict(interval: _HasBounds, target: float) -> Verdict:
    """Verdict of an interval against a target share (statistics.md section 2).

    ``MET`` if ``low >= target``; ``NOT_MET`` if ``high < target``; otherwise ``INCONCLUSIVE``.
    ``interval`` is anything with ``low`` and ``high`` (``Interval``, ``SurveyEstimate``,
    ``IndexFigure``). Raises ``ValueError`` if the target is outside [0, 1] or the figure has no
    interval (suppressed or no answers).
    """
    goal = check_share(target, "target")
    low, high = interval.low, interval.high
    if low is None or high is None:
        raise ValueError("no interval (no answers or suppressed figure): no verdict")
    if low >= goal:
        return Verdict.MET
    if high < goal:
        return Verdict.NOT_MET
    return Verdict.INCONCLUSIVE


def _settled(share: float, size: float, target: float, confidence: float, method: str) -> bool:
    low, high = _bounds(share * size, size, confidence, method)
    return low >= target or high < target


def smallest_settling(settled: Callable[[int], bool], limit: int = 2**53) -> int | None:
    """Smallest ``m >= 0`` with ``settled(m)``, for a ``settled`` monotone in ``m``.

    Exponential search, then bisection; ``None`` if not settled by ``limit``.
    """
    if settled(0):
        return 0
    upper = 1
    while not settled(upper):
        upper *= 2
        if upper > limit:
            return None
    lower = upper // 2  # not settled at lower (lower = 0 was checked)
    while upper - lower > 1:
        middle = (lower + upper) // 2
        if settled(middle):
            upper = middle
        else:
            lower = middle
    return upper


def settle_at_share(
    share: float,
    n: float,
    target: float,
    *,
    confidence: float = 0.95,
    method: str = "wilson",
    deff: float = 1.0,
) -> int | None:
    """Further responses needed at ``share`` to settle a verdict; see ``responses_to_settle``."""
    if share == target:
        return None
    # The Wilson interval excludes the target exactly when n' >= z^2 t(1-t) / (p - t)^2, which
    # is monotone in n'; the other methods are monotone in n' for practical purposes.
    return smallest_settling(lambda m: _settled(share, (n + m) / deff, target, confidence, method))


def responses_to_settle(
    successes: int,
    n: int,
    target: float,
    *,
    confidence: float = 0.95,
    method: str = "wilson",
    deff: float = 1.0,
) -> int | None:
    """How many more responses, at the current share, would settle the verdict.

    Returns the smallest ``m >= 0`` such that an interval computed at the same share
    ``successes / n`` from ``n + m`` responses no longer contains ``target`` (``0`` when the
    verdict is already met or not met), or ``None`` when it cannot be settled (the share equals
    the target, or is so close to it that more than 2**53 responses would be needed). ``deff`` > 0 scales the sample to its effective size ``(n + m) / deff`` for
    design-based figures; it is a planning figure, not a promise (the share will move).

    Raises ``ValueError`` for impossible counts (``n = 0``: "no answers"), a target outside
    [0, 1], confidence outside (0, 1), an unknown method or a non-positive ``deff``.
    """
    level = check_confidence(confidence)
    check_method(method, PROPORTION_METHODS)
    x, size = check_counts(successes, n)
    goal = check_share(target, "target")
    if not (math.isfinite(deff) and deff > 0):
        raise ValueError(f"deff must be a positive number, got {deff!r}")
    return settle_at_share(x / size, size, goal, confidence=level, method=method, deff=deff)
