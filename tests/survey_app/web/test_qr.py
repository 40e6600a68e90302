"""QR forms over HTTP: posters (/r/<code>), dossier codes (API and /d/<token>), the rate limits,
and the staff poster pages. QR codes are decoded with zbarimg and their URLs followed."""

import re
import subprocess
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from survey_app.extensions import db, dispose_engines
from survey_app.models import Answer, AuditEvent, DossierRating, PosterCode, RateLimitHit, Response
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.api_keys import create_api_key
from survey_app.services.qr_codes import create_poster_code, issue_dossier_token
from survey_app.services.rollup import settle_pending
from survey_app.timeutil import utcnow
from tests.conftest import make_config

PASSWORD = "correct horse battery"
DOSSIER = "000.00.31.H01-240315-0001"


def committed():
    """The session, seeing what the requests committed, their answers settled."""
    db.session.rollback()
    settle_pending()
    return db.session


def count(model) -> int:
    return committed().scalar(sa.select(sa.func.count()).select_from(model))


def decode(png: bytes, tmp_path) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.png"
    path.write_bytes(png)
    out = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def client_id(html: str) -> str:
    return re.search(r'name="client_id" value="([^"]+)"', html).group(1)


@pytest.fixture
def app_with(database_url, app):
    """Factory: the app on the same database with other settings (engines disposed after)."""
    from survey_app import create_app

    made = []

    def factory(**overrides):
        other = create_app(make_config(database_url, **overrides))
        other.test_client_class = app.test_client_class
        made.append(other)
        return other

    yield factory
    for other in made:
        with other.app_context():
            db.session.remove()
            dispose_engines()


def poster(tree, counter="q1"):
    made = create_poster_code(tree.ward, getattr(tree, counter) if counter else None)
    db.session.commit()
    return made.code


def counter_form(cid: str, **answers) -> dict:
    data = {"client_id": cid, "version": "1"}
    data.update({f"q_{k}": str(v) for k, v in answers.items()})
    return data


# --- posters ---------------------------------------------------------------------------------------


def test_a_poster_opens_the_counter_questionnaire_in_vietnamese(client, tree):
    code = poster(tree)
    page = client.get(f"/r/{code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Bộ phận Một cửa UBND phường An Lạc có biển hiệu" in html  # [ĐPV] replaced
    assert "[ĐPV]" not in html
    assert "Quầy 1 – Hộ tịch" in html
    assert 'name="q_c9_24"' in html and 'name="client_id"' in html
    english = client.get(f"/r/{code}?lang=en").get_data(as_text=True)
    assert "has clear signs and directions" in english


def test_a_poster_form_is_stored_with_channel_unit_and_counter(client, tree):
    code = poster(tree)
    cid = client_id(client.get(f"/r/{code}").get_data(as_text=True))
    sent = client.post(f"/r/{code}", data=counter_form(cid, c9_24=5, c9_31=4, comment=" Tốt "))
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/qr/thanks")
    stored = committed().scalar(sa.select(Response))
    assert (str(stored.id), stored.channel, stored.unit_id, stored.counter_id) == (
        cid,
        "qr_counter",
        tree.ward.id,
        tree.q1.id,
    )
    answers = dict(committed().execute(sa.select(Answer.question_key, Answer.value)).all())
    assert answers == {"c9_24": 5, "c9_31": 4, "comment": None}
    assert client.get("/qr/thanks").status_code == 200


def test_one_rating_per_visit_whatever_is_sent_again(client, tree):
    """The form's id is this browser's visit: a reload shows the same id; after sending, the
    page the back button fetches again says the rating was recorded, and a page restored from
    the browser's cache and sent again (as it was, or changed) stores nothing more."""
    code = poster(tree)
    cid = client_id(client.get(f"/r/{code}").get_data(as_text=True))
    assert client_id(client.get(f"/r/{code}").get_data(as_text=True)) == cid
    assert client.post(f"/r/{code}", data=counter_form(cid, overall=4)).status_code == 302
    back = client.get(f"/r/{code}")
    html = back.get_data(as_text=True)
    assert back.status_code == 200 and "đã được ghi nhận" in html
    assert 'name="client_id"' not in html  # nothing to send a second time
    hits = committed().scalar(sa.select(sa.func.sum(RateLimitHit.hits)))
    for answers in ({"overall": 4}, {"overall": 2}):
        again = client.post(f"/r/{code}", data=counter_form(cid, **answers))
        assert again.status_code == 200 and "đã được ghi nhận" in again.get_data(as_text=True)
    assert count(Response) == 1
    assert committed().scalar(sa.select(sa.func.sum(RateLimitHit.hits))) == hits  # not counted
    other = client.get(f"/r/{poster(tree, counter='q2')}")  # another counter: a visit of its own
    assert 'name="client_id"' in other.get_data(as_text=True)


def test_a_visit_ends_after_qr_visit_minutes(app_with, tree):
    code = poster(tree)
    phone = app_with(QR_VISIT_MINUTES=0).test_client()
    cid = client_id(phone.get(f"/r/{code}").get_data(as_text=True))
    assert phone.post(f"/r/{code}", data=counter_form(cid, overall=4)).status_code == 302
    later = client_id(phone.get(f"/r/{code}").get_data(as_text=True))
    assert later != cid
    assert phone.post(f"/r/{code}", data=counter_form(later, overall=5)).status_code == 302
    assert count(Response) == 2


def test_citizen_forms_show_no_staff_description(client, dossier_key, tree):
    """A questionnaire's description says what it is for, to staff: "Một câu hỏi sau mỗi lần
    giải quyết công việc hoặc mỗi hồ sơ." is not for the citizen holding the phone."""
    token = issue(client, dossier_key).json["token"]
    html = client.get(f"/d/{token}").get_data(as_text=True)
    assert "Đánh giá nhanh sự phục vụ" in html
    assert "Một câu hỏi sau mỗi lần" not in html


def test_errors_are_shown_next_to_the_field_and_nothing_is_stored(client, tree):
    code = poster(tree)
    cid = client_id(client.get(f"/r/{code}").get_data(as_text=True))
    page = client.post(f"/r/{code}", data=counter_form(cid, c9_24=9, c9_25=4, comment="x" * 1001))
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert re.search(r'id="q-c9_24"[^>]*aria-invalid="true"', html)
    assert 'id="q-c9_24-errors"' in html and 'id="q-comment-errors"' in html
    assert 'id="q-c9_25-errors"' not in html
    assert re.search(r'id="q-c9_25-4" value="4" checked', html)  # kept for the next try
    assert client_id(html) == cid
    empty = client.post(f"/r/{code}", data=counter_form(cid))
    assert empty.status_code == 422 and "ít nhất một câu hỏi" in empty.get_data(as_text=True)
    assert count(Response) == 0


def test_the_error_summary_links_to_each_question_and_the_title_says_error(client, tree):
    code = poster(tree)
    cid = client_id(client.get(f"/r/{code}").get_data(as_text=True))
    assert "<title>Lỗi:" not in client.get(f"/r/{code}").get_data(as_text=True)
    html = client.post(f"/r/{code}", data=counter_form(cid, c9_24=9, comment="x" * 1001)).get_data(
        as_text=True
    )
    assert re.search(r"<title>Lỗi: ", html)
    summary = html[
        html.index('class="error-summary"') : html.index(
            "</div>", html.index('class="error-summary"')
        )
    ]
    targets = re.findall(r'href="#([^"]+)"', summary)
    assert targets == ["q-c9_24-1", "q-comment-input"]
    for target in targets:
        assert f'id="{target}"' in html  # each link leads to a control that exists
    assert 'id="q-c9_24-errors"' in html and 'id="q-comment-errors"' in html
    empty = client.post(f"/r/{code}", data=counter_form(cid)).get_data(as_text=True)
    assert "ít nhất một câu hỏi" in empty and "see the messages" not in empty
    assert "xem thông báo bên cạnh" not in empty  # no message beside a question to point to


def test_a_revoked_or_unknown_poster_stores_nothing(client, tree):
    code = poster(tree)
    committed().scalar(sa.select(PosterCode)).revoked_at = utcnow()
    db.session.commit()
    assert client.get(f"/r/{code}").status_code == 410
    assert (
        client.post(f"/r/{code}", data=counter_form(str(uuid.uuid4()), overall=5)).status_code
        == 410
    )
    assert client.get("/r/NOSUCH22").status_code == 404
    assert count(Response) == 0


def test_submissions_are_limited_per_browser_and_per_address(app_with, tree):
    limited = app_with(QR_LIMIT_PER_BROWSER=2, QR_LIMIT_PER_ADDRESS=3)
    code = poster(tree)
    phone = limited.test_client()
    for expected in (302, 302, 429, 429):
        sent = phone.post(f"/r/{code}", data=counter_form(str(uuid.uuid4()), overall=5))
        assert sent.status_code == expected
    assert "Quá nhiều lượt trả lời" in sent.get_data(as_text=True)
    other = limited.test_client()  # another browser, same address: one left for the address
    assert (
        other.post(f"/r/{code}", data=counter_form(str(uuid.uuid4()), overall=5)).status_code == 302
    )
    assert (
        other.post(f"/r/{code}", data=counter_form(str(uuid.uuid4()), overall=5)).status_code == 429
    )
    assert count(Response) == 3
    assert count(RateLimitHit) == 4  # two browsers, one address, one address at one place


def test_an_address_dropping_its_cookies_is_limited_at_one_place(app_with, tree):
    """A fresh browser for every rating (cookies dropped) passes the per-browser limit; one
    address rating the same counter again and again is stopped at that place, and may still
    rate elsewhere (citizens of other counters can share a carrier's address)."""
    limited = app_with(QR_LIMIT_PER_ADDRESS_AT_A_PLACE=3)
    code, other_code = poster(tree), poster(tree, counter="q2")
    statuses = [
        limited.test_client()
        .post(f"/r/{code}", data=counter_form(str(uuid.uuid4()), overall=1))
        .status_code
        for _ in range(5)
    ]
    assert statuses == [302, 302, 302, 429, 429]
    elsewhere = limited.test_client().post(
        f"/r/{other_code}", data=counter_form(str(uuid.uuid4()), overall=5)
    )
    assert elsewhere.status_code == 302
    assert count(Response) == 4


def test_the_form_is_csrf_protected(app_with, tree):
    strict = app_with(WTF_CSRF_ENABLED=True)
    code = poster(tree)
    phone = strict.test_client()
    html = phone.get(f"/r/{code}").get_data(as_text=True)
    data = counter_form(client_id(html), overall=5)
    assert phone.post(f"/r/{code}", data=data).status_code == 400
    data["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert phone.post(f"/r/{code}", data=data).status_code == 302
    assert count(Response) == 1


# --- staff posters ----------------------------------------------------------------------------------


@pytest.fixture
def manager(app, tree):
    account = create_account("ward-manager", PASSWORD, display_name="Ward manager")
    add_scope(account, tree.ward, "manager")
    viewer = create_account("ward-viewer", PASSWORD, display_name="Ward viewer")
    add_scope(viewer, tree.ward, "viewer")
    db.session.commit()
    client = app.test_client()
    assert (
        client.post("/login", data={"username": "ward-manager", "password": PASSWORD}).status_code
        == 302
    )
    return client


def test_a_manager_creates_prints_and_decodes_a_poster_then_follows_it(manager, tree, tmp_path):
    assert manager.get("/staff/posters").status_code == 200
    made = manager.post(
        f"/staff/posters/units/{tree.ward.id}/create", data={"counter_id": tree.q2.id}
    )
    assert made.status_code == 302
    stored = committed().scalar(sa.select(PosterCode))
    assert (stored.unit_id, stored.counter_id, stored.created_by_id is not None) == (
        tree.ward.id,
        tree.q2.id,
        True,
    )
    event = committed().scalar(sa.select(AuditEvent).where(AuditEvent.action == "poster.create"))
    assert event.actor == "ward-manager" and event.details["code"] == stored.code
    listing = manager.get(f"/staff/posters/units/{tree.ward.id}").get_data(as_text=True)
    assert stored.code in listing
    printed = manager.get(f"/staff/posters/{stored.id}/print").get_data(as_text=True)
    assert "<svg" in printed and f"/r/{stored.code}" in printed and "Phường An Lạc" in printed
    png = manager.get(f"/staff/posters/{stored.id}/qr.png")
    assert png.mimetype == "image/png"
    url = decode(png.get_data(), tmp_path)
    assert urlsplit(url).path == f"/r/{stored.code}"
    assert manager.get(f"/staff/posters/{stored.id}/qr.svg").mimetype == "image/svg+xml"
    phone = manager.application.test_client()
    form = phone.get(urlsplit(url).path)
    assert form.status_code == 200 and "Quầy 2 – Đất đai" in form.get_data(as_text=True)
    cid = client_id(form.get_data(as_text=True))
    assert phone.post(urlsplit(url).path, data=counter_form(cid, overall=5)).status_code == 302
    assert committed().scalar(sa.select(Response.counter_id)) == tree.q2.id


def test_a_manager_prints_every_poster_of_a_unit(manager, tree):
    assert manager.post(f"/staff/posters/units/{tree.ward.id}/create-all").status_code == 302
    codes = committed().scalars(sa.select(PosterCode.code)).all()
    assert len(codes) == 3  # the ward and its two counters
    sheet = manager.get(f"/staff/posters/units/{tree.ward.id}/print").get_data(as_text=True)
    assert sheet.count('class="poster"') == 3
    assert all(f"/r/{code}" in sheet for code in codes)


def test_revoking_and_reissuing_are_audited_and_take_effect(manager, client, tree):
    code = poster(tree)
    poster_id = committed().scalar(sa.select(PosterCode.id))
    assert manager.post(f"/staff/posters/{poster_id}/reissue").status_code == 302
    new = committed().scalar(sa.select(PosterCode).where(PosterCode.revoked_at.is_(None)))
    assert new.code != code and new.counter_id == tree.q1.id
    assert client.get(f"/r/{code}").status_code == 410
    assert client.get(f"/r/{new.code}").status_code == 200
    assert manager.post(f"/staff/posters/{new.id}/revoke").status_code == 302
    assert client.get(f"/r/{new.code}").status_code == 410
    actions = committed().scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("poster.revoke") == 2 and actions.count("poster.create") == 1


def test_another_units_posters_are_not_found(manager, tree):
    other = create_poster_code(tree.commune)
    db.session.commit()
    assert manager.get(f"/staff/posters/{other.id}/print").status_code == 404
    assert manager.post(f"/staff/posters/{other.id}/revoke").status_code == 404
    assert (
        manager.post(
            f"/staff/posters/units/{tree.ward.id}/create",
            data={"counter_id": other.unit.counters[0].id},
        ).status_code
        == 404
    )
    assert committed().get(PosterCode, other.id).revoked_at is None
    assert count(PosterCode) == 1


# --- dossier codes ------------------------------------------------------------------------------------


@pytest.fixture
def dossier_key(app, tree) -> str:
    _, secret = create_api_key("Một cửa điện tử", "dossier_codes", tree.ward, created_by=None)
    db.session.commit()
    return secret


def issue(client, secret, **body):
    body = {"dossier_code": DOSSIER, "unit": "P-W1", "counter": "Q1", **body}
    return client.post(
        "/api/v1/dossier-codes", json=body, headers={"Authorization": f"Bearer {secret}"}
    )


def test_the_dossier_system_gets_a_token_its_url_and_qr(client, dossier_key, tree, tmp_path):
    first = issue(client, dossier_key)
    assert first.status_code == 201
    body = first.json
    assert set(body) == {"token", "url", "qr_svg", "qr_svg_url", "qr_png_url", "expires_at"}
    assert urlsplit(body["url"]).path == f"/d/{body['token']}"
    assert body["qr_svg"].lstrip().startswith("<?xml") or "<svg" in body["qr_svg"]
    png = client.get(urlsplit(body["qr_png_url"]).path)
    assert decode(png.get_data(), tmp_path) == body["url"]
    again = issue(client, dossier_key, dossier_code=DOSSIER.lower())
    assert again.status_code == 200 and again.json["token"] == body["token"]
    event = committed().scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "dossier_code.issue")
    )
    assert event.actor.startswith("api key ") and DOSSIER not in str(event.details)
    assert count(AuditEvent) == 1  # a retry is not a new issue


def test_a_dossier_is_rated_once(client, dossier_key, tree):
    token = issue(client, dossier_key).json["token"]
    page = client.get(f"/d/{token}")
    assert page.status_code == 200 and 'name="q_rating"' in page.get_data(as_text=True)
    cid = client_id(page.get_data(as_text=True))
    sent = client.post(f"/d/{token}", data={"client_id": cid, "version": "1", "q_rating": "3"})
    assert sent.status_code == 302
    stored = committed().scalar(sa.select(Response))
    assert (stored.channel, stored.unit_id, stored.counter_id) == (
        "qr_dossier",
        tree.ward.id,
        tree.q1.id,
    )
    assert committed().scalar(sa.select(DossierRating.used_at)) is not None
    second = client.post(f"/d/{token}", data={"client_id": str(uuid.uuid4()), "q_rating": "1"})
    assert second.status_code == 409 and "đã được ghi nhận" in second.get_data(as_text=True)
    assert client.get(f"/d/{token}").status_code == 200  # the friendly page again
    assert count(Response) == 1
    assert issue(client, dossier_key).status_code == 409


def test_a_comment_after_a_good_rating_is_sent_back_with_the_reason(client, dossier_key, tree):
    """Without JavaScript the reasons and the comment show whatever the rating; they are asked
    after "Không hài lòng" only. Given with "Hài lòng", the form comes back saying so next to
    them, everything kept, nothing stored and nobody thanked; changed, it is stored whole."""
    token = issue(client, dossier_key).json["token"]
    form = client.get(f"/d/{token}").get_data(as_text=True)
    assert form.count("Chỉ trả lời nếu Ông/Bà đã chọn “Không hài lòng” ở trên.") == 2
    given = {"client_id": client_id(form), "version": "1", "q_reasons": "1"}
    given["q_reason_text"] = "Chờ hơi lâu"
    sent = client.post(f"/d/{token}", data={**given, "q_rating": "2"})
    html = sent.get_data(as_text=True)
    assert sent.status_code == 422 and "Cảm ơn" not in html
    for key in ("reasons", "reason_text"):
        errors = html[html.index(f'id="q-{key}-errors"') :]
        assert errors.index("Ông/Bà chưa chọn “Không hài lòng” ở trên") < errors.index("</ul>")
    assert "Chờ hơi lâu</textarea>" in html and re.search(
        r'id="q-reasons-1" value="1" checked', html
    )
    assert count(Response) == 0
    assert committed().scalar(sa.select(DossierRating.used_at)) is None
    fixed = client.post(f"/d/{token}", data={**given, "q_rating": "1"})
    assert fixed.status_code == 302
    answers = dict(committed().execute(sa.select(Answer.question_key, Answer.value)).all())
    assert answers == {"rating": 1, "reasons": 1, "reason_text": None}


def test_an_invalid_dossier_form_stores_nothing_and_keeps_the_code(client, dossier_key, tree):
    token = issue(client, dossier_key).json["token"]
    sent = client.post(f"/d/{token}", data={"client_id": str(uuid.uuid4()), "q_rating": "7"})
    assert sent.status_code == 422 and 'id="q-rating-errors"' in sent.get_data(as_text=True)
    assert count(Response) == 0
    assert committed().scalar(sa.select(DossierRating.used_at)) is None


def test_expired_forged_and_altered_tokens_are_refused(client, dossier_key, tree):
    expired = issue_dossier_token(
        "H01-240101-0009",
        tree.ward,
        secret_key="testing-not-secret",
        now=utcnow() - timedelta(days=31),
    ).token
    forged = issue_dossier_token("H01-240101-0010", tree.ward, secret_key="guessed").token
    db.session.commit()
    token = issue(client, dossier_key).json["token"]
    altered = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    for bad, status in ((expired, 410), (forged, 404), (altered, 404), ("nonsense", 404)):
        data = {"client_id": str(uuid.uuid4()), "version": "1", "q_rating": "3"}
        assert client.get(f"/d/{bad}").status_code == status
        assert client.post(f"/d/{bad}", data=data).status_code == status
    assert "expired" in client.get(f"/d/{expired}?lang=en").get_data(as_text=True)
    assert count(Response) == 0
    assert committed().scalars(sa.select(DossierRating.used_at)).all() == [None, None, None]


def test_wrong_keys_and_foreign_units_are_refused(client, dossier_key, tree):
    _, figures_key = create_api_key("figures", "read_figures", tree.ward, created_by=None)
    db.session.commit()
    assert (
        client.post(
            "/api/v1/dossier-codes", json={"dossier_code": DOSSIER, "unit": "P-W1"}
        ).status_code
        == 401
    )
    assert issue(client, "sk_nope_nope").status_code == 401
    assert issue(client, figures_key).status_code == 401
    assert issue(client, dossier_key[:-2] + "xx").status_code == 401
    assert issue(client, dossier_key, unit="P-C1", counter=None).status_code == 404
    assert issue(client, dossier_key, unit="NOPE").status_code == 404
    assert count(DossierRating) == 0


def test_malformed_requests_are_422_with_the_field_named(client, dossier_key, tree):
    for body, field in (
        ({"dossier_code": "not a code!"}, "dossier_code"),
        ({"dossier_code": "1" * 65}, "dossier_code"),
        ({"dossier_code": None}, "dossier_code"),
        ({"counter": "Q9"}, "counter"),
        ({"unit": None}, "unit"),
        ({"extra": 1}, "extra"),
    ):
        answer = issue(client, dossier_key, **body)
        assert answer.status_code == 422, body
        assert field in answer.json["errors"], body
    assert count(DossierRating) == 0
