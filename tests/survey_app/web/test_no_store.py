"""`Cache-Control: no-store` on every dynamic answer: staff pages, exports (CSV, XLSX), reports,
the audit log, the JSON report and the staff API. Checked on the whole URL map, signed in as an
administrator (who reaches every view); a response that sets its own policy on purpose is named
in OWN_POLICY with the reason."""

import pytest

from survey_app import create_app
from tests.conftest import make_config
from tests.survey_app.web import authorisation_support as support

ROUTES = [r for r in support.routes_of(create_app(make_config("sqlite://"))) if "GET" in r.methods]
# Endpoints whose views choose their own Cache-Control, and why.
OWN_POLICY = {
    "static": "files: 'no-cache' with an ETag (Flask), revalidated on each use",
    "kiosk.screen": "the kiosk's shell: 'no-cache', so that an offline tablet still starts",
    "kiosk.service_worker": "'no-cache': browsers check a service worker for updates anyway",
}
# Every export and report format a URL argument can name.
FORMATS = {"fmt": ("csv", "xlsx"), "report_format": ("csv", "xlsx", "json", "print")}


def urls_of(app, route, world) -> list[str]:
    """The route's URL with sample values, once for each format it serves."""
    values = support.url_values(route, world, inside=True)
    variants = [values]
    for name, formats in FORMATS.items():
        if name in values:
            variants = [{**v, name: f} for v in variants for f in formats]
    with app.test_request_context():
        from flask import url_for

        return [url_for(route.endpoint, **v) for v in variants]


def test_every_dynamic_answer_says_no_store(app, tree):
    world = support.build_world(tree)
    client = support.sign_in(app, world, "administrator")
    cached, served_types, own = [], set(), {}
    for route in ROUTES:
        for url in urls_of(app, route, world):
            response = support.send(client, "GET", url)
            if response.status_code != 200:
                continue
            policy = response.headers.get("Cache-Control", "")
            if route.endpoint in OWN_POLICY:
                own[route.endpoint] = policy
                continue
            served_types.add(response.mimetype)
            if "no-store" not in policy:
                cached.append(f"{url} ({response.mimetype}): Cache-Control {policy!r}")
    assert not cached, "cacheable answers:\n" + "\n".join(cached)
    # The walk reached every kind of answer, and the exceptions set their own policy.
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert {"text/html", "text/csv", "application/json", xlsx} <= served_types, served_types
    assert all(own.values()) and set(own) == set(OWN_POLICY), own


@pytest.mark.parametrize("status", [404, 401])
def test_error_answers_say_no_store_too(client, status):
    url = "/staff/no-such-page" if status == 404 else "/api/v1/figures"
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
