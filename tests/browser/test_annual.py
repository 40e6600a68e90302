"""The annual survey in a real browser: a household answers every page of the online form on a
phone (with JavaScript and without), going back a page on the way; a clerk keys a paper form with
the keyboard only; a serial keyed twice is refused with who keyed it and when."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from survey_app.extensions import db
from survey_app.models import Answer, Response
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.annual import create_link, enter_paper_form
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.services.rollup import settle_pending
from survey_app.services.units import create_unit
from tests.browser.conftest import PHONE

PASSWORD = "correct horse battery"
YEAR = 2025


class Units:
    def __init__(self, ward):
        self.ward = ward


@pytest.fixture
def tree(app) -> Units:
    """A province and one ward (P-W1), made through the services."""
    province = create_unit("P", "Tỉnh Thử Nghiệm", kind="province")
    ward = create_unit("P-W1", "Phường An Lạc", kind="ward", parent=province)
    db.session.commit()
    return Units(ward)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_household_completes_the_annual_form_going_back_a_page(
    live_server, new_context, tree, javascript
):
    link = create_link(tree.ward, YEAR)
    db.session.commit()
    page = new_context(**PHONE, java_script_enabled=javascript).new_page()
    page.goto(f"{live_server.url}/a/{link.code}")
    page.get_by_role("button", name="Bắt đầu").or_(
        page.locator("button[type=submit]")
    ).first.click()
    expect(page).to_have_url(f"{live_server.url}/a/{link.code}/page/1")
    page.locator("input[name=q_c1_1][value='3']").check()
    page.locator("button[name=nav][value=next]").click()
    expect(page).to_have_url(f"{live_server.url}/a/{link.code}/page/2")
    page.locator("input[name=q_c2][value='1']").check()
    page.locator("button[name=nav][value=back]").click()
    expect(page).to_have_url(f"{live_server.url}/a/{link.code}/page/1")
    expect(page.locator("input[name=q_c1_1][value='3']")).to_be_checked()
    page.locator("button[name=nav][value=next]").click()
    expect(page.locator("input[name=q_c2][value='1']")).to_be_checked()
    total = 15
    for number in range(2, total + 1):
        expect(page.locator("progress")).to_have_attribute("value", str(number))
        first_choice = page.locator("input[type=radio], input[type=checkbox]").first
        if first_choice.count() and number != 2:
            first_choice.check()
        if number == 14:
            page.locator("textarea[name=q_comment]").fill("Cán bộ nhiệt tình")
        page.locator("button[name=nav][value=next]").click()
    expect(page).to_have_url(f"{live_server.url}/a/{link.code}/thanks")
    db.session.rollback()
    settle_pending()
    response = db.session.scalar(sa.select(Response))
    assert (response.channel, response.survey_year) == ("web", YEAR)
    keys = set(db.session.scalars(sa.select(Answer.question_key)))
    assert {"c1_1", "c2", "comment", "gender"} <= keys


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_nothing_typed_is_lost_going_back_or_in_an_other_box(
    live_server, new_context, tree, javascript
):
    """A 1,099-character comment refused for its length, then "Quay lại": coming back, the text
    is there with its message, the summary focused (with JavaScript). Câu 2's "other" box typed
    in without "Qua hình thức khác" ticked: the page says so next to it and moves on only once
    the box is ticked or cleared."""
    link = create_link(tree.ward, YEAR)
    db.session.commit()
    page = new_context(**PHONE, java_script_enabled=javascript).new_page()
    base = f"{live_server.url}/a/{link.code}"
    page.goto(base)
    page.locator("button[type=submit]").first.click()
    expect(page).to_have_url(f"{base}/page/1")

    comment = ("Ý kiến rất dài. " * 69)[:1098] + "."
    page.goto(f"{base}/page/14")
    page.locator("#q-comment-input").fill(comment)
    page.locator("button[name=nav][value=next]").click()
    expect(page.locator("#q-comment-errors")).to_contain_text("1099")
    page.locator("button[name=nav][value=back]").click()
    expect(page).to_have_url(f"{base}/page/13")
    page.locator("button[name=nav][value=next]").click()
    expect(page).to_have_url(f"{base}/page/14")
    expect(page.locator("#q-comment-input")).to_have_value(comment)
    expect(page.locator("#q-comment-errors")).to_contain_text("1099")
    # The GOV.UK error summary: "Lỗi:" in the title, a link to the box, the focus on it.
    assert page.title().startswith("Lỗi: ")
    expect(page.locator("#form-errors a[href='#q-comment-input']")).to_be_visible()
    if javascript:
        expect(page.locator("#form-errors")).to_be_focused()

    page.goto(f"{base}/page/2")
    other = page.locator("#q-c2_other")
    if javascript:
        expect(other).to_be_hidden()
        page.locator("label[for='q-c2-7']").click()
        page.locator("#q-c2_other-input").fill("Tổ dân phố")
        page.locator("label[for='q-c2-7']").click()  # unticked, text typed: still in view
    else:
        page.locator("#q-c2_other-input").fill("Tổ dân phố")
    expect(other).to_be_visible()
    page.locator("label[for='q-c2-1']").click()
    page.locator("button[name=nav][value=next]").click()
    expect(page).to_have_url(f"{base}/page/2")
    expect(page.locator("#q-c2_other-errors")).to_contain_text(
        "Ông/Bà chưa chọn “Qua hình thức khác (xin ghi cụ thể)” ở trên"
    )
    expect(page.locator("#q-c2_other-input")).to_have_value("Tổ dân phố")
    page.locator("label[for='q-c2-7']").click()
    page.locator("button[name=nav][value=next]").click()
    expect(page).to_have_url(f"{base}/page/3")
    page.locator("button[name=nav][value=back]").click()
    expect(page.locator("#q-c2_other-input")).to_have_value("Tổ dân phố")
    expect(page.locator("#q-c2-7")).to_be_checked()


def test_the_annual_form_on_a_phone_has_large_targets_and_no_link_out(
    live_server, new_context, tree
):
    link = create_link(tree.ward, YEAR)
    db.session.commit()
    page = new_context(**PHONE).new_page()
    page.goto(f"{live_server.url}/a/{link.code}")
    expect(page.locator("main")).to_contain_text("Phiếu gồm 15 trang, trả lời mất khoảng")
    page.locator("button[type=submit]").first.click()
    for selector in (".choice", ".lang a", "button"):
        for i in range(page.locator(f"{selector}:visible").count()):
            box = page.locator(f"{selector}:visible").nth(i).bounding_box()
            assert box["height"] >= 48 and box["width"] >= 48, (selector, box)
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("?lang=", "#")) for h in hrefs), hrefs
    expect(page.locator("h1")).to_have_text(
        re.compile(r"^Câu 1\. Xin Ông/Bà cho biết .*internet\)\?$")
    )


def clerk_page(live_server, new_context, tree, username):
    account = create_account(username, PASSWORD, display_name=username)
    add_scope(account, tree.ward, "manager")
    db.session.commit()
    page = new_context().new_page()
    page.goto(f"{live_server.url}/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(re.compile("/login"))
    page.goto(f"{live_server.url}/staff/entry?lang=en")
    return page


def key_a_form(page, serial: str, digit: str = "4") -> None:
    """Keyboard only: from the serial (focused on arrival) back to the unit and year, then every
    answer with Enter, and Enter on the Save button."""
    expect(page.locator("#serial")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#unit_id")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#year")).to_be_focused()
    page.keyboard.type(str(YEAR))
    page.keyboard.press("Enter")
    page.keyboard.type(serial)
    page.keyboard.press("Enter")
    expect(page.locator("#a-c1_1")).to_be_focused()
    for _ in range(9):  # Câu 1: nine INTEREST4 items
        page.keyboard.type("3")
        page.keyboard.press("Enter")
    page.keyboard.type("1 7")  # Câu 2, several channels
    page.keyboard.press("Enter")
    page.keyboard.type("Loa")
    page.keyboard.press("Enter")
    _, definition = get_current_questionnaire("sipas-annual")
    rest = [q.key for q in definition.questions][11:]
    for key in rest:
        if key.startswith("c9_"):
            page.keyboard.type(digit)
        page.keyboard.press("Enter")
    expect(page.locator("#save-form")).to_be_focused()
    page.keyboard.press("Enter")


def test_a_clerk_keys_a_paper_form_with_the_keyboard_only(live_server, new_context, tree):
    page = clerk_page(live_server, new_context, tree, "clerk1")
    key_a_form(page, "A-17")
    expect(page.get_by_text("Form no. A-17 saved.")).to_be_visible()
    db.session.rollback()
    settle_pending()
    response = db.session.scalar(sa.select(Response))
    assert (response.channel, response.entered_by, response.survey_year) == (
        "paper_entry",
        "staff",
        YEAR,
    )
    answers = {a.question_key: a.value for a in response.answers if a.value is not None}
    assert answers["c1_9"] == 3 and answers["c9_39"] == 4 and answers["c9_01"] == 4
    assert sorted(a.value for a in response.answers if a.question_key == "c2") == [1, 7]


def test_a_duplicate_serial_is_refused_with_who_and_when(live_server, new_context, tree):
    first = create_account("clerk1", PASSWORD, display_name="clerk1")
    enter_paper_form(
        questionnaire_key="sipas-annual",
        unit=tree.ward,
        year=YEAR,
        serial="B-1",
        channel="paper_entry",
        interviewer_name=None,
        answers={"c1_1": 3},
        account=first,
    )
    db.session.commit()
    page = clerk_page(live_server, new_context, tree, "clerk2")
    page.select_option("#unit_id", str(tree.ward.id))
    page.fill("#year", str(YEAR))
    page.fill("#serial", "B-1")
    page.fill("#a-c1_1", "4")
    page.locator("#save-form").click()
    expect(page.locator("#serial-errors")).to_contain_text(
        f"Form no. B-1 of {YEAR} was already entered by clerk1 at"
    )
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1
