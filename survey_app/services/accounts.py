"""Staff accounts: creating them, passwords, signing in with throttling, sessions, scopes.

Signing in is throttled by address, and by name and address together, never by a lock on the
account: a lock anybody can trigger lets anybody keep `admin` out for ever. Every attempt is
counted before the password is checked (one atomic upsert each, so concurrent attempts cannot
slip past the limit), and a successful one is taken back. An unknown name, an inactive account,
a wrong password and a throttled attempt all cost one password hash and get the same answer, so
neither the wording nor the time tells which names exist.

Each sign-in is a `StaffSession` row named by a random secret in the session cookie: signing out,
a new password or deactivation ends it on the server, and it ends by itself after
`SessionPolicy.lifetime` or `SessionPolicy.idle` without a request.
"""

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from questionnaires.text import add_unsafe_text_problems
from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import ROLES, StaffAccount, StaffScope, StaffSession, Unit
from survey_app.services.ratelimit import (
    Limit,
    address_key,
    count_hit_sliding,
    forget_hit,
    forget_key,
)
from survey_app.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
# Checked against when the username is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password-at-all")


@dataclass(frozen=True)
class LoginPolicy:
    """Sign-in attempts allowed per `window`: for one name from one address, and from one
    address whatever the names (an office behind one NAT signs in many people; successful
    sign-ins are not counted)."""

    per_name_and_address: int = 5
    per_address: int = 30
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LoginPolicy":
        return cls(
            per_name_and_address=config["LOGIN_ATTEMPTS_PER_NAME"],
            per_address=config["LOGIN_ATTEMPTS_PER_ADDRESS"],
            window=timedelta(minutes=config["LOGIN_WINDOW_MINUTES"]),
        )


@dataclass(frozen=True)
class SessionPolicy:
    """How long a staff session lasts: `lifetime` after sign-in at most, `idle` without a request."""

    lifetime: timedelta = timedelta(hours=8)
    idle: timedelta = timedelta(minutes=30)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SessionPolicy":
        return cls(
            lifetime=config["PERMANENT_SESSION_LIFETIME"],
            idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
        )


def _check_password_rules(password: str) -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    if password.strip() != password:
        problems.append("must not start or end with spaces")
    return problems


def hash_password(password: str) -> str:
    """scrypt (Werkzeug's default): memory-hard, salted."""
    return generate_password_hash(password)


def create_account(
    username: str,
    password: str,
    *,
    display_name: str,
    title: str = "",
    is_administrator: bool = False,
) -> StaffAccount:
    """Create an account; raises ValidationError naming each problem, among them a name or title
    holding a character no text may hold (questionnaires/text.py: the administrator retypes it)."""
    username = username.strip().lower()
    problems: dict[str, list[str]] = {}
    if not USERNAME_PATTERN.match(username):
        problems["username"] = ["use 2–64 lower-case letters, digits, dots, dashes or underscores"]
    elif find_account(username) is not None:
        problems["username"] = [f"{username!r} is taken"]
    if password_problems := _check_password_rules(password):
        problems["password"] = password_problems
    if not display_name.strip():
        problems["display_name"] = ["is required"]
    add_unsafe_text_problems(problems, {"display_name": display_name, "title": title})
    if problems:
        raise ValidationError(problems)
    account = StaffAccount(
        username=username,
        display_name=display_name.strip(),
        title=title.strip(),
        password_hash=hash_password(password),
        is_administrator=is_administrator,
        active=True,
    )
    db.session.add(account)
    db.session.flush()
    log.info("staff account created username=%s", username)
    return account


def find_account(username: str) -> StaffAccount | None:
    return db.session.scalar(
        select(StaffAccount).where(StaffAccount.username == username.strip().lower())
    )


def get_account(account_id: int) -> StaffAccount:
    account = db.session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


def list_accounts() -> list[StaffAccount]:
    return list(db.session.scalars(select(StaffAccount).order_by(StaffAccount.username)))


def set_password(account: StaffAccount, password: str, *, keep_session: int | None = None) -> None:
    """Change the password and end every session of the account (but `keep_session`, the id of
    the session the account changes its own password from)."""
    if problems := _check_password_rules(password):
        raise ValidationError({"password": problems})
    account.password_hash = hash_password(password)
    end_sessions(account, keep=keep_session)


def set_account_active(account: StaffAccount, active: bool) -> None:
    account.active = active
    if not active:
        end_sessions(account)


# --- signing in ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    account: StaffAccount | None
    # Set when the attempt was refused unchecked: too many attempts from this address (for this
    # name, or for any). When the next attempt would be allowed.
    retry_after: datetime | None = None


def _name_key(username: str, address: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-name:{address_key(address)}:{digest}"


def _address_key(address: str) -> str:
    return f"login-address:{address_key(address)}"


def count_sign_in_attempt(
    username: str, address: str, *, policy: LoginPolicy, now: datetime | None = None
) -> datetime | None:
    """Count an attempt to sign in as `username` from `address` before its password is checked;
    returns None when it may go on, else when an attempt would be allowed again. The caller
    commits before checking the password, so the count holds whatever happens next."""
    now = now or utcnow()
    refused: list[datetime] = []
    for key, hits in (
        (_address_key(address), policy.per_address),
        (_name_key(username, address), policy.per_name_and_address),
    ):
        counted = count_hit_sliding(key, Limit(hits, policy.window), now=now)
        if not counted.allowed:
            refused.append(counted.free_at)
    return max(refused) if refused else None


def authenticate(
    username: str,
    password: str,
    *,
    address: str,
    retry_after: datetime | None = None,
    policy: LoginPolicy = LoginPolicy(),
    now: datetime | None = None,
) -> LoginResult:
    """Check a username and password counted by `count_sign_in_attempt` (`retry_after` is what it
    returned: a refused attempt is answered without looking at the password). Every path costs
    one password hash. A success takes the attempt back from the address's count and forgets the
    name's. The caller commits."""
    now = now or utcnow()
    account = find_account(username) if retry_after is None else None
    if account is None or not account.active:
        check_password_hash(_DUMMY_HASH, password)
        return LoginResult(None, retry_after=retry_after)
    if not check_password_hash(account.password_hash, password):
        return LoginResult(None)
    forget_hit(_address_key(address), Limit(policy.per_address, policy.window), now=now)
    forget_key(_name_key(username, address))
    account.last_login_at = now
    return LoginResult(account)


# --- sessions --------------------------------------------------------------------------------------


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(
    account: StaffAccount, *, now: datetime | None = None
) -> tuple[StaffSession, str]:
    """A new session for `account`; returns it and the secret for the session cookie (only its
    hash is stored)."""
    now = now or utcnow()
    secret = secrets.token_urlsafe(32)
    row = StaffSession(
        account_id=account.id, token_hash=_token_hash(secret), started_at=now, last_seen_at=now
    )
    db.session.add(row)
    db.session.flush()
    return row, secret


# A session's last request is written at most this often: not a write per page.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionState:
    """What a session cookie's secret names: the row (None: no session of that secret), and
    why it is no longer live ("ended", "expired" after its lifetime, "idle", "inactive" account),
    or None while it is live."""

    row: StaffSession | None
    ended: str | None

    @property
    def live(self) -> bool:
        return self.row is not None and self.ended is None


def read_session(
    secret: str | None, *, policy: SessionPolicy, now: datetime | None = None
) -> SessionState:
    """The state of the session `secret` names, read without writing anything."""
    if not secret or not isinstance(secret, str) or len(secret) > 100:
        return SessionState(None, None)
    now = now or utcnow()
    row = db.session.scalar(
        select(StaffSession).where(StaffSession.token_hash == _token_hash(secret))
    )
    if row is None:
        return SessionState(None, None)
    if row.ended_at is not None:
        ended = "ended"
    elif not row.account.active:
        ended = "inactive"
    elif now - as_utc(row.started_at) > policy.lifetime:
        ended = "expired"
    elif now - as_utc(row.last_seen_at) > policy.idle:
        ended = "idle"
    else:
        ended = None
    return SessionState(row, ended)


def find_session(
    account_id: str, secret: str | None, *, policy: SessionPolicy, now: datetime | None = None
) -> StaffSession | None:
    """The live session of account `account_id` that `secret` names, else None: unknown, ended,
    older than the lifetime, idle too long, or its account inactive. Reads only: a request that
    is a person's activity notes it with `touch_session` once its own transaction is over."""
    state = read_session(secret, policy=policy, now=now)
    if not state.live or str(state.row.account_id) != account_id:
        return None
    return state.row


def session_needs_touch(row: StaffSession, *, now: datetime | None = None) -> bool:
    """Whether a person's request now should move the session's last request time (written at
    most once per LAST_SEEN_RESOLUTION)."""
    return (now or utcnow()) - as_utc(row.last_seen_at) >= LAST_SEEN_RESOLUTION


def touch_session(session_id: int, *, now: datetime | None = None) -> None:
    """Write that session `session_id` was used now, in a transaction of its own: for after the
    request's own session is closed (on SQLite a second writer beside an open one would wait
    for it), and for a GET, whose own transaction does not commit."""
    with db.engine.begin() as connection:
        connection.execute(
            update(StaffSession)
            .where(StaffSession.id == session_id)
            .values(last_seen_at=now or utcnow())
        )


def prune_staff_sessions(*, policy: SessionPolicy, now: datetime | None = None) -> int:
    """Forget sessions no cookie can use any more (ended, or past their lifetime) for over a
    day; returns how many. Sign-ins and sign-outs stay in the audit log."""
    cutoff = (now or utcnow()) - timedelta(days=1)
    return db.session.execute(
        delete(StaffSession)
        .where(
            or_(
                StaffSession.ended_at < cutoff,
                StaffSession.started_at < cutoff - policy.lifetime,
            )
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def end_session(session_row: StaffSession, *, now: datetime | None = None) -> None:
    if session_row.ended_at is None:
        session_row.ended_at = now or utcnow()
        db.session.flush()


def end_sessions(
    account: StaffAccount, *, keep: int | None = None, now: datetime | None = None
) -> int:
    """End every open session of `account` (but `keep`); returns how many."""
    statement = update(StaffSession).where(
        StaffSession.account_id == account.id, StaffSession.ended_at.is_(None)
    )
    if keep is not None:
        statement = statement.where(StaffSession.id != keep)
    result = db.session.execute(
        statement.values(ended_at=now or utcnow()).execution_options(synchronize_session=False)
    )
    return result.rowcount


def add_scope(account: StaffAccount, unit: Unit, role: str) -> StaffScope:
    """Give `account` a role over `unit`'s subtree (replacing the role it had on that unit)."""
    if role not in ROLES:
        raise ValidationError({"role": [f"must be one of {', '.join(ROLES)}"]})
    scope = db.session.scalar(
        select(StaffScope).where(StaffScope.account_id == account.id, StaffScope.unit_id == unit.id)
    )
    if scope is None:
        scope = StaffScope(account_id=account.id, unit_id=unit.id, role=role)
        db.session.add(scope)
    scope.role = role
    db.session.flush()
    db.session.expire(account, ["scopes"])
    return scope


def remove_scope(account: StaffAccount, scope_id: int) -> StaffScope:
    scope = db.session.get(StaffScope, scope_id)
    if scope is None or scope.account_id != account.id:
        raise NotFound(f"no scope {scope_id} on this account")
    db.session.delete(scope)
    db.session.flush()
    db.session.expire(account, ["scopes"])
    return scope


def count_administrators() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(StaffAccount)
        .where(StaffAccount.is_administrator.is_(True), StaffAccount.active.is_(True))
    )
