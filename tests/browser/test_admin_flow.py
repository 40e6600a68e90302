"""An administrator's round in a real browser: sign in, add a counter and a target, read the audit
log (on SQLite and on PostgreSQL)."""

import re

from playwright.sync_api import Page, expect

from survey_app.extensions import db
from survey_app.services.accounts import create_account
from survey_app.services.units import create_counter, create_unit

PASSWORD = "correct horse battery"


def _province_with_a_ward(live_server) -> int:
    with live_server.app.app_context():
        province = create_unit("HN", "Thành phố Hà Nội", name_en="Hanoi City", kind="province")
        ward = create_unit("HN-AL", "Phường An Lạc", kind="ward", parent=province)
        create_counter(ward, "Q1", "Quầy 1 – Hộ tịch")
        create_account("quantri", PASSWORD, display_name="Quản trị viên", is_administrator=True)
        db.session.commit()
        return ward.id


def test_an_administrator_adds_a_counter_and_a_target_and_sees_them_audited(
    page: Page, live_server
):
    ward_id = _province_with_a_ward(live_server)

    # Straight to the administration pages (the dashboard is not what this test is about).
    page.goto(f"{live_server.url}/login?next=/staff/admin/units")
    page.locator("#username").fill("quantri")
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator(".staff-nav .who")).to_have_text("Quản trị viên")

    # The unit, through the tree.
    expect(page).to_have_url(re.compile(r"/staff/admin/units$"))
    page.get_by_role("link", name="Phường An Lạc", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/staff/admin/units/{ward_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Phường An Lạc")

    # A counter.
    counters = page.locator("#counters")
    counters.locator("#counter-code").fill("Q2")
    counters.locator("#counter-name_vi").fill("Quầy 2 – Đất đai")
    counters.locator("#counter-name_en").fill("Counter 2 – Land")
    counters.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/staff/admin/units/{ward_id}#counters$"))
    expect(page.locator("#counters table")).to_contain_text("Quầy 2 – Đất đai")
    expect(page.locator(".notice")).to_contain_text("Q2")

    # A target: 90 % for the ward, from the province's plan.
    page.locator(".staff-nav a[href$='/staff/admin/targets']").click()
    page.locator("a[href$='/staff/admin/targets/new']").click()
    page.locator("#metric").fill("headline")
    page.locator("#threshold").fill("90")
    page.locator("#unit").select_option(str(ward_id))
    page.locator("#period_kind").select_option("year")
    page.locator("#source_document").fill("KH 226/KH-UBND")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff/admin/targets$"))
    row = page.locator("main table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("KH 226/KH-UBND")
    expect(row).to_contain_text("≥ 90 %")
    expect(row).to_contain_text("Phường An Lạc")

    # The audit log, newest first.
    page.locator(".staff-nav a[href$='/staff/admin/audit']").click()
    actions = page.locator("table.audit tbody tr td:nth-child(3)")
    expect(actions).to_have_text(["target.create", "counter.create", "login"])
    expect(page.locator("table.audit tbody tr").first).to_contain_text("KH 226/KH-UBND")
    expect(page.locator("table.audit tbody tr").nth(1)).to_contain_text("HN-AL")
    expect(page.locator("table.audit tbody")).to_contain_text("quantri")
