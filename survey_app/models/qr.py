"""QR codes citizens scan: counter posters (reusable, revocable) and single-use dossier ratings."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey_app.extensions import db
from survey_app.models.unit import Counter, Unit
from survey_app.timeutil import UTCDateTime, utcnow


class PosterCode(db.Model):
    """The short code in a counter poster's URL (/r/<code>): which unit, counter and
    questionnaire it rates. Revoking it makes printed posters stop working; reissuing makes a new one."""

    __tablename__ = "poster_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"), index=True)
    questionnaire_key: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship()
    counter: Mapped[Counter | None] = relationship()


class DossierRating(db.Model):
    """One rating allowed per dossier (mã số hồ sơ) of a unit. Kept apart from the answers: nothing
    links this row to the response it allowed, only `used_at` records that it was used. Unique per
    unit: a dossier system asking for a code learns nothing of another unit's dossiers."""

    __tablename__ = "dossier_ratings"
    __table_args__ = (UniqueConstraint("unit_id", "dossier_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    questionnaire_key: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship()
    counter: Mapped[Counter | None] = relationship()
