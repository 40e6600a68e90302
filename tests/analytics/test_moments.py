"""Index figures from additive moments equal ``compose_index`` on the rows behind them.

The reference is ``compose_index`` itself (unweighted, no strata, no population), which is
checked against R ``survey`` in ``test_index_composition``; the R values are reused here once.
"""

import itertools
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import (
    MOMENTS_LAYOUT,
    IndexFigure,
    IndexGrouping,
    IndexMoments,
    IndexReport,
    Verdict,
    compose_index,
    index_from_moments,
    proportion_ci,
)
from tests.analytics.test_index_composition import ANSWERS, GROUPING, ITEMS, R_UNWEIGHTED

COUNTER = IndexGrouping(  # sipas.md 3.1: factors A-E with 3/4/3/3/3 items, SIPAS = service
    factors={
        "A": ["A1", "A2", "A3"],
        "B": ["B1", "B2", "B3", "B4"],
        "C": ["C1", "C2", "C3"],
        "D": ["D1", "D2", "D3"],
        "E": ["E1", "E2", "E3"],
    },
    contents={"service": ["A", "B", "C", "D", "E"]},
    index={"service": 1.0},
)
COUNTER_ITEMS = list(COUNTER.items)
ANNUAL = IndexGrouping(  # two contents, 50/50; "overall" is a column outside the grouping
    factors={
        "IA": ["P1", "P2"],
        "IB": ["P3", "P4"],
        "IC": ["P5", "P6", "P7"],
        "A": ["A1", "A2", "A3"],
        "B": ["B1", "B2"],
        "C": ["C1", "C2", "C3"],
    },
    contents={"policy": ["IA", "IB", "IC"], "service": ["A", "B", "C"]},
    index={"policy": 0.5, "service": 0.5},
)
ANNUAL_ITEMS = [*ANNUAL.items, "overall"]

EXACT_FIELDS = ("key", "level", "n", "df", "method", "verdict", "more_responses", "suppressed")


def _close(a: float | None, b: float | None, *, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=rel, abs=abs_)


def assert_same_figure(expected: IndexFigure, actual: IndexFigure) -> None:
    label = f"{expected.level} {expected.key}"
    for name in (*EXACT_FIELDS, "missing", "note"):
        assert getattr(actual, name) == getattr(expected, name), f"{label}: {name}"
    for name in ("estimate", "low", "high", "se"):
        assert _close(getattr(actual, name), getattr(expected, name)), f"{label}: {name}"
    assert _close(actual.deff, expected.deff, abs_=1e-9), f"{label}: deff"
    if expected.deff is not None and expected.deff < 1e-9:
        # A variance that is zero but for compose_index's rounding: n_eff = m / noise.
        assert actual.n_eff is not None and actual.n_eff > 1e9, label
    else:
        assert _close(actual.n_eff, expected.n_eff), f"{label}: n_eff"


def assert_same_report(expected: IndexReport, actual: IndexReport) -> None:
    for name in ("respondents", "confidence", "target", "min_n", "method"):
        assert getattr(actual, name) == getattr(expected, name), name
    for level in ("items", "factors", "contents"):
        want, got = getattr(expected, level), getattr(actual, level)
        assert list(got) == list(want), level
        for key in want:
            assert_same_figure(want[key], got[key])
    assert_same_figure(expected.index, actual.index)


def _answers(rows: int, modes: list[str], p_positive: float, p_missing: float, seed: int):
    """A respondents x items matrix; each column random, all positive/negative or unanswered."""
    rng = np.random.default_rng(seed)
    u = rng.random((rows, len(modes)))
    data = np.where(u < p_positive, 1.0, 0.0)
    data[rng.random((rows, len(modes))) < p_missing] = math.nan
    for j, mode in enumerate(modes):
        column = data[:, j]
        if mode == "positive":
            column[~np.isnan(column)] = 1.0
        elif mode == "negative":
            column[~np.isnan(column)] = 0.0
        elif mode == "missing":
            column[:] = math.nan
        elif mode == "complete":
            data[:, j] = np.where(u[:, j] < p_positive, 1.0, 0.0)
    return data


MODES = st.sampled_from(
    ["random", "random", "random", "complete", "positive", "negative", "missing"]
)
ROWS = st.one_of(st.sampled_from([0, 2, 3, 30, 31, 500]), st.integers(2, 80))
OPTIONS = st.fixed_dictionaries(
    {
        "confidence": st.sampled_from([0.95, 0.95, 0.9, 0.99]),
        "target": st.sampled_from([None, None, 0.9, 0.8, 0.5]),
        "min_n": st.sampled_from([30, 0, 1, 2, 5]),
    }
)


def _check_against_compose(answers, items, grouping, options: dict) -> None:
    moments = IndexMoments.from_rows(answers, items, grouping)
    try:
        expected = compose_index(answers, items, grouping, **options)
    except ValueError as exc:  # e.g. a mixed 0/1 figure with df < 1 and min_n <= 1
        with pytest.raises(ValueError, match=str(exc).split("(")[0]):
            index_from_moments(moments, grouping, **options)
        return
    assert_same_report(expected, index_from_moments(moments, grouping, **options))


@settings(max_examples=60, deadline=None)
@given(
    rows=ROWS,
    modes=st.lists(MODES, min_size=16, max_size=16),
    p_positive=st.floats(0.3, 0.99),
    p_missing=st.sampled_from([0.0, 0.05, 0.3, 0.9]),
    seed=st.integers(0, 2**32 - 1),
    options=OPTIONS,
)
def test_counter_questionnaire_matches_compose_index(
    rows: int, modes: list, p_positive: float, p_missing: float, seed: int, options: dict
) -> None:
    answers = _answers(rows, modes, p_positive, p_missing, seed)
    _check_against_compose(answers, COUNTER_ITEMS, COUNTER, options)


@settings(max_examples=40, deadline=None)
@given(
    rows=ROWS,
    modes=st.lists(MODES, min_size=len(ANNUAL_ITEMS), max_size=len(ANNUAL_ITEMS)),
    p_positive=st.floats(0.3, 0.99),
    p_missing=st.sampled_from([0.0, 0.05, 0.3, 0.9]),
    seed=st.integers(0, 2**32 - 1),
    options=OPTIONS,
)
def test_annual_like_questionnaire_matches_compose_index(
    rows: int, modes: list, p_positive: float, p_missing: float, seed: int, options: dict
) -> None:
    answers = _answers(rows, modes, p_positive, p_missing, seed)
    _check_against_compose(answers, ANNUAL_ITEMS, ANNUAL, options)


@settings(max_examples=40, deadline=None)
@given(
    cells=st.lists(st.sampled_from([1.0, 0.0, math.nan]), min_size=2 * 5, max_size=6 * 5),
    options=OPTIONS,
)
def test_tiny_samples_match_compose_index(cells: list, options: dict) -> None:
    """2 to 6 respondents, every 1/0/NaN pattern: the df < 1 and zero-variance corners."""
    grouping = IndexGrouping(
        factors={"F": ["a", "b"], "G": ["c", "d", "e"]},
        contents={"x": ["F"], "y": ["F", "G"]},
        index={"x": 1.0, "y": 3.0},
    )
    answers = np.array(cells[: len(cells) // 5 * 5]).reshape(-1, 5)
    _check_against_compose(answers, ["a", "b", "c", "d", "e"], grouping, options)


def test_reproduces_r_survey_through_moments() -> None:
    report = index_from_moments(IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING), GROUPING, min_n=1)
    figures = {**report.items, **report.factors, **report.contents, "sipas": report.index}
    for key, (estimate, se, low, high) in R_UNWEIGHTED.items():
        figure = figures[key]
        assert figure.estimate == pytest.approx(estimate, abs=1e-12)
        assert figure.se == pytest.approx(se, rel=1e-9)
        assert (figure.low, figure.high) == pytest.approx((low, high), abs=1e-9, rel=0)
        assert (figure.df, figure.method) == (39, "logit")


def test_many_respondents_from_stored_cells_alone() -> None:
    """The dashboard case: large cells added up, figures equal to the rows' figures."""
    rng = np.random.default_rng(7)
    parts = [_answers(20_000, ["random"] * 16, 0.88, 0.05, int(s)) for s in rng.integers(9, size=5)]
    blobs = [IndexMoments.from_rows(p, COUNTER_ITEMS, COUNTER).to_bytes() for p in parts]
    moments = IndexMoments.sum_bytes(blobs, COUNTER_ITEMS, COUNTER)
    assert moments.respondents == 100_000
    expected = compose_index(np.vstack(parts), COUNTER_ITEMS, COUNTER, target=0.9)
    assert_same_report(expected, index_from_moments(moments, COUNTER, target=0.9))


def _replicated(moments: IndexMoments, doublings: int) -> IndexMoments:
    for _ in range(doublings):
        moments = moments + moments
    return moments


def test_beyond_int64_products_the_variance_is_still_exact() -> None:
    """Moments of every respondent repeated r times: counts past ~1.3 million, where products of
    three counts leave int64 (the variance is then formed in Python integers). The shares are
    unchanged, and each respondent's influence shrinks r times over r times the respondents, so
    se² = se₀² · (1/r) · (rn/(rn−1)) / (n/(n−1)) exactly."""
    base = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    doublings = 17  # 5.2 million respondents: N_ii itself passes 2**63
    r, n = 2**doublings, base.respondents
    big = _replicated(base, doublings)
    assert int(big.valid_valid.max()) ** 3 * 4 >= 2**63  # really past int64
    small_report = index_from_moments(base, GROUPING, min_n=1)
    big_report = index_from_moments(big, GROUPING, min_n=1)
    scale = (1 / r) * (r * n / (r * n - 1)) / (n / (n - 1))
    for level in ("items", "factors", "contents"):
        for key in getattr(small_report, level):
            small, large = getattr(small_report, level)[key], getattr(big_report, level)[key]
            assert large.estimate == pytest.approx(small.estimate, rel=1e-14)
            if small.se is not None:
                assert large.se**2 == pytest.approx(small.se**2 * scale, rel=1e-12)
    assert big_report.index.se**2 == pytest.approx(small_report.index.se**2 * scale, rel=1e-12)


def test_zero_variance_figures_are_degenerate_like_compose_index() -> None:
    """Influences that cancel exactly: recomputed in exact arithmetic, not float noise."""
    grouping = IndexGrouping(
        factors={"F": ["a", "b", "c"], "G": ["d", "e"]},
        contents={"s": ["F", "G"]},
        index={"s": 1.0},
    )
    pattern = [[1.0, 0, 0, 1, 1], [0, 1.0, 0, 0, 1], [0, 0, 1.0, 1, 0]] * 12
    answers = np.array(pattern)
    report = index_from_moments(IndexMoments.from_rows(answers, list("abcde"), grouping), grouping)
    assert_same_report(compose_index(answers, list("abcde"), grouping), report)
    factor = report.factors["F"]  # each respondent answers one of three: 1/3, no variance
    assert factor.estimate == pytest.approx(1 / 3) and factor.method == "logit"
    assert (factor.se, factor.low, factor.high, factor.deff) == (0.0, *[factor.estimate] * 2, 0.0)
    assert factor.n_eff == math.inf
    assert report.factors["G"].se > 0  # d, e: 2/3 each, not cancelling
    # The same cancellation where the variance is formed in Python integers (past int64).
    big = _replicated(IndexMoments.from_rows(answers, list("abcde"), grouping), 17)
    big_factor = index_from_moments(big, grouping).factors["F"]
    assert (big_factor.se, big_factor.low, big_factor.high) == (0.0, *[big_factor.estimate] * 2)


def test_all_positive_factor_falls_back_to_clopper_pearson() -> None:
    answers = np.ones((40, 7))
    answers[0, 0] = math.nan
    answers[:, 5] = 0.0
    moments = IndexMoments.from_rows(answers, ITEMS, GROUPING)
    report = index_from_moments(moments, GROUPING, target=0.9)
    assert_same_report(compose_index(answers, ITEMS, GROUPING, target=0.9), report)
    exact = proportion_ci(40, 40, method="clopper_pearson")
    factor = report.factors["A"]
    assert (factor.estimate, factor.method, factor.se, factor.n) == (1.0, "clopper_pearson", 0, 40)
    assert (factor.low, factor.high, factor.verdict) == (exact.low, exact.high, Verdict.MET)


def test_missing_items_factors_and_no_respondents() -> None:
    answers = ANSWERS.copy()
    answers[:, [ITEMS.index("B2"), ITEMS.index("P1"), ITEMS.index("P2")]] = math.nan
    report = index_from_moments(IndexMoments.from_rows(answers, ITEMS, GROUPING), GROUPING, min_n=1)
    assert_same_report(compose_index(answers, ITEMS, GROUPING, min_n=1), report)
    assert report.factors["B"].missing == ("B2",) and report.index.missing == ("policy",)
    assert report.contents["policy"].note == "no answers"

    empty = np.empty((0, 7))
    zero = IndexMoments.zero(ITEMS, GROUPING)
    assert zero == IndexMoments.from_rows(empty, ITEMS, GROUPING)
    report = index_from_moments(zero, GROUPING, target=0.9)
    assert_same_report(compose_index(empty, ITEMS, GROUPING, target=0.9), report)
    assert report.respondents == 0 and report.index.note == "no answers"


def test_suppression_below_min_n_keeps_the_count() -> None:
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    report = index_from_moments(moments, GROUPING, target=0.7, min_n=38)
    assert_same_report(compose_index(ANSWERS, ITEMS, GROUPING, target=0.7, min_n=38), report)
    a1 = report.items["A1"]
    assert (a1.suppressed, a1.n, a1.estimate, a1.df, a1.note) == (
        True,
        37,
        None,
        39,
        "below minimum n",
    )


def test_a_single_respondent_gives_the_same_figures_both_ways() -> None:
    """One respondent (a new unit's first response) is reported, not refused, on both paths."""
    row = np.array([[1.0, 1.0, math.nan, 0.0, 0.0, 1.0, 0.0]])  # A: 1, 1; B: 0, 0; P: 1, 0
    moments = IndexMoments.from_rows(row, ITEMS, GROUPING)
    report = index_from_moments(moments, GROUPING, target=0.9)
    assert report == compose_index(row, ITEMS, GROUPING, target=0.9)
    assert report.respondents == 1
    assert all(f.suppressed and f.note == "below minimum n" for f in report.factors.values())
    assert (report.index.n, report.index.df, report.items["A3"].note) == (1, 0, "no answers")
    # ... and a share strictly inside (0, 1) has no design-based interval, as in compose_index.
    with pytest.raises(ValueError, match=r"too few respondents .*df = 0"):
        index_from_moments(moments, GROUPING, min_n=0)
    # Without suppression, figures of one respondent are Clopper-Pearson on n = 1.
    row = np.array([[1.0, 1.0, math.nan, 1.0, 1.0, 1.0, 1.0]])
    report = index_from_moments(IndexMoments.from_rows(row, ITEMS, GROUPING), GROUPING, min_n=1)
    exact = proportion_ci(1, 1, method="clopper_pearson")
    for figure in [*report.items.values(), *report.factors.values(), report.index]:
        if figure.key != "A3":
            assert (figure.estimate, figure.low, figure.high) == (1.0, exact.low, 1.0)
            assert (figure.n, figure.df, figure.method) == (1, 0, "clopper_pearson")


def test_figure_n_is_respondents_with_a_valid_answer_in_the_group() -> None:
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    valid = ~np.isnan(ANSWERS)
    report = compose_index(ANSWERS, ITEMS, GROUPING, min_n=1)
    for key, members in GROUPING.factors.items():
        columns = [ITEMS.index(i) for i in members]
        assert moments.factor_n[key] == valid[:, columns].any(axis=1).sum() == report.factors[key].n
    assert moments.content_n == {k: f.n for k, f in report.contents.items()}
    assert moments.index_n == report.index.n == 40 == moments.respondents
    assert list(moments.valid) == [report.items[i].n for i in ITEMS]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(0, 60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    seed=st.integers(0, 2**32 - 1),
    order=st.randoms(use_true_random=False),
)
def test_moments_of_a_partition_add_up_to_the_whole(
    rows: int, cuts: list, seed: int, order: object
) -> None:
    answers = _answers(rows, ["random"] * 7, 0.8, 0.2, seed)
    bounds = [0, *sorted(min(c, rows) for c in cuts), rows]
    parts = [
        IndexMoments.from_rows(answers[a:b], ITEMS, GROUPING) for a, b in itertools.pairwise(bounds)
    ]
    whole = IndexMoments.from_rows(answers, ITEMS, GROUPING)
    shuffled = list(parts)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert (
        sum(parts)
        == whole
        == sum(shuffled)
        == sum(reversed(parts), IndexMoments.zero(ITEMS, GROUPING))
    )
    left = parts[0]
    for part in parts[1:]:
        left = left + part
    right = parts[-1]
    for part in reversed(parts[:-1]):
        right = part + right
    assert left == right == whole
    assert IndexMoments.sum_bytes([p.to_bytes() for p in shuffled], ITEMS, GROUPING) == whole
    np.testing.assert_array_equal(
        whole.positive_valid, (answers == 1.0).astype(int).T @ (~np.isnan(answers)).astype(int)
    )


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.sampled_from(["a", "b", ("c", 1), 7]), max_size=70),
    p_missing=st.sampled_from([0.0, 0.2, 0.9]),
    seed=st.integers(0, 2**32 - 1),
    chunk=st.sampled_from([1, 3, 2048]),
    large=st.sampled_from([1, 5, 12, 10**9]),
)
def test_moments_of_groups_equal_from_rows_of_each_group(
    labels: list, p_missing: float, seed: int, chunk: int, large: int
) -> None:
    """from_groups (large groups by matrix products, the others row by row in chunks) gives what
    from_rows gives per group."""
    answers = _answers(len(labels), ["random"] * 16, 0.8, p_missing, seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("analytics.moments._GROUP_CHUNK_ROWS", chunk)
        patch.setattr("analytics.moments._LARGE_GROUP_ROWS", large)
        grouped = IndexMoments.from_groups(answers, labels, COUNTER_ITEMS, COUNTER)
    assert set(grouped) == set(labels)
    for label, moments in grouped.items():
        rows = [i for i, other in enumerate(labels) if other == label]
        assert moments == IndexMoments.from_rows(answers[rows], COUNTER_ITEMS, COUNTER)
        assert moments.respondents == len(rows)
    blobs = [grouped[label].to_bytes() for label in grouped]
    assert IndexMoments.each_from_bytes(blobs, COUNTER_ITEMS, COUNTER) == list(grouped.values())
    # Stored one row per response, summed back per label (as a dashboard sums stored rows).
    per_row = [
        (label, IndexMoments.from_rows(answers[i : i + 1], COUNTER_ITEMS, COUNTER).to_bytes())
        for i, label in enumerate(labels)
    ]
    assert IndexMoments.sum_bytes_by(per_row, COUNTER_ITEMS, COUNTER) == grouped


def test_moments_of_groups_check_their_input() -> None:
    answers = _answers(3, ["random"] * 16, 0.8, 0.1, 1)
    with pytest.raises(ValueError, match="2 group labels for 3 answer rows"):
        IndexMoments.from_groups(answers, ["a", "b"], COUNTER_ITEMS, COUNTER)
    with pytest.raises(ValueError, match=r"only 1\.0, 0\.0 and NaN"):
        IndexMoments.from_groups(answers * 2, ["a"] * 3, COUNTER_ITEMS, COUNTER)
    assert IndexMoments.from_groups(answers[:0], [], COUNTER_ITEMS, COUNTER) == {}
    assert IndexMoments.each_from_bytes([], COUNTER_ITEMS, COUNTER) == []
    assert IndexMoments.sum_bytes_by([], COUNTER_ITEMS, COUNTER) == {}
    good = IndexMoments.from_rows(answers, COUNTER_ITEMS, COUNTER).to_bytes()
    with pytest.raises(ValueError, match="wrong size"):
        IndexMoments.each_from_bytes([good, good[:-8]], COUNTER_ITEMS, COUNTER)


def test_one_response_at_a_time_through_the_database() -> None:
    blob = IndexMoments.zero(COUNTER_ITEMS, COUNTER).to_bytes()
    answers = _answers(45, ["random"] * 16, 0.85, 0.1, 3)
    for row in answers:
        cell = IndexMoments.from_bytes(blob, COUNTER_ITEMS, COUNTER)
        blob = (cell + IndexMoments.from_rows(row[None, :], COUNTER_ITEMS, COUNTER)).to_bytes()
    stored = IndexMoments.from_bytes(blob, COUNTER_ITEMS, COUNTER)
    assert stored == IndexMoments.from_rows(answers, COUNTER_ITEMS, COUNTER)
    assert_same_report(
        compose_index(answers, COUNTER_ITEMS, COUNTER, target=0.9),
        index_from_moments(stored, COUNTER, target=0.9),
    )


def test_other_index_weights_use_the_same_moments() -> None:
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    reweighted = IndexGrouping(
        factors=GROUPING.factors, contents=GROUPING.contents, index={"service": 2, "policy": 1}
    )
    assert_same_report(
        compose_index(ANSWERS, ITEMS, reweighted, min_n=1),
        index_from_moments(moments, reweighted, min_n=1),
    )
    assert moments + IndexMoments.from_rows(ANSWERS, ITEMS, reweighted) == moments + moments


def test_bytes_layout_and_round_trip() -> None:
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    blob = moments.to_bytes()
    k, factors, contents = 7, 3, 2
    size = 1 + 2 * k + 2 * (k * (k + 1) // 2) + k * k + factors + contents + 1
    assert len(blob) == 8 + 8 * size and blob[0] == MOMENTS_LAYOUT == 1
    values = np.frombuffer(blob, dtype="<f8", offset=8)
    assert values[0] == 40 and list(values[1 : 1 + k]) == list(moments.positive)
    restored = IndexMoments.from_bytes(bytearray(blob), ITEMS, GROUPING)
    assert restored == moments and restored.to_bytes() == blob
    assert IndexMoments.sum_bytes([], ITEMS, GROUPING) == IndexMoments.zero(ITEMS, GROUPING)


def _tampered(blob: bytes, index: int, value: float) -> bytes:
    return blob[: 8 + 8 * index] + struct.pack("<d", value) + blob[8 + 8 * (index + 1) :]


def test_bad_blobs_raise() -> None:
    blob = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING).to_bytes()
    bad = [
        (bytes([2]) + blob[1:], "layout version 2"),
        (blob[:-8], "wrong size"),
        (blob + bytes(8), "wrong size"),
        (blob[:5], "too short"),
        (_tampered(blob, 0, math.nan), "not counts"),
        (_tampered(blob, 1, 0.5), "not counts"),
        (_tampered(blob, 1, -1.0), "not counts"),
        (_tampered(blob, 1, 39.0), "inconsistent"),  # Y_A1 above V_A1 and the diagonal
        ("text", "must be bytes"),
    ]
    for value, message in bad:
        with pytest.raises(ValueError, match=message):
            IndexMoments.from_bytes(value, ITEMS, GROUPING)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=message):
            IndexMoments.sum_bytes([blob, value], ITEMS, GROUPING)  # type: ignore[list-item]
        with pytest.raises(ValueError, match=message):
            IndexMoments.sum_bytes_by([("a", blob), ("b", value)], ITEMS, GROUPING)  # type: ignore[list-item]
    renamed = [*ITEMS[:-1], "P9"]
    other = IndexGrouping(
        factors={**GROUPING.factors, "P": ["P1", "P9"]},
        contents=GROUPING.contents,
        index=GROUPING.index,
    )
    with pytest.raises(ValueError, match="other items or another grouping"):
        IndexMoments.from_bytes(blob, renamed, other)  # same size, other items
    moved = IndexGrouping(
        factors={"A": ["A1", "A2"], "B": ["A3", "B1", "B2"], "P": ["P1", "P2"]},
        contents=GROUPING.contents,
        index=GROUPING.index,
    )
    with pytest.raises(ValueError, match="other items or another grouping"):
        IndexMoments.from_bytes(blob, ITEMS, moved)  # same size, other factor membership


def test_mismatched_items_or_grouping_raise() -> None:
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    reordered = [*ITEMS[1:], ITEMS[0]]
    other_order = IndexMoments.from_rows(ANSWERS[:, [*range(1, 7), 0]], reordered, GROUPING)
    with pytest.raises(ValueError, match="different items"):
        moments + other_order
    merged = IndexGrouping(
        factors=GROUPING.factors, contents={"all": ["A", "B", "P"]}, index={"all": 1.0}
    )
    with pytest.raises(ValueError, match="different structure"):
        moments + IndexMoments.from_rows(ANSWERS, ITEMS, merged)
    with pytest.raises(ValueError, match="structure the moments were built with"):
        index_from_moments(moments, merged)
    with pytest.raises(TypeError):
        moments + 1  # type: ignore[operator]
    with pytest.raises(ValueError, match="IndexMoments"):
        index_from_moments(ANSWERS, GROUPING)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((ANSWERS[0], ITEMS), "2-D"),
        ((ANSWERS, ITEMS[:-1]), "mismatched"),
        ((ANSWERS[:, :-1], ITEMS[:-1]), "no column"),
        ((ANSWERS * 2, ITEMS), "1.0, 0.0 and NaN"),
        ((ANSWERS, "A1"), "list of keys"),
        ((ANSWERS, [*ITEMS[:-1], "A1"]), "twice"),
    ],
)
def test_impossible_rows_raise(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IndexMoments.from_rows(*args, GROUPING)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"target": 1.5}, "target"), ({"min_n": -1}, "min_n"), ({"confidence": 1}, "confidence")],
)
def test_impossible_options_raise(kwargs: dict, message: str) -> None:
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    with pytest.raises(ValueError, match=message):
        index_from_moments(moments, GROUPING, **kwargs)


def test_moments_are_immutable() -> None:
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    with pytest.raises(AttributeError):
        moments.respondents = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        moments.valid[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        moments.valid_valid[0, 0] = 0
    with pytest.raises(TypeError):
        moments.factor_n["A"] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        IndexMoments(None, GROUPING, np.zeros(3))  # type: ignore[arg-type]
    assert 0 + moments is moments
    assert "respondents=40" in repr(moments)


def test_settle_limits_which_levels_get_more_responses() -> None:
    """Verdicts everywhere; the costly responses-to-settle only for the levels asked for."""
    moments = IndexMoments.from_rows(ANSWERS, ITEMS, GROUPING)
    everything = index_from_moments(moments, GROUPING, target=0.9, min_n=1)
    index_only = index_from_moments(moments, GROUPING, target=0.9, min_n=1, settle=("index",))
    assert index_only.index == everything.index
    for key, figure in index_only.factors.items():
        assert figure.verdict == everything.factors[key].verdict
        assert figure.more_responses is None
    with pytest.raises(ValueError, match="settle must name levels"):
        index_from_moments(moments, GROUPING, target=0.9, settle=("unit",))
