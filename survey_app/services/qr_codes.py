"""QR codes citizens scan: counter posters (/r/<code>) and single-use dossier tokens (/d/<token>).

Posters carry a short random code naming a unit (and optionally a counter) and a questionnaire;
staff revoke and reissue them. Dossier tokens are issued to the one-stop dossier system for one
dossier (mã số hồ sơ): a signed token carrying the DossierRating id and its expiry; the rating
row records only that the code was used, never which response it allowed.

Every function adds and flushes only: the caller commits.
"""

import io
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update

from survey_app.errors import Conflict, DomainError, NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import ApiKey, Counter, DossierRating, PosterCode, StaffAccount, Unit
from survey_app.services.units import questionnaire_key_for
from survey_app.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: a code written out under the QR can be typed from the poster without doubt.
POSTER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
POSTER_CODE_LENGTH = 8
DOSSIER_TOKEN_SALT = "dossier-rating-token"
DOSSIER_CODE_MAX = 64
# sipas.md §3.2: V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX (e.g. 000.00.31.H01-240315-0001); dossier
# systems differ, so any groups of letters and digits joined by . - / _ are accepted.
DOSSIER_CODE_PATTERN = re.compile(r"^[A-Z0-9]+(?:[./_-][A-Z0-9]+)*$")


class PosterRevoked(DomainError):
    """The poster's code was revoked (or its unit or counter no longer takes responses)."""


class TokenInvalid(DomainError):
    """The dossier token was not issued here (forged, altered, or cut short)."""


class TokenExpired(DomainError):
    """The dossier token is past its expiry."""


class AlreadyRated(Conflict):
    """The dossier was rated already: one rating per dossier."""


# --- posters -------------------------------------------------------------------------------------


def new_poster_code() -> str:
    return "".join(secrets.choice(POSTER_ALPHABET) for _ in range(POSTER_CODE_LENGTH))


def normalise_poster_code(code: str) -> str:
    """Codes are read from paper: accept lower case."""
    return code.strip().upper()


def create_poster_code(
    unit: Unit,
    counter: Counter | None = None,
    *,
    created_by: StaffAccount | None = None,
    questionnaire_key: str | None = None,
) -> PosterCode:
    """A new poster code for `unit` (and `counter`, which must be the unit's). The questionnaire
    defaults to the unit's setting for the `qr_counter` channel."""
    if counter is not None and counter.unit_id != unit.id:
        raise ValidationError(
            {"counter_id": [f"counter {counter.code} is not in unit {unit.code}"]}
        )
    if not unit.active or (counter is not None and not counter.active):
        raise ValidationError({"unit": [f"{unit.code} does not take responses now"]})
    while True:
        code = new_poster_code()
        if db.session.scalar(select(PosterCode.id).where(PosterCode.code == code)) is None:
            break
    poster = PosterCode(
        code=code,
        unit_id=unit.id,
        counter_id=counter.id if counter else None,
        questionnaire_key=questionnaire_key or questionnaire_key_for(unit, "qr_counter"),
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(poster)
    db.session.flush()
    log.info("poster created unit=%s counter=%s", unit.code, counter.code if counter else "-")
    return poster


def revoke_poster_code(poster: PosterCode, *, now: datetime | None = None) -> None:
    """Printed copies stop working at once."""
    if poster.revoked_at is None:
        poster.revoked_at = now or utcnow()
        db.session.flush()


def reissue_poster_code(
    poster: PosterCode, *, created_by: StaffAccount | None = None
) -> PosterCode:
    """Revoke `poster` and make a new one for the same unit, counter and questionnaire."""
    revoke_poster_code(poster)
    return create_poster_code(
        poster.unit,
        poster.counter,
        created_by=created_by,
        questionnaire_key=poster.questionnaire_key,
    )


def ensure_unit_posters(unit: Unit, *, created_by: StaffAccount | None = None) -> list[PosterCode]:
    """An active poster for the unit itself and for each of its active counters: the ones
    missing are created. Returns the new ones."""
    have = {
        p.counter_id
        for p in db.session.scalars(
            select(PosterCode).where(PosterCode.unit_id == unit.id, PosterCode.revoked_at.is_(None))
        )
    }
    created = []
    if None not in have:
        created.append(create_poster_code(unit, created_by=created_by))
    for counter in sorted(unit.counters, key=lambda c: c.code):
        if counter.active and counter.id not in have:
            created.append(create_poster_code(unit, counter, created_by=created_by))
    return created


def list_unit_posters(unit: Unit, *, include_revoked: bool = True) -> list[PosterCode]:
    query = select(PosterCode).where(PosterCode.unit_id == unit.id)
    if not include_revoked:
        query = query.where(PosterCode.revoked_at.is_(None))
    return list(db.session.scalars(query.order_by(PosterCode.counter_id, PosterCode.id)))


def find_poster_code(code: str) -> PosterCode | None:
    if not code or len(code) > 16:
        return None
    return db.session.scalar(
        select(PosterCode).where(PosterCode.code == normalise_poster_code(code))
    )


def get_active_poster(code: str) -> PosterCode:
    """The poster for `code`; NotFound when unknown, PosterRevoked when it no longer works."""
    poster = find_poster_code(code)
    if poster is None:
        raise NotFound("no poster has this code")
    if (
        poster.revoked_at is not None
        or not poster.unit.active
        or (poster.counter is not None and not poster.counter.active)
    ):
        raise PosterRevoked("this poster's code is no longer in use")
    return poster


# --- QR images -----------------------------------------------------------------------------------


def qr_svg(url: str, *, inline: bool = True) -> str:
    """The QR code of `url` as SVG (scalable: its size comes from CSS or the viewBox)."""
    qr = segno.make(url, error="m", micro=False)
    if inline:
        return qr.svg_inline(scale=1, omitsize=True, title=url)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=8, title=url)
    return buffer.getvalue().decode()


def qr_png(url: str, *, scale: int = 8) -> bytes:
    """The QR code of `url` as PNG (for receipts printed by other systems, and decoders)."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


# --- dossier tokens ------------------------------------------------------------------------------


def clean_dossier_code(raw) -> str:
    """The dossier code as stored (trimmed, upper case); ValidationError when it cannot be one."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError({"dossier_code": ["is required: the dossier's code (mã số hồ sơ)"]})
    code = raw.strip().upper()
    if len(code) > DOSSIER_CODE_MAX:
        raise ValidationError(
            {"dossier_code": [f"is {len(code)} characters long; the limit is {DOSSIER_CODE_MAX}"]}
        )
    if not DOSSIER_CODE_PATTERN.match(code) or not any(ch.isdigit() for ch in code):
        raise ValidationError(
            {
                "dossier_code": [
                    "is not a dossier code: letters and digits in groups joined by '.', '-', "
                    "'/' or '_', with at least one digit, e.g. 000.00.31.H01-240315-0001"
                ]
            }
        )
    return code


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=DOSSIER_TOKEN_SALT)


def dossier_token(rating: DossierRating, *, secret_key: str) -> str:
    """The signed token for `rating`: its id and expiry (so the same row gives the same token)."""
    return _serializer(secret_key).dumps([rating.id, int(as_utc(rating.expires_at).timestamp())])


@dataclass(frozen=True)
class IssuedToken:
    rating: DossierRating
    token: str
    created: bool  # False when the dossier already had an unused token (a retry)


def issue_dossier_token(
    dossier_code,
    unit: Unit,
    counter: Counter | None = None,
    *,
    secret_key: str,
    valid_for: timedelta = timedelta(days=30),
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """A single-use rating token for one dossier at `unit` (and `counter`, one of the unit's).

    The same dossier again, not yet rated, gives the same token (the dossier system may retry);
    an expired one is renewed. Dossier codes are each unit's own: nothing here looks at or
    reveals another unit's. Raises ValidationError for a malformed code or an inactive unit,
    AlreadyRated when the dossier was rated, Conflict when it was issued for another counter.
    """
    now = now or utcnow()
    code = clean_dossier_code(dossier_code)
    if counter is not None and counter.unit_id != unit.id:
        raise ValidationError({"counter": [f"unit {unit.code} has no such counter"]})
    if not unit.active:
        raise ValidationError({"unit": [f"unit {unit.code} no longer takes responses"]})
    if counter is not None and not counter.active:
        raise ValidationError({"counter": [f"counter {counter.code} is no longer in use"]})
    rating = db.session.scalar(
        select(DossierRating).where(
            DossierRating.unit_id == unit.id, DossierRating.dossier_code == code
        )
    )
    if rating is not None:
        if rating.used_at is not None:
            raise AlreadyRated("this dossier has been rated already")
        if rating.counter_id != (counter.id if counter else None):
            raise Conflict("this dossier code was issued for another counter of the unit")
        if as_utc(rating.expires_at) <= now:
            rating.expires_at = now + valid_for
            db.session.flush()
        return IssuedToken(rating, dossier_token(rating, secret_key=secret_key), created=False)
    rating = DossierRating(
        dossier_code=code,
        unit_id=unit.id,
        counter_id=counter.id if counter else None,
        questionnaire_key=questionnaire_key_for(unit, "qr_dossier"),
        api_key_id=api_key.id if api_key else None,
        issued_at=now,
        expires_at=now + valid_for,
    )
    db.session.add(rating)
    db.session.flush()
    log.info("dossier token issued unit=%s", unit.code)
    return IssuedToken(rating, dossier_token(rating, secret_key=secret_key), created=True)


def verify_dossier_token(token: str, *, secret_key: str) -> DossierRating:
    """The rating row a token names, used or not, expired or not; TokenInvalid when the token was
    not issued here (forged, altered, cut short) or was replaced by a renewed one."""
    if not token or len(token) > 200:
        raise TokenInvalid("not a rating link issued here")
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature:
        raise TokenInvalid("not a rating link issued here") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(p, int) and not isinstance(p, bool) for p in payload)
    ):
        raise TokenInvalid("not a rating link issued here")
    rating_id, expires = payload
    rating = db.session.get(DossierRating, rating_id)
    if rating is None or int(as_utc(rating.expires_at).timestamp()) != expires:
        # A renewed token replaces the old one; a deleted row leaves nothing to rate.
        raise TokenInvalid("not a rating link issued here")
    return rating


def read_dossier_token(
    token: str, *, secret_key: str, now: datetime | None = None
) -> DossierRating:
    """The rating row a token names, if it may still be used. Raises TokenInvalid (forged,
    altered, unknown), AlreadyRated, or TokenExpired; changes nothing."""
    rating = verify_dossier_token(token, secret_key=secret_key)
    if rating.used_at is not None:
        raise AlreadyRated("this dossier has been rated already")
    if as_utc(rating.expires_at) <= (now or utcnow()):
        raise TokenExpired("this rating link has expired")
    return rating


def mark_dossier_rated(rating_id: int, *, now: datetime | None = None) -> bool:
    """Set used_at if it is still unset (one conditional UPDATE, safe against a concurrent use);
    False when another request used it first. Call in the transaction that stores the response."""
    result = db.session.execute(
        update(DossierRating)
        .where(DossierRating.id == rating_id, DossierRating.used_at.is_(None))
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def get_dossier_rating(rating_id: int) -> DossierRating:
    rating = db.session.get(DossierRating, rating_id)
    if rating is None:
        raise NotFound(f"no dossier rating {rating_id}")
    return rating
