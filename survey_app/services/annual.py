"""The annual survey: public links per unit and year, sampled households' single-use codes, the
online form's drafts, paper and interviewer forms keyed by staff (with optional double entry),
and the response rates per unit.

Every function adds and flushes only: the caller commits once.
"""

import logging
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, update

from questionnaires import Definition
from questionnaires.text import add_unsafe_text_problems, clean_text
from survey_app.errors import Conflict, DomainError, NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import (
    AnnualLink,
    Answer,
    AuditEvent,
    FormDraft,
    PaperFormEntry,
    Response,
    SampleCode,
    StaffAccount,
    Unit,
)
from survey_app.services.answers import validate_answers
from survey_app.services.csvfiles import read_csv_rows
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.services.rollup import settle_batch
from survey_app.services.submissions import SubmissionPolicy, SubmissionResult, submit_response
from survey_app.timeutil import utcnow

log = logging.getLogger(__name__)

ANNUAL_QUESTIONNAIRE = "sipas-annual"
# The paper forms staff may key, and the channels a keyed form may carry.
PAPER_QUESTIONNAIRES = ("sipas-annual", "sipas-counter")
PAPER_CHANNELS = ("paper_entry", "interviewer")
SAMPLE_KINDS = ("household", "dossier")
# Link codes are typed from paper letters: no 0/O, 1/l/I.
LINK_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LINK_CODE_LENGTH = 10
MIN_YEAR, MAX_YEAR = 2000, 2100
REVIEW_ACTION = "paper.double_entry_reviewed"


class SampleCodeUsed(Conflict):
    """The sampled household (or dossier) has already answered: nothing is stored."""


class DraftExpired(DomainError):
    """The draft is unknown, belongs to another link, or was idle too long."""


class DuplicateSerial(Conflict):
    """A paper form's serial was already keyed for the year (and round)."""

    def __init__(self, serial: str, year: int, username: str, at: datetime):
        self.serial, self.year, self.username, self.at = serial, year, username, at
        super().__init__(f"form {serial} of {year} was already entered by {username} at {at}")


def check_year(year: Any) -> int:
    """A survey year (a whole number between 2000 and 2100); raises ValidationError."""
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    if not isinstance(year, int) or isinstance(year, bool) or not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationError({"year": [f"must be a year between {MIN_YEAR} and {MAX_YEAR}"]})
    return year


# --- links ----------------------------------------------------------------------------------


def create_link(unit: Unit, year: int, *, requires_sample_code: bool = False) -> AnnualLink:
    """A new public link /a/<code> to `unit`'s online annual form for `year`."""
    year = check_year(year)
    if not unit.active:
        raise ValidationError({"unit": ["this unit is no longer active"]})
    code = "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    link = AnnualLink(
        code=code, unit_id=unit.id, year=year, requires_sample_code=requires_sample_code
    )
    db.session.add(link)
    db.session.flush()
    return link


def revoke_link(link: AnnualLink, *, now: datetime | None = None) -> None:
    if link.revoked_at is None:
        link.revoked_at = now or utcnow()


def list_links(unit_ids: Iterable[int], year: int | None = None) -> list[AnnualLink]:
    query = select(AnnualLink).where(AnnualLink.unit_id.in_(list(unit_ids)))
    if year is not None:
        query = query.where(AnnualLink.year == year)
    return list(db.session.scalars(query.order_by(AnnualLink.year.desc(), AnnualLink.id)))


def get_link_in_units(link_id: Any, unit_ids: Iterable[int]) -> AnnualLink:
    """The link, if it belongs to one of `unit_ids`; NotFound otherwise."""
    try:
        link = db.session.get(AnnualLink, int(link_id))
    except (TypeError, ValueError):
        link = None
    if link is None or link.unit_id not in set(unit_ids):
        raise NotFound(f"no link {link_id} here")
    return link


def get_active_link(code: str) -> AnnualLink:
    """The link with this code, if not revoked and its unit is active; NotFound otherwise."""
    link = db.session.scalar(select(AnnualLink).where(AnnualLink.code == code[:16]))
    if link is None or link.revoked_at is not None or not link.unit.active:
        raise NotFound("this survey link is not valid (any more)")
    return link


# --- drafts of the online form -----------------------------------------------------------------


def start_draft(
    link: AnnualLink, sample_code: str | None = None, *, now: datetime | None = None
) -> FormDraft:
    """A new draft of the annual form for `link`.

    When the link requires a sample code, `sample_code` must be one imported for the link's unit
    and year (ValidationError otherwise) and not yet used (SampleCodeUsed: nothing is stored).
    """
    now = now or utcnow()
    context: dict[str, Any] = {"link": link.code}
    if link.requires_sample_code:
        code = (sample_code or "").strip()
        if not code:
            raise ValidationError({"sample_code": ["enter the code printed on your letter"]})
        found = db.session.scalar(
            select(SampleCode).where(
                SampleCode.year == link.year,
                SampleCode.code == code[:64],
                SampleCode.unit_id == link.unit_id,
            )
        )
        if found is None:
            raise ValidationError({"sample_code": ["this code is not on the list; check it"]})
        if found.used_at is not None:
            raise SampleCodeUsed("this household has already answered")
        context["sample_code_id"] = found.id
    questionnaire, _ = get_current_questionnaire(ANNUAL_QUESTIONNAIRE)
    draft = FormDraft(
        id=secrets.token_urlsafe(32),
        questionnaire_key=questionnaire.key,
        version=questionnaire.version,
        context=context,
        answers={},
        updated_at=now,
    )
    db.session.add(draft)
    db.session.flush()
    return draft


def get_draft(
    draft_id: str | None, link: AnnualLink, *, idle: timedelta, now: datetime | None = None
) -> FormDraft:
    """The draft `draft_id` of `link`, touched less than `idle` ago; DraftExpired otherwise (an
    idle draft is deleted)."""
    now = now or utcnow()
    draft = db.session.get(FormDraft, draft_id) if isinstance(draft_id, str) else None
    if draft is None or draft.context.get("link") != link.code:
        raise DraftExpired("no form in progress")
    if draft.updated_at + idle < now:
        db.session.delete(draft)
        db.session.flush()
        raise DraftExpired("the form was left unused for too long")
    return draft


def save_draft_answers(
    draft: FormDraft,
    keys: Iterable[str],
    answers: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    """Replace the answers to `keys` (one page) in the draft with `answers`."""
    keys = set(keys)
    kept = {k: v for k, v in draft.answers.items() if k not in keys}
    kept.update({k: v for k, v in answers.items() if k in keys})
    draft.answers = kept  # a new dict: JSON columns do not track changes inside one
    draft.updated_at = now or utcnow()


def submit_draft(
    draft: FormDraft,
    link: AnnualLink,
    *,
    locale: str = "vi",
    policy: SubmissionPolicy | None = None,
    now: datetime | None = None,
) -> SubmissionResult:
    """Store the draft as a response (channel web, the link's year and unit), use up its sample
    code in the same transaction, and delete the draft.

    Raises ValidationError (answers), SampleCodeUsed (answered meanwhile from another phone).
    """
    now = now or utcnow()
    payload = {
        # Derived from the draft: a second click on "Submit" is a replay, not a second response.
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"annual-draft:{draft.id}")),
        "questionnaire": draft.questionnaire_key,
        "version": draft.version,
        "unit": link.unit.code,
        "locale": locale if locale in ("vi", "en") else "vi",
        "answers": dict(draft.answers),
    }
    result = submit_response(
        payload,
        channel="web",
        policy=policy,
        now=now,
        survey_year=link.year,
        expected_unit_id=link.unit_id,
    )
    sample_code_id = draft.context.get("sample_code_id")
    if sample_code_id is not None:
        used = db.session.execute(
            update(SampleCode)
            .where(SampleCode.id == sample_code_id, SampleCode.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if used != 1:
            raise SampleCodeUsed("this household has already answered")
    db.session.delete(draft)
    db.session.flush()
    return result


def prune_drafts(*, idle: timedelta, now: datetime | None = None) -> int:
    """Delete drafts untouched for longer than `idle`; returns how many."""
    cutoff = (now or utcnow()) - idle
    return db.session.execute(delete(FormDraft).where(FormDraft.updated_at < cutoff)).rowcount


# --- sample codes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleImport:
    added: int
    unchanged: int


def import_sample_codes(unit: Unit, year: int, text: str) -> SampleImport:
    """Import sampled households' or dossiers' codes (CSV: code[,kind]) for `unit` and `year`.

    Strict and all-or-nothing: ValidationError names every bad line (empty or too long code,
    unknown kind, a code twice in the file). A code already imported for this unit is left as it
    is. Codes are the unit's own: another unit's sample is neither looked at nor revealed.
    """
    year = check_year(year)
    rows = read_csv_rows(text, ("code",), ("kind",))
    problems: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    wanted: list[tuple[str, str]] = []
    for line, row in rows:
        here: list[str] = []
        code, kind = row["code"], row.get("kind") or "household"
        if not code:
            here.append("code is empty")
        elif len(code) > 64:
            here.append(f"code is {len(code)} characters long; the limit is 64")
        elif code in seen:
            here.append(f"code {code!r} is already on line {seen[code]}")
        if kind not in SAMPLE_KINDS:
            here.append(f"kind must be one of {', '.join(SAMPLE_KINDS)}, not {kind!r}")
        if here:
            problems[f"line {line}"] = here
            continue
        seen[code] = line
        wanted.append((code, kind))
    if not rows:
        problems["file"] = ["has no codes"]
    existing = {
        s.code: s
        for s in db.session.scalars(
            select(SampleCode).where(
                SampleCode.unit_id == unit.id,
                SampleCode.year == year,
                SampleCode.code.in_([c for c, _ in wanted]),
            )
        )
    }
    if problems:
        raise ValidationError(problems)
    added = 0
    for code, kind in wanted:
        if code not in existing:
            db.session.add(SampleCode(year=year, code=code, unit_id=unit.id, kind=kind))
            added += 1
    db.session.flush()
    return SampleImport(added=added, unchanged=len(wanted) - added)


def _lines(text: str) -> list[str]:
    """The lines of a pasted or uploaded list (CR LF, CR or LF endings; a BOM ignored)."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def mark_sample_codes(
    unit: Unit, year: int, text: str, what: str, *, now: datetime | None = None
) -> int:
    """Mark the codes listed in `text` (one a line, or a CSV with a `code` column) as sent or
    returned. All-or-nothing: ValidationError names each line whose code is not in the unit's
    sample for the year. Codes already marked keep their first time. Returns how many changed."""
    year = check_year(year)
    if what not in ("sent", "returned"):
        raise ValidationError({"what": ["must be sent or returned"]})
    lines: list[tuple[int, str]] = []
    unreadable: dict[str, list[str]] = {}
    for number, raw in enumerate(_lines(text), start=1):
        code = raw.split(",", 1)[0].strip()
        add_unsafe_text_problems(unreadable, {f"line {number}": code})
        if code and not (number == 1 and code == "code"):
            lines.append((number, code))
    if unreadable:
        raise ValidationError(unreadable)
    if not lines:
        raise ValidationError({"codes": ["list at least one code"]})
    found = {
        s.code: s
        for s in db.session.scalars(
            select(SampleCode).where(
                SampleCode.year == year,
                SampleCode.unit_id == unit.id,
                SampleCode.code.in_([c for _, c in lines]),
            )
        )
    }
    problems = {
        f"line {number}": [f"{code!r} is not in this unit's sample for {year}"]
        for number, code in lines
        if code not in found
    }
    if problems:
        raise ValidationError(problems)
    now = now or utcnow()
    column = "sent_at" if what == "sent" else "returned_at"
    changed = 0
    for sample in found.values():
        if getattr(sample, column) is None:
            setattr(sample, column, now)
            changed += 1
    db.session.flush()
    return changed


@dataclass(frozen=True)
class ResponseRate:
    unit: Unit
    sampled: int
    sent: int
    returned: int  # marked returned, or answered online with the code
    online: int  # responses of the year through the web link
    keyed: int  # responses of the year keyed from paper or interviewer forms

    @property
    def entered(self) -> int:
        return self.online + self.keyed

    @property
    def rate(self) -> float | None:
        """Returned / sent: the response rate the annual report states (None before sending)."""
        return self.returned / self.sent if self.sent else None


def list_response_rates(units: list[Unit], year: int) -> list[ResponseRate]:
    """Per unit (not rolled up): sampled, sent and returned codes, and entered responses."""
    ids = [u.id for u in units]
    samples = {
        row.unit_id: row
        for row in db.session.execute(
            select(
                SampleCode.unit_id,
                func.count().label("sampled"),
                func.count(SampleCode.sent_at).label("sent"),
                func.sum(
                    case(
                        (SampleCode.returned_at.is_not(None) | SampleCode.used_at.is_not(None), 1),
                        else_=0,
                    )
                ).label("returned"),
            )
            .where(SampleCode.year == year, SampleCode.unit_id.in_(ids))
            .group_by(SampleCode.unit_id)
        )
    }
    entered: dict[tuple[int, str], int] = {
        (unit_id, channel): n
        for unit_id, channel, n in db.session.execute(
            select(Response.unit_id, Response.channel, func.count())
            .where(Response.survey_year == year, Response.unit_id.in_(ids))
            .group_by(Response.unit_id, Response.channel)
        )
    }
    rates = []
    for unit in units:
        row = samples.get(unit.id)
        rates.append(
            ResponseRate(
                unit=unit,
                sampled=row.sampled if row else 0,
                sent=row.sent if row else 0,
                returned=int(row.returned or 0) if row else 0,
                online=entered.get((unit.id, "web"), 0),
                keyed=sum(entered.get((unit.id, c), 0) for c in PAPER_CHANNELS),
            )
        )
    return rates


# --- paper and interviewer forms -------------------------------------------------------------


def read_keyed_answers(
    definition: Definition, fields: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Turn what a clerk typed (question key → text) into answers, and problems keyed by question.

    Scale and single questions: the option's number. Multi-choice: numbers separated by spaces or
    commas. Text: as written, without the characters no text may hold (as every response's text:
    services/answers.py), so that the two rounds of a form compare alike. Blank is no answer. The
    answers are then checked like any response.
    """
    answers: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for question in definition.questions:
        raw = (fields.get(question.key) or "").strip()
        if question.type == "text":
            raw = clean_text(raw).strip()
        if not raw:
            continue
        if question.type == "text":
            answers[question.key] = raw
        elif question.type == "multi":
            parts = [p for p in raw.replace(",", " ").split() if p]
            if not all(p.isdigit() for p in parts):
                problems[question.key] = ["type option numbers separated by spaces, e.g. 1 3 5"]
            else:
                answers[question.key] = sorted({int(p) for p in parts})
        elif raw.isdigit():
            answers[question.key] = int(raw)
        else:
            problems[question.key] = ["type the number of the answer ticked on the form"]
    _, checked = validate_answers(definition, answers)
    for key, messages in checked.items():
        problems.setdefault(key.removeprefix("answers."), []).extend(messages)
    return answers, problems


def _check_entry(serial: str, channel: str, interviewer_name: str | None) -> tuple[str, str | None]:
    problems: dict[str, list[str]] = {}
    serial = (serial or "").strip()
    if not serial:
        problems["serial"] = ["enter the form's serial number"]
    elif len(serial) > 40:
        problems["serial"] = ["is longer than 40 characters"]
    if channel not in PAPER_CHANNELS:
        problems["channel"] = ["must be a paper form or an interviewer form"]
    name = (interviewer_name or "").strip() or None
    if channel == "interviewer" and not name:
        problems["interviewer_name"] = ["enter the interviewer's name"]
    elif name and len(name) > 200:
        problems["interviewer_name"] = ["is longer than 200 characters"]
    # Typed by the clerk, who can retype them: refused, not cleaned (questionnaires/text.py).
    add_unsafe_text_problems(problems, {"serial": serial, "interviewer_name": name})
    if problems:
        raise ValidationError(problems)
    return serial, name if channel == "interviewer" else None


def find_paper_entry(
    unit_id: int, year: int, serial: str, entry_round: int = 1
) -> PaperFormEntry | None:
    """The unit's form `serial` of `year` keyed in `entry_round` (serials are each unit's own)."""
    return db.session.scalar(
        select(PaperFormEntry).where(
            PaperFormEntry.unit_id == unit_id,
            PaperFormEntry.year == year,
            PaperFormEntry.serial == serial,
            PaperFormEntry.entry_round == entry_round,
        )
    )


def _refuse_duplicate(unit_id: int, year: int, serial: str, entry_round: int) -> None:
    existing = find_paper_entry(unit_id, year, serial, entry_round)
    if existing is not None:
        raise DuplicateSerial(serial, year, existing.entered_by.username, existing.entered_at)


def _add_entry(entry: PaperFormEntry) -> None:
    """Add and flush the entry before the response: a clerk keying the same serial at the same
    moment fails here on the unique (unit, year, serial, round) with an IntegrityError; the caller
    rolls back and asks `duplicate_serial_error` for the message."""
    db.session.add(entry)
    db.session.flush()


def duplicate_serial_error(
    unit_id: int, year: int, serial: str, entry_round: int = 1
) -> DuplicateSerial | None:
    """The DuplicateSerial for a serial of the unit already keyed (after a lost race), else None."""
    existing = find_paper_entry(unit_id, year, serial.strip(), entry_round)
    if existing is None:
        return None
    return DuplicateSerial(existing.serial, year, existing.entered_by.username, existing.entered_at)


def enter_paper_form(
    *,
    questionnaire_key: str,
    unit: Unit,
    year: int,
    serial: str,
    channel: str,
    interviewer_name: str | None,
    answers: Mapping[str, Any],
    account: StaffAccount,
    policy: SubmissionPolicy | None = None,
    now: datetime | None = None,
) -> PaperFormEntry:
    """Store a keyed paper or interviewer form (round 1) as a response entered by staff.

    Raises ValidationError (fields, answers) or DuplicateSerial (the serial was already keyed for
    the unit and year, naming who keyed it and when).
    """
    now = now or utcnow()
    year = check_year(year)
    if questionnaire_key not in PAPER_QUESTIONNAIRES:
        raise ValidationError({"questionnaire": ["not a paper form"]})
    serial, name = _check_entry(serial, channel, interviewer_name)
    _refuse_duplicate(unit.id, year, serial, 1)
    questionnaire, _ = get_current_questionnaire(questionnaire_key)
    entry = PaperFormEntry(
        year=year,
        serial=serial,
        entry_round=1,
        questionnaire_key=questionnaire_key,
        unit_id=unit.id,
        interviewer_name=name,
        entered_by_id=account.id,
        entered_at=now,
    )
    _add_entry(entry)
    result = submit_response(
        {
            "id": str(uuid.uuid4()),
            "questionnaire": questionnaire.key,
            "version": questionnaire.version,
            "unit": unit.code,
            "answers": dict(answers),
        },
        channel=channel,
        entered_by="staff",
        policy=policy,
        now=now,
        survey_year=year,
        expected_unit_id=unit.id,
    )
    entry.response_id = result.response_id
    db.session.flush()
    return entry


def enter_second_round(
    *,
    unit: Unit,
    year: int,
    serial: str,
    answers: Mapping[str, Any],
    account: StaffAccount,
    now: datetime | None = None,
) -> PaperFormEntry:
    """Keep a second clerk's re-keying of a form entered for `unit` (one the caller may manage),
    to compare with round 1.

    Raises ValidationError (no round 1 for the serial in the unit, or the same clerk),
    DuplicateSerial.
    """
    year = check_year(year)
    serial, _ = _check_entry(serial, "paper_entry", None)
    first = find_paper_entry(unit.id, year, serial, 1)
    if first is None:
        raise ValidationError(
            {"serial": [f"form {serial} of {year} has not been entered yet for {unit.code}"]}
        )
    if first.entered_by_id == account.id:
        raise ValidationError({"serial": ["the second entry must be keyed by another clerk"]})
    _refuse_duplicate(unit.id, year, serial, 2)
    entry = PaperFormEntry(
        year=year,
        serial=serial,
        entry_round=2,
        questionnaire_key=first.questionnaire_key,
        unit_id=first.unit_id,
        response_id=first.response_id,
        interviewer_name=first.interviewer_name,
        answers=dict(answers),
        entered_by_id=account.id,
        entered_at=now or utcnow(),
    )
    _add_entry(entry)
    db.session.flush()
    return entry


def _stored_answers(response_id) -> dict[str, Any]:
    """A response's answers in the keyed shape: int, sorted list (multi) or text."""
    settle_batch(1, only_ids=[response_id])  # in the caller's transaction
    stored: dict[str, Any] = {}
    multi: dict[str, list[int]] = {}
    rows = db.session.execute(
        select(Answer.question_key, Answer.value, Answer.text).where(
            Answer.response_id == response_id
        )
    )
    for key, value, text in rows:
        if text is not None:
            stored[key] = text
        else:
            multi.setdefault(key, []).append(value)
    for key, values in multi.items():
        stored[key] = values[0] if len(values) == 1 else sorted(values)
    return stored


def _same(a: Any, b: Any) -> bool:
    as_list = lambda v: sorted(v) if isinstance(v, list) else ([v] if isinstance(v, int) else v)  # noqa: E731
    return as_list(a) == as_list(b)


@dataclass(frozen=True)
class Difference:
    question_key: str
    round1: Any
    round2: Any


@dataclass(frozen=True)
class DoubleEntry:
    serial: str
    year: int
    unit: Unit
    first_by: str
    second_by: str
    differences: list[Difference]
    reviewed_by: str | None


def list_double_entries(unit_ids: Iterable[int], year: int) -> list[DoubleEntry]:
    """Every form keyed twice in `year` in these units, with the answers that differ between the
    rounds and whether a manager has reviewed them."""
    seconds = list(
        db.session.scalars(
            select(PaperFormEntry)
            .where(
                PaperFormEntry.year == year,
                PaperFormEntry.entry_round == 2,
                PaperFormEntry.unit_id.in_(list(unit_ids)),
            )
            .order_by(PaperFormEntry.serial)
        )
    )
    reviews: dict[tuple[int | None, str], str] = {}
    for event in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == REVIEW_ACTION).order_by(AuditEvent.id)
    ):
        if event.details.get("year") == year:
            reviews[event.unit_id, event.details.get("serial")] = event.actor
    result = []
    for second in seconds:
        first = find_paper_entry(second.unit_id, year, second.serial, 1)
        stored = _stored_answers(first.response_id) if first and first.response_id else {}
        keyed = second.answers or {}
        differences = [
            Difference(key, stored.get(key), keyed.get(key))
            for key in sorted(set(stored) | set(keyed))
            if not _same(stored.get(key), keyed.get(key))
        ]
        result.append(
            DoubleEntry(
                serial=second.serial,
                year=year,
                unit=second.unit,
                first_by=first.entered_by.username if first else "",
                second_by=second.entered_by.username,
                differences=differences,
                reviewed_by=reviews.get((second.unit_id, second.serial)),
            )
        )
    return result


def get_second_entry_in_units(
    unit_id: int, year: int, serial: str, unit_ids: Iterable[int]
) -> PaperFormEntry:
    """Unit `unit_id`'s second entry of form `serial`, if the unit is one of `unit_ids`;
    NotFound otherwise (also when it exists in another unit)."""
    entry = find_paper_entry(unit_id, year, serial, 2) if unit_id in set(unit_ids) else None
    if entry is None:
        raise NotFound(f"no second entry of form {serial} of {year} here")
    return entry
