"""Index composition (items -> factors -> contents -> SIPAS) against R ``survey`` 4.1.1.

40 respondents answer 7 items (A1-A3 form factor A, B1-B2 factor B, P1-P2 factor P; contents
service = A, B and policy = P; SIPAS = 0.5 policy + 0.5 service). The R script, run once::

    library(survey)
    m <- ...   # the 40 x 7 answers below: 1, 0, NA
    wide <- data.frame(rid = 1:40, st = ST, wi = WI)
    for (it in items) {
      wide[[paste0("y", it)]] <- ifelse(is.na(m[, it]), 0, m[, it])   # positive
      wide[[paste0("v", it)]] <- as.numeric(!is.na(m[, it]))          # valid
    }
    idx <- function(design) {
      r <- svyratio(~yA1+yA2+yA3+yB1+yB2+yP1+yP2, ~vA1+vA2+vA3+vB1+vB2+vP1+vP2, design,
                    covmat = TRUE)
      # contrasts over the ratios "yA1/vA1", ...: A = 1/3 each of A1-A3, B = 1/2 each of B1-B2,
      # P = 1/2 each of P1-P2, service = (A + B)/2, policy = P, sipas = service/2 + policy/2
      sc <- svycontrast(r, contrast); est <- coef(sc); se <- SE(sc)
      h <- qt(0.975, degf(design)) * se / (est * (1 - est))
      plogis(qlogis(est) + c(-h, h))
    }
    idx(svydesign(ids = ~rid, data = wide))                                  # unweighted
    idx(svydesign(ids = ~rid, strata = ~st, weights = ~wi, data = wide))     # stratified, weighted
    # pooled answers of factor A, one row per valid answer, respondent as the cluster:
    long <- rbind(<rid, st, wi, y = m[, it]> for it in A1, A2, A3); long <- long[!is.na(long$y), ]
    svymean(~y, svydesign(ids = ~rid, strata = ~st, weights = ~wi, data = long), deff = "replace")
    svyciprop(~y, <same design>, method = "logit" | "xlogit" | "beta" | "mean")
    svymean(~y, svydesign(ids = ~1, strata = ~st, weights = ~wi, data = long), deff = "replace")
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import (
    IndexFigure,
    IndexGrouping,
    IndexReport,
    Verdict,
    compose_index,
    proportion_ci,
    survey_proportion,
    verdict,
)

ITEMS = ["A1", "A2", "A3", "B1", "B2", "P1", "P2"]
ROWS = [
    "0100.11", "11111.1", "11111.0", "1101.01", "1000.11", "1111111", "110.111", "1111111",
    "1111011", "0100.11", "1101111", "1.11110", "1111111", "11111..", "111011.", "1111110",
    "0111111", "11001.0", "10.1101", ".0101.1", "11111.1", "1011111", "1111111", "0..10.0",
    "11111.1", "1111.10", "011111.", "11110.1", "1111.11", "10110.1", "1.10110", "111000.",
    "...1001", ".01.111", "1..1111", "1111111", "1.1111.", "11.1111", "1011101", "1.1110.",
]  # fmt: skip
ANSWERS = np.array([[math.nan if c == "." else float(c) for c in row] for row in ROWS])
ST = list("uuuuuuuuuuuuuuuuuuvvvvvvvvvvvvvvvvvvvvvv")
WI = [1.0, 1.0, 2.0, 1.0, 2.5, 1.0, 2.0, 1.0, 2.5, 1.0, 2.0, 2.0, 2.5, 2.0, 2.0, 2.5, 2.5, 1.0,
      1.0, 1.0, 2.5, 2.5, 2.0, 2.5, 2.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.5, 1.0, 2.5, 2.0, 1.0,
      2.5, 1.0, 1.0, 2.5]  # fmt: skip
GROUPING = IndexGrouping(
    factors={"A": ["A1", "A2", "A3"], "B": ["B1", "B2"], "P": ["P1", "P2"]},
    contents={"service": ["A", "B"], "policy": ["P"]},
    index={"policy": 0.5, "service": 0.5},
)

# figure -> (estimate, SE, low, high); svycontrast(svyratio(...)) and the logit interval above
R_UNWEIGHTED = {  # degf = 39
    "A1": (0.864864864864865, 0.0569187163775845, 0.705000683719555, 0.944870881756143),
    "B2": (0.823529411764706, 0.0662115809027889, 0.649970517144773, 0.921433156585598),
    "A": (0.817581217581218, 0.038316723637491, 0.727185082397696, 0.882850293102575),
    "B": (0.806501547987616, 0.0472724915210309, 0.693115630985174, 0.884948214858762),
    "service": (0.812041382784417, 0.0348709395140104, 0.7312967284964, 0.872744654990339),
    "policy": (0.797058823529412, 0.0479772051741734, 0.683104914662025, 0.877390422680828),
    "sipas": (0.804550103156914, 0.0308466382766318, 0.73462184173134, 0.859574248008073),
}
R_STRATIFIED_WEIGHTED = {  # degf = 38
    "A1": (0.875968992248062, 0.0586524036356295, 0.703067017309416, 0.954681067424188),
    "B2": (0.809917355371901, 0.0741224791190622, 0.616517740967492, 0.918650629096512),
    "A": (0.832676692574594, 0.0407721274913863, 0.733470634812345, 0.899991660698079),
    "B": (0.811935421871997, 0.0543786611603772, 0.677367943930997, 0.8987642416427),
    "service": (0.822306057223295, 0.0370714930776109, 0.734669642180765, 0.885507820729907),
    "policy": (0.807266848196052, 0.0531492251329946, 0.677172042471126, 0.893203524385862),
    "sipas": (0.814786452709674, 0.0336836357934099, 0.736831215007688, 0.873610909247506),
}


def _pick(report: IndexReport, key: str) -> IndexFigure:
    if key == "sipas":
        return report.index
    for level in (report.items, report.factors, report.contents):
        if key in level:
            return level[key]
    raise KeyError(key)


@pytest.mark.parametrize(
    ("reference", "kwargs", "df"),
    [
        (R_UNWEIGHTED, {}, 39),
        (R_STRATIFIED_WEIGHTED, {"weights": WI, "strata": ST}, 38),
    ],
    ids=["unweighted", "stratified-weighted"],
)
@pytest.mark.parametrize("key", list(R_UNWEIGHTED))
def test_matches_r_survey(reference: dict, kwargs: dict, df: int, key: str) -> None:
    report = compose_index(ANSWERS, ITEMS, GROUPING, min_n=1, **kwargs)
    figure = _pick(report, key)
    estimate, se, low, high = reference[key]
    assert figure.estimate == pytest.approx(estimate, abs=1e-12)
    assert figure.se == pytest.approx(se, rel=1e-9)
    assert figure.low == pytest.approx(low, abs=1e-9, rel=0)
    assert figure.high == pytest.approx(high, abs=1e-9, rel=0)
    assert (figure.df, figure.method, figure.suppressed) == (df, "logit", False)


def test_item_shares_and_counts_are_the_published_formula() -> None:
    report = compose_index(ANSWERS, ITEMS, GROUPING, min_n=1)
    valid = ~np.isnan(ANSWERS)
    for j, key in enumerate(ITEMS):
        figure = report.items[key]
        positives = int(np.nansum(ANSWERS[:, j]))
        assert figure.n == int(valid[:, j].sum())
        assert figure.estimate == pytest.approx(positives / figure.n, abs=1e-15)
    factor_a = np.mean([report.items[k].estimate for k in ("A1", "A2", "A3")])
    assert report.factors["A"].estimate == pytest.approx(factor_a, abs=1e-15)
    assert report.factors["A"].n == 39  # one respondent answered none of A1-A3
    assert report.index.n == 40
    assert report.respondents == 40


def test_clustering_matters_for_the_factor() -> None:
    # Pooled answers of factor A: the factor's deff against a binomial of the pooled answers
    # is above 1, i.e. a pooled binomial would understate the standard error.
    figure = compose_index(ANSWERS, ITEMS, GROUPING, min_n=1).factors["A"]
    assert figure.deff is not None and figure.deff > 1
    assert figure.n_eff == pytest.approx(105 / figure.deff)  # 105 valid answers to A1-A3


# svymean / svyciprop on the long data, respondent as the cluster (R survey 4.1.1):
# label -> (mean, SE, deff "replace", degf, nrow, {method: (low, high)})
R_POOLED = {
    "clustered": (0.834710743801653, 0.0402728692571189, 1.22258159877065, 37, 105, {
        "logit": (0.736517410316837, 0.901217918930351),
        "xlogit": (0.736517412469885, 0.901217921060274),
        "beta": (0.736027110652538, 0.907811781416292),
        "mean": (0.753110159648322, 0.916311327954984)}),
    "naive": (0.834710743801653, 0.0383027225232737, 1.10589017358447, 103, 105, {
        "logit": (0.744368002506742, 0.897521109782377),
        "xlogit": (0.744368004625014, 0.897521111979509),
        "beta": (0.74397267820134, 0.903349086721273),
        "mean": (0.758746327574037, 0.910675160029268)}),
}  # fmt: skip


@pytest.mark.parametrize("method", ["logit", "beta", "mean"])
@pytest.mark.parametrize("label", list(R_POOLED))
def test_pooled_answers_with_respondent_clusters_match_r(label: str, method: str) -> None:
    y, w, s, rid = [], [], [], []
    for j in range(3):  # A1, A2, A3 stacked like rbind in R
        for r in range(len(ROWS)):
            if not math.isnan(ANSWERS[r, j]):
                y.append(int(ANSWERS[r, j]))
                w.append(WI[r])
                s.append(ST[r])
                rid.append(r)
    clusters = rid if label == "clustered" else None
    result = survey_proportion(y, w, strata=s, clusters=clusters, method=method)
    mean, se, deff, df, nrow, intervals = R_POOLED[label]
    assert result.estimate == pytest.approx(mean, abs=1e-12)
    assert result.se == pytest.approx(se, rel=1e-9)
    assert result.deff == pytest.approx(deff, rel=1e-9)
    assert (result.df, result.n) == (df, nrow)
    # R's "logit" is fitted by IRLS (see test_survey_design.py): 1e-8, and 1e-9 to "xlogit"
    tolerance = 1e-8 if method in ("beta", "logit") else 1e-9
    assert (result.low, result.high) == pytest.approx(intervals[method], abs=tolerance, rel=0)
    if method == "logit":
        assert (result.low, result.high) == pytest.approx(intervals["xlogit"], abs=1e-9, rel=0)


def test_suppression_below_min_n_and_verdicts() -> None:
    report = compose_index(ANSWERS, ITEMS, GROUPING, target=0.7, min_n=38)
    suppressed = report.items["A1"]  # 37 valid answers < 38
    assert suppressed.suppressed and suppressed.n == 37
    assert suppressed.estimate is None and suppressed.low is None and suppressed.verdict is None
    assert suppressed.note == "below minimum n"
    factor = report.factors["A"]  # 39 respondents
    assert not factor.suppressed
    assert factor.verdict is Verdict.MET == verdict(factor, 0.7)
    assert factor.more_responses == 0
    assert report.index.verdict is Verdict.MET
    report = compose_index(ANSWERS, ITEMS, GROUPING, target=0.9, min_n=30)
    assert report.index.verdict is Verdict.NOT_MET  # high 0.8596 < 0.9
    assert report.factors["A"].verdict is Verdict.NOT_MET  # high 0.8829 < 0.9
    assert report.items["A1"].verdict is Verdict.INCONCLUSIVE  # (0.705, 0.945)
    assert compose_index(ANSWERS, ITEMS, GROUPING).min_n == 30


def test_more_responses_settles_the_projected_logit_interval() -> None:
    report = compose_index(ANSWERS, ITEMS, GROUPING, target=0.85, min_n=1)
    figure = report.items["A1"]  # 0.865, interval (0.705, 0.945): inconclusive
    assert figure.verdict is Verdict.INCONCLUSIVE
    assert figure.more_responses is not None and figure.more_responses > 0
    from analytics.design import t_value

    def low_at(m: int) -> float:
        assert figure.estimate is not None and figure.se is not None and figure.df is not None
        half = t_value(0.95, figure.df + m) * figure.se * math.sqrt(figure.n / (figure.n + m))
        centre = math.log(figure.estimate / (1 - figure.estimate))
        return 1 / (1 + math.exp(-(centre - half / (figure.estimate * (1 - figure.estimate)))))

    assert low_at(figure.more_responses) >= 0.85 > low_at(figure.more_responses - 1)


def test_no_answers_and_missing_items() -> None:
    answers = ANSWERS.copy()
    answers[:, ITEMS.index("B2")] = math.nan  # nobody answered B2
    answers[:, ITEMS.index("P1")] = math.nan  # nor the policy items
    answers[:, ITEMS.index("P2")] = math.nan
    report = compose_index(answers, ITEMS, GROUPING, min_n=1)
    b2 = report.items["B2"]
    assert (b2.n, b2.estimate, b2.note, b2.suppressed) == (0, None, "no answers", True)
    assert report.factors["B"].missing == ("B2",)
    assert report.factors["B"].estimate == report.items["B1"].estimate
    assert report.contents["policy"].note == "no answers"
    assert report.contents["policy"].missing == ("P",)
    assert report.index.missing == ("policy",)
    assert report.index.estimate == pytest.approx(report.contents["service"].estimate)


def test_no_respondents_at_all() -> None:
    report = compose_index(np.empty((0, 7)), ITEMS, GROUPING, target=0.9)
    assert report.respondents == 0
    assert report.index.note == "no answers" and report.index.n == 0
    assert all(f.note == "no answers" for f in report.items.values())


def test_degenerate_factor_falls_back_to_clopper_pearson() -> None:
    answers = np.ones((40, 7))
    answers[0, 0] = math.nan
    answers[:, 5] = 0.0
    report = compose_index(answers, ITEMS, GROUPING, target=0.9)
    factor = report.factors["A"]
    exact = proportion_ci(40, 40, method="clopper_pearson")
    assert (factor.estimate, factor.method, factor.se) == (1.0, "clopper_pearson", 0.0)
    assert (factor.low, factor.high) == (exact.low, exact.high)
    assert factor.verdict is verdict(exact, 0.9) is Verdict.MET  # low 0.025^(1/40) = 0.912
    assert factor.more_responses == 0
    assert report.items["P1"].estimate == 0.0 and report.items["P1"].verdict is Verdict.NOT_MET
    assert report.factors["P"].method == "logit"  # P1 all 0, P2 all 1: mean 0.5


def test_stratified_fpc_narrows_the_index() -> None:
    plain = compose_index(ANSWERS, ITEMS, GROUPING, weights=WI, strata=ST, min_n=1).index
    fpc = compose_index(
        ANSWERS, ITEMS, GROUPING, weights=WI, strata=ST, population={"u": 36, "v": 44}, min_n=1
    ).index
    assert fpc.estimate == plain.estimate
    assert plain.se is not None and fpc.se is not None
    # f_u = 18/36, f_v = 22/44: each stratum's variance is halved
    assert fpc.se == pytest.approx(plain.se * math.sqrt(0.5), rel=1e-12)


def test_grouping_is_frozen_and_validated() -> None:
    grouping = IndexGrouping(
        factors={"A": ["A1"]}, contents={"service": ["A"]}, index={"service": 1}
    )
    assert grouping.factors["A"] == ("A1",) and grouping.index["service"] == 1.0
    assert grouping.items == ("A1",)
    with pytest.raises(AttributeError):
        grouping.index = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        grouping.factors["B"] = ("B1",)  # type: ignore[index]
    bad = [
        ({"factors": {}, "contents": {"s": ["A"]}, "index": {"s": 1}}, "factors"),
        ({"factors": {"A": []}, "contents": {"s": ["A"]}, "index": {"s": 1}}, "non-empty"),
        ({"factors": {"A": "A1"}, "contents": {"s": ["A"]}, "index": {"s": 1}}, "list of keys"),
        ({"factors": {"A": ["A1", "A1"]}, "contents": {"s": ["A"]}, "index": {"s": 1}}, "twice"),
        ({"factors": {"A": ["A1"]}, "contents": {"s": ["X"]}, "index": {"s": 1}}, "unknown"),
        ({"factors": {"A": ["A1"]}, "contents": {"s": ["A"]}, "index": {"p": 1}}, "unknown"),
        ({"factors": {"A": ["A1"]}, "contents": {"s": ["A"]}, "index": {"s": 0}}, "positive"),
        ({"factors": {"A": ["A1"]}, "contents": {"s": ["A"]}, "index": {"s": "1"}}, "number"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            IndexGrouping(**kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((ANSWERS[0], ITEMS), {}, "2-D"),
        ((ANSWERS, ITEMS[:-1]), {}, "mismatched"),
        ((ANSWERS[:, :-1], ITEMS[:-1]), {}, "no column"),
        ((ANSWERS * 2, ITEMS), {}, "1.0, 0.0 and NaN"),
        ((ANSWERS, ITEMS), {"weights": [-1.0] * 40}, "negative"),
        ((ANSWERS, ITEMS), {"strata": ST[:-1]}, "mismatched"),
        ((ANSWERS, ITEMS), {"target": 1.5}, "target"),
        ((ANSWERS, ITEMS), {"min_n": -1}, "min_n"),
        ((ANSWERS, ITEMS), {"confidence": 2}, "confidence"),
    ],
)
def test_impossible_input_raises(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compose_index(*args, GROUPING, **kwargs)


@settings(max_examples=50, deadline=None)
@given(
    cells=st.lists(st.sampled_from([1.0, 1.0, 1.0, 0.0, math.nan]), min_size=7 * 3, max_size=7 * 3),
    rows=st.integers(3, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_figures_are_coherent(cells: list, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    answers = rng.choice(np.array(cells), size=(rows, 7))
    report = compose_index(answers, ITEMS, GROUPING, min_n=0, target=0.9)
    figures = [*report.items.values(), *report.factors.values(), *report.contents.values()]
    for figure in [*figures, report.index]:
        if figure.estimate is None:
            assert figure.note == "no answers"
            continue
        assert figure.low is not None and figure.high is not None
        assert 0.0 <= figure.low <= figure.estimate <= figure.high <= 1.0
        assert figure.verdict is verdict(figure, 0.9)


def test_a_single_respondent_is_reported_not_refused() -> None:
    """A new unit's first response must not break a report: below min_n it is a count."""
    grouping = IndexGrouping(factors={"A": ("a1", "a2")}, contents={"s": ("A",)}, index={"s": 1.0})
    report = compose_index([[1.0, 0.0]], ["a1", "a2"], grouping, min_n=30)
    assert report.respondents == 1
    assert report.index.suppressed and report.index.n == 1 and report.index.estimate is None
    all_positive = compose_index([[1.0, 1.0]], ["a1", "a2"], grouping, min_n=1)
    assert all_positive.index.estimate == 1.0 and all_positive.index.method == "clopper_pearson"


@settings(max_examples=200, deadline=None)
@given(
    estimate=st.floats(0.5, 0.99),
    se=st.floats(0.001, 0.05),
    n=st.integers(30, 5000),
    target=st.sampled_from([0.8, 0.85, 0.9, 0.95]),
)
def test_responses_to_settle_a_logit_interval_is_the_smallest_that_settles(
    estimate, se, n, target
) -> None:
    """The fast search (started at the normal-theory answer) finds the same m as a plain
    search from 0 over the t-based interval."""
    from analytics.design import t_value
    from analytics.index import _settle_logit
    from analytics.proportion import smallest_settling

    df = n - 1
    centre = math.log(estimate / (1 - estimate))
    scale = se / (estimate * (1 - estimate))

    def settled(m: int) -> bool:
        half = t_value(0.95, df + m) * scale * math.sqrt(n / (n + m))
        low = 1 / (1 + math.exp(-(centre - half)))
        high = 1 / (1 + math.exp(-(centre + half)))
        return low >= target or high < target

    assert _settle_logit(estimate, se, df, n, target, 0.95) == smallest_settling(settled)
