"""The per-process cache of index reports: a hit is the report the same sums and options give,
new responses are never hidden behind an old report, and the cache keeps to its size."""

from datetime import UTC, datetime

import analytics
from survey_app.services.figures import REPORTS, FigureBuilder, Filters, ReportCache
from survey_app.services.periods import period_of
from survey_app.services.questionnaires import get_current_questionnaire, grouping_of
from tests.survey_app.services.test_subtree_moments import submit_spread

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def province_report(tree, **filter_options):
    filters = Filters("sipas-counter", period_of("year", NOW.date()), min_n=5, **filter_options)
    builder = FigureBuilder([tree.province], filters)
    return builder, builder.index_report_of(builder.source, tree.province, None, 0.9)


def test_the_same_sums_give_the_same_report_and_new_responses_a_new_one(app, tree):
    REPORTS.clear()
    submit_spread(20, [("P-W1", "Q1"), ("P-C1", "Q1")])
    builder, first = province_report(tree)
    _, again = province_report(tree)
    assert again is first  # computed once
    _, moments = builder.source.moments_of(tree.province)
    fresh = analytics.index_from_moments(
        moments, builder.source.grouping, target=0.9, min_n=5, settle=("index",)
    )
    assert (again.index.estimate, again.index.se, again.index.verdict) == (
        fresh.index.estimate,
        fresh.index.se,
        fresh.index.verdict,
    )
    # Five more responses settle: the sums change, and so does the report.
    submit_spread(5, [("P-W1", "Q2")], seed=9)
    builder, after = province_report(tree)
    assert after is not first
    assert after.respondents == first.respondents + 5 == 25
    _, moments = builder.source.moments_of(tree.province)
    assert (
        after.index.se
        == analytics.index_from_moments(
            moments, builder.source.grouping, target=0.9, min_n=5
        ).index.se
    )
    # Other options are another entry: a 99 % interval is wider than the 95 % one.
    _, wider = province_report(tree, confidence=0.99)
    assert wider is not after
    assert wider.index.high - wider.index.low > after.index.high - after.index.low


def test_the_cache_keeps_to_its_size_dropping_the_least_recently_used(app, tree):
    submit_spread(12, [("P-W1", "Q1")])
    _, definition = get_current_questionnaire("sipas-counter")
    grouping = grouping_of(definition)
    builder, _ = province_report(tree)
    _, moments = builder.source.moments_of(tree.province)
    cache = ReportCache(2)
    a = cache.report(moments, grouping, min_n=5, target=0.8)
    b = cache.report(moments, grouping, min_n=5, target=0.85)
    assert cache.report(moments, grouping, min_n=5, target=0.8) is a  # a is now the newest
    cache.report(moments, grouping, min_n=5, target=0.9)  # drops b, the least recently used
    assert cache.report(moments, grouping, min_n=5, target=0.8) is a
    assert cache.report(moments, grouping, min_n=5, target=0.85) is not b
