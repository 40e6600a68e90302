"""Kiosks: enrolment tokens, device credentials, revocation, attribution to the officer on duty,
per-officer figures."""

from datetime import UTC, datetime, timedelta

import pytest

from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import Kiosk, Response
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.kiosks import (
    KioskRefused,
    authenticate_kiosk,
    create_kiosk,
    end_duty,
    enrol,
    find_kiosk_by_enrolment_token,
    heartbeat,
    kiosk_config,
    new_enrolment_link,
    officer_figures,
    revoke_kiosk,
    start_duty,
    submit_kiosk_response,
)
from survey_app.services.submissions import SubmissionPolicy
from tests.survey_app.payloads import quick_payload

SECRET = "testing-not-secret"
CONFIG = {
    "KIOSK_IDLE_SECONDS": 30,
    "KIOSK_PROMPT_SECONDS": 20,
    "KIOSK_THANKS_SECONDS": 5,
    "KIOSK_HEARTBEAT_SECONDS": 60,
}


@pytest.fixture
def kiosk_and_token(tree):
    kiosk, token = create_kiosk(
        counter=tree.q1, questionnaire_key="quick-rating", name="Tablet Q1", created_by=None
    )
    db.session.commit()
    return kiosk, token


def test_only_the_hash_of_the_enrolment_token_is_stored(kiosk_and_token):
    kiosk, token = kiosk_and_token
    assert token not in (kiosk.enrolment_token_hash or "")
    assert len(kiosk.enrolment_token_hash) == 64
    assert kiosk.enrolled_at is None and not kiosk.active


def test_enrolment_consumes_the_token_once(kiosk_and_token):
    kiosk, token = kiosk_and_token
    enrolled, credential = enrol(token, secret_key=SECRET)
    assert enrolled.id == kiosk.id and enrolled.active and enrolled.credential_version == 1
    assert authenticate_kiosk(credential, secret_key=SECRET).id == kiosk.id
    with pytest.raises(NotFound):
        enrol(token, secret_key=SECRET)


def test_an_expired_enrolment_token_is_refused(kiosk_and_token):
    _, token = kiosk_and_token
    later = datetime.now(UTC) + timedelta(hours=25)
    assert find_kiosk_by_enrolment_token(token, now=later) is None
    with pytest.raises(NotFound):
        enrol(token, secret_key=SECRET, now=later)


def test_a_revoked_or_replaced_credential_is_refused(kiosk_and_token):
    kiosk, token = kiosk_and_token
    _, first = enrol(token, secret_key=SECRET)
    revoke_kiosk(kiosk)
    with pytest.raises(KioskRefused) as refused:
        authenticate_kiosk(first, secret_key=SECRET)
    assert refused.value.code == "kiosk_revoked"
    # Enrolling again (a new link) revives the kiosk with a new version: the old one stays dead.
    _, second = enrol(new_enrolment_link(kiosk), secret_key=SECRET)
    assert authenticate_kiosk(second, secret_key=SECRET).id == kiosk.id
    with pytest.raises(KioskRefused):
        authenticate_kiosk(first, secret_key=SECRET)


@pytest.mark.parametrize("credential", [None, "", "garbage", "x" * 600])
def test_forged_credentials_are_refused(kiosk_and_token, credential):
    with pytest.raises(KioskRefused) as refused:
        authenticate_kiosk(credential, secret_key=SECRET)
    assert refused.value.code == "kiosk_unknown"


def test_a_credential_signed_with_another_key_is_refused(kiosk_and_token):
    _, token = kiosk_and_token
    _, credential = enrol(token, secret_key="another key")
    with pytest.raises(KioskRefused):
        authenticate_kiosk(credential, secret_key=SECRET)


def test_creating_checks_the_questionnaire_and_name(tree):
    with pytest.raises(ValidationError) as error:
        create_kiosk(counter=tree.q1, questionnaire_key="sipas-annual", name=" ", created_by=None)
    assert set(error.value.problems) == {"name", "questionnaire"}


def test_heartbeat_records_the_tablet_and_config_names_the_place(kiosk_and_token, tree):
    kiosk, token = kiosk_and_token
    enrol(token, secret_key=SECRET)
    heartbeat(kiosk, queue_length=3, app_version="kiosk-1")
    assert (kiosk.queued_submissions, kiosk.app_version) == (3, "kiosk-1")
    assert kiosk.last_seen_at is not None
    config = kiosk_config(kiosk, CONFIG)
    assert config["unit"]["code"] == "P-W1" and config["counter"]["code"] == "Q1"
    assert config["unit"]["place_name"]["vi"] == "Bộ phận Một cửa UBND phường An Lạc"
    assert config["questionnaire"] == {
        "key": "quick-rating",
        "version": 1,
        "content_hash": config["questionnaire"]["content_hash"],
    }
    assert config["officer"] is None and config["idle_seconds"] == 30
    assert config["prompt_seconds"] == 20


def test_responses_are_attributed_to_the_officer_on_duty_when_given(kiosk_and_token, tree):
    kiosk, token = kiosk_and_token
    enrol(token, secret_key=SECRET)
    officer = create_account("officer", "a long password here", display_name="Nguyễn Văn A")
    add_scope(officer, tree.ward, "officer")  # only who may serve at the counter is credited
    officer.title = "Công chức Tư pháp – Hộ tịch"
    now = datetime.now(UTC)
    start_duty(officer, tree.q1, now=now - timedelta(hours=2))
    end_duty(officer, now=now - timedelta(hours=1))
    assert kiosk_config(kiosk, CONFIG, now=now - timedelta(minutes=90))["officer"] == {
        "name": "Nguyễn Văn A",
        "title": "Công chức Tư pháp – Hộ tịch",
    }
    during = quick_payload(submitted_at=(now - timedelta(minutes=90)).isoformat())
    after = quick_payload(submitted_at=(now - timedelta(minutes=30)).isoformat())
    for payload in (during, after):
        submit_kiosk_response(kiosk, payload, policy=SubmissionPolicy(), now=now)
    db.session.commit()
    stored = {str(r.id): r for r in db.session.scalars(db.select(Response))}
    assert stored[during["id"]].officer_id == officer.id
    assert stored[after["id"]].officer_id is None
    assert {r.channel for r in stored.values()} == {"kiosk"}
    assert {r.kiosk_id for r in stored.values()} == {kiosk.id}
    assert db.session.get(Kiosk, kiosk.id).last_submission_at == now - timedelta(minutes=30)


def test_a_kiosk_cannot_submit_for_another_counter(kiosk_and_token):
    kiosk, token = kiosk_and_token
    enrol(token, secret_key=SECRET)
    with pytest.raises(ValidationError) as error:
        submit_kiosk_response(kiosk, quick_payload(counter="Q2"), policy=SubmissionPolicy())
    assert "counter" in error.value.problems


def test_a_new_duty_at_a_counter_ends_the_previous_one(tree):
    first = create_account("first", "a long password here", display_name="A")
    second = create_account("second", "a long password here", display_name="B")
    duty = start_duty(first, tree.q1)
    start_duty(second, tree.q1)
    assert duty.ended_at is not None


def test_officer_figures_are_withheld_below_min_n(kiosk_and_token, tree):
    kiosk, token = kiosk_and_token
    enrol(token, secret_key=SECRET)
    officer = create_account("officer", "a long password here", display_name="Trần Thị B")
    add_scope(officer, tree.ward, "officer")
    start_duty(officer, tree.q1, now=datetime.now(UTC) - timedelta(minutes=5))
    for rating in (1, 2, 3, 3):
        submit_kiosk_response(
            kiosk, quick_payload(answers={"rating": rating}), policy=SubmissionPolicy()
        )
    db.session.commit()
    [figure] = officer_figures(tree.ward, min_n=4)
    assert (figure.n, figure.positive, figure.share) == (4, 3, 0.75)
    assert figure.low < 0.75 < figure.high
    [hidden] = officer_figures(tree.ward, min_n=5)
    assert hidden.n == 4 and hidden.share is None and hidden.low is None
