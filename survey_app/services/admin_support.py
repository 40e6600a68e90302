"""Small queries and actions the administration pages need that the other services do not offer:
counting counters per unit, a unit's own channel settings, targets within an account's scope."""

from sqlalchemy import func, select

from questionnaires.text import add_unsafe_text_problems
from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import ChannelQuestionnaire, Counter, StaffAccount, Target, Unit
from survey_app.services.access import Access


def count_counters_by_unit(unit_ids: list[int]) -> dict[int, tuple[int, int]]:
    """unit id → (active counters, all counters), one GROUP BY; units without counters are absent."""
    if not unit_ids:
        return {}
    rows = db.session.execute(
        select(
            Counter.unit_id,
            func.count().filter(Counter.active.is_(True)),
            func.count(),
        )
        .where(Counter.unit_id.in_(unit_ids))
        .group_by(Counter.unit_id)
    ).all()
    return {unit_id: (active, total) for unit_id, active, total in rows}


def list_counters(unit: Unit) -> list[Counter]:
    return list(
        db.session.scalars(select(Counter).where(Counter.unit_id == unit.id).order_by(Counter.code))
    )


def own_channel_questionnaires(unit: Unit) -> dict[str, str]:
    """channel → questionnaire key set on `unit` itself (not inherited)."""
    return dict(
        db.session.execute(
            select(ChannelQuestionnaire.channel, ChannelQuestionnaire.questionnaire_key).where(
                ChannelQuestionnaire.unit_id == unit.id
            )
        ).all()
    )


def list_targets_in_scope(access: Access) -> list[Target]:
    """Targets on units the account manages; administrators also get the province-wide ones
    (no unit)."""
    query = select(Target).order_by(Target.id)
    if not access.is_administrator:
        query = query.join(Unit, Target.unit_id == Unit.id).where(access.unit_filter(manage=True))
    return list(db.session.scalars(query))


def get_target_in_scope(access: Access, target_id: int) -> Target:
    """The target, if the account manages its unit (a province-wide target: administrators only);
    NotFound otherwise."""
    target = db.session.get(Target, target_id)
    if target is None:
        raise NotFound(f"no target {target_id} here")
    if target.unit is None:
        if not access.is_administrator:
            raise NotFound(f"no target {target_id} here")
    elif not access.covers(target.unit, manage=True):
        raise NotFound(f"no target {target_id} here")
    return target


def delete_target(target: Target) -> None:
    db.session.delete(target)
    db.session.flush()


def units_by_id(unit_ids: set[int]) -> dict[int, Unit]:
    """The units with these ids (for labelling lists such as the audit log)."""
    if not unit_ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}


def update_account_profile(account: StaffAccount, *, display_name: str, title: str) -> None:
    """Change the name and job title shown for an account; raises ValidationError (blank, too
    long, or holding a character no text may hold: questionnaires/text.py)."""
    problems: dict[str, list[str]] = {}
    if not display_name.strip():
        problems["display_name"] = ["is required"]
    for field, value in (("display_name", display_name), ("title", title)):
        if len(value.strip()) > 200:
            problems.setdefault(field, []).append("is longer than 200 characters")
    add_unsafe_text_problems(problems, {"display_name": display_name, "title": title})
    if problems:
        raise ValidationError(problems)
    account.display_name = display_name.strip()
    account.title = title.strip()
