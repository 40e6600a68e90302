"""Writing and reading the audit log. Callers pass facts about the action, never answers,
comments, passwords or tokens: `record_event` refuses detail keys that look like secrets."""

from datetime import datetime
from typing import Any

from sqlalchemy import select

from questionnaires.text import clean_text
from survey_app.extensions import db
from survey_app.models import AuditEvent
from survey_app.timeutil import utcnow

FORBIDDEN_DETAIL_KEYS = frozenset({"password", "secret", "token", "answers", "comment", "text"})


def record_event(
    action: str,
    *,
    actor: str,
    account_id: int | None = None,
    unit_id: int | None = None,
    client_address: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one audit event to the session (the caller's commit stores it with the action). Text
    details may come from a client (an uploaded file's name): what no text may hold is removed."""
    details = {
        key: clean_text(value, multiline=False) if isinstance(value, str) else value
        for key, value in (details or {}).items()
    }
    leaked = FORBIDDEN_DETAIL_KEYS & set(details)
    if leaked:
        raise ValueError(f"programming error: audit details must not carry {sorted(leaked)}")
    event = AuditEvent(
        at=at or utcnow(),
        actor=actor,
        actor_account_id=account_id,
        action=action,
        unit_id=unit_id,
        client_address=client_address,
        details=details,
    )
    db.session.add(event)
    return event


def list_audit_events(
    *,
    action: str | None = None,
    actor: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """Newest first; `before_id` pages back."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    return list(db.session.scalars(query))
