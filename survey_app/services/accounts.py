"""Staff accounts: creating them, passwords, signing in with throttling, scopes."""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from questionnaires.text import add_unsafe_text_problems
from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import ROLES, StaffAccount, StaffScope, Unit
from survey_app.models.staff import new_session_token
from survey_app.timeutil import utcnow

log = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
# Checked against when the username is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password-at-all")


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


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
        session_token=new_session_token(),
        failed_logins=0,
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


def set_password(account: StaffAccount, password: str) -> None:
    """Change the password and sign the account out of every session."""
    if problems := _check_password_rules(password):
        raise ValidationError({"password": problems})
    account.password_hash = hash_password(password)
    account.session_token = new_session_token()
    account.failed_logins = 0
    account.locked_until = None


def set_account_active(account: StaffAccount, active: bool) -> None:
    account.active = active
    if not active:
        account.session_token = new_session_token()


@dataclass(frozen=True)
class LoginResult:
    account: StaffAccount | None
    locked_until: datetime | None = None  # set when refused because of too many failures


def authenticate(
    username: str,
    password: str,
    *,
    policy: LoginPolicy = LoginPolicy(),
    now: datetime | None = None,
) -> LoginResult:
    """Check a username and password, counting failures. After `max_failures` failures in a row
    the account is locked for `lock_for`, even for the right password. The caller commits."""
    now = now or utcnow()
    account = find_account(username)
    if account is None or not account.active:
        check_password_hash(_DUMMY_HASH, password)
        return LoginResult(None)
    if account.locked_until is not None and account.locked_until > now:
        return LoginResult(None, locked_until=account.locked_until)
    if not check_password_hash(account.password_hash, password):
        account.failed_logins += 1
        if account.failed_logins >= policy.max_failures:
            account.locked_until = now + policy.lock_for
            return LoginResult(None, locked_until=account.locked_until)
        return LoginResult(None)
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    return LoginResult(account)


def load_account_for_session(session_id: str) -> StaffAccount | None:
    """Flask-Login's loader: the id carries the account's session token, so a password change or
    deactivation ends every session at once."""
    account_id, _, token = session_id.partition(":")
    if not account_id.isdigit():
        return None
    account = db.session.get(StaffAccount, int(account_id))
    if account is None or not account.active or account.session_token != token:
        return None
    return account


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
