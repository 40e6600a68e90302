"""API keys for machine clients: created and revoked by administrators, stored hashed."""

import hashlib
import hmac
import logging
import secrets

from sqlalchemy import select

from questionnaires.text import add_unsafe_text_problems
from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import API_KEY_PURPOSES, ApiKey, StaffAccount, Unit
from survey_app.timeutil import utcnow

log = logging.getLogger(__name__)

KEY_MARKER = "sk"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    name: str, purpose: str, unit: Unit, *, created_by: StaffAccount | None
) -> tuple[ApiKey, str]:
    """Create a key scoped to `unit`'s subtree. Returns the key and the full secret, which is
    shown once and never stored. A name holding a character no text may hold is refused
    (ValidationError; questionnaires/text.py)."""
    problems = {}
    if not name.strip():
        problems["name"] = ["is required, e.g. 'Hệ thống một cửa điện tử'"]
    add_unsafe_text_problems(problems, {"name": name})
    if purpose not in API_KEY_PURPOSES:
        problems["purpose"] = [f"must be one of {', '.join(API_KEY_PURPOSES)}"]
    if problems:
        raise ValidationError(problems)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        purpose=purpose,
        prefix=prefix,
        secret_hash=_digest(secret),
        unit_id=unit.id,
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(key)
    db.session.flush()
    log.info("api key created prefix=%s purpose=%s", prefix, purpose)
    return key, f"{KEY_MARKER}_{prefix}_{secret}"


def authenticate_api_key(presented: str, purpose: str) -> ApiKey | None:
    """The active key for `purpose` matching `presented` ("sk_<prefix>_<secret>"), else None."""
    marker, _, rest = presented.partition("_")
    prefix, _, secret = rest.partition("_")
    if marker != KEY_MARKER or not prefix or not secret:
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not key.active or key.purpose != purpose:
        return None
    if not hmac.compare_digest(key.secret_hash, _digest(secret)):
        return None
    key.last_used_at = utcnow()
    return key


def list_api_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id.desc())))


def revoke_api_key(key_id: int) -> ApiKey:
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
