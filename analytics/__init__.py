"""Pure statistics for the satisfaction survey: shares, intervals, verdicts, indices.

No Flask, SQLAlchemy or ``survey_app`` here (a test walks the imports): the database counts,
and this package receives counts, or per-respondent arrays for design-based figures. Every
result is an immutable named type; impossible input raises ``ValueError``. Methods and their
defaults are explained in ``analytics/README.md``.

Public API
----------
One share from counts (``analytics.proportion``)
    ``proportion_ci(successes, n, *, confidence=0.95, method="wilson") -> Interval``
        methods "wilson" (default), "clopper_pearson", "jeffreys", "agresti_coull", "wald";
        ``n = 0`` raises ``ValueError("no answers: ...")``.
    ``binomial_test(successes, n, p0, *, alternative="greater") -> float`` (exact p-value)
    ``verdict(interval, target) -> Verdict`` ("met" if low >= target, "not_met" if
        high < target, else "inconclusive"); works on any result with ``low`` and ``high``.
    ``responses_to_settle(successes, n, target, *, confidence=0.95, method="wilson",
        deff=1.0) -> int | None`` (further responses at the current share; 0 if settled,
        None if the share equals the target)

A change between two shares (``analytics.difference``)
    ``difference_ci(x1, n1, x2, n2, *, confidence=0.95, method="newcombe") -> Interval``
        (estimate p1 - p2; methods "newcombe" (default), "wald", "agresti_caffo")
    ``difference_test(x1, n1, x2, n2) -> float`` (pooled z-test, two-sided p)

Design-based share (``analytics.design``)
    ``survey_proportion(y, weights=None, *, strata=None, population=None, clusters=None,
        domain=None, confidence=0.95, method="logit") -> SurveyEstimate``
        (fields estimate, se, df, low, high, deff, n_eff, kish_n_eff, n, method; methods
        "logit" (default), "beta" (Korn-Graubard), "mean"; a share of 0 or 1 falls back to
        Clopper-Pearson and reports ``method="clopper_pearson"``)

Planning (``analytics.planning``)
    ``sample_size(margin, *, p=0.5, confidence=0.95, population=None, deff=1.0) -> int``

Index composition (``analytics.index``), for the web app::

    grouping = IndexGrouping(
        factors={"A": ["A1", "A2"], "B": ["B1", "B2", "B3"], "IA": ["P1", "P2"]},
        contents={"service": ["A", "B"], "policy": ["IA"]},
        index={"policy": 0.5, "service": 0.5},
    )
    report = compose_index(answers, item_keys, grouping, weights=None, strata=None,
                           population=None, confidence=0.95, target=0.9, min_n=30)
    report.index.estimate, report.index.low, report.index.high, report.index.verdict
    report.factors["A"], report.items["A1"], report.contents["service"]  # IndexFigure

``answers`` is a respondents x items array of 1.0 (positive), 0.0 (valid, not positive) and
NaN (no valid answer), with ``item_keys`` as column labels. Each ``IndexFigure`` carries
``key, level, n, estimate, low, high, se, df, deff, n_eff, method, verdict, more_responses,
suppressed, missing, note``; below ``min_n`` it is ``suppressed`` (count only, no percentage),
and without answers ``note == "no answers"``. For an item the app only has counts for (SQL
``GROUP BY``), use ``proportion_ci(positive, valid)``.

Index figures from stored moments (``analytics.moments``), unweighted and unstratified only::

    cell = IndexMoments.from_rows(answers, item_keys, grouping)   # one response: one row
    blob = (IndexMoments.from_bytes(blob, item_keys, grouping) + cell).to_bytes()
    total = IndexMoments.sum_bytes(blobs, item_keys, grouping)    # or a + b, sum(cells)
    report = index_from_moments(total, grouping, confidence=0.95, target=0.9, min_n=30)

``IndexMoments`` (immutable; also ``IndexMoments.zero(item_keys, grouping)``) holds the
additive sums behind every figure; ``index_from_moments`` returns the ``IndexReport`` that
``compose_index`` gives on the same rows without weights, strata or population. The blob is
an 8-byte header (``MOMENTS_LAYOUT`` version byte, CRC-32 of items and grouping structure)
and float64 little-endian counts; a wrong version, structure or size raises ``ValueError``.
"""

from analytics.design import SURVEY_METHODS, SurveyEstimate, survey_proportion
from analytics.difference import DIFFERENCE_METHODS, difference_ci, difference_test
from analytics.index import IndexFigure, IndexGrouping, IndexReport, compose_index
from analytics.moments import MOMENTS_LAYOUT, IndexMoments, index_from_moments
from analytics.planning import sample_size
from analytics.proportion import (
    PROPORTION_METHODS,
    Interval,
    Verdict,
    binomial_test,
    proportion_ci,
    responses_to_settle,
    verdict,
)

__all__ = [
    "DIFFERENCE_METHODS",
    "MOMENTS_LAYOUT",
    "PROPORTION_METHODS",
    "SURVEY_METHODS",
    "IndexFigure",
    "IndexGrouping",
    "IndexMoments",
    "IndexReport",
    "Interval",
    "SurveyEstimate",
    "Verdict",
    "binomial_test",
    "compose_index",
    "difference_ci",
    "difference_test",
    "index_from_moments",
    "proportion_ci",
    "responses_to_settle",
    "sample_size",
    "survey_proportion",
    "verdict",
]
