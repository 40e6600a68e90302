"""Rate limits kept in the database, so that they hold across worker processes and servers.

Used per kiosk (many kiosks share one address), per API key, per browser, address and place for
poster QR forms, and per address and per name and address for sign-in attempts; an address is
counted by `address_key`. `count_hit` counts in fixed windows; `count_hit_sliding` estimates the
last window's length from the current and previous ones, so that twice a limit cannot pass
across a window's edge. A count is part of the caller's transaction: the caller decides whether
a refused request counts (a sign-in attempt and an API key's submission commit their count
whatever follows; a kiosk's and a poster form's are rolled back with a refusal).
"""

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, literal_column, select, update

from survey_app.extensions import db
from survey_app.models import RateLimitHit
from survey_app.services.sql import upsert_insert
from survey_app.timeutil import utcnow


def address_key(address: str | None) -> str:
    """The part of a client's address that a per-address limit counts: an IPv4 address whole,
    an IPv6 address by its /64 network (one subscriber's: whoever has one has more addresses in
    it than any limit could count one by one)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


@dataclass(frozen=True)
class Limit:
    hits: int
    per: timedelta

    def describe(self) -> str:
        minutes = int(self.per.total_seconds() // 60)
        per = {1: "minute", 60: "hour"}.get(minutes, f"{minutes} minutes")
        return f"{self.hits} per {per}"


def _window_start(now: datetime, per: timedelta) -> datetime:
    seconds = int(per.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def count_hit(key: str, limit: Limit, *, now: datetime | None = None) -> bool:
    """Count one request for `key`; False when this one goes over the limit of its window."""
    return _add_hit(key[:120], _window_start(now or utcnow(), limit.per)) <= limit.hits


def hit_parameters(key: str, limit: Limit, now: datetime) -> dict:
    """The parameters of `hit_upsert()` counting one request for `key` now."""
    return {"key": key[:120], "window_start": _window_start(now, limit.per)}


def hit_upsert():
    """One atomic upsert counting a request (parameters: `hit_parameters`), returning the
    window's count after it: for a caller that counts on a connection of its own (the API's
    storing connection)."""
    table = RateLimitHit.__table__
    one = literal_column("1")  # in the SQL itself: the statement's only parameters are named
    return (
        upsert_insert(table)
        .values(key=bindparam("key"), window_start=bindparam("window_start"), hits=one)
        .on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"hits": table.c.hits + one}
        )
        .returning(table.c.hits)
    )


def _add_hit(key: str, window_start: datetime) -> int:
    """One atomic upsert on the session: the window's count after this request."""
    return db.session.execute(hit_upsert(), {"key": key, "window_start": window_start}).scalar_one()


@dataclass(frozen=True)
class SlidingCount:
    """What `count_hit_sliding` found: whether the request is within the limit, and when one
    would be again if nothing more were counted."""

    allowed: bool
    free_at: datetime


def count_hit_sliding(key: str, limit: Limit, *, now: datetime | None = None) -> SlidingCount:
    """Count one request for `key` against the requests of the last `limit.per`, estimated from
    the current fixed window and the previous one weighted by how much of it still lies inside
    (the sliding window counter): unlike a fixed window, twice the limit cannot pass across a
    window's edge. The increment is one atomic upsert, so concurrent requests each see their own
    count and no more than the limit get through."""
    now = now or utcnow()
    key = key[:120]
    start = _window_start(now, limit.per)
    current = _add_hit(key, start)
    previous = (
        db.session.scalar(
            select(RateLimitHit.hits).where(
                RateLimitHit.key == key, RateLimitHit.window_start == start - limit.per
            )
        )
        or 0
    )
    elapsed = (now - start) / limit.per
    allowed = previous * (1 - elapsed) + current <= limit.hits
    return SlidingCount(allowed, _sliding_free_at(start, limit, previous, current))


def _sliding_free_at(start: datetime, limit: Limit, previous: int, current: int) -> datetime:
    """The first moment a further request would be within the limit: while the window that
    began at `start` lasts, when the previous window's weight has fallen enough; else in the
    next window, when this one's has."""
    room = limit.hits - current - 1
    if room >= 0:
        fraction = 1 - room / previous if previous else 0.0
        return start + limit.per * max(fraction, 0.0)
    fraction = 1 - (limit.hits - 1) / current
    return start + limit.per * (1 + fraction)


def forget_hit(key: str, limit: Limit, *, now: datetime | None = None) -> None:
    """Take back one request counted for `key` in the current window (a sign-in that succeeded
    does not count against its address)."""
    db.session.execute(
        update(RateLimitHit)
        .where(
            RateLimitHit.key == key[:120],
            RateLimitHit.window_start == _window_start(now or utcnow(), limit.per),
            RateLimitHit.hits > 0,
        )
        .values(hits=RateLimitHit.hits - 1)
        .execution_options(synchronize_session=False)
    )


def forget_key(key: str) -> None:
    """Forget every window counted for `key`."""
    db.session.execute(
        delete(RateLimitHit)
        .where(RateLimitHit.key == key[:120])
        .execution_options(synchronize_session=False)
    )


def prune_rate_limits(
    *, older_than: timedelta = timedelta(days=1), now: datetime | None = None
) -> int:
    """Forget windows older than `older_than`; returns the rows removed."""
    cutoff = (now or utcnow()) - older_than
    return db.session.execute(
        delete(RateLimitHit).where(RateLimitHit.window_start < cutoff)
    ).rowcount
