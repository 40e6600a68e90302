"""The monthly trend (a few grouped queries) equals per-month figures computed one by one."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from survey_app.extensions import db
from survey_app.services.figures import FigureBuilder, Filters, monthly_trend
from survey_app.services.periods import period_of
from survey_app.services.rollup import settle_pending
from survey_app.services.submissions import submit_response
from survey_app.timeutil import local_day


def _submit(rng, questionnaire, days_ago, answers):
    moment = datetime.now(UTC) - timedelta(days=days_ago, minutes=rng.randint(0, 60))
    submit_response(
        {
            "id": str(uuid.uuid4()),
            "questionnaire": questionnaire,
            "version": 1,
            "unit": "P-W1",
            "counter": "Q1",
            "submitted_at": moment.isoformat(),
            "answers": answers,
        },
        channel="web",
        queued_offline=True,  # months of history: only a queueing channel may backdate
    )


@pytest.mark.parametrize("questionnaire", ["sipas-counter", "quick-rating"])
def test_each_month_of_the_trend_equals_the_figure_of_that_month(tree, questionnaire):
    rng = random.Random(5)
    for days_ago in [0] * 35 + [40] * 33 + [70] * 5:
        if questionnaire == "quick-rating":
            answers = {"rating": rng.choice([1, 2, 3, 3])}
        else:
            answers = {f"c9_{i}": rng.choice([2, 4, 5, 5]) for i in range(24, 40)}
        _submit(rng, questionnaire, days_ago, answers)
    db.session.commit()
    settle_pending()  # the dashboard's FigureBuilder settles before the trend is read
    today = local_day(datetime.now(UTC), "Asia/Ho_Chi_Minh")
    filters = Filters(questionnaire, period_of("month", today), min_n=30)
    trend = monthly_trend(tree.ward, filters, months=4)
    assert [p.start for p in trend] == sorted(p.start for p in trend) and len(trend) == 4
    counter_trend = monthly_trend(tree.ward, filters, months=4, counter=tree.q1)
    for point, counter_point in zip(trend, counter_trend, strict=True):
        month = period_of("month", point.start)
        builder = FigureBuilder(
            [tree.ward], Filters(questionnaire, month, min_n=30), with_previous=False
        )
        expected = builder.for_unit(tree.ward).headline
        assert (point.figure.n, point.figure.suppressed) == (expected.n, expected.suppressed)
        assert (
            point.figure.estimate == pytest.approx(expected.estimate)
            if expected.estimate
            else point.figure.estimate is None
        )
        assert point.figure.low == expected.low and point.figure.high == expected.high
        assert (
            counter_point.figure == builder.for_counter(tree.ward, tree.q1, details=False).headline
        )
    assert sum(p.figure.n for p in trend) >= 68
