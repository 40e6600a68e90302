"""Design-based shares: weights, strata, clusters, finite-population correction, domains.

The estimator is the weighted (Hajek) share ``sum(w d y) / sum(w d)`` over the domain ``d``.
Its variance is the Taylor-linearisation (influence-function) estimator for a stratified
multistage design with replacement at the first stage, with the finite-population correction
``1 - n_h / N_h`` when the stratum sizes are given::

    z_i   = w_i d_i (y_i - p) / sum(w d)                     (influence of observation i)
    t_hc  = sum of z_i over the observations of cluster c in stratum h
    Var   = sum_h (1 - f_h) n_h / (n_h - 1) sum_c (t_hc - mean_c t_hc)^2

A domain keeps every cluster of the full design (its observations outside the domain have
``z = 0``): estimating a subpopulation "inside the full design" rather than subsetting the
records first, which understates the standard error.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley. (R package
``survey``: ``svymean``, ``svyciprop``, ``subset``; the reference software for the tests.)
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed., ch. 6. Springer.
Korn, E. L. & Graubard, B. I. (1998). Confidence intervals for proportions with small expected
number of positive counts estimated from survey data. *Survey Methodology* 24, 193-201.
Kish, L. (1965). *Survey Sampling*. Wiley. (Design effect; effective sample size
``(sum w)^2 / sum w^2``.)
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.special import expit, logit

from analytics._validate import as_labels, as_vector, as_weights, check_confidence, check_method
from analytics.proportion import _bounds

__all__ = ["SURVEY_METHODS", "SurveyEstimate", "survey_proportion"]

SURVEY_METHODS = ("logit", "beta", "mean")
FALLBACK_METHOD = "clopper_pearson"


@dataclass(frozen=True, slots=True)
class SurveyEstimate:
    """A design-based share with its interval.

    Fields
    ------
    estimate : weighted share in the domain.
    se : linearised standard error (0.0 at a degenerate share of 0 or 1).
    df : degrees of freedom, clusters minus strata (counting clusters and strata with
        observations in the domain, as R ``survey``'s ``degf`` does for a subset design).
    low, high : the interval.
    deff : design effect ``Var / (p (1 - p) / (n - 1))``: the design variance over the
        with-replacement simple-random-sampling variance estimate (R ``svymean(...,
        deff="replace")``); ``None`` at a degenerate share.
    n_eff : effective sample size ``n / deff``; ``None`` at a degenerate share.
    kish_n_eff : Kish's ``(sum w)^2 / sum w^2`` over the domain.
    n : observations in the domain (with a positive weight).
    method : the interval actually used: "logit", "beta", "mean", or "clopper_pearson" when a
        share of exactly 0 or 1 forced the fallback.
    """

    estimate: float
    se: float
    df: int
    low: float
    high: float
    deff: float | None
    n_eff: float | None
    kish_n_eff: float
    n: int
    method: str


class Design:
    """Strata, clusters and FPC of a sample, encoded once for many variance computations.

    Clusters are nested within strata: the same cluster id in two strata names two clusters
    (R ``svydesign(..., nest=TRUE)``). ``population`` maps each stratum to its number of
    clusters in the population, ``N_h``; ``f_h = n_h / N_h``.
    """

    def __init__(
        self,
        size: int,
        strata: Sequence[object] | None = None,
        clusters: Sequence[object] | None = None,
        population: Mapping[object, float] | float | None = None,
    ) -> None:
        strata_labels = as_labels(strata, "strata", size) or [None] * size
        cluster_labels = as_labels(clusters, "clusters", size) or list(range(size))
        stratum_codes: dict[object, int] = {}
        psu_codes: dict[tuple[int, object], int] = {}
        obs_stratum = np.empty(size, dtype=np.intp)
        obs_psu = np.empty(size, dtype=np.intp)
        for i, (h, c) in enumerate(zip(strata_labels, cluster_labels, strict=True)):
            code = stratum_codes.setdefault(h, len(stratum_codes))
            obs_stratum[i] = code
            obs_psu[i] = psu_codes.setdefault((code, c), len(psu_codes))
        self.stratum_labels = list(stratum_codes)
        self.obs_stratum = obs_stratum
        self.obs_psu = obs_psu
        self.psu_stratum = np.array([h for h, _ in psu_codes], dtype=np.intp)
        self.n_psu = len(psu_codes)
        self.psu_per_stratum = np.bincount(self.psu_stratum, minlength=len(stratum_codes))
        self.fpc = self._fpc(strata is None, population)
        for h, (n_h, f) in enumerate(zip(self.psu_per_stratum, self.fpc, strict=True)):
            if n_h < 2 and f > 0:
                raise ValueError(
                    f"stratum {self.stratum_labels[h]!r} has a single cluster: its variance "
                    "cannot be estimated (merge it with a neighbouring stratum)"
                )

    def _fpc(self, unstratified: bool, population: object) -> NDArray[np.float64]:
        """Return ``1 - f_h`` per stratum (ones without a population)."""
        n_h = self.psu_per_stratum.astype(np.float64)
        if population is None:
            return np.ones_like(n_h)
        if isinstance(population, Mapping):
            sizes = []
            for label in self.stratum_labels:
                if label not in population:
                    raise ValueError(f"population has no size for stratum {label!r}")
                sizes.append(population[label])
        elif unstratified and isinstance(population, numbers.Real):
            sizes = [population]
        else:
            raise ValueError("population must map each stratum to its population size N_h")
        big_n = as_vector(sizes, "population")
        if not np.all(np.isfinite(big_n)) or np.any(big_n <= 0):
            raise ValueError("population sizes must be positive numbers")
        if np.any(big_n < n_h):
            raise ValueError("a population size N_h is smaller than the stratum's sample n_h")
        return 1.0 - n_h / big_n

    def variance(self, influence: NDArray[np.float64]) -> float:
        """Linearised variance of an estimator with per-observation ``influence`` values."""
        totals = np.bincount(self.obs_psu, weights=influence, minlength=self.n_psu)
        n_h = self.psu_per_stratum.astype(np.float64)
        sums = np.bincount(self.psu_stratum, weights=totals, minlength=n_h.size)
        means = sums / n_h
        deviations = totals - means[self.psu_stratum]
        squares = np.bincount(self.psu_stratum, weights=deviations**2, minlength=n_h.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(n_h > 1, self.fpc * n_h / (n_h - 1), 0.0)
        return float(np.sum(factor * squares))

    def degrees_of_freedom(self, selected: NDArray[np.bool_]) -> int:
        """Clusters minus strata, counting only those with a ``selected`` observation."""
        psus = np.unique(self.obs_psu[selected])
        strata = np.unique(self.psu_stratum[psus])
        return int(psus.size - strata.size)


@functools.lru_cache(maxsize=8192)
def t_value(confidence: float, df: float) -> float:
    """Two-sided Student t quantile ``t.ppf(1 - alpha/2, df)`` (cached: a dashboard asks for
    the same few degrees of freedom thousands of times, and each scipy call costs ~0.1 ms)."""
    return float(stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, df))


def design_interval(
    estimate: float,
    variance: float,
    df: int,
    n: int,
    confidence: float,
    method: str,
) -> tuple[float, float]:
    """Interval for a share ``0 < estimate < 1`` with linearised ``variance`` and ``df`` >= 1.

    - "logit": ``expit(logit p +/- t_df se / (p (1 - p)))`` (R ``svyciprop(method="logit")``).
    - "beta": Korn & Graubard (1998): Clopper-Pearson at the effective size
      ``p (1 - p) / Var * (t_{n-1} / t_df)^2`` (R ``svyciprop(method="beta")``).
    - "mean": ``p +/- t_df se``, clipped to [0, 1] (R ``svyciprop(method="mean")``, unclipped).
    """
    # A variance that is zero but for rounding (every stratum homogeneous) is zero: the beta
    # quantiles at an effective size of ~1e33 are pure noise.
    if variance <= estimate * (1.0 - estimate) * 1e-20:
        return estimate, estimate
    se = math.sqrt(variance)
    if method == "logit":
        half = t_value(confidence, df) * se / (estimate * (1.0 - estimate))
        centre = float(logit(estimate))
        return float(expit(centre - half)), float(expit(centre + half))
    if method == "mean":
        half = t_value(confidence, df) * se
        return max(estimate - half, 0.0), min(estimate + half, 1.0)
    alpha = 1.0 - confidence
    n_eff = estimate * (1.0 - estimate) / variance
    if n > 1:
        n_eff *= (stats.t.ppf(alpha / 2, n - 1) / stats.t.ppf(alpha / 2, df)) ** 2
    x = n_eff * estimate
    low = float(stats.beta.ppf(alpha / 2, x, n_eff - x + 1))
    high = float(stats.beta.ppf(1 - alpha / 2, x + 1, n_eff - x))
    return min(low, estimate), max(high, estimate)


def survey_proportion(
    y: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    strata: Sequence[object] | None = None,
    population: Mapping[object, float] | float | None = None,
    clusters: Sequence[object] | None = None,
    domain: ArrayLike | None = None,
    confidence: float = 0.95,
    method: str = "logit",
) -> SurveyEstimate:
    """Design-based share of ``y == 1`` with its linearised standard error and interval.

    Parameters
    ----------
    y : sequence of 0/1
        One value per observation (use ``domain`` to leave observations out, not NaN).
    weights : sequence of non-negative numbers, optional
        Sampling weights (default 1). Zero weights drop an observation from the estimate.
    strata : sequence of labels, optional
        Stratum of each observation (default: one stratum).
    population : mapping stratum -> N_h, optional
        Population number of clusters per stratum for the finite-population correction
        ``1 - n_h / N_h`` (with ``clusters=None`` that is the number of units). Without strata,
        a single number is accepted.
    clusters : sequence of ids, optional
        Primary sampling unit of each observation (default: each observation is its own). Pass
        respondent ids when several answers per respondent are pooled. Nested within strata.
    domain : sequence of bool, optional
        Subpopulation to estimate, inside the full design (its variance still uses every
        cluster of every stratum).
    confidence : float
        Two-sided level in (0, 1).
    method : {"logit", "beta", "mean"}
        "logit" (default, R ``svyciprop``'s default): a logit-scale interval with Student t on
        ``df`` degrees of freedom; stays inside (0, 1) and is asymmetric near 90 %.
        "beta": Korn-Graubard, conservative. "mean": Wald with t_df, clipped to [0, 1].

    Returns
    -------
    SurveyEstimate
        At a share of exactly 0 or 1 every design-based interval degenerates: the interval is
        then Clopper-Pearson on the unweighted domain count and ``method`` says
        ``"clopper_pearson"``.

    Raises
    ------
    ValueError
        ``y`` not 0/1, negative or non-finite weights, mismatched lengths, confidence outside
        (0, 1), unknown method, no observation in the domain ("no answers"), a stratum with a
        single cluster, a population size below the stratum's sample, or a non-degenerate
        share whose domain spans too few clusters (``df < 1``).

    References: Lumley (2010), Korn & Graubard (1998), Kish (1965); see the module docstring.
    Checked against R ``survey`` 4.1 (``svymean``, ``svyciprop``, ``subset``).
    """
    level = check_confidence(confidence)
    check_method(method, SURVEY_METHODS)
    values = as_vector(y, "y")
    size = values.shape[0]
    if size == 0:
        raise ValueError("no answers: y is empty")
    if not np.all((values == 0.0) | (values == 1.0)):
        raise ValueError("y must hold only 0 and 1 (select observations with domain)")
    w = as_weights(weights, size)
    if domain is None:
        in_domain = np.ones(size, dtype=bool)
    else:
        flags = as_vector(domain, "domain", size)
        if not np.all((flags == 0.0) | (flags == 1.0)):
            raise ValueError("domain must be a sequence of booleans")
        in_domain = flags == 1.0
    design = Design(size, strata, clusters, population)

    selected = in_domain & (w > 0)
    n = int(np.count_nonzero(selected))
    if n == 0:
        raise ValueError("no answers: no observation with a positive weight in the domain")
    wd = np.where(selected, w, 0.0)
    total = float(wd.sum())
    positives = int(np.count_nonzero(selected & (values == 1.0)))
    estimate = float(np.dot(wd, values) / total)
    kish = total**2 / float(np.dot(wd, wd))
    df = design.degrees_of_freedom(selected)
    if positives in (0, n):
        return degenerate_estimate(positives, n, df, kish, level)
    return finish_estimate(
        estimate,
        design.variance(wd * (values - estimate) / total),
        df,
        n,
        kish,
        level,
        method,
    )


def degenerate_estimate(
    positives: int, n: int, df: int, kish: float, confidence: float
) -> SurveyEstimate:
    """All answers alike (share 0 or 1): Clopper-Pearson on the unweighted count."""
    estimate = positives / n
    low, high = _bounds(float(positives), float(n), confidence, FALLBACK_METHOD)
    return SurveyEstimate(estimate, 0.0, df, low, high, None, None, kish, n, FALLBACK_METHOD)


def finish_estimate(
    estimate: float,
    variance: float,
    df: int,
    n: int,
    kish: float,
    confidence: float,
    method: str,
) -> SurveyEstimate:
    """Interval, design effect and effective n for a share strictly inside (0, 1)."""
    if df < 1:
        raise ValueError(
            f"the domain spans too few clusters for a design-based interval (df = {df})"
        )
    low, high = design_interval(estimate, variance, df, n, confidence, method)
    srs_variance = estimate * (1.0 - estimate) / (n - 1)
    deff = variance / srs_variance
    n_eff = n / deff if deff > 0 else math.inf
    return SurveyEstimate(
        estimate, math.sqrt(variance), df, low, high, deff, n_eff, kish, n, method
    )
