"""Pages citizens reach (a poster's or a dossier's form, its thanks, the annual form, and their
error pages) link only to pages of their own: never to the front page, whose links open the
API's raw JSON, nor to anything for staff."""

import re

from survey_app.extensions import db
from survey_app.services.annual import create_link
from survey_app.services.qr_codes import create_poster_code, issue_dossier_token

CITIZEN = ("/r/", "/d/", "/qr/", "/a/", "/static/")


def links(html: str) -> list[str]:
    return re.findall(r'<a\b[^>]*\bhref="([^"]*)"', html)


def test_citizen_pages_link_only_to_citizen_pages(app, client, tree):
    poster = create_poster_code(tree.ward, tree.q1).code
    token = issue_dossier_token("H-1", tree.ward, tree.q1, secret_key=app.config["SECRET_KEY"])
    link = create_link(tree.ward, 2025).code
    db.session.commit()
    client.post(f"/a/{link}")  # a draft, so that page 1 opens
    pages = [
        f"/r/{poster}",
        f"/d/{token.token}",
        "/qr/thanks",
        f"/a/{link}",
        f"/a/{link}/page/1",
        f"/a/{link}/thanks",
        "/r/NOSUCH22",  # unknown poster
        "/d/not-a-token",
        "/a/NOSUCH22",  # unknown annual link: the error page
    ]
    for path in pages:
        page = client.get(path)
        assert page.status_code in (200, 404), path
        html = page.get_data(as_text=True)
        assert "Khảo sát sự hài lòng" in html, path  # the site's name is still shown
        for href in links(html):
            assert href.startswith(("?lang=", "#", *CITIZEN)), (path, href)


def test_staff_pages_keep_the_link_to_the_front_page(client):
    assert 'href="/"' in client.get("/login").get_data(as_text=True)
