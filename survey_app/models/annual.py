"""The annual survey: public links per unit and year, sampled households' single-use codes,
paper and interviewer forms keyed by staff, and each year's sampling frame."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey_app.extensions import db
from survey_app.models.staff import StaffAccount
from survey_app.models.unit import Unit
from survey_app.timeutil import UTCDateTime, utcnow


class AnnualLink(db.Model):
    """The public link (/a/<code>) to a unit's online annual form for a survey year."""

    __tablename__ = "annual_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    requires_sample_code: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship()


class SampleCode(db.Model):
    """A sampled household's (or dossier's) code for one survey year: codes only, no names.
    It is single-use: `used_at` is set in the transaction that stores the form. Codes are unique
    within a unit's sample of a year (a household answers through its unit's link), so importing
    one never tells whether another unit has it."""

    __tablename__ = "sample_codes"
    __table_args__ = (
        UniqueConstraint("unit_id", "year", "code"),
        CheckConstraint("kind IN ('household', 'dossier')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="household")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship()


class PaperFormEntry(db.Model):
    """A paper or interviewer form keyed by a clerk. Round 1 creates the response; round 2 (double
    entry by another clerk) is kept only to compare. A serial can be keyed once per unit, year and
    round: serials are the unit's own, so keying one never tells whether another unit used it."""

    __tablename__ = "paper_form_entries"
    __table_args__ = (
        UniqueConstraint("unit_id", "year", "serial", "entry_round"),
        CheckConstraint("entry_round IN (1, 2)", name="entry_round"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[str] = mapped_column(String(40))
    entry_round: Mapped[int] = mapped_column(Integer, default=1)
    questionnaire_key: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    response_id: Mapped[Any | None] = mapped_column(Uuid, ForeignKey("responses.id"))
    interviewer_name: Mapped[str | None] = mapped_column(String(200))
    # Round 2 keeps what the second clerk keyed, to list differences against round 1.
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    entered_by: Mapped[StaffAccount] = relationship()
    unit: Mapped[Unit] = relationship()


class FormDraft(db.Model):
    """Answers kept across the pages of a multi-page form until it is submitted; the browser
    holds only the draft's random id. Discarded after an idle time."""

    __tablename__ = "form_drafts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    questionnaire_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SamplingFrame(db.Model):
    """Transactions (dossiers) per unit and service area in a year: the frame that weights the
    annual figures (stratum = unit × service area; weight = transactions / responses)."""

    __tablename__ = "sampling_frames"
    __table_args__ = (UniqueConstraint("year", "unit_id", "service_area"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    service_area: Mapped[str] = mapped_column(String(64))
    transactions: Mapped[int] = mapped_column(Integer)

    unit: Mapped[Unit] = relationship()


class RateLimitHit(db.Model):
    """Requests counted per key (a kiosk, an API key, a browser, an address) and time window,
    shared by every worker process: limits that hold across workers and app servers without
    another server. On PostgreSQL the table is UNLOGGED (migration 0010): a count commits
    without waiting for the disk, and a crash forgets the current windows' counts."""

    __tablename__ = "rate_limit_hits"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
