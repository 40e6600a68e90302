"""Time helpers: everything is stored as aware UTC; periods are counted in local time."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Return `moment` as aware UTC; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_day(moment: datetime, timezone: str) -> date:
    """The calendar day of `moment` in `timezone`: 06:30 on 1 January in Hà Nội is in the new year."""
    return as_utc(moment).astimezone(ZoneInfo(timezone)).date()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC column. SQLite reads datetimes back naive; this makes them aware again."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value)
