"""Free-text comments for staff: newest first, filterable, and hideable without deleting."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from survey_app.errors import NotFound
from survey_app.extensions import db
from survey_app.models import Answer, Counter, HiddenComment, Response, StaffAccount, Unit
from survey_app.services.access import Access
from survey_app.services.periods import Period
from survey_app.timeutil import utcnow


@dataclass(frozen=True)
class Comment:
    answer_id: int
    text: str
    question_key: str
    submitted_at: datetime
    unit: str
    counter: str | None
    channel: str
    hidden: bool


def list_comments(
    unit_ids: list[int],
    period: Period,
    *,
    contains: str = "",
    include_hidden: bool = False,
    counter_id: int | None = None,
    limit: int = 50,
    locale: str = "vi",
) -> list[Comment]:
    """Comments on responses of the given units in `period`, newest first. Reads what is settled:
    the dashboard calls it after its FigureBuilder(live=True), which settled."""
    query = (
        select(
            Answer.id,
            Answer.text,
            Answer.question_key,
            Response.submitted_at,
            Unit,
            Counter,
            Response.channel,
            HiddenComment.answer_id.is_not(None),
        )
        .join(Response, Response.id == Answer.response_id)
        .join(Unit, Unit.id == Response.unit_id)
        .outerjoin(Counter, Counter.id == Response.counter_id)
        .outerjoin(HiddenComment, HiddenComment.answer_id == Answer.id)
        .where(
            Answer.text.is_not(None),
            Response.unit_id.in_(unit_ids),
            Response.local_day.between(period.start, period.end),
        )
        .order_by(Response.submitted_at.desc(), Answer.id.desc())
        .limit(limit)
    )
    if counter_id is not None:
        query = query.where(Response.counter_id == counter_id)
    if contains.strip():
        query = query.where(Answer.text.ilike(f"%{_escape_like(contains.strip())}%", escape="\\"))
    if not include_hidden:
        query = query.where(HiddenComment.answer_id.is_(None))
    return [
        Comment(
            answer_id,
            text,
            key,
            at,
            unit.name(locale),
            counter.name(locale) if counter else None,
            channel,
            hidden,
        )
        for answer_id, text, key, at, unit, counter, channel, hidden in db.session.execute(query)
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _comment_in_scope(access: Access, answer_id: int) -> tuple[Answer, Unit]:
    row = db.session.execute(
        select(Answer, Unit)
        .join(Response, Response.id == Answer.response_id)
        .join(Unit, Unit.id == Response.unit_id)
        .where(Answer.id == answer_id, Answer.text.is_not(None))
    ).first()
    if row is None or not access.covers(row[1], manage=True):
        raise NotFound(f"no comment {answer_id} here")
    return row[0], row[1]


def set_comment_hidden(access: Access, answer_id: int, hidden: bool, by: StaffAccount) -> Unit:
    """Hide (or show again) a comment in a unit the account manages; returns its unit."""
    answer, unit = _comment_in_scope(access, answer_id)
    is_hidden = db.session.get(HiddenComment, answer.id) is not None
    if hidden and not is_hidden:
        db.session.add(HiddenComment(answer_id=answer.id, hidden_by_id=by.id, hidden_at=utcnow()))
    elif not hidden and is_hidden:
        db.session.execute(delete(HiddenComment).where(HiddenComment.answer_id == answer.id))
    return unit
