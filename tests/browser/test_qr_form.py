"""A citizen's phone: a counter poster's form and a dossier's form, with JavaScript on and off;
validation messages appear next to the field; the response is stored with channel and unit."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from survey_app.extensions import db
from survey_app.models import Answer, Response
from survey_app.services.qr_codes import create_poster_code, issue_dossier_token
from survey_app.services.rollup import settle_pending
from survey_app.services.units import create_counter, create_unit
from tests.browser.conftest import PHONE


def _ward(app):
    with app.app_context():
        province = create_unit("HN", "Thành phố Hà Nội", name_en="Hanoi City", kind="province")
        ward = create_unit(
            "HN-AL",
            "Phường An Lạc",
            kind="ward",
            parent=province,
            place_name_vi="Bộ phận Một cửa UBND phường An Lạc",
        )
        counter = create_counter(ward, "Q1", "Quầy 1 – Hộ tịch")
        poster = create_poster_code(ward, counter)
        token = issue_dossier_token(
            "000.00.31.H01-240315-0001", ward, counter, secret_key=app.config["SECRET_KEY"]
        ).token
        db.session.commit()
        return ward.id, counter.id, poster.code, token


def _stored(app):
    with app.app_context():
        settle_pending()
        rows = db.session.execute(
            sa.select(Response.channel, Response.unit_id, Response.counter_id)
        ).all()
        answers = dict(db.session.execute(sa.select(Answer.question_key, Answer.value)).all())
        return rows, answers


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_citizen_rates_the_counter_from_a_poster(new_context, live_server, javascript):
    ward_id, counter_id, code, _ = _ward(live_server.app)
    page = new_context(**PHONE, java_script_enabled=javascript).new_page()
    page.goto(f"{live_server.url}/r/{code}")
    expect(page.locator("h1")).to_contain_text("Khảo sát sự hài lòng")
    expect(page.locator("#q-c9_24 legend")).to_contain_text(
        "Bộ phận Một cửa UBND phường An Lạc có biển hiệu"
    )
    # The phone page fits: no sideways scrolling on a 390 px screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("label[for='q-c9_24-5']").click()
    page.locator("label[for='q-overall-4']").click()
    page.locator("#q-comment-input").fill("x" * 1001)  # over the 1000-character limit
    page.get_by_role("button", name="Gửi câu trả lời").click()

    expect(page.locator("#q-comment-errors")).to_contain_text("1000")
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator("#q-c9_24-5")).to_be_checked()  # kept
    assert _stored(live_server.app)[0] == []

    page.locator("#q-comment-input").fill("Cán bộ nhiệt tình")
    page.get_by_role("button", name="Gửi câu trả lời").click()
    expect(page.locator("h1")).to_have_text("Cảm ơn Ông/Bà!")
    rows, answers = _stored(live_server.app)
    assert rows == [("qr_counter", ward_id, counter_id)]
    assert answers == {"c9_24": 5, "overall": 4, "comment": None}


def test_a_dossier_form_shows_reasons_only_after_a_low_rating(new_context, live_server):
    ward_id, counter_id, _, token = _ward(live_server.app)
    page = new_context(**PHONE).new_page()
    page.goto(f"{live_server.url}/d/{token}")
    reasons = page.locator("#q-reasons")
    expect(reasons).to_be_hidden()
    page.get_by_role("button", name="Gửi câu trả lời").click()
    expect(page.locator("#q-rating-errors")).to_be_visible()  # required, next to the field
    page.locator("label[for='q-rating-1']").click()
    expect(reasons).to_be_visible()
    page.locator("label[for='q-reasons-1']").click()
    page.get_by_role("button", name="Gửi câu trả lời").click()
    expect(page.locator("h1")).to_have_text("Cảm ơn Ông/Bà!")
    rows, answers = _stored(live_server.app)
    assert rows == [("qr_dossier", ward_id, counter_id)]
    assert answers == {"rating": 1, "reasons": 1}

    page.goto(f"{live_server.url}/d/{token}")  # a second use
    expect(page.locator("h1")).to_contain_text("Đã đánh giá")
    assert len(_stored(live_server.app)[0]) == 1
