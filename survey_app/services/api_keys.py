"""API keys for machine clients: created and revoked by administrators, stored hashed."""

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from sqlalchemy import select

from questionnaires.text import add_unsafe_text_problems
from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import API_KEY_PURPOSES, ApiKey, StaffAccount, Unit
from survey_app.services.catalogue import ApiKeyEntry, catalogue
from survey_app.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

KEY_MARKER = "sk"
# A key's last use is written at most this often: a busy key is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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


def _split(presented: str) -> tuple[str, str] | None:
    """(prefix, secret) of "sk_<prefix>_<secret>", or None when it is not shaped so."""
    marker, _, rest = presented.partition("_")
    prefix, _, secret = rest.partition("_")
    if marker != KEY_MARKER or not prefix or not secret:
        return None
    return prefix, secret


def find_submitting_key(presented: str) -> ApiKeyEntry | None:
    """The active key for submit_responses matching `presented`, from the catalogue (cached per
    process for CATALOGUE_CACHE_SECONDS: a submission's path reads no key from the database
    while a key is busy), else None. Its last use is written by the submission's count
    (submissions.Quota)."""
    parts = _split(presented)
    if parts is None:
        return None
    entry = catalogue().api_key(parts[0])
    if entry is None or not entry.active or entry.purpose != "submit_responses":
        return None
    if not hmac.compare_digest(entry.secret_hash, _digest(parts[1])):
        return None
    return entry


def authenticate_api_key(presented: str, purpose: str) -> ApiKey | None:
    """The active key for `purpose` matching `presented` ("sk_<prefix>_<secret>"), else None."""
    parts = _split(presented)
    if parts is None:
        return None
    prefix, secret = parts
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not key.active or key.purpose != purpose:
        return None
    if not hmac.compare_digest(key.secret_hash, _digest(secret)):
        return None
    now = utcnow()
    if key.last_used_at is None or now - as_utc(key.last_used_at) >= LAST_USED_RESOLUTION:
        key.last_used_at = now
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
