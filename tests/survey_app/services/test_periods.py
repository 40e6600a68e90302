"""Reporting periods: boundaries in local days, previous periods, month splitting."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from survey_app.services.periods import Period, custom_period, period_of, whole_months


@pytest.mark.parametrize(
    ("kind", "start", "end"),
    [
        ("today", date(2026, 11, 22), date(2026, 11, 22)),
        ("week", date(2026, 11, 16), date(2026, 11, 22)),
        ("month", date(2026, 11, 1), date(2026, 11, 30)),
        ("quarter", date(2026, 10, 1), date(2026, 12, 31)),
        ("year", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_each_period_contains_today(kind, start, end):
    period = period_of(kind, date(2026, 11, 22))
    assert (period.start, period.end) == (start, end)


def test_previous_periods():
    assert period_of("month", date(2026, 1, 15)).previous() == Period(
        "month", date(2025, 12, 1), date(2025, 12, 31)
    )
    assert period_of("quarter", date(2026, 2, 1)).previous() == Period(
        "quarter", date(2025, 10, 1), date(2025, 12, 31)
    )
    assert period_of("year", date(2026, 6, 1)).previous() == Period(
        "year", date(2025, 1, 1), date(2025, 12, 31)
    )
    assert period_of("week", date(2026, 11, 22)).previous() == Period(
        "week", date(2026, 11, 9), date(2026, 11, 15)
    )
    assert custom_period(date(2026, 3, 1), date(2026, 3, 10)).previous() == Period(
        "range", date(2026, 2, 19), date(2026, 2, 28)
    )


def test_unknown_period_and_backwards_range_are_clear_errors():
    with pytest.raises(ValueError, match="unknown period"):
        period_of("fortnight", date(2026, 1, 1))
    with pytest.raises(ValueError, match="before its start"):
        custom_period(date(2026, 2, 1), date(2026, 1, 1))


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(0, 800))
def test_whole_months_and_edges_cover_the_period_exactly_once(start, length):
    from datetime import timedelta

    period = Period("range", start, start + timedelta(days=length))
    months, edges = whole_months(period)
    covered = []
    for month in months:
        day = month
        while day.month == month.month:
            covered.append(day)
            day += timedelta(days=1)
    for first, last in edges:
        assert first.month == last.month and first.year == last.year
        day = first
        while day <= last:
            covered.append(day)
            day += timedelta(days=1)
    assert sorted(covered) == [period.start + timedelta(days=i) for i in range(period.days)]
    assert len(edges) <= 2
