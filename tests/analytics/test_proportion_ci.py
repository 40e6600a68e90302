"""One share from counts: intervals, exact test, verdict and "responses to settle".

References: statsmodels 0.15 ``proportion_confint`` and scipy 1.17 ``binomtest`` computed in the
test; R 4.2.2 values pinned below with the call that produced them.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analytics import (
    PROPORTION_METHODS,
    Interval,
    Verdict,
    binomial_test,
    proportion_ci,
    responses_to_settle,
    verdict,
)
from analytics.proportion import _bounds

# our method -> statsmodels' name for it (statsmodels' default is Wald: always pass method)
STATSMODELS_METHOD = {
    "wilson": "wilson",
    "clopper_pearson": "beta",
    "jeffreys": "jeffreys",
    "agresti_coull": "agresti_coull",
    "wald": "normal",
}
# 1e-9, or 1e-8 where beta quantiles are involved
TOLERANCE = {
    "wilson": 1e-9,
    "clopper_pearson": 1e-8,
    "jeffreys": 1e-8,
    "agresti_coull": 1e-9,
    "wald": 1e-9,
}
COUNTS = [
    (0, 1),
    (1, 1),
    (1, 2),
    (0, 10),
    (3, 10),
    (10, 10),
    (17, 29),
    (24, 24),
    (27, 30),
    (35, 35),
    (89, 100),
    (900, 1000),
    (451, 500),
    (0, 100_000),
    (1, 100_000),
    (90_000, 100_000),
    (99_999, 100_000),
    (100_000, 100_000),
]
CONFIDENCES = [0.8, 0.9, 0.95, 0.99]


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize(("x", "n"), COUNTS)
@pytest.mark.parametrize("method", PROPORTION_METHODS)
def test_matches_statsmodels(method: str, x: int, n: int, confidence: float) -> None:
    # proportion_confint(x, n, alpha=1 - confidence, method=STATSMODELS_METHOD[method])
    low, high = proportion_confint(x, n, alpha=1 - confidence, method=STATSMODELS_METHOD[method])
    if method == "jeffreys":
        # Brown, Cai & DasGupta's boundary modification, which statsmodels does not apply.
        low = 0.0 if x == 0 else low
        high = 1.0 if x == n else high
    ci = proportion_ci(x, n, confidence=confidence, method=method)
    assert ci.low == pytest.approx(low, abs=TOLERANCE[method], rel=0)
    assert ci.high == pytest.approx(high, abs=TOLERANCE[method], rel=0)
    assert ci.estimate == x / n
    assert (ci.n, ci.method, ci.confidence) == (n, method, confidence)


# R 4.2.2: prop.test(x, n, correct = FALSE)$conf.int; binom.test(x, n)$conf.int
R_INTERVALS = {
    (0, 10): ((0.0, 0.277532799862889), (0.0, 0.308497107818761)),
    (27, 30): ((0.743789174208159, 0.965400111252666), (0.734711549525792, 0.978882862970277)),
    (35, 35): ((0.901099007675596, 1.0), (0.899967564427895, 1.0)),
    (89, 100): ((0.813687034969197, 0.937458036429354), (0.811698867803557, 0.943792979714513)),
    (90000, 100000): ((0.8981252218844, 0.901844047625533), (0.898123997783016, 0.901852765585295)),
    (1, 1): ((0.206549314377238, 1.0), (0.025, 1.0)),
}


@pytest.mark.parametrize(("x", "n"), list(R_INTERVALS))
def test_matches_r_prop_test_and_binom_test(x: int, n: int) -> None:
    wilson, exact = R_INTERVALS[(x, n)]
    ci = proportion_ci(x, n, method="wilson")
    assert (ci.low, ci.high) == pytest.approx(wilson, abs=1e-9, rel=0)
    ci = proportion_ci(x, n, method="clopper_pearson")
    assert (ci.low, ci.high) == pytest.approx(exact, abs=1e-8, rel=0)


def test_z_is_not_rounded() -> None:
    ci = proportion_ci(50, 100, method="wald")
    assert ci.high - 0.5 == pytest.approx(stats.norm.ppf(0.975) * 0.05, abs=1e-15)
    assert ci.high - 0.5 != pytest.approx(1.96 * 0.05, abs=1e-9)


def test_result_is_immutable_and_named() -> None:
    ci = proportion_ci(9, 10)
    assert isinstance(ci, Interval)
    assert ci.method == "wilson"
    with pytest.raises(AttributeError):
        ci.low = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((5, 0), {}, "no answers"),
        ((0, 0), {}, "no answers"),
        ((11, 10), {}, "cannot exceed"),
        ((-1, 10), {}, "negative"),
        ((1, -10), {}, "negative"),
        ((1.5, 10), {}, "whole number"),
        ((float("nan"), 10), {}, "whole number"),
        (("1", 10), {}, "whole number"),
        ((1, 10), {"confidence": 0.0}, "confidence"),
        ((1, 10), {"confidence": 1.0}, "confidence"),
        ((1, 10), {"confidence": 95}, "confidence"),
        ((1, 10), {"method": "score"}, "unknown method"),
        ((1, 10), {"method": "beta"}, "unknown method"),
    ],
)
def test_impossible_input_raises(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        proportion_ci(*args, **kwargs)


def test_integral_floats_and_numpy_ints_are_counts() -> None:
    import numpy as np

    assert proportion_ci(np.int64(9), 10.0) == proportion_ci(9, 10)


@given(
    n=st.integers(1, 1_000_000),
    fraction=st.floats(0, 1),
    method=st.sampled_from(PROPORTION_METHODS),
    confidence=st.floats(0.5, 0.999),
)
def test_interval_contains_estimate_within_unit(
    n: int, fraction: float, method: str, confidence: float
) -> None:
    x = round(fraction * n)
    ci = proportion_ci(x, n, confidence=confidence, method=method)
    assert 0.0 <= ci.low <= ci.estimate <= ci.high <= 1.0


@given(
    n=st.integers(1, 10_000), fraction=st.floats(0, 1), method=st.sampled_from(PROPORTION_METHODS)
)
def test_higher_confidence_gives_wider_interval(n: int, fraction: float, method: str) -> None:
    x = round(fraction * n)
    narrow = proportion_ci(x, n, confidence=0.9, method=method)
    wide = proportion_ci(x, n, confidence=0.99, method=method)
    assert wide.low <= narrow.low + 1e-12
    assert wide.high >= narrow.high - 1e-12


# --- exact binomial test ----------------------------------------------------------------------

BINOMIAL_CASES = [
    (35, 35, 0.9),
    (27, 30, 0.9),
    (0, 10, 0.9),
    (10, 10, 0.5),
    (3, 10, 0.5),
    (89, 100, 0.9),
    (90_000, 100_000, 0.9),
    (90_300, 100_000, 0.9),
    (1, 1, 0.9),
    (5, 20, 0.0),
    (0, 20, 0.0),
    (20, 20, 1.0),
    (7, 20, 0.35),
]


@pytest.mark.parametrize(("x", "n", "p0"), BINOMIAL_CASES)
@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_binomial_test_matches_scipy(x: int, n: int, p0: float, alternative: str) -> None:
    # scipy.stats.binomtest(x, n, p=p0, alternative=alternative).pvalue
    expected = stats.binomtest(x, n, p=p0, alternative=alternative).pvalue
    assert binomial_test(x, n, p0, alternative=alternative) == pytest.approx(
        expected, abs=1e-12, rel=1e-9
    )


# R 4.2.2: binom.test(x, n, p = 0.9, alternative = "greater")$p.value, binom.test(x, n, p = 0.9)$p.value
R_BINOM_TEST = {
    (0, 10): (1.0, 9.99999999999997e-11),
    (27, 30): (0.647439171791848, 1.0),
    (35, 35): (0.0250315550499324, 0.045021788677096),
    (89, 100): (0.703033100288754, 0.737718376096347),
    (90000, 100000): (0.502663272536632, 1.0),
    (1, 1): (0.9, 1.0),
}


@pytest.mark.parametrize(("x", "n"), list(R_BINOM_TEST))
def test_binomial_test_matches_r(x: int, n: int) -> None:
    greater, two_sided = R_BINOM_TEST[(x, n)]
    assert binomial_test(x, n, 0.9) == pytest.approx(greater, abs=1e-12, rel=1e-9)
    assert binomial_test(x, n, 0.9, alternative="two-sided") == pytest.approx(
        two_sided, abs=1e-12, rel=1e-9
    )


def test_binomial_test_rejects_impossible_input() -> None:
    with pytest.raises(ValueError, match="p0"):
        binomial_test(3, 10, 1.5)
    with pytest.raises(ValueError, match="unknown method"):
        binomial_test(3, 10, 0.5, alternative="larger")
    with pytest.raises(ValueError, match="no answers"):
        binomial_test(0, 0, 0.5)


# --- verdict ----------------------------------------------------------------------------------


def test_verdict_rule() -> None:
    interval = Interval(0.9, 0.85, 0.95, 0.95, "wilson", 100)
    assert verdict(interval, 0.85) is Verdict.MET  # low >= target: met
    assert verdict(interval, 0.80) is Verdict.MET
    assert verdict(interval, 0.95) is Verdict.INCONCLUSIVE  # high == target: not below
    assert verdict(interval, 0.9) is Verdict.INCONCLUSIVE
    assert verdict(interval, 0.96) is Verdict.NOT_MET
    assert Verdict.MET == "met" and Verdict.NOT_MET == "not_met"
    assert Verdict.INCONCLUSIVE.value == "inconclusive"


def test_methods_disagree_near_the_boundary_as_documented() -> None:
    # statistics.md section 2: 35/35 is met under Wilson, not under Clopper-Pearson.
    assert verdict(proportion_ci(35, 35), 0.9) is Verdict.MET
    assert verdict(proportion_ci(35, 35, method="clopper_pearson"), 0.9) is Verdict.INCONCLUSIVE
    assert binomial_test(35, 35, 0.9) == pytest.approx(0.9**35, rel=1e-12)  # 0.025
    # Jeffreys calls 24/24 met; Wilson and Clopper-Pearson do not.
    assert verdict(proportion_ci(24, 24, method="jeffreys"), 0.9) is Verdict.MET
    assert verdict(proportion_ci(24, 24), 0.9) is Verdict.INCONCLUSIVE
    assert verdict(proportion_ci(24, 24, method="clopper_pearson"), 0.9) is Verdict.INCONCLUSIVE


def test_verdict_rejects_bad_target_and_missing_interval() -> None:
    with pytest.raises(ValueError, match="target"):
        verdict(proportion_ci(9, 10), 90)
    with pytest.raises(ValueError, match="no interval"):
        verdict(Interval(0.5, None, None, 0.95, "wilson", 0), 0.9)  # type: ignore[arg-type]


@given(
    n=st.integers(1, 5000),
    fraction=st.floats(0, 1),
    target=st.floats(0, 1),
    method=st.sampled_from(PROPORTION_METHODS),
)
def test_verdict_is_consistent_with_the_interval(
    n: int, fraction: float, target: float, method: str
) -> None:
    ci = proportion_ci(round(fraction * n), n, method=method)
    outcome = verdict(ci, target)
    assert (outcome is Verdict.MET) == (ci.low >= target)
    assert (outcome is Verdict.NOT_MET) == (ci.high < target)
    # a lower target is never harder to meet; a higher one never easier to miss
    if outcome is Verdict.MET:
        assert verdict(ci, target / 2) is Verdict.MET
    if outcome is Verdict.NOT_MET:
        assert verdict(ci, (1 + target) / 2) is Verdict.NOT_MET


# --- responses to settle ----------------------------------------------------------------------


def _wilson_needed(share: float, target: float) -> float:
    """Closed form: Wilson excludes t once n' >= z^2 t (1 - t) / (p - t)^2."""
    z = stats.norm.ppf(0.975)
    return z * z * target * (1 - target) / (share - target) ** 2


@pytest.mark.parametrize(
    ("x", "n", "target"),
    [(93, 100, 0.9), (27, 30, 0.85), (40, 50, 0.9), (88, 100, 0.9), (19, 20, 0.9), (1, 3, 0.5)],
)
def test_responses_to_settle_wilson_closed_form(x: int, n: int, target: float) -> None:
    needed = _wilson_needed(x / n, target)
    assert not math.isclose(needed, round(needed), abs_tol=1e-6)  # no tie at a whole number
    assert responses_to_settle(x, n, target) == max(0, math.ceil(needed) - n)


def test_responses_to_settle_examples() -> None:
    assert responses_to_settle(93, 100, 0.9) == 285  # 385 responses at 93 %
    assert responses_to_settle(35, 35, 0.9) == 0  # already met
    assert responses_to_settle(5, 20, 0.9) == 0  # already not met
    assert responses_to_settle(9, 10, 0.9) is None  # share equals target: cannot settle
    assert responses_to_settle(35, 35, 0.9, method="clopper_pearson") == 1  # 36/36 is met
    # a design effect of 2 doubles the responses needed: n' / 2 >= 384.15, n' = 769
    assert (
        responses_to_settle(93, 100, 0.9, deff=2.0)
        == math.ceil(2 * _wilson_needed(0.93, 0.9)) - 100
        == 669
    )
    with pytest.raises(ValueError, match="deff"):
        responses_to_settle(93, 100, 0.9, deff=0.0)
    with pytest.raises(ValueError, match="no answers"):
        responses_to_settle(0, 0, 0.9)


@given(
    n=st.integers(1, 2000),
    fraction=st.floats(0, 1),
    target=st.floats(0.5, 0.99),
    method=st.sampled_from(["wilson", "clopper_pearson", "agresti_coull"]),
)
def test_responses_to_settle_is_the_smallest(
    n: int, fraction: float, target: float, method: str
) -> None:
    x = round(fraction * n)
    more = responses_to_settle(x, n, target, method=method)
    if more is None:  # share equals the target, or more than 2**53 responses needed
        assert abs(x / n - target) < 1e-6
        return

    def settled(m: int) -> bool:
        low, high = _bounds(x / n * (n + m), float(n + m), 0.95, method)
        return low >= target or high < target

    assert settled(more)
    if more > 0:
        assert not settled(more - 1)
