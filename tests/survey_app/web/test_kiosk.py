"""The kiosk over HTTP: enrolment link and credential, the device API (kiosk channel, revocation,
rate limit, no cookie auth), heartbeat, the staff pages (create with QR, list, revoke, duty,
per-officer figures) and the CLI."""

import re
import uuid

import pytest
import sqlalchemy as sa

from survey_app.extensions import db
from survey_app.models import AuditEvent, Kiosk, OfficerDuty, Response
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.kiosks import create_kiosk
from tests.survey_app.payloads import counter_payload, quick_payload

PASSWORD = "correct horse battery"


@pytest.fixture
def token(tree) -> str:
    _, token = create_kiosk(
        counter=tree.q1, questionnaire_key="quick-rating", name="Tablet Q1", created_by=None
    )
    db.session.commit()
    return token


@pytest.fixture
def credential(client, token) -> str:
    response = client.post(f"/kiosk/enrol/{token}")
    assert response.status_code == 200
    return response.json["credential"]


def kiosk_headers(credential: str) -> dict:
    return {"Authorization": f"Kiosk {credential}"}


def sign_in(app, username: str, *, unit=None, role="manager", title=""):
    account = create_account(username, PASSWORD, display_name=username.title(), title=title)
    if unit is not None:
        add_scope(account, unit, role)
    db.session.commit()
    client = app.test_client_class(app, app.response_class, use_cookies=True)
    assert (
        client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    )
    return client


def test_the_enrolment_page_does_not_use_the_token_up(client, token):
    assert client.get(f"/kiosk/enrol/{token}").status_code == 200
    assert client.get(f"/kiosk/enrol/{token}").status_code == 200
    assert client.post(f"/kiosk/enrol/{token}").status_code == 200
    assert client.get(f"/kiosk/enrol/{token}").status_code == 410
    second = client.post(f"/kiosk/enrol/{token}")
    assert second.status_code == 410 and second.json["error"] == "enrolment_invalid"
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions.count("kiosk.enrol") == 1


def test_a_kiosk_submits_with_its_credential_as_channel_kiosk(client, credential, tree):
    payload = quick_payload()
    response = client.post("/api/v1/responses", json=payload, headers=kiosk_headers(credential))
    assert response.status_code == 201, response.json
    replay = client.post("/api/v1/responses", json=payload, headers=kiosk_headers(credential))
    assert replay.status_code == 200
    stored = db.session.get(Response, uuid.UUID(payload["id"]))
    kiosk = db.session.scalar(sa.select(Kiosk))
    assert (stored.channel, stored.kiosk_id, stored.unit_id, stored.counter_id) == (
        "kiosk",
        kiosk.id,
        tree.ward.id,
        tree.q1.id,
    )


def test_a_kiosk_cannot_submit_for_another_counter_or_questionnaire_channel(client, credential):
    other = client.post(
        "/api/v1/responses", json=quick_payload(counter="Q2"), headers=kiosk_headers(credential)
    )
    assert other.status_code == 422 and "counter" in other.json["errors"]
    web = client.post(
        "/api/v1/responses",
        json=counter_payload(counter="Q1", channel="web"),
        headers=kiosk_headers(credential),
    )
    assert web.status_code == 422 and "channel" in web.json["errors"]


def test_a_revoked_kiosk_is_refused_with_a_code_the_tablet_understands(app, client, credential):
    kiosk = db.session.scalar(sa.select(Kiosk))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kiosk", "revoke", str(kiosk.id)])
    assert result.exit_code == 0, result.output
    response = client.post(
        "/api/v1/responses", json=quick_payload(), headers=kiosk_headers(credential)
    )
    assert response.status_code == 401
    assert response.json["error"] == "kiosk_revoked"
    assert "revoked" in response.json["errors"]["authorization"][0]
    beat = client.post("/api/v1/kiosk/heartbeat", json={}, headers=kiosk_headers(credential))
    assert beat.status_code == 401 and beat.json["error"] == "kiosk_revoked"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0


def test_a_forged_credential_is_401(client, tree):
    response = client.post(
        "/api/v1/responses", json=quick_payload(), headers={"Authorization": "Kiosk forged"}
    )
    assert response.status_code == 401 and response.json["error"] == "kiosk_unknown"


def test_the_credential_is_not_a_cookie(client, token):
    """The credential is handed over in the body and sent back only as a header: no cookie
    carries it, and without the header the device API refuses."""
    response = client.post(f"/kiosk/enrol/{token}")
    credential = response.json["credential"]
    assert credential not in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.post("/api/v1/kiosk/heartbeat", json={}).status_code == 401
    assert (
        client.post(
            "/api/v1/kiosk/heartbeat", json={}, headers=kiosk_headers(credential)
        ).status_code
        == 200
    )


def test_submissions_are_rate_limited_per_kiosk(app, client, credential, one_minute):
    app.config["KIOSK_RATE_PER_MINUTE"] = 3
    statuses = [
        client.post(
            "/api/v1/responses", json=quick_payload(), headers=kiosk_headers(credential)
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [201, 201, 201, 429, 429]


def test_heartbeat_records_and_returns_the_configuration(app, client, credential, tree):
    app.config["KIOSK_IDLE_SECONDS"] = 7
    response = client.post(
        "/api/v1/kiosk/heartbeat",
        json={"queue_length": 4, "app_version": "kiosk-1"},
        headers=kiosk_headers(credential),
    )
    assert response.status_code == 200
    body = response.json
    assert body["unit"]["code"] == "P-W1" and body["counter"]["code"] == "Q1"
    assert body["questionnaire"]["key"] == "quick-rating" and body["idle_seconds"] == 7
    assert response.headers["Cache-Control"] == "no-store"
    kiosk = db.session.scalar(sa.select(Kiosk))
    db.session.refresh(kiosk)
    assert (kiosk.queued_submissions, kiosk.app_version) == (4, "kiosk-1")


def test_the_kiosk_page_and_service_worker_are_served_without_a_session(client):
    page = client.get("/kiosk/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/static/js/kiosk.js" in html and "<script>" not in html
    sw = client.get("/kiosk/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.content_type
    assert sw.headers["Service-Worker-Allowed"] == "/kiosk/"
    sw.close()


def test_staff_create_a_kiosk_and_see_its_link_and_qr(app, tree):
    staff = sign_in(app, "ward-manager", unit=tree.ward)
    page = staff.get("/staff/kiosks/")
    assert page.status_code == 200 and "Quầy 1" in page.get_data(as_text=True)
    created = staff.post(
        "/staff/kiosks/",
        data={"counter": str(tree.q1.id), "questionnaire": "sipas-counter", "name": "Tablet 1"},
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    assert "data:image/svg+xml;base64," in html
    url = re.search(r'id="enrolment-url" href="([^"]+)"', html).group(1)
    assert "/kiosk/enrol/" in url
    kiosk = db.session.scalar(sa.select(Kiosk))
    assert (kiosk.questionnaire_key, kiosk.counter_id) == ("sipas-counter", tree.q1.id)
    listing = staff.get("/staff/kiosks/").get_data(as_text=True)
    assert "Tablet 1" in listing
    revoked = staff.post("/staff/kiosks/revoke", data={"kiosk": str(kiosk.id)})
    assert revoked.status_code == 302
    db.session.refresh(kiosk)
    assert kiosk.revoked_at is not None
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"kiosk.create", "kiosk.revoke"} <= actions


def test_a_manager_cannot_touch_another_units_kiosk(app, tree):
    kiosk, _ = create_kiosk(
        counter=tree.commune.counters[0],
        questionnaire_key="quick-rating",
        name="C1",
        created_by=None,
    )
    db.session.commit()
    staff = sign_in(app, "ward-manager", unit=tree.ward)
    assert staff.post("/staff/kiosks/revoke", data={"kiosk": str(kiosk.id)}).status_code == 404
    assert "C1" not in staff.get("/staff/kiosks/").get_data(as_text=True)
    refused = staff.post(
        "/staff/kiosks/",
        data={"counter": str(kiosk.counter_id), "questionnaire": "quick-rating", "name": "x"},
    )
    assert refused.status_code == 404
    db.session.refresh(kiosk)
    assert kiosk.revoked_at is None


def test_an_officer_signs_in_to_a_counter_and_the_kiosk_shows_them(app, client, credential, tree):
    officer = sign_in(app, "officer", unit=tree.ward, role="officer", title="Công chức Hộ tịch")
    assert officer.post("/staff/duty", data={"counter": str(tree.q1.id)}).status_code == 302
    beat = client.post("/api/v1/kiosk/heartbeat", json={}, headers=kiosk_headers(credential))
    assert beat.json["officer"] == {"name": "Officer", "title": "Công chức Hộ tịch"}
    payload = quick_payload()
    client.post("/api/v1/responses", json=payload, headers=kiosk_headers(credential))
    stored = db.session.scalar(sa.select(Response))
    assert stored.officer_id is not None
    assert officer.post("/staff/duty/end").status_code == 302
    assert db.session.scalar(sa.select(OfficerDuty)).ended_at is not None
    beat = client.post("/api/v1/kiosk/heartbeat", json={}, headers=kiosk_headers(credential))
    assert beat.json["officer"] is None


def test_a_viewer_cannot_take_a_counters_duty_nor_end_the_officers(app, client, credential, tree):
    """A viewer ("figures only") signing in to a counter would end the serving officer's duty
    and take the ratings given there."""
    officer = sign_in(app, "officer", unit=tree.ward, role="officer")
    assert officer.post("/staff/duty", data={"counter": str(tree.q1.id)}).status_code == 302
    viewer = sign_in(app, "viewer", unit=tree.ward, role="viewer")
    assert viewer.get("/staff/duty").status_code == 404
    assert viewer.post("/staff/duty", data={"counter": str(tree.q1.id)}).status_code == 404
    assert "Counter duty" not in viewer.get("/staff/?lang=en").get_data(as_text=True)
    [duty] = db.session.scalars(sa.select(OfficerDuty)).all()
    assert duty.ended_at is None and duty.account.username == "officer"
    client.post("/api/v1/responses", json=quick_payload(), headers=kiosk_headers(credential))
    assert db.session.scalar(sa.select(Response)).officer_id == duty.account_id
    # An officer of another unit cannot serve here either.
    outsider = sign_in(app, "outsider", unit=tree.commune, role="officer")
    assert outsider.post("/staff/duty", data={"counter": str(tree.q1.id)}).status_code == 404


def test_a_duty_credits_nobody_once_its_officer_may_no_longer_serve(app, client, credential, tree):
    """Losing the officer role, or the account, ends what a duty credits: the kiosk shows no
    name and its ratings go to nobody (a viewer kept on duty would take them)."""
    from survey_app.services.accounts import remove_scope, set_account_active

    officer = sign_in(app, "officer", unit=tree.ward, role="officer", title="Công chức")
    assert officer.post("/staff/duty", data={"counter": str(tree.q1.id)}).status_code == 302
    account = db.session.scalar(sa.select(OfficerDuty)).account
    headers = kiosk_headers(credential)
    assert client.post("/api/v1/kiosk/heartbeat", json={}, headers=headers).json["officer"]
    remove_scope(account, account.scopes[0].id)
    add_scope(account, tree.ward, "viewer")
    db.session.commit()
    assert client.post("/api/v1/kiosk/heartbeat", json={}, headers=headers).json["officer"] is None
    client.post("/api/v1/responses", json=quick_payload(), headers=headers)
    assert db.session.scalar(sa.select(Response)).officer_id is None
    add_scope(account, tree.ward, "officer")
    set_account_active(account, False)
    db.session.commit()
    client.post("/api/v1/responses", json=quick_payload(), headers=headers)
    assert db.session.scalars(sa.select(Response.officer_id)).all() == [None, None]


def test_per_officer_figures_are_for_managers_and_above_min_n(app, client, credential, tree):
    app.config["MIN_N"] = 3
    officer = sign_in(app, "officer", unit=tree.ward, role="officer")
    officer.post("/staff/duty", data={"counter": str(tree.q1.id)})
    assert officer.get("/staff/kiosks/officers").status_code == 404  # officers do not see them
    manager = sign_in(app, "ward-manager", unit=tree.ward)
    for rating in (2, 3):
        client.post(
            "/api/v1/responses",
            json=quick_payload(answers={"rating": rating}),
            headers=kiosk_headers(credential),
        )
    page = manager.get(f"/staff/kiosks/officers?unit={tree.ward.id}").get_data(as_text=True)
    assert "Officer" in page and "quá ít câu trả lời" in page
    client.post(
        "/api/v1/responses",
        json=quick_payload(answers={"rating": 1}),
        headers=kiosk_headers(credential),
    )
    page = manager.get(f"/staff/kiosks/officers?unit={tree.ward.id}").get_data(as_text=True)
    assert "67 %" in page


def test_the_cli_creates_lists_and_revokes(app, tree):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "kiosk",
            "create",
            "--unit",
            "P-W1",
            "--counter",
            "Q2",
            "--questionnaire",
            "sipas-counter",
            "--name",
            "Máy quầy 2",
            "--base-url",
            "https://khaosat.example.vn",
        ]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"https://khaosat\.example\.vn/kiosk/enrol/\S+", result.output)
    listing = runner.invoke(args=["kiosk", "list"])
    assert "P-W1/Q2" in listing.output and "waiting" in listing.output
    kiosk = db.session.scalar(sa.select(Kiosk))
    assert runner.invoke(args=["kiosk", "revoke", str(kiosk.id)]).exit_code == 0
    assert "revoked" in runner.invoke(args=["kiosk", "list"]).output
    bad = runner.invoke(
        args=["kiosk", "create", "--unit", "P-W1", "--counter", "Q9", "--name", "x"]
    )
    assert bad.exit_code != 0 and "Q9" in bad.output
