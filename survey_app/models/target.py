"""Targets set by plans, e.g. "SIPAS trên 90% hằng năm" (KH 226/KH-UBND)."""

from sqlalchemy import CheckConstraint, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey_app.extensions import db
from survey_app.models.unit import Unit

PERIOD_KINDS = ("year", "quarter", "month")
COMPARISONS = (">=", ">")


class Target(db.Model):
    """A threshold a metric must reach over a period, for a unit subtree (or everywhere).

    `metric` names what is judged: "headline" (the questionnaire's headline figure),
    "index:<key>", "content:<key>", "factor:<key>" or "question:<key>".
    """

    __tablename__ = "targets"
    __table_args__ = (
        CheckConstraint("threshold > 0 AND threshold < 1", name="threshold_share"),
        CheckConstraint("comparison IN ('>=', '>')", name="comparison"),
        CheckConstraint("period_kind IN ('year', 'quarter', 'month')", name="period_kind"),
        CheckConstraint(
            "start_year IS NULL OR end_year IS NULL OR start_year <= end_year", name="years"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), default="headline")
    threshold: Mapped[float] = mapped_column(Float)
    comparison: Mapped[str] = mapped_column(String(2), default=">=")
    # The subtree the target covers: this unit and everything below it; NULL means every unit.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    questionnaire_key: Mapped[str | None] = mapped_column(String(64))
    period_kind: Mapped[str] = mapped_column(String(8), default="year")
    start_year: Mapped[int | None]
    end_year: Mapped[int | None]
    source_document: Mapped[str] = mapped_column(String(300), default="")

    unit: Mapped[Unit | None] = relationship()
