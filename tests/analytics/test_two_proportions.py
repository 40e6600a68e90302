"""Difference of two shares: Newcombe's worked examples, statsmodels and scipy references."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chi2_contingency
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from analytics import DIFFERENCE_METHODS, difference_ci, difference_test

# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score),
# 95 % limits as printed (4 decimals): (x1, n1, x2, n2) -> (low, high)
NEWCOMBE_TABLE_II = {
    (56, 70, 48, 80): (0.0524, 0.3339),  # (a)
    (9, 10, 3, 10): (0.1705, 0.8090),  # (b)
    (6, 7, 2, 7): (0.0582, 0.8062),  # (c)
    (5, 56, 0, 29): (-0.0381, 0.1926),  # (d)
    (0, 10, 0, 20): (-0.1611, 0.2775),  # (e)
    (0, 10, 0, 10): (-0.2775, 0.2775),  # (f)
    (10, 10, 0, 20): (0.6791, 1.0000),  # (g)
    (10, 10, 0, 10): (0.6075, 1.0000),  # (h)
}


@pytest.mark.parametrize("counts", list(NEWCOMBE_TABLE_II))
def test_reproduces_newcombe_table_ii(counts: tuple[int, int, int, int]) -> None:
    ci = difference_ci(*counts)
    assert ci.method == "newcombe"
    assert (round(ci.low, 4), round(ci.high, 4)) == NEWCOMBE_TABLE_II[counts]
    x1, n1, x2, n2 = counts
    assert ci.estimate == x1 / n1 - x2 / n2
    assert ci.n == n1 + n2


STATSMODELS_METHOD = {"newcombe": "newcomb", "wald": "wald", "agresti_caffo": "agresti-caffo"}
PAIRS = [
    *NEWCOMBE_TABLE_II,
    (1, 1, 0, 1),
    (0, 1, 1, 1),
    (450, 500, 430, 500),
    (90_000, 100_000, 89_500, 100_000),
    (100_000, 100_000, 99_990, 100_000),
    (27, 30, 35, 35),
    (3, 40, 38, 40),
]


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("counts", PAIRS)
@pytest.mark.parametrize("method", DIFFERENCE_METHODS)
def test_matches_statsmodels(
    method: str, counts: tuple[int, int, int, int], confidence: float
) -> None:
    x1, n1, x2, n2 = counts
    # confint_proportions_2indep(x1, n1, x2, n2, method=..., compare="diff", alpha=1 - confidence)
    low, high = confint_proportions_2indep(
        x1, n1, x2, n2, method=STATSMODELS_METHOD[method], compare="diff", alpha=1 - confidence
    )
    ci = difference_ci(x1, n1, x2, n2, confidence=confidence, method=method)
    # Wald-type limits are clipped to [-1, 1] here; statsmodels does not clip.
    assert ci.low == pytest.approx(max(low, -1.0), abs=1e-9, rel=0)
    assert ci.high == pytest.approx(min(high, 1.0), abs=1e-9, rel=0)


@given(
    n1=st.integers(1, 100_000),
    n2=st.integers(1, 100_000),
    f1=st.floats(0, 1),
    f2=st.floats(0, 1),
    method=st.sampled_from(DIFFERENCE_METHODS),
)
def test_interval_within_bounds(n1: int, n2: int, f1: float, f2: float, method: str) -> None:
    ci = difference_ci(round(f1 * n1), n1, round(f2 * n2), n2, method=method)
    assert -1.0 <= ci.low <= ci.high <= 1.0
    if method == "newcombe":
        assert ci.low <= ci.estimate <= ci.high


@pytest.mark.parametrize(
    "counts",
    [c for c in PAIRS if 0 < c[0] + c[2] < c[1] + c[3]],
)
def test_difference_test_matches_statsmodels_and_scipy(counts: tuple[int, int, int, int]) -> None:
    x1, n1, x2, n2 = counts
    # proportions_ztest([x1, x2], [n1, n2])  (pooled variance, two-sided)
    _, expected = proportions_ztest(np.array([x1, x2]), np.array([n1, n2]))
    assert difference_test(x1, n1, x2, n2) == pytest.approx(expected, abs=1e-12, rel=1e-9)
    # chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False).pvalue
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    if min(min(row) for row in table) > 0:
        chi2 = chi2_contingency(table, correction=False).pvalue
        assert difference_test(x1, n1, x2, n2) == pytest.approx(chi2, abs=1e-12, rel=1e-9)


def test_difference_test_when_both_samples_agree_exactly() -> None:
    assert difference_test(0, 10, 0, 20) == 1.0
    assert difference_test(10, 10, 20, 20) == 1.0
    assert difference_test(5, 10, 10, 20) == 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1, 0, 1, 10), {}, "no answers"),
        ((11, 10, 1, 10), {}, "cannot exceed"),
        ((1, 10, -1, 10), {}, "negative"),
        ((1, 10, 1, 10), {"method": "score"}, "unknown method"),
        ((1, 10, 1, 10), {"confidence": 1.5}, "confidence"),
    ],
)
def test_impossible_input_raises(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        difference_ci(*args, **kwargs)
    if not kwargs:
        with pytest.raises(ValueError, match=message):
            difference_test(*args)
