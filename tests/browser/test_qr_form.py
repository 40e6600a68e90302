"""A citizen's phone: a counter poster's form and a dossier's form, with JavaScript on and off;
validation messages appear next to the field; the response is stored with channel and unit."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from survey_app.extensions import db
from survey_app.models import Answer, Response, Unit
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


def _count_responses(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Response))


SEND = "Gửi câu trả lời"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_nothing_typed_after_a_good_rating_is_dropped_in_silence(
    new_context, live_server, javascript
):
    """The reasons and the comment are asked after "Không hài lòng" only. With JavaScript they
    are out of sight (and out of the way) after a good rating, but one that already holds text
    stays in view with its condition; without JavaScript they show with that condition. Either
    way, text sent with "Hài lòng" comes back with a message before any thanks, nothing stored."""
    _, _, _, token = _ward(live_server.app)
    page = new_context(**PHONE, java_script_enabled=javascript).new_page()
    page.goto(f"{live_server.url}/d/{token}")
    comment = page.locator("#q-reason_text")
    page.locator("label[for='q-rating-2']").click()
    if javascript:
        expect(comment).to_be_hidden()
        expect(page.locator("#q-reasons")).to_be_hidden()
        page.locator("label[for='q-rating-1']").click()
        page.locator("#q-reason_text-input").fill("Chờ hơi lâu")
        page.locator("label[for='q-rating-2']").click()  # changes their mind, text typed
    else:
        page.locator("#q-reason_text-input").fill("Chờ hơi lâu")
    expect(comment).to_be_visible()
    page.get_by_role("button", name=SEND).click()

    expect(page.locator("h1")).not_to_have_text("Cảm ơn Ông/Bà!")
    assert _count_responses(live_server.app) == 0
    expect(page.locator("#q-reason_text-errors")).to_contain_text(
        "Ông/Bà chưa chọn “Không hài lòng” ở trên nên câu trả lời này sẽ không được lưu"
    )
    expect(page.locator("#q-reason_text-input")).to_have_value("Chờ hơi lâu")
    expect(page.locator("#q-reason_text-condition")).to_contain_text("“Không hài lòng”")

    page.locator("label[for='q-rating-1']").click()
    page.get_by_role("button", name=SEND).click()
    expect(page.locator("h1")).to_have_text("Cảm ơn Ông/Bà!")
    assert _stored(live_server.app)[1] == {"rating": 1, "reason_text": None}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_one_rating_per_visit_back_after_thanks_stores_nothing(
    new_context, live_server, javascript
):
    """Back after the thank-you page, then send again: "đã được ghi nhận", and one response.
    A second tab opened before sending carries the same form id and stores nothing either."""
    ward_id, _, _, _ = _ward(live_server.app)
    with live_server.app.app_context():
        ward = db.session.get(Unit, ward_id)
        code = create_poster_code(ward, questionnaire_key="quick-rating").code
        db.session.commit()
    context = new_context(**PHONE, java_script_enabled=javascript)
    page, other_tab = context.new_page(), context.new_page()
    page.goto(f"{live_server.url}/r/{code}")
    other_tab.goto(f"{live_server.url}/r/{code}")
    page.locator("label[for='q-rating-3']").click()
    page.get_by_role("button", name=SEND).click()
    expect(page.locator("h1")).to_have_text("Cảm ơn Ông/Bà!")

    page.go_back()
    expect(page.locator("h1")).to_have_text("Đánh giá của Ông/Bà đã được ghi nhận")
    send = page.get_by_role("button", name=SEND)
    if send.count():  # a page restored as it was: sending it again
        send.click()
        expect(page.locator("h1")).to_have_text("Đánh giá của Ông/Bà đã được ghi nhận")
    other_tab.locator("label[for='q-rating-1']").click()
    other_tab.get_by_role("button", name=SEND).click()
    expect(other_tab.locator("h1")).to_have_text("Đánh giá của Ông/Bà đã được ghi nhận")
    expect(other_tab.locator("main")).to_contain_text("không lưu thêm")
    assert _stored(live_server.app)[1] == {"rating": 3}
    assert _count_responses(live_server.app) == 1


def _boxes(page, selector):
    found = page.locator(selector)
    return [found.nth(i).bounding_box() for i in range(found.count())]


def test_the_five_point_scale_is_one_column_on_a_phone_and_one_row_on_a_tablet(
    new_context, live_server
):
    _, _, code, _ = _ward(live_server.app)
    phone = new_context(**PHONE).new_page()
    phone.goto(f"{live_server.url}/r/{code}")
    boxes = _boxes(phone, "#q-c9_24 .choice")
    assert len(boxes) == 5
    assert len({round(b["x"]) for b in boxes}) == 1 and len({round(b["width"]) for b in boxes}) == 1
    tops = [b["y"] for b in boxes]
    assert tops == sorted(tops) and len(set(tops)) == 5  # one under another, in scale order
    tablet = new_context(viewport={"width": 1280, "height": 800}).new_page()
    tablet.goto(f"{live_server.url}/r/{code}")
    boxes = _boxes(tablet, "#q-c9_24 .choice")
    assert len({round(b["y"]) for b in boxes}) == 1  # one row
    assert [b["x"] for b in boxes] == sorted(b["x"] for b in boxes)


def test_touch_targets_focus_ring_and_error_summary_on_a_phone(new_context, live_server):
    _, _, code, token = _ward(live_server.app)
    page = new_context(**PHONE).new_page()
    for path in (f"/r/{code}", f"/d/{token}"):
        page.goto(f"{live_server.url}{path}")
        for selector in (".choice", ".lang a", "button"):
            for box in _boxes(page, f"main {selector}:visible, header {selector}:visible"):
                assert box["height"] >= 48 and box["width"] >= 48, (path, selector, box)
    # Citizen pages link only to citizen pages: the site's name is no link.
    assert page.locator("header a.brand").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("?lang=", "#")) for h in hrefs), hrefs

    page.goto(f"{live_server.url}/r/{code}")
    page.keyboard.press("Tab")
    while page.evaluate("document.activeElement.type") != "radio":
        page.keyboard.press("Tab")
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement.closest('label'));"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert ring[0] == "solid" and ring[1] >= 3, ring

    page.locator("#q-comment-input").fill("x" * 1001)
    page.get_by_role("button", name=SEND).click()
    summary = page.locator("#form-errors")
    expect(summary).to_be_focused()
    assert page.title().startswith("Lỗi: ")
    links = summary.locator("a")
    assert links.count() == 1
    target = links.first.get_attribute("href")
    assert page.locator(target).count() == 1  # the message's field exists
    links.first.click()
    expect(page.locator("#q-comment-input")).to_be_focused()
    expect(page.locator("#q-comment-errors")).to_be_in_viewport()
