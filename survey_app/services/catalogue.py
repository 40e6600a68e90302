"""What a submission checks its codes against (units, counters, questionnaire versions, the API
key it comes with), cached in each process for a few seconds.

Why: every submission asks the same three questions, and three queries cost more than the one
INSERT that stores the response. Units and counters are loaded whole (one query each per period,
thousands of rows for a national tree), not one query per unit: under load each query on the
session costs a worker milliseconds. Changes committed in this process are seen at once (the cache
empties when a unit, counter or questionnaire is flushed and committed); other processes see them
within CATALOGUE_CACHE_SECONDS (a key revoked elsewhere, too). Entries are plain values, never
ORM objects.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from questionnaires import Definition
from survey_app.extensions import db
from survey_app.models import ApiKey, Counter, FormerUnitCode, Questionnaire, Unit
from survey_app.services.questionnaires import find_questionnaire_version
from survey_app.services.units import find_unit_by_code

EXTENSION_KEY = "survey_catalogue"
MAX_ENTRIES = 10_000  # far above the units × counters of a province
_WATCHED = (Unit, Counter, Questionnaire, FormerUnitCode, ApiKey)


@dataclass(frozen=True)
class UnitEntry:
    id: int
    code: str
    active: bool
    path: str  # "/1/7/": a caller bound to a subtree (an API key) checks the unit is in it


@dataclass(frozen=True)
class CounterEntry:
    id: int
    code: str
    active: bool


@dataclass(frozen=True)
class ApiKeyEntry:
    id: int
    purpose: str
    secret_hash: str
    active: bool
    unit_path: str  # the key's scope: its unit's subtree


@dataclass(frozen=True)
class QuestionnaireEntry:
    id: int
    key: str
    version: int
    definition: Definition


class Catalogue:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._entries: dict[tuple, tuple[float, Any]] = {}

    def clear(self) -> None:
        self._entries.clear()

    def _cached(self, key: tuple, load: Callable[[], Any]) -> Any:
        """Found things are kept for `seconds`; misses are not (codes come from clients: caching
        whatever they send would let anyone fill the memory), and the cache never holds more
        than MAX_ENTRIES."""
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if self.seconds > 0 and value is not None:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now + self.seconds, value)
        return value

    def unit(self, code: str) -> UnitEntry | None:
        """The unit with `code`, following former codes and mergers (units.find_unit_by_code).
        Every unit's codes are loaded together: one query every `seconds` for the whole tree
        (about 12,000 units nationally), not one per unit. A code not among them is looked up
        alone, uncached (a unit added since is found at once; a flood of unknown codes costs
        one small query each, never a reload of the whole tree)."""
        found = self._cached(("units",), _unit_codes).get(code)
        if found is None:
            unit = find_unit_by_code(code)
            found = unit and UnitEntry(unit.id, unit.code, unit.active, unit.path)
        return found

    def counter(self, unit_id: int, code: str) -> CounterEntry | None:
        """Counter `code` of unit `unit_id`. Every counter is loaded together, like the units' codes:
        one query every `seconds`. A code not among them is looked up alone, uncached (a counter
        added since is found at once)."""
        found = self._cached(("counters",), _counters).get((unit_id, code))
        if found is None:
            row = db.session.execute(
                select(Counter.id, Counter.code, Counter.active).where(
                    Counter.unit_id == unit_id, Counter.code == code
                )
            ).first()
            found = row and CounterEntry(row.id, row.code, row.active)
        return found

    def api_key(self, prefix: str) -> ApiKeyEntry | None:
        """The API key with `prefix` (one query when not cached; an unknown prefix is never
        cached, so guessing fills nothing)."""

        def load():
            row = db.session.execute(
                select(ApiKey.id, ApiKey.purpose, ApiKey.secret_hash, ApiKey.revoked_at, Unit.path)
                .join(Unit, Unit.id == ApiKey.unit_id)
                .where(ApiKey.prefix == prefix)
            ).first()
            if row is None:
                return None
            return ApiKeyEntry(
                row.id, row.purpose, row.secret_hash, row.revoked_at is None, row.path
            )

        return self._cached(("api_key", prefix), load)

    def questionnaire(self, key: str, version: int | None) -> QuestionnaireEntry | None:
        """Version `version` of `key` (None: the newest)."""

        def load():
            found = find_questionnaire_version(key, version)
            if found is None:
                return None
            stored, definition = found
            return QuestionnaireEntry(stored.id, stored.key, stored.version, definition)

        return self._cached(("questionnaire", key, version), load)


def _unit_codes() -> dict[str, UnitEntry]:
    """Every unit's code and former codes, each to the unit it names now: a former code or a
    merged unit's code leads to the unit that took it over, and a unit's own code wins over a
    former code of another (as in units.find_unit_by_code)."""
    units = {
        row.id: row
        for row in db.session.execute(
            select(Unit.id, Unit.code, Unit.active, Unit.path, Unit.merged_into_id)
        )
    }

    def now_named(unit_id: int) -> UnitEntry:
        row, seen = units[unit_id], set()
        while row.merged_into_id is not None and row.id not in seen:
            seen.add(row.id)
            row = units[row.merged_into_id]
        return UnitEntry(row.id, row.code, row.active, row.path)

    former = db.session.execute(select(FormerUnitCode.code, FormerUnitCode.unit_id))
    codes = {code: now_named(unit_id) for code, unit_id in former}
    codes.update((row.code, now_named(row.id)) for row in units.values())
    return codes


def _counters() -> dict[tuple[int, str], CounterEntry]:
    """(unit id, counter code) → the counter, for every counter."""
    rows = db.session.execute(select(Counter.id, Counter.unit_id, Counter.code, Counter.active))
    return {(row.unit_id, row.code): CounterEntry(row.id, row.code, row.active) for row in rows}


def catalogue() -> Catalogue:
    """This app's catalogue (one per app, so tests with their own databases never share one)."""
    app = current_app
    if EXTENSION_KEY not in app.extensions:
        app.extensions[EXTENSION_KEY] = Catalogue(app.config["CATALOGUE_CACHE_SECONDS"])
    return app.extensions[EXTENSION_KEY]


@event.listens_for(Session, "after_flush")
def _note_catalogue_changes(session: Session, _context) -> None:
    if any(isinstance(o, _WATCHED) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info["catalogue_changed"] = True


@event.listens_for(Session, "after_commit")
def _forget_catalogue(session: Session) -> None:
    if session.info.pop("catalogue_changed", False) and has_app_context():
        cached = current_app.extensions.get(EXTENSION_KEY)
        if cached is not None:
            cached.clear()


@event.listens_for(Session, "after_rollback")
def _discard_note(session: Session) -> None:
    session.info.pop("catalogue_changed", None)
