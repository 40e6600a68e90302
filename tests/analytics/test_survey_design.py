"""Design-based shares against R ``survey`` 4.1.1 (R 4.2.2, Debian r-cran-survey).

The reference values below were produced by this R script (run once; the tests do not need
R). ``show`` prints ``svymean(..., deff = "replace")`` (mean, SE, deff), ``degf``/``nrow``, and
``attr(svyciprop(~y, design, method = m), "ci")`` for m in logit, xlogit, beta, mean::

    library(survey)
    bits <- function(s) as.integer(strsplit(s, "")[[1]])
    chars <- function(s) strsplit(s, "")[[1]]
    show <- function(label, design) {
      m <- svymean(~y, design, deff = "replace")
      print(c(coef(m), SE(m), deff(m))); print(c(degf(design), nrow(design)))
      for (meth in c("logit", "xlogit", "beta", "mean"))
        print(attr(svyciprop(~y, design, method = meth), "ci"))
    }
    d <- data.frame(s = chars(S), y = bits(Y), w = W, dom = bits(DOM))  # the data below
    d$N <- c(a = 40, b = 60, c = 500)[d$s]
    show("srs", svydesign(ids = ~1, weights = ~1, data = d))
    show("weighted", svydesign(ids = ~1, weights = ~w, data = d))
    strat <- svydesign(ids = ~1, strata = ~s, weights = ~w, data = d)
    show("strat", strat)
    strat_fpc <- svydesign(ids = ~1, strata = ~s, weights = ~w, fpc = ~N, data = d)
    show("strat_fpc", strat_fpc)
    show("domain_fpc", subset(strat_fpc, dom == 1))
    show("domain_nofpc", subset(strat, dom == 1))
    show("domain_subset_first", svydesign(ids = ~1, strata = ~s, weights = ~w, fpc = ~N,
                                          data = d[d$dom == 1, ]))

The pooled, respondent-clustered case is in ``test_index_composition.py``.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import SURVEY_METHODS, SurveyEstimate, proportion_ci, survey_proportion

S = list("aaaaaaaaaaaabbbbbbbbbbbbbbbcccccccccccccccccc")
Y = [int(c) for c in "111011111101111110111101101111110111111111111"]
W = [4.5, 3.0, 4.5, 1.5, 2.0, 2.0, 1.5, 3.0, 4.5, 2.0, 2.0, 4.5, 4.5, 2.0, 4.5, 2.0,
     4.5, 2.0, 1.5, 3.0, 2.0, 2.0, 2.0, 3.0, 4.5, 2.0, 2.0, 4.5, 2.0, 1.5, 3.0, 2.0,
     2.0, 3.0, 1.5, 4.5, 2.0, 4.5, 2.0, 1.5, 3.0, 2.0, 2.0, 3.0, 4.5]  # fmt: skip
DOM = [c == "1" for c in "010111111110010101110011100101100101100011010"]
N_H = {"a": 40, "b": 60, "c": 500}

# label -> (mean, SE, deff "replace", degf, nrow, {method: (low, high)})
R_SURVEY = {
    "srs": (0.866666666666667, 0.0512470743190538, 1.0, 44, 45, {
        "logit": (0.726714827811422, 0.940787579469982),
        "xlogit": (0.726714827811614, 0.940787579470241),
        "beta": (0.73016867786229, 0.950165245817969),
        "mean": (0.763384974798936, 0.969948358534398)}),
    "weighted": (0.908, 0.0375830902014578, 0.743984646619422, 44, 45, {
        "logit": (0.799430062084115, 0.960690102656979),
        "xlogit": (0.799430062084115, 0.96069010265698),
        "beta": (0.804078764655423, 0.967601668652934),
        "mean": (0.832256258660587, 0.983743741339413)}),
    "strat": (0.908, 0.0379296632879835, 0.757769245764117, 42, 45, {
        "logit": (0.797887375041821, 0.96105080766429),
        "xlogit": (0.797887375041821, 0.96105080766429),
        "beta": (0.802651820698659, 0.968060371843587),
        "mean": (0.831454840524456, 0.984545159475544)}),
    "strat_fpc": (0.908, 0.0334478533947555, 0.589271588962248, 42, 45, {
        "logit": (0.814786204774305, 0.956789366445123),
        "xlogit": (0.814786204774305, 0.956789366445123),
        "beta": (0.818370120784917, 0.962658599342864),
        "mean": (0.84049949906549, 0.97550050093451)}),
    "domain_fpc": (0.889705882352941, 0.0468924034048754, 0.560203968403509, 23, 26, {
        "logit": (0.75011107696561, 0.955903472347639),
        "xlogit": (0.750111077129058, 0.955903472554312),
        "beta": (0.75905312796528, 0.963852120094071),
        "mean": (0.792701555178606, 0.986710209527277)}),
    "domain_nofpc": (0.889705882352941, 0.0545903876480619, 0.759230336009238, 23, 26, {
        "logit": (0.718477922787731, 0.962259725163447),
        "xlogit": (0.718477922889552, 0.962259725354892),
        "beta": (0.730560785141665, 0.97190673340773),
        "mean": (0.776777061489052, 1.00263470321683)}),  # R does not clip "mean" at 1
    "domain_subset_first": (0.889705882352941, 0.0494831778622972, 0.623815787196168, 23, 26, {
        "logit": (0.739734456358161, 0.958149169579302),
        "xlogit": (0.739734456493783, 0.958149169782629),
        "beta": (0.749661049942843, 0.966702673684126),
        "mean": (0.787342129880381, 0.992069634825502)}),
}  # fmt: skip

CALLS = {
    "srs": lambda m: survey_proportion(Y, method=m),
    "weighted": lambda m: survey_proportion(Y, W, method=m),
    "strat": lambda m: survey_proportion(Y, W, strata=S, method=m),
    "strat_fpc": lambda m: survey_proportion(Y, W, strata=S, population=N_H, method=m),
    "domain_fpc": lambda m: survey_proportion(Y, W, strata=S, population=N_H, domain=DOM, method=m),
    "domain_nofpc": lambda m: survey_proportion(Y, W, strata=S, domain=DOM, method=m),
    "domain_subset_first": lambda m: survey_proportion(
        [y for y, d in zip(Y, DOM, strict=True) if d],
        [w for w, d in zip(W, DOM, strict=True) if d],
        strata=[s for s, d in zip(S, DOM, strict=True) if d],
        population=N_H,
        method=m,
    ),
}


@pytest.mark.parametrize("method", SURVEY_METHODS)
@pytest.mark.parametrize("label", list(R_SURVEY))
def test_matches_r_survey(label: str, method: str) -> None:
    mean, se, deff, df, nrow, intervals = R_SURVEY[label]
    result = CALLS[label](method)
    assert isinstance(result, SurveyEstimate)
    assert result.method == method
    assert result.estimate == pytest.approx(mean, abs=1e-12)
    assert result.se == pytest.approx(se, rel=1e-9)
    assert result.deff == pytest.approx(deff, rel=1e-9)
    assert result.n_eff == pytest.approx(nrow / deff, rel=1e-9)
    assert (result.df, result.n) == (df, nrow)
    low, high = intervals[method]
    # R's "logit" fits svyglm by IRLS (convergence ~1e-9); "xlogit" is the same interval in
    # closed form (delta method on the logit, t_df): match it to 1e-9, the fitted one to 1e-8.
    tolerance = 1e-8 if method in ("beta", "logit") else 1e-9
    assert result.low == pytest.approx(low, abs=tolerance, rel=0)
    assert result.high == pytest.approx(min(high, 1.0), abs=tolerance, rel=0)
    if method == "logit":
        assert (result.low, result.high) == pytest.approx(intervals["xlogit"], abs=1e-9, rel=0)


def test_fpc_narrows_and_domain_inside_full_design_differs_from_subset_first() -> None:
    plain = survey_proportion(Y, W, strata=S)
    fpc = survey_proportion(Y, W, strata=S, population=N_H)
    assert fpc.se < plain.se and fpc.low > plain.low
    inside = CALLS["domain_fpc"]("logit")
    first = CALLS["domain_subset_first"]("logit")
    assert inside.estimate == first.estimate
    assert inside.se != pytest.approx(first.se, rel=1e-3)


def test_kish_effective_sample_size() -> None:
    w = np.array(W)
    assert survey_proportion(Y, W).kish_n_eff == pytest.approx(w.sum() ** 2 / (w**2).sum())
    wd = w[np.array(DOM)]
    result = survey_proportion(Y, W, strata=S, domain=DOM)
    assert result.kish_n_eff == pytest.approx(wd.sum() ** 2 / (wd**2).sum())
    assert survey_proportion(Y).kish_n_eff == pytest.approx(45.0)


def test_scaling_weights_changes_nothing() -> None:
    a = survey_proportion(Y, W, strata=S, domain=DOM)
    b = survey_proportion(Y, [7.0 * w for w in W], strata=S, domain=DOM)
    assert b.estimate == pytest.approx(a.estimate, abs=1e-15)
    assert b.se == pytest.approx(a.se, rel=1e-12)


def test_unweighted_srs_logit_equals_the_formula() -> None:
    # SRS, 39 of 45: se^2 = p (1 - p) / (n - 1); logit interval with t_44.
    from scipy import stats

    p, n = 39 / 45, 45
    se = math.sqrt(p * (1 - p) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * se / (p * (1 - p))
    centre = math.log(p / (1 - p))
    result = survey_proportion(Y)
    assert result.low == pytest.approx(1 / (1 + math.exp(-(centre - half))), abs=1e-12)
    assert result.high == pytest.approx(1 / (1 + math.exp(-(centre + half))), abs=1e-12)


@pytest.mark.parametrize("share", [0, 1])
def test_degenerate_share_falls_back_to_clopper_pearson(share: int) -> None:
    y = [share] * 20 + [1 - share] * 5
    domain = [True] * 20 + [False] * 5
    result = survey_proportion(y, range(1, 26), strata=["a", "b"] * 12 + ["a"], domain=domain)
    exact = proportion_ci(20 * share, 20, method="clopper_pearson")
    assert result.method == "clopper_pearson"
    assert (result.estimate, result.low, result.high) == (exact.estimate, exact.low, exact.high)
    assert (result.se, result.deff, result.n_eff, result.n) == (0.0, None, None, 20)


def test_census_stratum_contributes_no_variance() -> None:
    # every unit of the population answered: f_h = 1, Var = 0, the interval is the point
    result = survey_proportion([1, 0, 1, 1], strata=["a"] * 4, population={"a": 4})
    assert result.se == 0.0 and result.low == result.high == 0.75


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": [1, 0, 2]}, "only 0 and 1"),
        ({"y": [1, 0, float("nan")]}, "only 0 and 1"),
        ({"y": []}, "no answers"),
        ({"y": [1, 0, 1], "weights": [1, -1, 1]}, "negative"),
        ({"y": [1, 0, 1], "weights": [1, float("inf"), 1]}, "finite"),
        ({"y": [1, 0, 1], "weights": [1, 1]}, "mismatched"),
        ({"y": [1, 0, 1], "strata": ["a", "b"]}, "mismatched"),
        ({"y": [1, 0, 1], "clusters": [1, 2]}, "mismatched"),
        ({"y": [1, 0, 1], "domain": [True, False]}, "mismatched"),
        ({"y": [1, 0, 1], "domain": [False, False, False]}, "no answers"),
        ({"y": [1, 0, 1], "weights": [0, 0, 0]}, "no answers"),
        ({"y": [1, 0, 1], "confidence": 0}, "confidence"),
        ({"y": [1, 0, 1], "method": "wilson"}, "unknown method"),
        ({"y": [1, 0, 1, 0], "strata": ["a", "a", "a", "b"]}, "single cluster"),
        ({"y": [1, 0, 1, 0], "strata": ["a", "a", "b", "b"], "population": {"a": 10}}, "'b'"),
        ({"y": [1, 0, 1, 0], "strata": ["a", "a", "b", "b"], "population": {"a": 1, "b": 5}},
         "smaller"),
        ({"y": [1, 0, 1, 0], "clusters": [1, 1, 1, 1]}, "single cluster"),
        ({"y": [1, 0, 1, 0], "clusters": [1, 1, 2, 2], "domain": [1, 1, 0, 0]}, "df = 0"),
    ],
)  # fmt: skip
def test_impossible_input_raises(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        survey_proportion(**kwargs)


@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.floats(0.1, 10), st.sampled_from("abc"), st.booleans()),
        min_size=2,
        max_size=60,
    ),
    method=st.sampled_from(SURVEY_METHODS),
)
def test_interval_contains_estimate_within_unit(data: list, method: str) -> None:
    y, w, s, d = (list(column) for column in zip(*data, strict=True))
    strata_sizes = {h: s.count(h) for h in set(s)}
    if min(strata_sizes.values()) < 2 or not any(d):
        return
    try:
        result = survey_proportion(y, w, strata=s, domain=d, method=method)
    except ValueError as exc:  # a domain within too few clusters has no interval
        assert "df" in str(exc)
        return
    assert 0.0 <= result.low <= result.estimate <= result.high <= 1.0
    assert result.n == sum(d)
