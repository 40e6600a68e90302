"""The counter kiosk in headless Chromium: enrolment, both questionnaires by touch, the idle reset
that leaves no trace, the English switch, double taps, offline queueing with exactly-once
delivery and the original times, revocation, and an axe-core accessibility check.

axe-core is vendored (tests/browser/vendor/axe.min.js, MPL-2.0, see vendor/README.md) and
evaluated in the page under test (page.evaluate, so that the app's CSP stays on); the app
never serves it.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from survey_app.extensions import db
from survey_app.models import Answer, Kiosk, Questionnaire, Response
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.kiosks import create_kiosk, revoke_kiosk
from survey_app.services.rollup import settle_pending

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
PASSWORD = "correct horse battery"
TABLET = {"viewport": {"width": 1280, "height": 800}, "has_touch": True}


def new_kiosk(counter, questionnaire: str) -> tuple[int, str]:
    kiosk, token = create_kiosk(
        counter=counter, questionnaire_key=questionnaire, name="Tablet", created_by=None
    )
    db.session.commit()
    return kiosk.id, token


def enrol_tablet(new_context, base: str, token: str) -> Page:
    """Open the enrolment link on a fresh 'tablet'; wait for the first question."""
    tablet = new_context(**TABLET).new_page()
    tablet.goto(f"{base}/kiosk/enrol/{token}")
    tablet.wait_for_url(f"{base}/kiosk/")
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    return tablet


def committed_responses() -> list[Response]:
    """What the server committed, with its answers settled (services/rollup.py). Read first,
    settled second: a response committed between the two would otherwise come unsettled."""
    db.session.rollback()
    ids = list(db.session.scalars(sa.select(Response.id).order_by(Response.submitted_at)))
    settle_pending()
    return [db.session.get(Response, response_id) for response_id in ids]


def wait_for_responses(n: int, timeout: float = 10.0) -> list[Response]:
    deadline = time.monotonic() + timeout
    while True:
        rows = committed_responses()
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def check_accessibility(page: Page, what: str) -> None:
    # Evaluated through the DevTools protocol: the app's CSP (no inline script) stays in force for
    # the page itself, which add_script_tag's inline <script> would need relaxed.
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, f"axe found serious violations on {what}: {serious}"


def outbox(page: Page) -> list[dict]:
    return page.evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open("survey-kiosk");
            open.onsuccess = () => {
              const request = open.result.transaction("outbox").objectStore("outbox").getAll();
              request.onsuccess = () => { resolve(request.result.map(r => r.payload)); open.result.close(); };
              request.onerror = () => reject(request.error);
            };
          })"""
    )


def storage_snapshot(page: Page) -> dict:
    """Everything the page keeps in storage, by place."""
    return page.evaluate(
        """async () => {
            const open = await new Promise(r => { const o = indexedDB.open("survey-kiosk"); o.onsuccess = () => r(o.result); });
            const stores = {};
            for (const name of open.objectStoreNames) {
              stores[name] = await new Promise(r => { const q = open.transaction(name).objectStore(name).getAllKeys(); q.onsuccess = () => r(q.result); });
            }
            open.close();
            const databases = (await indexedDB.databases()).map(d => d.name);
            return {stores, databases, local: Object.keys(localStorage), session: Object.keys(sessionStorage),
                    history: history.length, cookies: document.cookie};
          }"""
    )


# --- enrolment by staff, then the quick rating ---------------------------------------------------


def test_staff_enrol_a_kiosk_and_a_citizen_rates_with_one_tap(live_server, new_context, place):
    ward, counter = place
    account = create_account("manager", PASSWORD, display_name="Manager")
    add_scope(account, ward, "manager")
    db.session.commit()
    staff = new_context().new_page()
    staff.goto(f"{live_server.url}/login")
    staff.fill("#username", "manager")
    staff.fill("#password", PASSWORD)
    staff.locator("form button[type=submit]").click()
    staff.goto(f"{live_server.url}/staff/kiosks/")
    staff.select_option("#counter", str(counter.id))
    staff.select_option("#questionnaire", "quick-rating")
    staff.fill("#name", "Máy tính bảng quầy 1")
    staff.locator("#kiosk-create button[type=submit]").click()
    url = staff.locator("#enrolment-url").get_attribute("href")
    expect(staff.locator("img.qr")).to_be_visible()
    assert "/kiosk/enrol/" in url

    tablet = new_context(**TABLET).new_page()
    tablet.goto(url)
    tablet.wait_for_url(f"{live_server.url}/kiosk/")
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    expect(tablet.locator("#k-unit")).to_have_text("Phường An Lạc")
    expect(tablet.locator("#k-counter")).to_have_text("Quầy 1 – Hộ tịch")
    expect(tablet.locator("html")).to_have_attribute("lang", "vi")
    buttons = tablet.locator(".k-option")
    expect(buttons).to_have_count(3)
    expect(buttons.nth(0)).to_contain_text("Không hài lòng")
    expect(buttons.nth(0).locator("img")).to_have_attribute("src", re.compile(r"faces/sad\.svg$"))
    for box in (buttons.nth(i).bounding_box() for i in range(3)):
        assert box["height"] >= 48 and box["width"] >= 48
    check_accessibility(tablet, "the quick-rating screen")

    buttons.nth(1).tap()
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    check_accessibility(tablet, "the thank-you screen")
    [stored] = wait_for_responses(1)
    kiosk = db.session.scalar(sa.select(Kiosk))
    questionnaire = db.session.get(Questionnaire, stored.questionnaire_id)
    assert (stored.channel, stored.unit_id, stored.counter_id, stored.kiosk_id) == (
        "kiosk",
        ward.id,
        counter.id,
        kiosk.id,
    )
    assert (questionnaire.key, questionnaire.version) == ("quick-rating", 1)
    assert db.session.scalar(sa.select(Answer.value).where(Answer.response_id == stored.id)) == 2

    staff.goto(f"{live_server.url}/staff/kiosks/")
    row = staff.locator(f"tr[data-kiosk-id='{kiosk.id}']")
    expect(row).to_have_attribute("data-status", "active")
    expect(row).to_contain_text("kiosk-1")


def test_dissatisfied_asks_the_reasons_then_sends(fast, new_context, place):
    _, counter = place
    _, token = new_kiosk(counter, "quick-rating")
    tablet = enrol_tablet(new_context, fast.url, token)
    tablet.locator(".k-option[data-question=rating][data-value='1']").tap()
    reasons = tablet.locator(".k-option[data-question=reasons]")
    expect(reasons).to_have_count(6)
    check_accessibility(tablet, "the reasons follow-up")
    reasons.nth(0).tap()
    reasons.nth(2).tap()
    tablet.locator("textarea").fill("Chờ lâu")
    tablet.locator("#k-send").tap()
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    [stored] = wait_for_responses(1)
    answers = db.session.execute(
        sa.select(Answer.question_key, Answer.value, Answer.text).where(
            Answer.response_id == stored.id
        )
    ).all()
    assert sorted(answers, key=str) == sorted(
        [
            ("rating", 1, None),
            ("reasons", 1, None),
            ("reasons", 3, None),
            ("reason_text", None, "Chờ lâu"),
        ],
        key=str,
    )


# --- sipas-counter: a factor per screen ----------------------------------------------------------


def test_sipas_counter_one_factor_per_screen_with_progress(fast, new_context, place):
    ward, counter = place
    _, token = new_kiosk(counter, "sipas-counter")
    tablet = enrol_tablet(new_context, fast.url, token)
    fast.app.config["KIOSK_IDLE_SECONDS"] = 30
    expect(tablet.locator("#k-step")).to_have_text("Bước 1/6")
    expect(tablet.locator("#k-heading")).to_have_text("A. Tiếp cận dịch vụ")
    expect(tablet.locator(".k-question").first).to_contain_text(
        "Bộ phận Một cửa UBND phường An Lạc"
    )
    check_accessibility(tablet, "a sipas-counter factor screen")
    for step in range(1, 7):
        expect(tablet.locator("#k-step")).to_have_text(f"Bước {step}/6")
        questions = tablet.locator(".k-question .k-options")
        for i in range(questions.count()):
            questions.nth(i).locator(".k-option[data-value='4']").tap()
        expect(tablet.locator(".k-option[aria-pressed=true]")).to_have_count(questions.count())
        tablet.locator("#k-send" if step == 6 else "#k-next").tap()
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    [stored] = wait_for_responses(1)
    values = db.session.scalars(
        sa.select(Answer.value).where(Answer.response_id == stored.id)
    ).all()
    assert len(values) == 17 and set(values) == {4}
    questionnaire = db.session.get(Questionnaire, stored.questionnaire_id)
    assert (questionnaire.key, questionnaire.version, stored.channel) == (
        "sipas-counter",
        1,
        "kiosk",
    )
    assert (stored.unit_id, stored.counter_id) == (ward.id, counter.id)


# --- the next citizen sees nothing of the previous one -----------------------------------------


def test_idle_reset_and_english_switch_leave_no_trace(fast, new_context, place):
    _, counter = place
    _, token = new_kiosk(counter, "sipas-counter")
    fast.app.config["KIOSK_PROMPT_SECONDS"] = 1
    tablet = enrol_tablet(new_context, fast.url, token)
    tablet.locator(".k-option[data-question=c9_24][data-value='2']").tap()
    tablet.locator("#k-lang").tap()
    expect(tablet.locator("html")).to_have_attribute("lang", "en")
    expect(tablet.locator("#k-heading")).to_have_text("A. Access to the service")
    expect(tablet.locator("#k-unit")).to_have_text("An Lac Ward")
    expect(tablet.locator(".k-question").first).to_contain_text("the one-stop shop of An Lac Ward")
    expect(tablet.locator(".k-option[data-question=c9_24][data-value='2']")).to_have_attribute(
        "aria-pressed", "true"
    )
    check_accessibility(tablet, "the English screen")
    tablet.locator("#k-next").tap()
    expect(tablet.locator("#k-step")).to_have_text("Step 2 of 6")

    # The citizen walks away: after the idle time and the question whether they are still
    # there, the start screen is back, in Vietnamese; the one answer given is sent, unfinished.
    expect(tablet.locator("#k-step")).to_have_text("Bước 1/6", timeout=8000)
    expect(tablet.locator("html")).to_have_attribute("lang", "vi")
    expect(tablet.locator(".k-option[aria-pressed=true]")).to_have_count(0)
    expect(tablet.locator("body")).to_have_attribute("data-queue", "0", timeout=6000)
    snapshot = storage_snapshot(tablet)
    assert snapshot["stores"]["outbox"] == [] and snapshot["stores"]["rejected"] == []
    assert set(snapshot["stores"]["device"]) == {"credential", "config", "definition"}
    assert snapshot["databases"] == ["survey-kiosk"]
    assert snapshot["local"] == [] and snapshot["session"] == [] and snapshot["cookies"] == ""
    # Back has nowhere to go: the page stays the kiosk.
    tablet.go_back()
    assert tablet.url.endswith("/kiosk/")
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    [stored] = wait_for_responses(1)
    assert stored.complete is False
    answers = db.session.execute(
        sa.select(Answer.question_key, Answer.value).where(Answer.response_id == stored.id)
    ).all()
    assert answers == [("c9_24", 2)]


def test_quick_rating_follow_up_is_sent_as_given_when_idle(fast, new_context, place):
    """A dissatisfied citizen who starts on the reasons and walks away counts as what they gave;
    the next citizen sees none of it."""
    _, counter = place
    _, token = new_kiosk(counter, "quick-rating")
    tablet = enrol_tablet(new_context, fast.url, token)
    tablet.locator(".k-option[data-question=rating][data-value='1']").tap()
    tablet.locator(".k-option[data-question=reasons]").first.tap()
    tablet.locator("textarea").fill("riêng tư")
    expect(tablet.locator("textarea")).to_have_count(0, timeout=6000)
    expect(tablet.locator(".k-option[aria-pressed=true]")).to_have_count(0)
    assert "riêng tư" not in tablet.content()
    [stored] = wait_for_responses(1)
    answers = db.session.execute(
        sa.select(Answer.question_key, Answer.value, Answer.text).where(
            Answer.response_id == stored.id
        )
    ).all()
    assert sorted(answers, key=str) == sorted(
        [("rating", 1, None), ("reasons", 1, None), ("reason_text", None, "riêng tư")], key=str
    )
    assert stored.complete is True


def test_a_double_tap_gives_one_response(fast, new_context, place):
    _, counter = place
    _, token = new_kiosk(counter, "quick-rating")
    tablet = enrol_tablet(new_context, fast.url, token)
    tablet.locator(".k-option[data-value='3']").dblclick()
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    expect(tablet.locator("body")).to_have_attribute("data-state", "question", timeout=4000)
    time.sleep(0.5)
    assert len(wait_for_responses(1)) == 1
    time.sleep(0.5)
    assert len(committed_responses()) == 1


# --- offline: queued, then delivered exactly once with the original times ------------------------


def test_offline_three_citizens_are_delivered_once_with_their_times(fast, new_context, place):
    _, counter = place
    _, token = new_kiosk(counter, "quick-rating")
    tablet = enrol_tablet(new_context, fast.url, token)
    # The service worker caches the page and assets first; on a loaded CI machine that can take
    # longer than the suite's 5 s default.
    expect(tablet.locator("body")).to_have_attribute("data-offline", "ready", timeout=20_000)
    context = tablet.context
    context.set_offline(True)
    for value in ("3", "2", "3"):
        tablet.locator(f".k-option[data-value='{value}']").tap()
        expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
        expect(tablet.locator("body")).to_have_attribute("data-state", "question", timeout=4000)
    expect(tablet.locator("body")).to_have_attribute("data-queue", "3")
    queued = outbox(tablet)
    assert len(queued) == 3 and len({p["id"] for p in queued}) == 3
    # The page and its assets still load with the network down (service worker cache).
    tablet.reload()
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    expect(tablet.locator("body")).to_have_attribute("data-queue", "3")
    assert committed_responses() == []
    time.sleep(1.2)  # so that arrival is clearly later than answering

    context.set_offline(False)
    expect(tablet.locator("body")).to_have_attribute("data-queue", "0", timeout=15000)
    stored = wait_for_responses(3)
    assert len(stored) == 3
    given = {uuid.UUID(p["id"]): datetime.fromisoformat(p["submitted_at"]) for p in queued}
    assert {r.id: r.submitted_at for r in stored} == given
    assert all((r.received_at - r.submitted_at).total_seconds() > 1 for r in stored)
    assert {r.channel for r in stored} == {"kiosk"}
    # A replay (the tablet did not hear the answer) stores nothing new.
    status = tablet.evaluate(
        """async (payload) => {
            const open = await new Promise(r => { const o = indexedDB.open("survey-kiosk"); o.onsuccess = () => r(o.result); });
            const credential = await new Promise(r => { const q = open.transaction("device").objectStore("device").get("credential"); q.onsuccess = () => r(q.result); });
            open.close();
            const response = await fetch("/api/v1/responses", {method: "POST", credentials: "omit",
              headers: {"Content-Type": "application/json", "Authorization": "Kiosk " + credential},
              body: JSON.stringify(payload)});
            return response.status;
          }""",
        queued[0],
    )
    assert status == 200
    assert len(committed_responses()) == 3


def test_a_page_that_loaded_uncontrolled_is_claimed_and_starts_offline(fast, new_context, place):
    """A kiosk page can load while the service worker is activating (right after enrolment): the
    worker neither serves that navigation nor claims the page in its activate step. The page then
    asks to be claimed. A hard reload, which bypasses the worker, makes such a page every time."""
    _, counter = place
    _, token = new_kiosk(counter, "quick-rating")
    tablet = enrol_tablet(new_context, fast.url, token)
    expect(tablet.locator("body")).to_have_attribute("data-offline", "ready", timeout=20_000)
    cdp = tablet.context.new_cdp_session(tablet)
    with tablet.expect_navigation():
        cdp.send("Page.reload", {"ignoreCache": True})
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    expect(tablet.locator("body")).to_have_attribute("data-offline", "ready", timeout=10_000)
    assert tablet.evaluate("navigator.serviceWorker.controller !== null")
    # Controlled, so the page starts with the network down.
    tablet.context.set_offline(True)
    tablet.reload()
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")


# --- revocation ------------------------------------------------------------------------------------


def test_a_revoked_kiosk_is_refused_and_says_it_needs_enrolment(fast, new_context, place):
    _, counter = place
    kiosk_id, token = new_kiosk(counter, "quick-rating")
    tablet = enrol_tablet(new_context, fast.url, token)
    revoke_kiosk(db.session.get(Kiosk, kiosk_id))
    db.session.commit()
    tablet.locator(".k-option[data-value='2']").tap()
    expect(tablet.locator("body")).to_have_attribute("data-state", "revoked", timeout=6000)
    expect(tablet.locator(".k-alert")).to_contain_text("đăng ký lại")
    expect(tablet.locator("body")).to_have_attribute("data-queue", "1")  # kept, not discarded
    assert committed_responses() == []
