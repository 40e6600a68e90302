"""Authorisation, checked against the whole URL map so that new routes are covered by default.

- Every endpoint is public (PUBLIC, with a reason) or its view declares `required_role`.
- Roles × endpoints × methods: anonymous, and an administrator whose session is older than
  PERMANENT_SESSION_LIFETIME, are sent to /login (pages) or get 401 (API); a role
  below the declared one gets 404; an allowed role gets neither 401/403/404/405 nor 5xx; a
  refused request changes no row; nobody scoped to P-W1 ever sees P-C1 in a response.
- IDOR: the manager of P-W1 cannot read, change or export P-C1 by any route: P-C1's ids in the
  URL are 404 and change nothing; P-C1's ids in a form (filled as the page offers it) or in the
  query string neither change P-C1 nor show it. An account that manages P-W1 and only *views*
  P-C1 cannot change P-C1 through a manager route either; P-W1's API key cannot read P-C1
  through any API route that takes keys.

The cases are read from the URL map of a throw-away app at collection time: one test per endpoint
(`-k admin.unit_detail`), each on a fresh `app` fixture (SQLite, and PostgreSQL when reachable),
with one subtest per role × method and per IDOR actor × method, so that a failure names the
endpoint, the role and the method. How to extend: see authorisation_support.py's docstring.
"""

import pytest

from survey_app import create_app
from survey_app.services import accounts
from tests.conftest import make_config
from tests.survey_app.web import authorisation_support as support
from tests.survey_app.web.authorisation_support import (
    PUBLIC,
    REQUIRED_RANK,
    ROLE_RANK,
    UNDECLARED_BUT_REVIEWED,
    MissingSampleValue,
    Route,
)

_MAP_APP = create_app(make_config("sqlite://"))
ROUTES = support.routes_of(_MAP_APP)
ENDPOINTS = {route.endpoint for route in ROUTES}
MATRIX_ROLES = ("anonymous", "viewer", "officer", "manager", "administrator")
NOT_FOR_AN_ALLOWED_ROLE = {401, 403, 404, 405}


@pytest.fixture
def world(app, tree, monkeypatch) -> support.World:
    monkeypatch.setattr(accounts, "hash_password", support.fast_password_hash)
    return support.build_world(tree)


def _describe(actor: str, route: Route, method: str, url: str, response) -> str:
    location = response.headers.get("Location")
    body = response.get_data().decode("utf-8", "replace")[:240].replace("\n", " ")
    return (
        f"{actor} {method} {url} (endpoint {route.endpoint}, required_role "
        f"{route.effective_role!r}) -> {response.status_code}"
        + (f", Location: {location}" if location else "")
        + f"; body: {body!r}"
    )


# --- the map itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.endpoint)
def test_every_endpoint_is_public_or_declares_a_role(route: Route):
    if route.is_public:
        assert route.required_role is None, (
            f"{route.endpoint} is in PUBLIC but its view requires {route.required_role!r}: "
            "take it out of PUBLIC"
        )
        return
    assert route.effective_role is not None, (
        f"{route.endpoint} ({route.rule}) is neither in PUBLIC nor marked with required_role. "
        "Decorate the view with staff_required, manager_required or admin_required "
        "(survey_app/web/auth.py), or, for a citizen-facing page, add it to PUBLIC in "
        f"{support.SUPPORT_FILE} with the reason it needs no account."
    )
    assert route.effective_role in REQUIRED_RANK, (
        f"{route.endpoint} declares required_role={route.effective_role!r}, "
        f"not one of {sorted(REQUIRED_RANK)}"
    )


def test_the_allow_lists_name_endpoints_that_exist_and_need_them():
    stale = sorted(set(PUBLIC) - ENDPOINTS)
    assert not stale, f"PUBLIC names endpoints that no longer exist: {stale}"
    unneeded = sorted(
        name
        for name in UNDECLARED_BUT_REVIEWED
        if name not in ENDPOINTS or support.declared_role(_MAP_APP, name) is not None
    )
    assert not unneeded, f"UNDECLARED_BUT_REVIEWED entries now unneeded, remove them: {unneeded}"


def test_the_walk_finds_the_staff_routes():
    """Guards the walk itself: if it found nothing, every other test would pass vacuously."""
    assert {"public.index", "auth.login", "dashboard.index"} <= ENDPOINTS
    assert any(route.required_role for route in ROUTES)
    assert not {"HEAD", "OPTIONS"} & {m for route in ROUTES for m in route.methods}


# --- roles × methods, per endpoint ----------------------------------------------------------------


def check_role(app, world, client, actor: str, route: Route, method: str) -> None:
    role = route.effective_role
    if actor != "anonymous" and not route.is_public and role is None:
        pytest.fail(f"{route.endpoint} declares no required_role (see the declaration test)")
    url = support.build_url(app, route, world, inside=True)
    before = support.row_counts()
    response = support.send(client, method, url)
    status = response.status_code
    what = _describe(actor, route, method, url, response)

    if route.endpoint in support.CREDENTIAL_ROUTES:
        assert status in (401, 415), f"expected a refusal without the credential header: {what}"
        changed = support.differences(before, support.row_counts())
        assert not changed, f"a refused request changed rows {changed}: {what}"
    elif route.is_public:
        assert status not in NOT_FOR_AN_ALLOWED_ROLE and status < 500, what
        assert not support.refused_as_anonymous(response), what
    elif actor == "anonymous" or ROLE_RANK[actor] < REQUIRED_RANK[role]:
        if actor == "anonymous" and route.is_api:
            assert status == 401, f"expected 401: {what}"
        elif actor == "anonymous":
            assert support.redirects_to_login(response), f"expected a redirect to /login: {what}"
        else:
            assert status == 404, f"expected 404 for a role below {role!r}: {what}"
        changed = support.differences(before, support.row_counts())
        assert not changed, f"a refused request changed rows {changed}: {what}"
    else:
        assert status not in NOT_FOR_AN_ALLOWED_ROLE and status < 500, (
            f"expected the allowed role to be served: {what}"
        )
        assert not support.refused_as_anonymous(response), f"signed in, sent to login: {what}"
    if method == "GET":
        changed = support.differences(before, support.row_counts())
        assert not changed, f"a GET changed rows {changed}: {what}"
    if actor in ("viewer", "officer", "manager"):
        leaks = support.body_leaks(response)
        assert not leaks, f"P-C1 shown to an account scoped to P-W1 ({leaks}): {what}"


# --- IDOR: P-W1's manager against P-C1 -------------------------------------------------------


def check_expired_session(app, world, client, route: Route, method: str) -> None:
    """An administrator whose session is older than PERMANENT_SESSION_LIFETIME is treated as
    anonymous everywhere: pages send to /login, the API answers 401, nothing changes."""
    url = support.build_url(app, route, world, inside=True)
    before = support.row_counts()
    response = support.send(client, method, url)
    what = _describe("administrator (expired session)", route, method, url, response)
    if route.is_api:
        assert response.status_code == 401, f"expected 401: {what}"
    else:
        assert support.redirects_to_login(response), f"expected a redirect to /login: {what}"
    changed = support.differences(before, support.row_counts())
    assert not changed, f"a refused request changed rows {changed}: {what}"


def idor_applies(actor: str, route: Route, method: str) -> bool:
    if route.is_public:
        return False
    if actor == "manager":
        return route.effective_role in ("staff", "manager")
    if actor == "api-key":  # P-W1's read_figures key, on every non-public API read
        return route.is_api and method == "GET"
    # The manager of P-W1 who may view P-C1: only manager routes that change something.
    return route.effective_role == "manager" and method != "GET"


def check_idor(app, world, client, actor: str, route: Route, method: str) -> None:
    inside = support.build_url(app, route, world, inside=True)
    outside = support.build_url(app, route, world, inside=False)
    scoped = inside != outside
    only_p_w1 = actor in ("manager", "api-key")  # manager+viewer may legitimately see P-C1

    def check(response, url: str, expect_not_found: bool, note: str) -> None:
        what = f"[{note}] " + _describe(actor, route, method, url, response)
        status = response.status_code
        assert status < 500, what
        if expect_not_found and only_p_w1:
            assert status == 404, f"expected 404: {what}"
        elif expect_not_found:
            assert 400 <= status < 500 and status not in (401, 405), f"expected 404: {what}"
        if only_p_w1:
            leaks = support.body_leaks(response)
            assert not leaks, f"P-C1 shown to {actor}, scoped to P-W1 ({leaks}): {what}"

    if actor == "api-key" and support.send(client, "GET", inside).status_code == 401:
        return  # this API route takes no keys (sessions only): nothing to try with one
    if method == "GET":
        if scoped:
            check(support.send(client, "GET", outside), outside, True, "P-C1's ids in the URL")
        for note, query in (
            ("P-C1's ids in the query", dict(support.pointed_form(world, None))),
            ("P-C1's code in the query", support.pointed_query_by_code()),
        ):
            check(support.send(client, "GET", inside, query=query), inside, False, note)
        return

    counts = support.row_counts()
    footprint = support.commune_footprint(world)
    fields = support.pointed_form(world, support.filled_form(client, inside))
    if scoped:
        for note, data in (("P-C1's ids in the URL, empty form", []), ("…filled form", fields)):
            check(support.send(client, method, outside, data), outside, True, note)
            changed = support.differences(counts, support.row_counts())
            assert not changed, f"[{note}] {actor} {method} {outside} changed rows: {changed}"
    response = support.send(client, method, inside, fields)
    check(response, inside, False, f"P-W1's URL, a form pointed at P-C1: {fields}")
    changed = support.differences(footprint, support.commune_footprint(world))
    assert not changed, (
        f"{actor} {method} {route.endpoint} changed P-C1's data: {changed}; "
        f"sent {fields} to {inside}" + (f" and to {outside}" if scoped else "")
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.endpoint)
def test_each_role_gets_exactly_what_it_should(app, world, subtests, route: Route):
    """GETs first (they change nothing, which is checked), then POSTs: the refusals first, so
    that an allowed change cannot hide a refused one; then the allowed roles, lowest first (an
    object one of them deleted is put back before the next); then the IDOR attempts."""
    try:
        support.url_values(route, world, inside=True)
    except MissingSampleValue as error:
        pytest.fail(str(error), pytrace=False)
    clients = {}

    def client_of(actor: str):
        if actor not in clients:
            clients[actor] = support.sign_in(app, world, actor.removeprefix("idor:"))
        return clients[actor]

    def allowed(actor: str) -> bool:
        role = route.effective_role
        return route.is_public or (
            actor != "anonymous" and role is not None and ROLE_RANK[actor] >= REQUIRED_RANK[role]
        )

    for method in sorted(route.methods, key=lambda m: m != "GET"):
        steps = [("role", a) for a in MATRIX_ROLES if not allowed(a)]
        steps += [("expired", "administrator")] if not route.is_public else []
        steps += [("role", a) for a in MATRIX_ROLES if allowed(a)]
        steps += [
            ("idor", a)
            for a in ("manager", "manager+viewer", "api-key")
            if idor_applies(a, route, method)
        ]
        for kind, actor in steps:
            with subtests.test(msg=f"{kind} {actor} {method}"):
                if method != "GET":
                    support.restore_inside(route, world)
                if kind == "role":
                    check_role(app, world, client_of(actor), actor, route, method)
                elif kind == "expired":
                    client = support.sign_in(app, world, actor)
                    support.age_session(app, client)
                    check_expired_session(app, world, client, route, method)
                else:
                    check_idor(app, world, client_of(f"idor:{actor}"), actor, route, method)
