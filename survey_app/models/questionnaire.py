"""Questionnaire versions as loaded from the definition files."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from survey_app.extensions import db
from survey_app.timeutil import UTCDateTime, utcnow


class Questionnaire(db.Model):
    """One version of one questionnaire. The definition is stored whole, so old versions stay
    readable after the file moves on; `content_hash` detects a file changed under an old version."""

    __tablename__ = "questionnaires"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Questionnaire {self.key} v{self.version}>"
