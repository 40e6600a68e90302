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
