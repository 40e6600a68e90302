"""Staff accounts, their scopes in the unit tree, and API keys for machine clients."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey_app.extensions import db
from survey_app.models.unit import Unit
from survey_app.timeutil import UTCDateTime, utcnow

# A manager changes what is under a unit (counters, kiosks, posters, targets, paper entry) and sees
# its figures; an officer (cán bộ một cửa) serves at its counters (duty) and sees its figures; a
# viewer sees the figures only.
ROLES = ("manager", "officer", "viewer")
# What a machine client may do with its key: ask for dossier rating codes, read figures, or submit
# responses it collected itself (a partner app, the province's public-service portal).
API_KEY_PURPOSES = ("dossier_codes", "read_figures", "submit_responses")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StaffAccount(db.Model):
    """A person who signs in. Administrators see everything; others see the subtrees of their
    scopes. Each sign-in is a `StaffSession` row; sign-in attempts are throttled per address and
    per name and address (services/accounts.py), not by a lock on the account."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # Chức danh, shown to citizens when the officer serves at a counter (e.g. "Công chức Tư pháp – Hộ tịch").
    title: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    is_administrator: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    scopes: Mapped[list["StaffScope"]] = relationship(
        back_populates="account", cascade="all, delete-orphan"
    )

    # Flask-Login's user protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<StaffAccount {self.username}>"


class StaffScope(db.Model):
    """A role over one unit and everything below it."""

    __tablename__ = "staff_scopes"
    __table_args__ = (
        UniqueConstraint("account_id", "unit_id"),
        CheckConstraint(_one_of("role", ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))

    account: Mapped[StaffAccount] = relationship(back_populates="scopes")
    unit: Mapped[Unit] = relationship()


class ApiKey(db.Model):
    """A key for a machine client (the dossier system, an export job). Only a SHA-256 of the secret
    is stored (the secret is 32 random bytes, so a slow hash adds nothing); `prefix` finds it."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_one_of("purpose", API_KEY_PURPOSES), name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class StaffSession(db.Model):
    """One sign-in. The session cookie carries a random secret whose SHA-256 is `token_hash`, so
    the session can be ended on the server: signing out, a new password or deactivation sets
    `ended_at`, and a copied cookie is refused from then on. `last_seen_at` measures idleness
    (written at most once a minute, services/accounts.py)."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[StaffAccount] = relationship()
