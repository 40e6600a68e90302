"""The submission service: every validation rule, idempotency, and nothing stored on rejection."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from survey_app.errors import Conflict, ValidationError
from survey_app.extensions import db
from survey_app.models import ANSWERED_MARKER, Answer, AnswerCount, FormerUnitCode, Response
from survey_app.services.rollup import settle_pending
from survey_app.services.submissions import SubmissionPolicy, submit_response
from tests.survey_app.payloads import counter_payload, quick_payload

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def submit(payload, **kwargs):
    """Submit and commit, then settle: these tests read the answer rows and counts (the pending
    state between the two is tested in test_rollup.py)."""
    kwargs.setdefault("now", NOW)
    result = submit_response(payload, channel=kwargs.pop("channel", "web"), **kwargs)
    db.session.commit()
    settle_pending()
    return result


def row_counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Response, Answer, AnswerCount)
    )


def test_a_quick_rating_is_stored_with_its_context(tree):
    payload = quick_payload(answers={"rating": 3}, locale="en")
    result = submit(payload)

    assert result.created is True
    assert str(result.response_id) == payload["id"]
    response = db.session.get(Response, uuid.UUID(payload["id"]))
    assert (response.unit_id, response.counter_id) == (tree.ward.id, tree.q1.id)
    assert (response.channel, response.entered_by, response.locale) == ("web", "citizen", "en")
    assert response.received_at == NOW and response.received_at.tzinfo is not None
    assert response.submitted_at == NOW
    assert response.local_day == date(2026, 11, 22)
    assert [(a.question_key, a.value, a.text) for a in response.answers] == [("rating", 3, None)]


def test_multi_choice_is_one_row_per_option_and_counted_with_its_denominator(tree):
    submit(quick_payload(answers={"rating": 1, "reasons": [4, 1], "reason_text": "  Chờ lâu  "}))

    answers = db.session.execute(
        select(Answer.question_key, Answer.value, Answer.text).order_by(
            Answer.question_key, Answer.value
        )
    ).all()
    assert answers == [
        ("rating", 1, None),
        ("reason_text", None, "Chờ lâu"),
        ("reasons", 1, None),
        ("reasons", 4, None),
    ]
    counts = dict(
        db.session.execute(
            select(AnswerCount.value, AnswerCount.n).where(AnswerCount.question_key == "reasons")
        ).all()
    )
    assert counts == {ANSWERED_MARKER: 1, 1: 1, 4: 1}


def test_the_local_day_is_counted_in_vietnam_time(tree):
    """06:30 on 1 January in Hà Nội is still 31 December in UTC: it belongs to the new year."""
    payload = counter_payload(submitted_at="2026-01-01T06:30:00+07:00")
    submit(payload, now=datetime(2026, 1, 2, tzinfo=UTC), queued_offline=True)

    response = db.session.get(Response, uuid.UUID(payload["id"]))
    assert response.submitted_at == datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    assert response.local_day == date(2026, 1, 1)
    assert set(db.session.scalars(select(AnswerCount.local_day))) == {date(2026, 1, 1)}


def test_submitted_at_in_utc_or_offset_is_the_same_instant(tree):
    payload = quick_payload(submitted_at="2026-11-21T17:30:00Z")
    submit(payload, queued_offline=True)
    assert db.session.get(Response, uuid.UUID(payload["id"])).local_day == date(2026, 11, 22)


def test_counts_follow_the_answers(tree):
    for rating in (3, 3, 2, 1):
        submit(quick_payload(answers={"rating": rating}))
    counts = dict(
        db.session.execute(
            select(AnswerCount.value, AnswerCount.n).where(AnswerCount.question_key == "rating")
        ).all()
    )
    assert counts == {3: 2, 2: 1, 1: 1}


def test_a_replay_with_the_same_content_stores_nothing_new(tree):
    payload = counter_payload()
    first = submit(payload)
    before = row_counts()
    reordered = dict(reversed(list(payload.items())))
    reordered["answers"] = dict(reversed(list(payload["answers"].items())))
    second = submit(reordered, now=NOW + timedelta(minutes=3))

    assert (first.created, second.created) == (True, False)
    assert second.response_id == first.response_id
    assert row_counts() == before
    assert (
        db.session.scalar(
            select(func.sum(AnswerCount.n)).where(AnswerCount.question_key == "c9_24")
        )
        == 1
    )


def test_the_same_id_with_other_answers_is_a_conflict_and_changes_nothing(tree):
    payload = quick_payload(answers={"rating": 3})
    submit(payload)
    before = row_counts()
    with pytest.raises(Conflict, match="already stored with different answers"):
        submit(quick_payload(id=payload["id"], answers={"rating": 1}))
    db.session.rollback()
    assert row_counts() == before
    assert db.session.scalar(select(Answer.value).where(Answer.question_key == "rating")) == 3


def test_a_former_unit_code_still_reaches_the_merged_unit(tree):
    db.session.add(FormerUnitCode(code="OLD-W", unit_id=tree.ward.id))
    db.session.commit()
    payload = quick_payload(unit="OLD-W")
    submit(payload)
    assert db.session.get(Response, uuid.UUID(payload["id"])).unit_id == tree.ward.id


def test_skipped_items_are_no_answer(tree):
    answers = {"c9_24": 5, "c9_25": None, "comment": "   ", "overall": 4}
    payload = counter_payload(answers=answers)
    submit(payload)
    stored = db.session.scalars(select(Answer.question_key).order_by(Answer.question_key)).all()
    assert stored == ["c9_24", "overall"]


def test_text_is_stored_verbatim_escaping_is_the_pages_job(tree):
    payload = counter_payload()
    submit(payload)
    assert (
        db.session.scalar(select(Answer.text).where(Answer.text.is_not(None)))
        == "Cán bộ nhiệt tình <script>alert(1)</script>"
    )


def _inactive_unit(tree):
    tree.commune.active = False
    db.session.commit()


def _inactive_counter(tree):
    tree.q1.active = False
    db.session.commit()


REJECTIONS = [
    # (name, payload changes, field with the problem, words the message must contain)
    ("not an object", None, "request", "JSON object"),
    ("unknown top-level field", {"colour": "blue"}, "colour", "not a field"),
    ("missing id", {"id": None}, "id", "UUID"),
    ("id not a uuid", {"id": "1234"}, "id", "not a UUID"),
    ("missing questionnaire", {"questionnaire": None}, "questionnaire", "is required"),
    (
        "unknown questionnaire",
        {"questionnaire": "nope"},
        "questionnaire",
        "no questionnaire 'nope'",
    ),
    ("version not loaded", {"version": 9}, "version", "version 9"),
    ("version not a number", {"version": "1"}, "version", "whole number"),
    ("version is a bool", {"version": True}, "version", "whole number"),
    ("missing unit", {"unit": None}, "unit", "is required"),
    ("unknown unit", {"unit": "ZZ"}, "unit", "no unit has the code 'ZZ'"),
    ("unknown counter", {"counter": "Q9"}, "counter", "has no counter 'Q9'"),
    ("counter of another unit", {"unit": "P-C1", "counter": "Q2"}, "counter", "has no counter"),
    ("counter not text", {"counter": 5}, "counter", "counter code"),
    ("bad locale", {"locale": "fr"}, "locale", "vi, en"),
    ("other channel", {"channel": "kiosk"}, "channel", "must be 'web'"),
    ("naive submitted_at", {"submitted_at": "2026-11-22T08:00:00"}, "submitted_at", "time zone"),
    ("submitted_at garbage", {"submitted_at": "yesterday"}, "submitted_at", "ISO 8601"),
    ("submitted_at a number", {"submitted_at": 1700000000}, "submitted_at", "ISO 8601"),
    (
        "submitted_at in the future",
        {"submitted_at": "2026-11-22T11:00:00+07:00"},
        "submitted_at",
        "future",
    ),
    (
        "submitted_at too old",
        {"submitted_at": "2026-01-01T08:00:00+07:00"},
        "submitted_at",
        "days old",
    ),
    ("answers not an object", {"answers": [3]}, "answers", "must be an object"),
    (
        "no answers",
        {"questionnaire": "sipas-counter", "answers": {}},
        "answers",
        "no question was answered",
    ),
    (
        "unknown question",
        {"answers": {"rating": 3, "c9_24": 4}},
        "answers.c9_24",
        "not a question of quick-rating",
    ),
    ("value off the scale", {"answers": {"rating": 4}}, "answers.rating", "not on the scale (1–3)"),
    ("value zero", {"answers": {"rating": 0}}, "answers.rating", "not on the scale"),
    ("value a bool", {"answers": {"rating": True}}, "answers.rating", "must be one of"),
    ("value a float", {"answers": {"rating": 2.0}}, "answers.rating", "must be one of"),
    ("value a string", {"answers": {"rating": "3"}}, "answers.rating", "must be one of"),
    ("missing required answer", {"answers": {"reason_text": "x"}}, "answers.rating", "is required"),
    (
        "follow-up not asked",
        {"answers": {"rating": 3, "reasons": [1]}},
        "answers.reasons",
        "only asked when rating",
    ),
    (
        "multi not a list",
        {"answers": {"rating": 1, "reasons": 1}},
        "answers.reasons",
        "list of option numbers",
    ),
    (
        "multi option unknown",
        {"answers": {"rating": 1, "reasons": [1, 99]}},
        "answers.reasons",
        "99 is not on the options",
    ),
    (
        "multi option twice",
        {"answers": {"rating": 1, "reasons": [2, 2]}},
        "answers.reasons",
        "same option twice",
    ),
    (
        "text not text",
        {"answers": {"rating": 1, "reason_text": 5}},
        "answers.reason_text",
        "must be text",
    ),
    (
        "text too long",
        {"answers": {"rating": 1, "reason_text": "á" * 501}},
        "answers.reason_text",
        "limit is 500",
    ),
]


@pytest.mark.parametrize(
    ("changes", "field", "words"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_each_rule_is_refused_with_a_message_and_nothing_is_stored(tree, changes, field, words):
    payload = None if changes is None else quick_payload(**changes)
    if payload is not None:
        payload = {k: v for k, v in payload.items() if not (v is None and k in changes)}
    with pytest.raises(ValidationError) as caught:
        submit(payload, queued_offline=True)  # a kiosk's rules for times
    db.session.rollback()
    assert field in caught.value.problems, caught.value.problems
    assert any(words in message for message in caught.value.problems[field]), caught.value.problems
    assert row_counts() == (0, 0, 0)


@pytest.mark.parametrize("make_inactive", [_inactive_unit, _inactive_counter])
def test_inactive_units_and_counters_take_no_responses(tree, make_inactive):
    make_inactive(tree)
    payload = quick_payload(unit="P-C1" if make_inactive is _inactive_unit else "P-W1")
    with pytest.raises(ValidationError, match="no longer"):
        submit(payload)
    db.session.rollback()
    assert row_counts() == (0, 0, 0)


def test_every_problem_is_listed_at_once(tree):
    payload = quick_payload(id="x", unit="ZZ", locale="fr", answers={"rating": 9, "zz": 1})
    with pytest.raises(ValidationError) as caught:
        submit(payload)
    assert set(caught.value.problems) == {"id", "unit", "locale", "answers.rating", "answers.zz"}


def test_an_over_long_sipas_comment_is_refused_but_the_limit_itself_is_accepted(tree):
    with pytest.raises(ValidationError, match="limit is 1,000"):
        submit(counter_payload(answers={"c9_24": 4, "comment": "x" * 1001}))
    db.session.rollback()
    submit(counter_payload(answers={"c9_24": 4, "comment": "x" * 1000}))
    assert row_counts()[0] == 1


def test_the_policy_comes_from_configuration(app, tree):
    policy = SubmissionPolicy.from_config(app.config)
    assert policy.timezone == "Asia/Ho_Chi_Minh"
    assert policy.max_skew == timedelta(minutes=5)
    strict = SubmissionPolicy(max_age=timedelta(days=1))
    with pytest.raises(ValidationError, match="1 days old"):
        submit(
            quick_payload(submitted_at="2026-11-20T08:00:00+07:00"),
            policy=strict,
            queued_offline=True,
        )


@pytest.mark.parametrize("channel", ["web", "qr_counter", "qr_dossier", "paper_entry"])
def test_a_channel_that_does_not_queue_offline_stores_the_time_of_arrival(tree, channel):
    """Backdating only from kiosks: elsewhere the time given is not stored (an hour ago is the
    time of arrival), its retry much later is the same response, and a time in the future is a
    wrong clock."""
    payload = quick_payload(submitted_at="2026-11-22T09:00:00+07:00")  # an hour before NOW
    submit(payload, channel=channel)
    response = db.session.get(Response, uuid.UUID(payload["id"]))
    assert response.submitted_at == response.received_at == NOW
    assert submit(payload, channel=channel, now=NOW + timedelta(hours=3)).created is False
    with pytest.raises(ValidationError, match="future"):
        submit(quick_payload(submitted_at="2026-11-22T10:30:00+07:00"), channel=channel)


def test_a_program_cannot_ask_for_an_unknown_channel(tree):
    with pytest.raises(ValueError, match="programming error"):
        submit_response(quick_payload(), channel="fax")


def test_an_unfinished_response_is_stored_flagged_and_replays_as_such(tree):
    payload = counter_payload(complete=False, answers={"c9_24": 4})
    submit(payload, channel="kiosk")
    assert db.session.get(Response, uuid.UUID(payload["id"])).complete is False
    assert submit(payload, channel="kiosk").created is False  # its replay
    with pytest.raises(Conflict):  # the same id claimed complete is other content
        submit({**payload, "complete": True}, channel="kiosk")
    db.session.rollback()
    with pytest.raises(ValidationError, match="true or false"):
        submit(counter_payload(complete="no"), channel="kiosk")
    db.session.rollback()
    finished = counter_payload()
    submit(finished, channel="kiosk")
    assert db.session.get(Response, uuid.UUID(finished["id"])).complete is True
