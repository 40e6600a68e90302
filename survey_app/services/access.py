"""Who may see and change what: an account's scopes resolved to units of the tree.

Everything staff see goes through here, so that a unit outside the account's subtrees is simply
not found (404), whatever id is put in a URL.
"""

from dataclasses import dataclass

from sqlalchemy import Select, false, or_, select

from survey_app.errors import NotFound
from survey_app.extensions import db
from survey_app.models import Counter, StaffAccount, Unit
from survey_app.services.sql import find_by_id


@dataclass(frozen=True)
class Access:
    """What one account may do. Paths are unit paths ("/1/7/"): a scope covers its subtree.
    Managers change things there; officers and managers serve at its counters (duty); every
    role sees its figures."""

    account_id: int | None
    is_administrator: bool
    managed_paths: tuple[str, ...]
    viewed_paths: tuple[str, ...]  # includes the managed and served ones
    served_paths: tuple[str, ...] = ()  # officers' and managers'

    @classmethod
    def of(cls, account: StaffAccount) -> "Access":
        managed = tuple(s.unit.path for s in account.scopes if s.role == "manager")
        served = tuple(s.unit.path for s in account.scopes if s.role in ("manager", "officer"))
        viewed = tuple(s.unit.path for s in account.scopes)
        return cls(account.id, account.is_administrator, managed, viewed, served)

    @classmethod
    def for_units(cls, units: list[Unit], *, manage: bool = False) -> "Access":
        """Access limited to `units` (an API key's scope)."""
        paths = tuple(u.path for u in units)
        return cls(None, False, paths if manage else (), paths)

    def _paths(self, manage: bool, serve: bool) -> tuple[str, ...]:
        if manage:
            return self.managed_paths
        return self.served_paths if serve else self.viewed_paths

    def unit_filter(self, *, manage: bool = False, serve: bool = False):
        """A WHERE clause on Unit selecting the units this access covers (to manage, to serve
        at, or to see)."""
        if self.is_administrator:
            return Unit.id.is_not(None)
        paths = self._paths(manage, serve)
        return or_(*(Unit.path.startswith(p) for p in paths)) if paths else false()

    def covers(self, unit: Unit, *, manage: bool = False, serve: bool = False) -> bool:
        return self.is_administrator or any(
            unit.path.startswith(p) for p in self._paths(manage, serve)
        )

    @property
    def may_manage_anything(self) -> bool:
        return self.is_administrator or bool(self.managed_paths)

    @property
    def may_serve_anywhere(self) -> bool:
        return self.is_administrator or bool(self.served_paths)


def select_units(access: Access, *, manage: bool = False, serve: bool = False) -> Select:
    return select(Unit).where(access.unit_filter(manage=manage, serve=serve)).order_by(Unit.path)


def list_units_in_scope(access: Access, *, manage: bool = False, serve: bool = False) -> list[Unit]:
    return list(db.session.scalars(select_units(access, manage=manage, serve=serve)))


def list_unit_ids_in_scope(
    access: Access, *, manage: bool = False, serve: bool = False
) -> list[int]:
    return list(
        db.session.scalars(select(Unit.id).where(access.unit_filter(manage=manage, serve=serve)))
    )


def get_unit_in_scope(access: Access, unit_id: int, *, manage: bool = False) -> Unit:
    """The unit, if `access` covers it; NotFound otherwise (also when it exists elsewhere)."""
    unit = find_by_id(Unit, unit_id)
    if unit is None or not access.covers(unit, manage=manage):
        raise NotFound(f"no unit {unit_id} here")
    return unit


def get_counter_in_scope(
    access: Access, counter_id: int, *, manage: bool = False, serve: bool = False
) -> Counter:
    counter = find_by_id(Counter, counter_id)
    if counter is None or not access.covers(counter.unit, manage=manage, serve=serve):
        raise NotFound(f"no counter {counter_id} here")
    return counter


def top_units_in_scope(access: Access) -> list[Unit]:
    """The roots of the account's view: its scope units, or the tree's roots for administrators."""
    units = list_units_in_scope(access)
    ids = {u.id for u in units}
    return [u for u in units if u.parent_id not in ids]
