"""Reporting periods in local time: today, this week, month, quarter, year, or a chosen range."""

from dataclasses import dataclass
from datetime import date, timedelta

PERIOD_KINDS = ("today", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Period:
    """Local calendar days from `start` to `end`, both included."""

    kind: str  # one of PERIOD_KINDS, or "range"
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period just before, of the same kind (a range: of the same length)."""
        if self.kind in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
            return period_of(self.kind, _add_months(self.start, -months))
        return Period(
            self.kind, self.start - timedelta(days=self.days), self.start - timedelta(days=1)
        )

    @property
    def target_kinds(self) -> tuple[str, ...]:
        """Which target periods judge this period, most specific first."""
        return {"month": ("month", "quarter", "year"), "quarter": ("quarter", "year")}.get(
            self.kind, ("year",) if self.kind == "year" else ("month", "quarter", "year")
        )


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_of(kind: str, today: date) -> Period:
    """The period of `kind` that contains `today` (weeks start on Monday)."""
    if kind == "today":
        return Period(kind, today, today)
    if kind == "week":
        start = today - timedelta(days=today.weekday())
        return Period(kind, start, start + timedelta(days=6))
    if kind == "month":
        start = today.replace(day=1)
    elif kind == "quarter":
        start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    elif kind == "year":
        start = date(today.year, 1, 1)
    else:
        raise ValueError(f"unknown period {kind!r}; use one of {', '.join(PERIOD_KINDS)}")
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    return Period(kind, start, _add_months(start, months) - timedelta(days=1))


def custom_period(start: date, end: date) -> Period:
    if end < start:
        raise ValueError("the end of the period is before its start")
    if (end - start).days > 3 * 366:
        raise ValueError("choose a period of at most three years")
    return Period("range", start, end)


def whole_years(period: Period) -> tuple[list[date], list[date], list[tuple[date, date]]]:
    """Split `period` into the calendar years it covers entirely (their first days), the other
    months it covers entirely, and the leftover day ranges: a year's figures read one row per
    cell, not twelve."""
    months, edges = whole_months(period)
    by_year: dict[int, list[date]] = {}
    for month in months:
        by_year.setdefault(month.year, []).append(month)
    years = [date(year, 1, 1) for year, those in by_year.items() if len(those) == 12]
    rest = [month for month in months if date(month.year, 1, 1) not in years]
    return years, rest, edges


def whole_months(period: Period) -> tuple[list[date], list[tuple[date, date]]]:
    """Split `period` into the months it covers entirely (their first days) and the leftover day
    ranges at either end, so that figures can read monthly sums plus a few days."""
    months: list[date] = []
    edges: list[tuple[date, date]] = []
    cursor = period.start
    while cursor <= period.end:
        month_start = cursor.replace(day=1)
        month_end = _add_months(month_start, 1) - timedelta(days=1)
        if cursor == month_start and month_end <= period.end:
            months.append(month_start)
        else:
            edges.append((cursor, min(month_end, period.end)))
        cursor = month_end + timedelta(days=1)
    return months, edges
