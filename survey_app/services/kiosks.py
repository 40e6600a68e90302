"""Tablet kiosks: enrolment, device credentials, revocation, heartbeats, submissions, officer duty
and per-officer figures.

The device credential is an itsdangerous token signed with SECRET_KEY (salt "kiosk-credential")
naming the kiosk id and its `credential_version`. It travels only in the `Authorization: Kiosk …`
header (never a cookie), so another site cannot make a browser send it. It is valid while the
kiosk is enrolled, not revoked and its version matches: revoking stops it at once; enrolling
again (a new one-time link) bumps the version, so an older credential stays dead.

Enrolment links carry a random one-time token; only its SHA-256 is stored, with an expiry
(KIOSK_ENROLMENT_HOURS). Opening the link consumes it.

Attribution to an officer follows `submitted_at`: a response is attributed to the officer whose
duty at the kiosk's counter covered the moment the citizen answered (not when a queued response
arrived), so a queue delivered after a change of shift still names the right officer.

Like every service, these add and flush only: the caller commits.
"""

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, func, or_, select

from analytics import proportion_ci
from questionnaires.text import add_unsafe_text_problems, clean_text
from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import (
    Answer,
    Counter,
    Kiosk,
    OfficerDuty,
    Questionnaire,
    Response,
    StaffAccount,
    Unit,
)
from survey_app.services.access import Access
from survey_app.services.questionnaires import definition_of, get_current_questionnaire
from survey_app.services.rollup import settle_pending
from survey_app.services.submissions import SubmissionPolicy, SubmissionResult, submit_response
from survey_app.timeutil import as_utc, utcnow

KIOSK_QUESTIONNAIRES = ("quick-rating", "sipas-counter")
CREDENTIAL_SALT = "kiosk-credential"
# Per-officer figures use these questions: the quick rating itself, and the counter form's overall.
OFFICER_QUESTIONS = {"quick-rating": "rating", "sipas-counter": "overall"}


class KioskRefused(Exception):
    """The device credential is not (or no longer) valid. `code` is what the tablet acts on:
    "kiosk_revoked" (show that it needs enrolling again) or "kiosk_unknown"."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(message)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=CREDENTIAL_SALT)


# --- enrolment ----------------------------------------------------------------------------------


def create_kiosk(
    *,
    counter: Counter,
    questionnaire_key: str,
    name: str,
    created_by: StaffAccount | None,
    enrolment_hours: int = 24,
    now: datetime | None = None,
) -> tuple[Kiosk, str]:
    """A kiosk for `counter`, not yet enrolled, and its one-time enrolment token (shown once).
    Raises ValidationError, e.g. for a name holding a character no text may hold (staff retype
    it; questionnaires/text.py)."""
    problems: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        problems.setdefault("name", []).append("is required, e.g. 'Máy tính bảng quầy 1'")
    elif len(name) > 200:
        problems.setdefault("name", []).append("is longer than 200 characters")
    add_unsafe_text_problems(problems, {"name": name})
    if questionnaire_key not in KIOSK_QUESTIONNAIRES:
        problems.setdefault("questionnaire", []).append(
            f"must be one of {', '.join(KIOSK_QUESTIONNAIRES)}"
        )
    else:
        try:
            get_current_questionnaire(questionnaire_key)
        except NotFound:
            problems.setdefault("questionnaire", []).append(
                f"questionnaire {questionnaire_key!r} is not loaded here"
            )
    if not counter.active or not counter.unit.active:
        problems.setdefault("counter", []).append("is no longer in use")
    if problems:
        raise ValidationError(problems)
    kiosk = Kiosk(
        unit_id=counter.unit_id,
        counter_id=counter.id,
        name=name,
        questionnaire_key=questionnaire_key,
        credential_version=0,
        queued_submissions=0,
        created_by_id=created_by.id if created_by else None,
        created_at=now or utcnow(),
    )
    db.session.add(kiosk)
    token = _issue_enrolment_token(kiosk, hours=enrolment_hours, now=now)
    db.session.flush()
    return kiosk, token


def new_enrolment_link(kiosk: Kiosk, *, hours: int = 24, now: datetime | None = None) -> str:
    """A fresh one-time token for an existing kiosk (a new tablet, or after a revocation). The
    current credential keeps working until the new link is used (or the kiosk is revoked)."""
    token = _issue_enrolment_token(kiosk, hours=hours, now=now)
    db.session.flush()
    return token


def _issue_enrolment_token(kiosk: Kiosk, *, hours: int, now: datetime | None) -> str:
    token = secrets.token_urlsafe(32)
    kiosk.enrolment_token_hash = _hash_token(token)
    kiosk.enrolment_expires_at = (now or utcnow()) + timedelta(hours=hours)
    return token


def find_kiosk_by_enrolment_token(token: str, *, now: datetime | None = None) -> Kiosk | None:
    """The kiosk a still-valid enrolment token belongs to, or None (unknown, used or expired)."""
    if not token or len(token) > 200:
        return None
    kiosk = db.session.scalar(select(Kiosk).where(Kiosk.enrolment_token_hash == _hash_token(token)))
    if kiosk is None or kiosk.enrolment_expires_at is None:
        return None
    if as_utc(kiosk.enrolment_expires_at) <= (now or utcnow()):
        return None
    return kiosk


def enrol(token: str, *, secret_key: str, now: datetime | None = None) -> tuple[Kiosk, str]:
    """Consume the one-time `token`: the kiosk becomes enrolled (again) and gets a new credential
    version; returns the kiosk and the credential for the tablet. NotFound if the token is
    unknown, already used or expired."""
    now = now or utcnow()
    kiosk = find_kiosk_by_enrolment_token(token, now=now)
    if kiosk is None:
        raise NotFound("this enrolment link is unknown, already used or expired")
    kiosk.enrolment_token_hash = None
    kiosk.enrolment_expires_at = None
    kiosk.enrolled_at = now
    kiosk.revoked_at = None
    kiosk.credential_version = (kiosk.credential_version or 0) + 1
    kiosk.queued_submissions = 0
    db.session.flush()
    return kiosk, make_credential(kiosk, secret_key=secret_key)


def make_credential(kiosk: Kiosk, *, secret_key: str) -> str:
    return _serializer(secret_key).dumps({"k": kiosk.id, "v": kiosk.credential_version})


def authenticate_kiosk(credential: str | None, *, secret_key: str) -> Kiosk:
    """The kiosk a credential names, if it is still valid; KioskRefused otherwise."""
    if not credential or len(credential) > 500:
        raise KioskRefused("kiosk_unknown", "no kiosk credential was sent")
    try:
        data = _serializer(secret_key).loads(credential)
    except BadSignature:
        raise KioskRefused("kiosk_unknown", "the kiosk credential is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), int):
        raise KioskRefused("kiosk_unknown", "the kiosk credential is not valid")
    kiosk = db.session.get(Kiosk, data["k"])
    if kiosk is None:
        raise KioskRefused("kiosk_unknown", "this kiosk no longer exists; enrol the tablet again")
    if kiosk.revoked_at is not None or kiosk.enrolled_at is None:
        raise KioskRefused(
            "kiosk_revoked", "this kiosk has been revoked; it must be enrolled again by staff"
        )
    if data.get("v") != kiosk.credential_version:
        raise KioskRefused(
            "kiosk_revoked", "this tablet's credential was replaced; it must be enrolled again"
        )
    return kiosk


def revoke_kiosk(kiosk: Kiosk, *, now: datetime | None = None) -> None:
    """Refuse the kiosk's credential from now on (and any unused enrolment link)."""
    if kiosk.revoked_at is None:
        kiosk.revoked_at = now or utcnow()
    kiosk.enrolment_token_hash = None
    kiosk.enrolment_expires_at = None
    db.session.flush()


def kiosk_status(kiosk: Kiosk) -> str:
    """ "revoked", "active", or "waiting" (created, the link not yet used)."""
    if kiosk.revoked_at is not None:
        return "revoked"
    if kiosk.enrolled_at is not None:
        return "active"
    return "waiting"


# --- listing ------------------------------------------------------------------------------------


def list_kiosks(unit_filter) -> list[Kiosk]:
    """Kiosks of the units `unit_filter` (a WHERE clause on Unit, e.g. Access.unit_filter) selects."""
    return list(
        db.session.scalars(
            select(Kiosk)
            .join(Unit, Unit.id == Kiosk.unit_id)
            .where(unit_filter)
            .order_by(Unit.path, Kiosk.id)
        )
    )


def get_kiosk(kiosk_id: int, unit_filter) -> Kiosk:
    kiosk = db.session.scalar(
        select(Kiosk).join(Unit, Unit.id == Kiosk.unit_id).where(Kiosk.id == kiosk_id, unit_filter)
    )
    if kiosk is None:
        raise NotFound(f"no kiosk {kiosk_id} here")
    return kiosk


# --- the device API -----------------------------------------------------------------------------


def heartbeat(
    kiosk: Kiosk,
    *,
    queue_length: Any,
    app_version: Any,
    now: datetime | None = None,
) -> None:
    """Record that the tablet is alive, its app version and how many responses it still holds.
    The version is the device's own text: what no text may hold is removed, not refused."""
    kiosk.last_seen_at = now or utcnow()
    if isinstance(app_version, str):
        kiosk.app_version = clean_text(app_version, multiline=False).strip()[:40] or None
    if isinstance(queue_length, int) and not isinstance(queue_length, bool):
        kiosk.queued_submissions = max(0, min(queue_length, 1_000_000))
    db.session.flush()


def open_duty_at(counter_id: int, moment: datetime) -> OfficerDuty | None:
    """The duty at `counter_id` that covered `moment` (the latest started, if several did), if
    its account may still serve there: a duty outlives neither the account's officer or manager
    role over the counter's unit nor the account itself, so ratings are never credited (nor a
    name shown on the kiosk) for someone who no longer serves."""
    duty = db.session.scalar(
        select(OfficerDuty)
        .where(
            OfficerDuty.counter_id == counter_id,
            OfficerDuty.started_at <= moment,
            or_(OfficerDuty.ended_at.is_(None), OfficerDuty.ended_at > moment),
        )
        .order_by(OfficerDuty.started_at.desc(), OfficerDuty.id.desc())
        .limit(1)
    )
    if duty is None or not duty.account.active:
        return None
    return duty if Access.of(duty.account).covers(duty.counter.unit, serve=True) else None


def kiosk_config(kiosk: Kiosk, config: Mapping[str, Any], *, now: datetime | None = None) -> dict:
    """What the tablet needs to run: where it stands, which questionnaire, who serves, timeouts."""
    stored, _ = get_current_questionnaire(kiosk.questionnaire_key)
    duty = open_duty_at(kiosk.counter_id, now or utcnow())
    unit, counter = kiosk.unit, kiosk.counter
    return {
        "kiosk": {"id": kiosk.id, "name": kiosk.name},
        "unit": {
            "code": unit.code,
            "name": {"vi": unit.name("vi"), "en": unit.name("en")},
            "place_name": {"vi": unit.place_name("vi"), "en": unit.place_name("en")},
        },
        "counter": {
            "code": counter.code,
            "name": {"vi": counter.name("vi"), "en": counter.name("en")},
        },
        "questionnaire": {
            "key": stored.key,
            "version": stored.version,
            "content_hash": stored.content_hash,
        },
        "officer": (
            {"name": duty.account.display_name, "title": duty.account.title or ""}
            if duty is not None
            else None
        ),
        "idle_seconds": int(config["KIOSK_IDLE_SECONDS"]),
        "prompt_seconds": int(config["KIOSK_PROMPT_SECONDS"]),
        "thanks_seconds": int(config["KIOSK_THANKS_SECONDS"]),
        "heartbeat_seconds": int(config["KIOSK_HEARTBEAT_SECONDS"]),
    }


def submit_kiosk_response(
    kiosk: Kiosk,
    payload: Any,
    *,
    policy: SubmissionPolicy,
    now: datetime | None = None,
) -> SubmissionResult:
    """Store a response from `kiosk`: channel "kiosk", bound to its unit and counter, attributed
    to the officer on duty at the counter when the citizen answered (`submitted_at`)."""
    now = now or utcnow()
    answered_at = now
    if isinstance(payload, Mapping) and isinstance(payload.get("submitted_at"), str):
        try:
            parsed = datetime.fromisoformat(payload["submitted_at"])
            if parsed.tzinfo is not None:
                answered_at = as_utc(parsed)
        except ValueError:
            pass  # submit_response reports it
    duty = open_duty_at(kiosk.counter_id, answered_at)
    result = submit_response(
        payload,
        channel="kiosk",
        policy=policy,
        now=now,
        kiosk_id=kiosk.id,
        officer_id=duty.account_id if duty else None,
        expected_unit_id=kiosk.unit_id,
        expected_counter_id=kiosk.counter_id,
        queued_offline=True,
    )
    if result.created and (
        kiosk.last_submission_at is None or as_utc(kiosk.last_submission_at) < answered_at
    ):
        kiosk.last_submission_at = answered_at
    kiosk.last_seen_at = now
    db.session.flush()
    return result


# --- officers on duty ---------------------------------------------------------------------------


def current_duty_of(account: StaffAccount) -> OfficerDuty | None:
    return db.session.scalar(
        select(OfficerDuty)
        .where(OfficerDuty.account_id == account.id, OfficerDuty.ended_at.is_(None))
        .order_by(OfficerDuty.started_at.desc())
        .limit(1)
    )


def start_duty(
    account: StaffAccount, counter: Counter, *, now: datetime | None = None
) -> OfficerDuty:
    """`account` serves at `counter` from now on. An officer serves at one counter at a time, and a
    counter has one officer at a time: both earlier open duties end now."""
    now = now or utcnow()
    earlier = db.session.scalars(
        select(OfficerDuty).where(
            OfficerDuty.ended_at.is_(None),
            or_(OfficerDuty.account_id == account.id, OfficerDuty.counter_id == counter.id),
        )
    )
    for duty in earlier:
        duty.ended_at = now
    duty = OfficerDuty(counter_id=counter.id, account_id=account.id, started_at=now)
    db.session.add(duty)
    db.session.flush()
    return duty


def end_duty(account: StaffAccount, *, now: datetime | None = None) -> OfficerDuty | None:
    duty = current_duty_of(account)
    if duty is not None:
        duty.ended_at = now or utcnow()
        db.session.flush()
    return duty


@dataclass(frozen=True)
class OfficerFigure:
    account_id: int
    name: str
    title: str
    questionnaire_key: str
    n: int
    positive: int
    share: float | None  # None below min_n
    low: float | None
    high: float | None


def officer_figures(
    unit: Unit, *, min_n: int, start: datetime | None = None, end: datetime | None = None
) -> list[OfficerFigure]:
    """Per officer and questionnaire at `unit`'s counters: n answers to the headline question
    (quick-rating: `rating`; sipas-counter: `overall`), the share positive and its Wilson 95 %
    interval, withheld below `min_n`. Counted with one GROUP BY over responses × answers."""
    settle_pending()
    rows = db.session.execute(
        select(
            Response.officer_id,
            Questionnaire.key,
            Questionnaire.id,
            Answer.value,
            func.count(),
        )
        .join(Answer, Answer.response_id == Response.id)
        .join(Questionnaire, Questionnaire.id == Response.questionnaire_id)
        .where(
            Response.unit_id == unit.id,
            Response.officer_id.is_not(None),
            or_(
                *(
                    and_(Questionnaire.key == key, Answer.question_key == question)
                    for key, question in OFFICER_QUESTIONS.items()
                )
            ),
            *([Response.submitted_at >= start] if start else []),
            *([Response.submitted_at < end] if end else []),
        )
        .group_by(Response.officer_id, Questionnaire.key, Questionnaire.id, Answer.value)
    ).all()
    positives: dict[int, frozenset[int]] = {}
    tally: dict[tuple[int, str], list[int]] = {}
    for officer_id, key, questionnaire_id, value, n in rows:
        if questionnaire_id not in positives:
            definition = definition_of(db.session.get(Questionnaire, questionnaire_id))
            question = definition.question(OFFICER_QUESTIONS[key])
            positives[questionnaire_id] = question.positive or question.scale.positive
        counts = tally.setdefault((officer_id, key), [0, 0])
        counts[0] += n
        counts[1] += n if value in positives[questionnaire_id] else 0
    accounts = {
        a.id: a
        for a in db.session.scalars(
            select(StaffAccount).where(StaffAccount.id.in_({o for o, _ in tally}))
        )
    }
    figures = []
    for (officer_id, key), (n, positive) in sorted(
        tally.items(), key=lambda item: (accounts[item[0][0]].display_name, item[0][1])
    ):
        account = accounts[officer_id]
        shown = n >= min_n
        interval = proportion_ci(positive, n) if shown else None
        figures.append(
            OfficerFigure(
                account_id=officer_id,
                name=account.display_name,
                title=account.title or "",
                questionnaire_key=key,
                n=n,
                positive=positive,
                share=positive / n if shown else None,
                low=interval.low if interval else None,
                high=interval.high if interval else None,
            )
        )
    return figures
