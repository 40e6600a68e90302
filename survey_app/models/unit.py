"""The unit tree (province → department / commune → …) and the counters inside units."""

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey_app.extensions import db

UNIT_KINDS = ("province", "department", "district", "commune", "ward", "centre", "other")


class Unit(db.Model):
    """An administrative unit. `path` ("/1/7/23/") lets a subtree be selected with one prefix match."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in UNIT_KINDS)})", name="kind"),
        Index("ix_units_path", "path"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # What the questionnaire's [ĐPV] token reads as for this unit, e.g. "Bộ phận Một cửa UBND xã …".
    place_name_vi: Mapped[str | None] = mapped_column(String(200))
    place_name_en: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    path: Mapped[str] = mapped_column(String(500), default="")
    # Set when this unit was merged into another: its history then counts as the other's.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))

    parent: Mapped["Unit | None"] = relationship(
        remote_side=[id], back_populates="children", foreign_keys=[parent_id]
    )
    children: Mapped[list["Unit"]] = relationship(back_populates="parent", foreign_keys=[parent_id])
    merged_into: Mapped["Unit | None"] = relationship(
        remote_side=[id], foreign_keys=[merged_into_id]
    )
    counters: Mapped[list["Counter"]] = relationship(back_populates="unit")
    former_codes: Mapped[list["FormerUnitCode"]] = relationship(back_populates="unit")

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name_vi

    def place_name(self, locale: str) -> str:
        """The text that replaces [ĐPV]; falls back to the unit's name."""
        if locale == "en" and self.place_name_en:
            return self.place_name_en
        return self.place_name_vi or self.name(locale)

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class FormerUnitCode(db.Model):
    """A code a unit was known by before a merger (2025 reorganisation); old data stays findable."""

    __tablename__ = "former_unit_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    note: Mapped[str | None] = mapped_column(String(200))

    unit: Mapped[Unit] = relationship(back_populates="former_codes")


class Counter(db.Model):
    """A service desk or point inside a unit where citizens are served and rate the service."""

    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("unit_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Lĩnh vực (e.g. "hộ tịch", "đất đai"): with the unit, the stratum of the annual design.
    service_area: Mapped[str | None] = mapped_column(String(64))

    unit: Mapped[Unit] = relationship(back_populates="counters")

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name_vi

    def __repr__(self) -> str:
        return f"<Counter {self.code} of unit {self.unit_id}>"


CHANNEL_DEFAULT_QUESTIONNAIRES = {
    "kiosk": "quick-rating",
    "qr_counter": "sipas-counter",
    "qr_dossier": "quick-rating",
    "web": "sipas-counter",
}


class ChannelQuestionnaire(db.Model):
    """Which questionnaire a channel of a unit uses; units without one inherit their parent's."""

    __tablename__ = "channel_questionnaires"
    __table_args__ = (UniqueConstraint("unit_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    questionnaire_key: Mapped[str] = mapped_column(String(64))
