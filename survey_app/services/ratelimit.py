"""Fixed-window rate limits kept in the database, so that they hold across worker processes.

Used per kiosk (many kiosks share one address), per browser and address for poster QR forms,
and per address for sign-in attempts. The count is part of the caller's transaction: a request
that is refused or rolled back does not count.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete

from survey_app.extensions import db
from survey_app.models import RateLimitHit
from survey_app.services.sql import upsert_insert
from survey_app.timeutil import utcnow


@dataclass(frozen=True)
class Limit:
    hits: int
    per: timedelta

    def describe(self) -> str:
        minutes = self.per.total_seconds() / 60
        return (
            f"{self.hits} per {int(minutes)} minutes" if minutes != 60 else f"{self.hits} per hour"
        )


def _window_start(now: datetime, per: timedelta) -> datetime:
    seconds = int(per.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def count_hit(key: str, limit: Limit, *, now: datetime | None = None) -> bool:
    """Count one request for `key`; False when this one goes over the limit of its window."""
    now = now or utcnow()
    table = RateLimitHit.__table__
    statement = upsert_insert(table).values(
        key=key[:120], window_start=_window_start(now, limit.per), hits=1
    )
    hits = db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"hits": table.c.hits + 1}
        ).returning(table.c.hits)
    ).scalar_one()
    return hits <= limit.hits


def prune_rate_limits(
    *, older_than: timedelta = timedelta(days=1), now: datetime | None = None
) -> int:
    """Forget windows older than `older_than`; returns the rows removed."""
    cutoff = (now or utcnow()) - older_than
    return db.session.execute(
        delete(RateLimitHit).where(RateLimitHit.window_start < cutoff)
    ).rowcount
