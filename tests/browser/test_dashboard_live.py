"""A manager watches the dashboard; a citizen rates on the counter's kiosk in another browser
context; the figure changes within ten seconds, without a reload."""

import json
import re
import uuid

from playwright.sync_api import expect

from survey_app.extensions import db
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.api_keys import create_api_key
from survey_app.services.kiosks import create_kiosk
from survey_app.services.units import create_counter, create_unit

PASSWORD = "correct horse battery"


def _setup(app):
    with app.app_context():
        province = create_unit("P", "Tỉnh Thử Nghiệm", kind="province")
        ward = create_unit("P-W1", "Phường An Lạc", kind="ward", parent=province)
        counter = create_counter(ward, "Q1", "Quầy 1 – Hộ tịch", "Counter 1")
        account = create_account("quanly", PASSWORD, display_name="Trần Thị Bình")
        add_scope(account, province, "manager")
        _key, submit_secret = create_api_key(
            "Cổng dịch vụ công", "submit_responses", ward, created_by=None
        )
        _, enrolment_token = create_kiosk(
            counter=counter, questionnaire_key="quick-rating", name="Tablet", created_by=None
        )
        db.session.commit()
        return counter.id, enrolment_token, submit_secret


def _rate(page, base_url, secret, rating):
    """Submit a quick rating through the API as a partner app would, from another browser."""
    payload = {
        "id": str(uuid.uuid4()),
        "questionnaire": "quick-rating",
        "version": 1,
        "unit": "P-W1",
        "counter": "Q1",
        "answers": {"rating": rating},
    }
    status = page.evaluate(
        """async ([url, body, key]) => (await fetch(url, {method: "POST", headers: {"Content-Type": "application/json", "Authorization": "Bearer " + key}, body})).status""",
        [f"{base_url}/api/v1/responses", json.dumps(payload), secret],
    )
    assert status == 201


def test_a_manager_sees_a_new_rating_within_ten_seconds(live_server, new_context):
    counter_id, enrolment_token, submit_secret = _setup(live_server.app)
    live_server.app.config.update(KIOSK_THANKS_SECONDS=1)
    citizen = new_context().new_page()
    citizen.goto(live_server.url + "/")
    for _ in range(3):
        _rate(citizen, live_server.url, submit_secret, 3)

    staff = new_context().new_page()
    staff.goto(live_server.url + "/login")
    staff.fill("input[name=username]", "quanly")
    staff.fill("input[name=password]", PASSWORD)
    staff.click("button[type=submit]")
    staff.wait_for_url(re.compile(r"/staff/"))
    staff.goto(live_server.url + "/staff/?questionnaire=quick-rating&period=today")
    expect(staff.locator("tr[data-unit='P-W1'] td[data-n]")).to_have_text("3")

    staff.click("tr[data-unit='P-W1'] a")
    staff.click("tr[data-counter='Q1'] a")
    expect(staff).to_have_url(re.compile(rf"/staff/counters/{counter_id}"))
    count = staff.locator("#live-figures .headline-figure [data-n]")
    expect(count).to_have_text("3")

    tablet = new_context(viewport={"width": 1280, "height": 800}, has_touch=True).new_page()
    tablet.goto(f"{live_server.url}/kiosk/enrol/{enrolment_token}")
    tablet.wait_for_url(f"{live_server.url}/kiosk/")
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    tablet.locator(".k-option").nth(2).tap()  # Rất hài lòng
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    expect(count).to_have_text("4", timeout=10_000)


def test_a_dashboard_whose_session_ended_goes_to_the_sign_in_page(live_server, new_context):
    """Signed out from another device (or idle, or past 8 hours): the page refreshing itself is
    sent to the sign-in page instead of keeping figures nobody may see any more."""
    from sqlalchemy import update

    from survey_app.models import StaffSession
    from survey_app.timeutil import utcnow

    _setup(live_server.app)
    staff = new_context().new_page()
    staff.goto(live_server.url + "/login")
    staff.fill("input[name=username]", "quanly")
    staff.fill("input[name=password]", PASSWORD)
    staff.click("button[type=submit]")
    staff.wait_for_url(re.compile(r"/staff/"))
    expect(staff.locator("#live-figures")).to_be_visible()
    with live_server.app.app_context():
        db.session.execute(update(StaffSession).values(ended_at=utcnow()))
        db.session.commit()
    staff.wait_for_url(re.compile(r"/login"), timeout=15_000)
    expect(staff.locator("input[name=username]")).to_be_visible()
