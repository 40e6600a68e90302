"""Kiosks (tablets fixed at a counter) and the officers on duty at counters."""

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey_app.extensions import db
from survey_app.models.staff import StaffAccount
from survey_app.models.unit import Counter, Unit
from survey_app.timeutil import UTCDateTime, utcnow


def new_device_secret() -> str:
    return secrets.token_urlsafe(32)


class Kiosk(db.Model):
    """A tablet enrolled as one counter's kiosk. Enrolment uses a one-time token (only its hash is
    kept); the tablet then holds a signed device credential naming `id` and `credential_version`:
    revoking bumps nothing but `revoked_at`, re-enrolling issues a new version."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int] = mapped_column(ForeignKey("counters.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    questionnaire_key: Mapped[str] = mapped_column(String(64))
    enrolment_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credential_version: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    app_version: Mapped[str | None] = mapped_column(String(40))
    queued_submissions: Mapped[int] = mapped_column(Integer, default=0)
    last_submission_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()
    counter: Mapped[Counter] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.enrolled_at is not None


class OfficerDuty(db.Model):
    """An officer serving at a counter, signed in from their own account; ratings given meanwhile
    are attributed to them as well as to the counter."""

    __tablename__ = "officer_duties"
    __table_args__ = (Index("ix_officer_duties_counter_open", "counter_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    counter_id: Mapped[int] = mapped_column(ForeignKey("counters.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    counter: Mapped[Counter] = relationship()
    account: Mapped[StaffAccount] = relationship()
