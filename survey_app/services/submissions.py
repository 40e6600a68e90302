"""Storing a response: one function that every channel (API, kiosk, QR form, staff entry) calls."""

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import DBAPIError

from survey_app.errors import Conflict, DomainError, RateLimited, ValidationError
from survey_app.extensions import db, storing_engine
from survey_app.models import CHANNELS, ENTERED_BY, LOCALES, ApiKey, Response
from survey_app.services.answers import CleanAnswer, validate_answers
from survey_app.services.catalogue import catalogue
from survey_app.services.ratelimit import Limit, hit_parameters, hit_upsert
from survey_app.services.rollup import encode_answers
from survey_app.services.sql import upsert_insert
from survey_app.timeutil import as_utc, local_day, utcnow

log = logging.getLogger(__name__)

# Versions are stored as 32-bit integers.
MAX_VERSION = 2**31 - 1
MAX_CODE_LENGTH = 64


def is_code(value: Any) -> bool:
    """A plausible code (unit, counter, questionnaire): short printable text. Anything else is
    refused before it reaches the database (NUL, control characters, megabytes)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_CODE_LENGTH and value.isprintable()


def shorten(value: Any, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters: messages never echo a huge input back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


PAYLOAD_FIELDS = frozenset(
    {
        "id",
        "questionnaire",
        "version",
        "unit",
        "counter",
        "channel",
        "locale",
        "submitted_at",
        "complete",
        "answers",
    }
)


@dataclass(frozen=True)
class SubmissionPolicy:
    """The rules that depend on configuration, taken from the app config by the caller."""

    timezone: str = "Asia/Ho_Chi_Minh"
    max_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=90)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SubmissionPolicy":
        return cls(
            timezone=config["LOCAL_TIMEZONE"],
            max_skew=timedelta(seconds=config["SUBMITTED_AT_MAX_SKEW_SECONDS"]),
            max_age=timedelta(days=config["SUBMITTED_AT_MAX_AGE_DAYS"]),
        )


@dataclass(frozen=True)
class SubmissionResult:
    response_id: uuid.UUID
    created: bool  # False when this was a replay of a response already stored


def submit_response(
    payload: Any,
    *,
    channel: str,
    entered_by: str = "citizen",
    policy: SubmissionPolicy | None = None,
    now: datetime | None = None,
    kiosk_id: int | None = None,
    officer_id: int | None = None,
    survey_year: int | None = None,
    expected_unit_id: int | None = None,
    expected_counter_id: int | None = None,
    unit_path: str | None = None,
    api_key_id: int | None = None,
    queued_offline: bool = False,
    connection: "Connection | DriverConnection | None" = None,
) -> SubmissionResult:
    """Validate `payload` and store it as one response row, its answers pending settlement
    (services/rollup.py adds them to the answer rows, counts and moments).

    `channel` and `entered_by` come from how the caller authenticated, never from the payload
    alone; so do `kiosk_id`, `officer_id` and `survey_year`. A caller bound to one unit or counter
    (a kiosk, a poster, a dossier code) passes `expected_unit_id` / `expected_counter_id`, and a
    payload naming another is refused. A caller bound to a subtree (an API key) passes its root's
    `unit_path`: a unit outside it is answered as one that does not exist, so the answer never
    tells whether another subtree has a code. `api_key_id` records the machine client.

    `submitted_at` (when the citizen answered) is taken from the payload only from a channel that
    queues responses offline (`queued_offline`: kiosks), up to `policy.max_age` old; every other
    channel stores the time of arrival, whatever time it sends (a retry arrives later with the
    time it first sent, and must still be the same response). A time in the future beyond the
    clock skew allowed is refused from every channel: the device's clock is wrong.

    Idempotent: the same id with the same content returns the stored response (created=False).
    Raises ValidationError listing every problem, or Conflict when the id is already stored with
    other content. Adds and flushes only: the caller commits.

    `connection`: a connection from `storing_connection()`, for a caller that stores nothing but
    this response (the API: see `submit_alone`); the INSERT then commits by itself.
    """
    policy = policy or SubmissionPolicy()
    now = now or utcnow()
    if channel not in CHANNELS or entered_by not in ENTERED_BY:
        raise ValueError(f"programming error: channel={channel!r} entered_by={entered_by!r}")
    if not isinstance(payload, Mapping):
        raise ValidationError({"request": ["must be a JSON object"]})

    problems: dict[str, list[str]] = {}

    def problem(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    for field in payload:
        if field not in PAYLOAD_FIELDS:
            problem(str(field), "is not a field of a response")

    response_id = _parse_uuid(payload.get("id"), problem)
    submitted_at = _parse_submitted_at(
        payload.get("submitted_at"), now, policy, problem, backdated=queued_offline
    )
    if not queued_offline:
        submitted_at = None  # the time of arrival, which a replay must not change
    locale = payload.get("locale", "vi")
    if locale not in LOCALES:
        problem("locale", f"must be one of {', '.join(LOCALES)}")
    complete = payload.get("complete", True)
    if not isinstance(complete, bool):
        problem("complete", "must be true or false (false: the citizen left the form unfinished)")
    given_channel = payload.get("channel", channel)
    if given_channel != channel:
        problem("channel", f"must be {channel!r} on this route (got {shorten(given_channel)})")

    questionnaire = definition = None
    known = catalogue()
    key, version = payload.get("questionnaire"), payload.get("version")
    if not is_code(key):
        problem("questionnaire", "is required: the questionnaire's key, e.g. 'sipas-counter'")
    elif (
        not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION
    ):
        problem("version", "is required: the questionnaire version answered, a whole number")
    else:
        questionnaire = known.questionnaire(key, version)
        if questionnaire is not None:
            definition = questionnaire.definition
        elif known.questionnaire(key, None) is None:
            problem("questionnaire", f"no questionnaire {shorten(key)} is loaded here")
        else:
            problem("version", f"questionnaire {shorten(key)} version {version} is not loaded here")

    unit = counter = None
    unit_code = payload.get("unit")
    if not is_code(unit_code):
        problem("unit", "is required: the code of the unit that served the citizen")
    else:
        unit = known.unit(unit_code)
        if unit is not None and unit_path is not None and not unit.path.startswith(unit_path):
            unit = None
        if unit is None:
            problem("unit", f"no unit has the code {shorten(unit_code)}")
        elif not unit.active:
            problem("unit", f"unit {shorten(unit_code)} is no longer active")
    counter_code = payload.get("counter")
    if counter_code is not None:
        if not is_code(counter_code):
            problem("counter", "must be a counter code, or left out")
        elif unit is not None:
            counter = known.counter(unit.id, counter_code)
            if counter is None:
                problem("counter", f"unit {unit.code!r} has no counter {shorten(counter_code)}")
            elif not counter.active:
                problem("counter", f"counter {shorten(counter_code)} is no longer in use")

    if expected_unit_id is not None and unit is not None and unit.id != expected_unit_id:
        problem("unit", "is not the unit this device or code belongs to")
    if expected_counter_id is not None and (counter is None or counter.id != expected_counter_id):
        problem("counter", "is not the counter this device or code belongs to")

    rows: list[CleanAnswer] = []
    if definition is not None:
        rows, answer_problems = validate_answers(definition, payload.get("answers"))
        for field, messages in answer_problems.items():
            for message in messages:
                problem(field, message)
        if not rows and not answer_problems:
            problem("answers", "no question was answered")
    if problems:
        raise ValidationError(problems)

    content_hash = _content_hash(
        questionnaire.key,
        questionnaire.version,
        unit.code,
        counter and counter.code,
        channel,
        entered_by,
        locale,
        submitted_at,
        complete,
        rows,
    )
    day = local_day(submitted_at or now, policy.timezone)
    stored = _insert_response(
        connection,
        {
            "id": response_id,
            "questionnaire_id": questionnaire.id,
            "unit_id": unit.id,
            "counter_id": counter.id if counter else None,
            "channel": channel,
            "entered_by": entered_by,
            "locale": locale,
            "submitted_at": submitted_at or now,
            "received_at": now,
            "local_day": day,
            "weight": 1.0,
            "content_hash": content_hash,
            "kiosk_id": kiosk_id,
            "api_key_id": api_key_id,
            "complete": complete,
            "officer_id": officer_id,
            "survey_year": survey_year,
            "pending_answers": encode_answers(rows),
        },
    )
    if stored == 0:
        if _stored_content_hash(connection, response_id) == content_hash:
            return SubmissionResult(response_id, created=False)
        raise Conflict(
            f"response {response_id} is already stored with different answers; "
            "a new response needs a new id"
        )
    log.info(
        "response submitted unit=%s channel=%s questionnaire=%s/%s",
        unit.code,
        channel,
        questionnaire.key,
        questionnaire.version,
    )
    return SubmissionResult(response_id, created=True)


def is_response_stored(response_id: uuid.UUID) -> bool:
    """Whether a response with this id (a form's idempotency key) is already stored."""
    return db.session.scalar(select(Response.id).where(Response.id == response_id)) is not None


class DriverConnection:
    """A pooled connection of PostgreSQL's storing engine, used through the driver itself: the
    one INSERT of an API submission, compiled once, goes to psycopg as it is. SQLAlchemy's
    Connection around it (its transaction bookkeeping, the statement's execution context, the
    commit of a transaction the autocommit connection never has) cost ~30 µs of a ~500 µs
    submission's CPU (benchmarks/README.md, eighth session). Driver errors are raised as
    SQLAlchemy's, and a connection the server dropped is invalidated first, as SQLAlchemy's own
    Connection would do: `submit_alone` relies on both."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect
        self.pooled = engine.raw_connection()

    def execute(self, statement: str, parameters: Mapping[str, Any]):
        """Run `statement` (the driver's SQL); returns the driver's cursor."""
        cursor = self.pooled.cursor()
        try:
            cursor.execute(statement, parameters)
        except self.dialect.loaded_dbapi.Error as error:
            lost = self.dialect.is_disconnect(error, self.pooled.dbapi_connection, cursor)
            if lost:
                self.pooled.invalidate(error)
            raise DBAPIError.instance(
                statement,
                parameters,
                error,
                self.dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=self.dialect,
            ) from error
        return cursor

    def close(self) -> None:
        self.pooled.close()  # back to the pool (an invalidated one is discarded)


@contextmanager
def storing_connection() -> Iterator[Connection | DriverConnection]:
    """A connection of its own for storing one response alone, committed when the block ends,
    also when a service refuses the payload (DomainError): a refused payload has written nothing
    but the caller's count of the attempt (`Quota`), which stands.

    It skips the ORM session's bookkeeping. On PostgreSQL it is a `DriverConnection` of the
    storing engine (extensions.STORING_BIND): each statement commits by itself, so the one INSERT
    is its own transaction, and no ping precedes it: one round trip instead of four (ping, BEGIN,
    INSERT, COMMIT). SQLite keeps its usual transaction on its one engine, where writers take
    turns (write_turns.py)."""
    engine = storing_engine()
    if engine.dialect.name == "postgresql":
        connection = DriverConnection(engine)
        try:
            yield connection
        finally:
            connection.close()
        return
    with engine.connect() as connection:
        try:
            yield connection
        except DomainError:
            connection.commit()
            raise
        connection.commit()


@dataclass(frozen=True)
class Quota:
    """A client's allowance of submissions (`limit`, counted under `key`), counted on the
    storing connection before the payload is checked. On SQLite the count and the INSERT are one
    write transaction, so the write lock is taken once per submission; on PostgreSQL each
    statement commits by itself, and the count's table is unlogged (no wait for the disk). The
    first count of each window also writes the API key's `last_used_at` (`api_key_id`)."""

    key: str
    limit: Limit
    api_key_id: int | None = None


def submit_alone(payload: Any, *, quota: Quota | None = None, **options: Any) -> SubmissionResult:
    """`submit_response(payload, **options)` on a `storing_connection()`, for a caller that
    stores nothing else (the API), after counting the attempt against `quota` (RateLimited when
    it is over). The storing engine does not ping its connections first, so a connection the
    server dropped (a restart, an idle timeout) fails when used; it is then discarded, and the
    response is stored once more on a fresh one. Safe: the INSERT is keyed by the response's id,
    so if the first attempt did commit, the second finds it stored."""
    try:
        with storing_connection() as connection:
            return _count_and_submit(connection, payload, quota, options)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("a storing connection was dropped (%s); storing again", error.orig)
    with storing_connection() as connection:
        return _count_and_submit(connection, payload, quota, options)


def _count_and_submit(connection, payload: Any, quota: Quota | None, options) -> SubmissionResult:
    if quota is not None:
        now = options.get("now") or utcnow()
        parameters = hit_parameters(quota.key, quota.limit, now)
        if isinstance(connection, DriverConnection):
            sql = _driver_sql(_hit_upsert, connection.dialect)
            hits = connection.execute(sql, parameters).fetchone()[0]
        else:
            hits = connection.execute(_hit_upsert(), parameters).scalar_one()
        if hits == 1 and quota.api_key_id is not None:
            _touch_api_key(connection, quota.api_key_id, now)
        if hits > quota.limit.hits:
            raise RateLimited(
                f"more than {quota.limit.describe()} from this client; wait",
                int(quota.limit.per.total_seconds()),
            )
    return submit_response(payload, connection=connection, **options)


def _insert_response(connection: Connection | DriverConnection | None, row: dict[str, Any]) -> int:
    """Store `row`; returns the row count (0: the id was stored already). On PostgreSQL's storing
    connection the statement, compiled once, goes to the driver as it is: psycopg adapts every
    value itself. Elsewhere SQLAlchemy processes the values (on SQLite, ids and times are stored
    as text)."""
    if isinstance(connection, DriverConnection):
        return connection.execute(_driver_sql(_response_insert, connection.dialect), row).rowcount
    return (connection or db.session).execute(_response_insert(), row).rowcount


def _stored_content_hash(
    connection: Connection | DriverConnection | None, response_id: uuid.UUID
) -> str | None:
    """The content hash stored with `response_id` (a replay must match it)."""
    if isinstance(connection, DriverConnection):
        sql = _driver_sql(_content_hash_query, connection.dialect)
        row = connection.execute(sql, {"id": response_id}).fetchone()
        return row[0] if row else None
    return (connection or db.session).execute(_content_hash_query(), {"id": response_id}).scalar()


_DRIVER_SQL: dict[tuple[Any, str, str], str] = {}


def _driver_sql(statement: Callable[[], Any], dialect) -> str:
    """`statement()` compiled once for `dialect` (the SQL and its parameter style)."""
    key = (statement, dialect.name, dialect.driver)
    if key not in _DRIVER_SQL:
        _DRIVER_SQL[key] = str(statement().compile(dialect=dialect))
    return _DRIVER_SQL[key]


# The statements of the request path, per database: built once, not per request. A replay of a
# stored id inserts nothing (ON CONFLICT DO NOTHING): its row count, which SQLAlchemy keeps for
# an INSERT only when asked (preserve_rowcount), is 0.
_RESPONSE_INSERTS: dict[str, Any] = {}


def _response_insert():
    dialect = db.engine.dialect.name
    if dialect not in _RESPONSE_INSERTS:
        _RESPONSE_INSERTS[dialect] = (
            upsert_insert(Response.__table__)
            .on_conflict_do_nothing(index_elements=["id"])
            .execution_options(preserve_rowcount=True)
        )
    return _RESPONSE_INSERTS[dialect]


def _touch_api_key(connection, key_id: int, now: datetime) -> None:
    """The key's last use, once a window: on the storing connection, with the count."""
    parameters = {"key_id": key_id, "now": now}
    if isinstance(connection, DriverConnection):
        connection.execute(_driver_sql(_touch_key_update, connection.dialect), parameters)
    else:
        connection.execute(_touch_key_update(), parameters)


_TOUCH_KEY_UPDATE = (
    update(ApiKey).where(ApiKey.id == bindparam("key_id")).values(last_used_at=bindparam("now"))
)


def _touch_key_update():
    return _TOUCH_KEY_UPDATE


_HIT_UPSERTS: dict[str, Any] = {}


def _hit_upsert():
    dialect = db.engine.dialect.name
    if dialect not in _HIT_UPSERTS:
        _HIT_UPSERTS[dialect] = hit_upsert()
    return _HIT_UPSERTS[dialect]


_CONTENT_HASH_QUERY = select(Response.content_hash).where(Response.id == bindparam("id"))


def _content_hash_query():
    return _CONTENT_HASH_QUERY


def _parse_uuid(value: Any, problem) -> uuid.UUID | None:
    if not isinstance(value, str):
        problem("id", "is required: a UUID made by the client, e.g. 3f2b8c1e-…")
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        problem("id", f"{value[:60]!r} is not a UUID")
        return None


def _parse_submitted_at(
    value: Any, now: datetime, policy: SubmissionPolicy, problem, *, backdated: bool
):
    """When the citizen answered (a queued kiosk response arrives later). Absent means now.
    `backdated`: the time will be stored, so it may be at most `policy.max_age` old."""
    if value is None:
        return None
    if not isinstance(value, str):
        problem("submitted_at", "must be an ISO 8601 time with a time zone")
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problem(
            "submitted_at",
            f"{value[:40]!r} is not an ISO 8601 time, e.g. 2026-11-22T08:30:00+07:00",
        )
        return None
    if moment.tzinfo is None:
        problem("submitted_at", "needs a time zone, e.g. 2026-11-22T08:30:00+07:00 or …Z")
        return None
    try:
        moment = as_utc(moment)
    except OverflowError:
        problem("submitted_at", "is out of range; give the time the citizen answered")
        return None
    if moment > now + policy.max_skew:
        problem("submitted_at", "is in the future; check the device's clock")
    elif backdated and moment < now - policy.max_age:
        problem("submitted_at", f"is more than {policy.max_age.days} days old")
    return moment


def _content_hash(
    key,
    version,
    unit_code,
    counter_code,
    channel,
    entered_by,
    locale,
    submitted_at: datetime | None,
    complete: bool,
    rows: list[CleanAnswer],
) -> str:
    """What a replay must match. A payload without submitted_at hashes without it, so that its
    replay (which arrives at another time) still matches; a complete response hashes without
    the flag, as it did before there was one."""
    content = {
        "questionnaire": [key, version],
        "unit": unit_code,
        "counter": counter_code,
        "channel": channel,
        "entered_by": entered_by,
        "locale": locale,
        "submitted_at": submitted_at.isoformat() if submitted_at else None,
        "answers": [[r.question_key, r.value, r.text] for r in rows],
    }
    if not complete:
        content["complete"] = False
    canonical = json.dumps(
        content,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
