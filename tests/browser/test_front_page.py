"""The front page in a real browser, on SQLite and on PostgreSQL."""

from playwright.sync_api import Page, expect

HEADING_VI = "Sự hài lòng của người dân đối với sự phục vụ của cơ quan hành chính nhà nước"
HEADING_EN = "Citizen satisfaction with public administrative services"
QUESTIONNAIRES = ("sipas-counter", "quick-rating", "sipas-annual")


def test_front_page_is_vietnamese_by_default_and_lists_the_questionnaires(page: Page, live_server):
    response = page.goto(f"{live_server.url}/")

    assert response is not None and response.status == 200
    expect(page.locator("html"), "the page must say it is Vietnamese").to_have_attribute(
        "lang", "vi"
    )
    expect(
        page.get_by_role("heading", level=1),
        "Vietnamese text missing: compile the translations (`make translations`)",
    ).to_have_text(HEADING_VI)
    main = page.locator("main")
    for key in QUESTIONNAIRES:
        expect(main).to_contain_text(key)
    # Each questionnaire is a link (to its API description), one per loaded questionnaire.
    links = main.locator("li a[href*='/questionnaires/']")
    expect(links).to_have_count(len(QUESTIONNAIRES))


def test_english_is_chosen_by_a_click_and_remembered(page: Page, live_server):
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING_VI)

    page.get_by_role("link", name="English", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING_EN)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="English", exact=True)).to_have_attribute(
        "aria-current", "true"
    )

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING_EN)

    # Without ?lang= in the address, the session remembers the choice.
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING_EN)

    # And switching back works the same way.
    page.get_by_role("link", name="Tiếng Việt", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING_VI)
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING_VI)


def test_front_page_loads_nothing_from_another_host(page: Page, live_server):
    """Kiosks run on closed networks: no CDN, no web font, no analytics, nothing external."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="English", exact=True).click()
    page.wait_for_load_state("networkidle")  # anything fetched after "load" too

    assert any(url.endswith(".css") for url in requested), requested  # the recorder works
    outside = [url for url in requested if not url.startswith(f"{live_server.url}/")]
    assert outside == [], f"requests to other hosts: {outside}"
