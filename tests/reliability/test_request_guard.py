"""Hostile parameters on every route of the URL map, anonymous and signed in as an administrator
(who reaches every view), on SQLite and PostgreSQL:

- NUL, CR/LF and overlong values in each path parameter, in query parameters (ones the views
  read and one that none does; in the value and in the key), a parameter given twice, and too
  many parameters: a 4xx, and no row changes;
- NUL in each form field of a POST, and in every string of a JSON body: a 4xx, no row changes;
- a number too large for any INTEGER column in each numeric path parameter: a 4xx; in other
  path parameters and in a query parameter, and CR/LF, overlong values and that number in every
  form field: never a 5xx (a textarea holds line breaks, and each form judges its own fields).

The guard is survey_app/web/request_guard.py. The cases are read from the URL map as in
tests/survey_app/web/test_authorisation.py (authorisation_support.py has the sample values).
"""

import re
from urllib.parse import quote

import pytest

from survey_app import create_app
from survey_app.web.request_guard import MAX_QUERY_PARAMETERS, MAX_VALUE_LENGTH
from tests.conftest import make_config
from tests.survey_app.web import authorisation_support as support
from tests.survey_app.web.authorisation_support import Route

ROUTES = support.routes_of(create_app(make_config("sqlite://")))
ACTORS = ("anonymous", "administrator")
REFUSED = {
    "NUL": "a\x00b",
    "CR/LF": "/staff/\r\nSet-Cookie: taken=1",
    "overlong": "7" * (MAX_VALUE_LENGTH + 1),
}
# Short, but beyond any INTEGER column: ids, years and versions are parsed from text.
HUGE_NUMBER = "9" * 20
# Query parameters the views read, and one that none does.
QUERY_NAMES = ("next", "unit", "period", "year", "lang", "q", "anything")
ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


@pytest.fixture
def world(app, tree) -> support.World:
    return support.build_world(tree)


def url_with(route: Route, values: dict[str, object]) -> str:
    """The route's rule with each argument replaced by its value, percent-encoded as is (no
    converter checks it, unlike url_for)."""
    return ARGUMENT.sub(lambda m: quote(str(values[m.group(1)]), safe=""), route.rule)


def hostile_requests(route: Route, samples: dict[str, object]):
    """(what, url, query, refused) for the route: `refused` when the answer must be a 4xx."""
    for argument in route.arguments:
        for kind, value in REFUSED.items():
            url = url_with(route, {**samples, argument: value})
            yield f"{kind} in the path parameter {argument}", url, None, True
        url = url_with(route, {**samples, argument: HUGE_NUMBER})
        is_number = f"<int:{argument}>" in route.rule  # no such id; elsewhere a mere string
        yield f"a number too large in the path parameter {argument}", url, None, is_number
    plain = url_with(route, samples)
    for name in QUERY_NAMES:
        for kind, value in REFUSED.items():
            yield f"{kind} in ?{name}=", plain, [(name, value)], True
            yield f"{kind} in the query key {name}…", plain, [(name + value, "1")], True
        yield f"?{name}= given twice", plain, [(name, "1"), (name, "2")], True
        yield f"a number too large in ?{name}=", plain, [(name, HUGE_NUMBER)], False
    many = [(f"p{n}", "1") for n in range(MAX_QUERY_PARAMETERS + 1)]
    yield f"{len(many)} query parameters", plain, many, True


def describe(actor: str, what: str, method: str, url: str, response) -> str:
    body = response.get_data().decode("utf-8", "replace")[:200].replace("\n", " ")
    shown = url if len(url) < 100 else url[:97] + "…"
    return f"{actor}, {what}: {method} {shown!r} -> {response.status_code}; body: {body!r}"


def refused_forms(client, route: Route, url: str):
    """(what, form fields or JSON body) with NUL in each field, and in every string of a JSON
    body for the API; and the fields themselves, as the page offers them."""
    fields = support.filled_form(client, url) or [(name, "1") for name in support.ID_FIELDS]
    fields = [*fields, ("anything", "1")]
    cases = [
        (
            f"NUL in the field {name}",
            [(n, "a\x00b" if i == index else v) for i, (n, v) in enumerate(fields)],
        )
        for index, (name, _) in enumerate(fields)
    ]
    if route.is_api:
        cases.append(("NUL in a JSON body", {name: "a\x00b" for name, _ in fields}))
    return cases, fields


def send_form(client, url: str, body):
    if isinstance(body, dict):
        return client.post(url, json=body)
    return support.send(client, "POST", url, body)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.endpoint)
def test_hostile_parameters_are_a_4xx_and_change_nothing(app, world, route: Route):
    samples = support.url_values(route, world, inside=True)
    url = url_with(route, samples)
    failures: list[str] = []
    for actor in ACTORS:
        client = support.sign_in(app, world, actor)
        for method in route.methods:
            support.restore_inside(route, world)
            cases = list(hostile_requests(route, samples))
            before = support.row_counts()
            for what, target, query in (c[:3] for c in cases if c[3]):
                response = support.send(client, method, target, query=query)
                if not 400 <= response.status_code < 500:
                    failures.append(describe(actor, what, method, target, response))
            fields = []
            if method == "POST":
                forms, fields = refused_forms(client, route, url)
                for what, body in forms:
                    response = send_form(client, url, body)
                    if not 400 <= response.status_code < 500:
                        failures.append(describe(actor, what, method, url, response))
            changed = support.differences(before, support.row_counts())
            if changed:
                failures.append(
                    f"{actor} {method} {route.rule}: refused, yet rows changed {changed}"
                )
            # Tolerated: the views judge these (and may store a form); never a 5xx. Last, as
            # they may sign the administrator out or delete the sample objects.
            tolerated = [
                (what, url, query, None) for what, _, query, refused in cases if not refused
            ]
            if method == "POST":
                tolerated += [
                    (f"{kind} in every field", url, None, [(n, value) for n, _ in fields])
                    for kind, value in (
                        ("CR/LF", REFUSED["CR/LF"]),
                        ("overlong", REFUSED["overlong"]),
                        ("a number too large", HUGE_NUMBER),
                    )
                ]
            for what, target, query, data in tolerated:
                response = support.send(client, method, target, data or (), query=query)
                if response.status_code >= 500:
                    failures.append(describe(actor, what, method, target, response))
    assert not failures, "\n".join(failures)


# --- the guard's answers, one by one ------------------------------------------------------------


def test_a_line_break_in_next_is_a_400_naming_it_even_when_signed_in(app, world):
    """Signed in, /login redirects to next=: a CR/LF there broke the Location header (a 500)."""
    client = support.sign_in(app, world, "administrator")
    query = {"lang": "en", "next": "/staff/\r\nSet-Cookie: x=1"}
    response = client.get("/login", query_string=query)
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers.get("Location", "")
    text = response.get_data(as_text=True)
    assert "The parameter &#39;next&#39; contains a control character" in text


def test_the_api_is_told_in_english_which_parameter_and_why(client):
    twice = client.get("/api/v1/figures?unit=A&unit=B")
    assert twice.status_code == 400
    assert twice.json == {
        "errors": {"unit": ["The parameter 'unit' is given more than once; give it once."]}
    }
    nul = client.get("/api/v1/questionnaires/sipas%00counter")
    assert nul.status_code == 400 and list(nul.json["errors"]) == ["key"]
    long = client.get("/healthz", query_string={"x": "7" * (MAX_VALUE_LENGTH + 1)})
    assert long.status_code == 400
    assert long.json["errors"]["x"] == [
        f"The parameter 'x' is longer than {MAX_VALUE_LENGTH} characters."
    ]
    many = client.get("/healthz", query_string={f"p{n}": "1" for n in range(40)})
    assert (
        many.status_code == 400 and "more than 32 parameters" in many.json["errors"]["request"][0]
    )


def test_nul_in_a_json_string_is_refused_before_it_reaches_the_database(api_client):
    from tests.survey_app.payloads import quick_payload

    client = api_client
    for body in (
        quick_payload(answers={"rating": 1, "reason_text": "tốt\u0000"}),
        quick_payload(answers={"rating": 1, "x\u0000": 1}),
        {"deep": [[{"a": ["\u0000"]}]]},
    ):
        response = client.post("/api/v1/responses", json=body)
        assert response.status_code == 400, response.json
        assert response.json == {
            "errors": {
                "request": ["the JSON contains a NUL character (\\u0000), which is not text"]
            }
        }
    # A backslash followed by "u0000" is text: judged as any other answer.
    literal = quick_payload(answers={"rating": 1, "reason_text": "C:\\u0000"})
    assert client.post("/api/v1/responses", json=literal).status_code == 201


def test_a_form_may_hold_line_breaks_and_tabs_but_not_nul(client, tree):
    from survey_app.services.qr_codes import create_poster_code

    code = create_poster_code(tree.ward, tree.q1).code
    support.db.session.commit()
    page = client.get(f"/r/{code}").get_data(as_text=True)
    cid = re.search(r'name="client_id" value="([^"]+)"', page).group(1)
    form = {"client_id": cid, "version": "1", "q_overall": "4"}
    refused = client.post(f"/r/{code}?lang=en", data={**form, "q_comment": "một\x00hai"})
    assert refused.status_code == 400
    assert "&#39;q_comment&#39; contains a NUL character" in refused.get_data(as_text=True)
    stored = client.post(f"/r/{code}", data={**form, "q_comment": "một\r\n\thai"})
    assert stored.status_code == 302


def test_an_id_beyond_any_integer_column_is_not_found(app, world):
    client = support.sign_in(app, world, "administrator")
    for url in ("/staff/units/2147483648", "/staff/units/99999999999999999999"):
        assert client.get(url).status_code == 404
    assert client.get(f"/staff/units/{world.ward_id}").status_code == 200
    huge = client.get("/staff/", query_string={"unit": HUGE_NUMBER})
    assert huge.status_code == 404
