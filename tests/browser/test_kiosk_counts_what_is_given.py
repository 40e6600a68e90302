"""The kiosk counts every answer a citizen gives, as given, and nothing they did not give: a double
tap answers and skips nothing, a sad face counts on its first tap, a long form left unfinished
is kept (after asking whether the citizen is still there), Next and Send are always in view,
and sending nothing says so. Tablets in both orientations, with touch."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from survey_app.extensions import db
from survey_app.models import Answer, Kiosk
from survey_app.services.kiosks import revoke_kiosk
from tests.browser.test_kiosk import (
    committed_responses,
    new_kiosk,
    outbox,
    wait_for_responses,
)

LANDSCAPE = {"viewport": {"width": 1280, "height": 800}, "has_touch": True}
PORTRAIT = {"viewport": {"width": 800, "height": 1280}, "has_touch": True}
SMALL_LANDSCAPE = {"viewport": {"width": 1024, "height": 768}, "has_touch": True}


def enrol(new_context, base: str, token: str, device: dict) -> Page:
    tablet = new_context(**device).new_page()
    tablet.goto(f"{base}/kiosk/enrol/{token}")
    tablet.wait_for_url(f"{base}/kiosk/")
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    return tablet


def answers_of(response) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Answer.question_key, Answer.value).where(Answer.response_id == response.id)
    ).all()
    return dict(rows)


def double_tap(tablet: Page, selector: str, gap_seconds: float) -> None:
    """Two taps at the same point, `gap_seconds` apart, as a hurried finger does."""
    box = tablet.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tablet.touchscreen.tap(x, y)
    time.sleep(gap_seconds)
    tablet.touchscreen.tap(x, y)


@pytest.mark.parametrize("device", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
@pytest.mark.parametrize("gap", [0.08, 0.25], ids=["80ms", "250ms"])
def test_a_double_tap_on_next_answers_nothing_and_skips_no_page(
    fast, new_context, place, device, gap
):
    _, counter = place
    _, token = new_kiosk(counter, "sipas-counter")
    fast.app.config["KIOSK_IDLE_SECONDS"] = 60
    tablet = enrol(new_context, fast.url, token, device)
    given: dict[str, int] = {}
    for step in range(1, 7):
        expect(tablet.locator("#k-step")).to_have_text(f"Bước {step}/6")
        questions = tablet.locator(".k-question[data-question]")
        for i in range(questions.count()):
            question = questions.nth(i)
            key = question.get_attribute("data-question")
            if not key.startswith("c9_"):
                continue
            value = 2 if i % 2 else 3  # never the option a stray tap would land on by chance
            question.locator(f".k-option[data-value='{value}']").tap()
            given[key] = value
        time.sleep(0.7)  # a person reads the page before moving on
        double_tap(tablet, "#k-send" if step == 6 else "#k-next", gap)
        if step < 6:
            # The second tap skipped nothing: this is the next page, not the one after.
            expect(tablet.locator("#k-step")).to_have_text(f"Bước {step + 1}/6")
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    [stored] = wait_for_responses(1)
    assert answers_of(stored) == given  # nothing the test did not give
    assert stored.complete is True
    time.sleep(0.5)
    assert len(committed_responses()) == 1


def test_a_sad_face_counts_on_its_first_tap(fast, new_context, place):
    """A dissatisfied citizen who taps the sad face and leaves is counted, as a satisfied one is:
    the rating is kept at once and sent when the screen resets."""
    _, counter = place
    _, token = new_kiosk(counter, "quick-rating")
    tablet = enrol(new_context, fast.url, token, LANDSCAPE)
    expect(tablet.locator("#k-progress")).to_be_hidden()  # one screen: no "Bước 1/1"
    tablet.locator(".k-option[data-question=rating][data-value='1']").tap()
    expect(tablet.locator(".k-option[data-question=reasons]")).to_have_count(6)
    # Kept on the tablet already, before anything else is touched.
    [kept] = outbox(tablet)
    assert kept["answers"] == {"rating": 1}
    # The citizen walks away.
    expect(tablet.locator(".k-option[data-question=reasons]")).to_have_count(0, timeout=6000)
    [stored] = wait_for_responses(1)
    assert answers_of(stored) == {"rating": 1} and stored.complete is True


def test_a_tablet_switched_off_with_a_rating_given_still_delivers_it(fast, new_context, place):
    _, counter = place
    _, token = new_kiosk(counter, "quick-rating")
    fast.app.config["KIOSK_IDLE_SECONDS"] = 60
    tablet = enrol(new_context, fast.url, token, LANDSCAPE)
    tablet.locator(".k-option[data-question=rating][data-value='1']").tap()
    expect(tablet.locator(".k-option[data-question=reasons]")).to_have_count(6)
    tablet.reload()  # the page closes while the citizen is at the reasons
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    [stored] = wait_for_responses(1)
    assert answers_of(stored) == {"rating": 1}


def test_an_unfinished_long_form_asks_first_then_is_kept_as_incomplete(fast, new_context, place):
    _, counter = place
    _, token = new_kiosk(counter, "sipas-counter")
    fast.app.config.update(KIOSK_IDLE_SECONDS=2, KIOSK_PROMPT_SECONDS=3)
    tablet = enrol(new_context, fast.url, token, LANDSCAPE)
    tablet.locator(".k-option[data-question=c9_24][data-value='4']").tap()
    tablet.locator(".k-option[data-question=c9_25][data-value='5']").tap()
    prompt = tablet.locator("#k-prompt")
    expect(prompt).to_be_visible(timeout=5000)
    expect(prompt).to_contain_text("Ông/Bà còn tiếp tục không?")
    tablet.locator("#k-go-on").tap()  # still here: nothing is lost, nothing sent
    expect(prompt).to_have_count(0)
    expect(tablet.locator(".k-option[aria-pressed=true]")).to_have_count(2)
    assert committed_responses() == []
    # Then the citizen leaves: after the countdown, what was answered is sent, marked
    # incomplete, and the next citizen starts from nothing.
    expect(prompt).to_be_visible(timeout=5000)
    expect(prompt).to_have_count(0, timeout=6000)
    expect(tablet.locator(".k-option[aria-pressed=true]")).to_have_count(0)
    expect(tablet.locator("#k-step")).to_have_text("Bước 1/6")
    [stored] = wait_for_responses(1)
    assert answers_of(stored) == {"c9_24": 4, "c9_25": 5}
    assert stored.complete is False


@pytest.mark.parametrize(
    "device", [LANDSCAPE, SMALL_LANDSCAPE, PORTRAIT], ids=["1280x800", "1024x768", "portrait"]
)
def test_next_and_send_are_in_view_on_every_page_without_scrolling(
    fast, new_context, place, device
):
    _, counter = place
    _, token = new_kiosk(counter, "sipas-counter")
    fast.app.config["KIOSK_IDLE_SECONDS"] = 60
    tablet = enrol(new_context, fast.url, token, device)
    height = device["viewport"]["height"]
    for step in range(1, 7):
        expect(tablet.locator("#k-step")).to_have_text(f"Bước {step}/6")
        button = tablet.locator("#k-send" if step == 6 else "#k-next")
        box = button.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (step, box)
        # Nothing of the page hides under the bar: its last question scrolls clear of it.
        last = tablet.locator(".k-question").last
        last.scroll_into_view_if_needed()
        bar = tablet.locator(".k-nav").bounding_box()
        tablet.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        assert last.bounding_box()["y"] + last.bounding_box()["height"] <= bar["y"] + 1
        if step < 6:
            time.sleep(0.7)
            button.tap()


def test_sending_with_nothing_answered_says_so(fast, new_context, place):
    _, counter = place
    _, token = new_kiosk(counter, "sipas-counter")
    fast.app.config["KIOSK_IDLE_SECONDS"] = 60
    tablet = enrol(new_context, fast.url, token, LANDSCAPE)
    for _ in range(5):
        time.sleep(0.7)
        tablet.locator("#k-next").tap()
    expect(tablet.locator("#k-step")).to_have_text("Bước 6/6")
    time.sleep(0.7)
    tablet.locator("#k-send").tap()
    expect(tablet.locator("#k-nav-note")).to_contain_text("chưa trả lời câu hỏi nào")
    expect(tablet.locator("body")).to_have_attribute("data-state", "question")
    assert committed_responses() == []


def test_a_citizen_is_thanked_even_when_the_kiosk_was_revoked(fast, new_context, place):
    """The notice for staff comes after the citizen's thanks, never instead of it; the rating
    stays queued for when the tablet is enrolled again."""
    _, counter = place
    kiosk_id, token = new_kiosk(counter, "quick-rating")
    fast.app.config["KIOSK_THANKS_SECONDS"] = 3
    tablet = enrol(new_context, fast.url, token, LANDSCAPE)
    revoke_kiosk(db.session.get(Kiosk, kiosk_id))
    db.session.commit()
    tablet.locator(".k-option[data-value='2']").tap()
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    expect(tablet.locator("body")).to_have_attribute("data-queue", "1", timeout=3000)
    expect(tablet.locator("body")).to_have_attribute("data-state", "thanks")
    expect(tablet.locator("body")).to_have_attribute("data-state", "revoked", timeout=6000)
    assert committed_responses() == []
