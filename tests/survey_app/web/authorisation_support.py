"""Helpers for test_authorisation.py: the URL map read as test cases, a small world of accounts
and objects on both sides of a scope boundary, sample values for URL arguments, forms filled from
the pages that show them, and snapshots proving that a refused request changed nothing.

To extend when a route is added:
- a citizen-facing route (kiosk, QR form, …): add its endpoint to PUBLIC with a one-line reason;
- a staff route: decorate it with staff_required / manager_required / admin_required (nothing to
  do here), and if it has a URL argument of a new name, add that name to SAMPLE_VALUES with a
  value inside the P-W1 scope and one outside it (P-C1).
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash

from survey_app.extensions import db
from survey_app.models import Answer, Counter, StaffAccount, StaffSession, Unit
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.api_keys import create_api_key
from survey_app.services.audit import record_event
from survey_app.services.rollup import settle_pending
from survey_app.services.submissions import SubmissionPolicy, submit_response
from survey_app.services.targets import create_target
from survey_app.timeutil import utcnow
from survey_app.web.auth import SESSION_SECRET
from tests.conftest import FreshContextClient
from tests.survey_app.conftest import KeyClient
from tests.survey_app.payloads import quick_payload

# --- what is public, and what each role may reach ---------------------------------------------

# Endpoints anybody may use without signing in. Adding one here is a decision: give the reason.
PUBLIC: dict[str, str] = {
    "static": "CSS, icons and scripts the public pages and kiosks load",
    "public.index": "the service's front page, for citizens and visitors",
    "health.healthz": "liveness for load balancers and monitoring; says nothing but ok/unavailable",
    "api.openapi": "the API description, public documentation",
    "api.questionnaire": "kiosks and QR forms fetch the questionnaire they render, with no account",
    "api.create_response": "device and machine API: a kiosk credential or an API key header",
    "auth.login": "the sign-in page itself",
    "annual.start": "households open the online annual form from a letter or QR code, no account",
    "annual.page": "the annual form's pages; the draft is found through the signed session cookie",
    "annual.thanks": "the annual form's thank-you page",
    "qr.poster_form": "citizens rate by scanning a counter poster's QR code, with no account",
    "qr.thanks": "the thank-you page after a QR form",
    "qr.dossier_form": "citizens rate a dossier from the QR code on its receipt, with no account",
    "qr.dossier_qr_svg": "the receipt's QR code; whoever holds the token may see its picture",
    "qr.dossier_qr_png": "the receipt's QR code; whoever holds the token may see its picture",
    "kiosk.screen": "the counter tablet's page; the tablet authenticates with its device credential",
    "kiosk.service_worker": "the kiosk's service worker (offline cache), a static script",
    "kiosk.manifest": "the kiosk's web app manifest, static",
    "kiosk.enrol_page": "a tablet opens its one-time enrolment link; the token is the capability",
    "kiosk.enrol_view": "consumes the one-time enrolment token (the capability) for the credential",
    "kiosk.heartbeat_view": "device API: authenticated by the kiosk credential header, not a session",
}

# Public endpoints that authenticate with a header of their own (a kiosk credential, an API key)
# instead of a session: without it they refuse (401, or 415 for a body that is not even JSON).
CREDENTIAL_ROUTES = {"api.create_response", "kiosk.heartbeat_view"}

# Non-public endpoints that do not carry `required_role` but are known and safe, with the role the
# test should assume. Keep this empty if you can: prefer marking the view in the app.
UNDECLARED_BUT_REVIEWED: dict[str, tuple[str, str]] = {}

ROLE_RANK = {"anonymous": 0, "viewer": 1, "officer": 2, "manager": 3, "administrator": 4}
REQUIRED_RANK = {"staff": 1, "officer": 2, "manager": 3, "administrator": 4}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    """One endpoint of the URL map (an endpoint with several rules takes the first)."""

    endpoint: str
    rule: str
    methods: tuple[str, ...]
    arguments: tuple[str, ...]
    required_role: str | None  # None when the view carries no mark

    @property
    def is_api(self) -> bool:
        return self.rule.startswith("/api/")

    @property
    def is_public(self) -> bool:
        return self.endpoint in PUBLIC

    @property
    def effective_role(self) -> str | None:
        """The role the test checks against: declared, or reviewed in UNDECLARED_BUT_REVIEWED."""
        if self.required_role is not None:
            return self.required_role
        reviewed = UNDECLARED_BUT_REVIEWED.get(self.endpoint)
        return reviewed[0] if reviewed else None


def declared_role(app: Flask, endpoint: str) -> str | None:
    view = app.view_functions[endpoint]
    role = getattr(view, "required_role", None)
    if role is None:  # class-based views (View.as_view) keep attributes on the class
        role = getattr(getattr(view, "view_class", None), "required_role", None)
    return role


def routes_of(app: Flask) -> list[Route]:
    routes: dict[str, Route] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        if rule.endpoint in routes:
            continue
        routes[rule.endpoint] = Route(
            endpoint=rule.endpoint,
            rule=rule.rule,
            methods=tuple(sorted((rule.methods or set()) - SKIPPED_METHODS)),
            arguments=tuple(sorted(rule.arguments)),
            required_role=declared_role(app, rule.endpoint),
        )
    return list(routes.values())


# --- the world: accounts and objects inside the P-W1 scope and outside it (P-C1) -------------

PASSWORD = "correct horse battery"
# Never shown to anybody scoped to P-W1 only: if one of these appears in a response, P-C1 leaked.
LEAK_MARKER = "LEAK-MARKER-P-C1"
C1_NAME = "Xã Tân Phú"  # the tree fixture's name for P-C1


def leak_markers() -> list[str]:
    markers = [LEAK_MARKER, C1_NAME]
    return markers + [json.dumps(m)[1:-1] for m in markers if json.dumps(m)[1:-1] != m]


def fast_password_hash(password: str) -> str:
    """Patched over accounts.hash_password: scrypt costs ~0.1 s a call, hundreds of times here."""
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


@dataclass
class World:
    """Ids only (requests roll the shared session back, so ORM objects would expire)."""

    ward_id: int
    commune_id: int
    province_id: int
    ward_counter_id: int
    commune_counter_id: int
    accounts: dict[str, int]  # actor name -> account id
    usernames: dict[str, str]  # actor name -> username
    viewer_scope_id: int
    other_scope_id: int
    ward_key_id: int
    ward_key_secret: str  # a read_figures key of P-W1, for the API's IDOR checks
    commune_key_id: int
    ward_target_id: int
    commune_target_id: int
    ward_response_id: str
    commune_response_id: str
    ward_comment_id: int  # the answer id of each response's comment
    commune_comment_id: int
    ward_event_id: int
    commune_event_id: int


# Actors signed in for the tests: name -> (is_administrator, [(unit attribute, role)]).
ACTORS: dict[str, tuple[bool, list[tuple[str, str]]]] = {
    "viewer": (False, [("ward", "viewer")]),
    "officer": (False, [("ward", "officer")]),
    "manager": (False, [("ward", "manager")]),
    "administrator": (True, []),
    # Manages P-W1 and may only *view* P-C1: must not change P-C1 through any manager route.
    "manager+viewer": (False, [("ward", "manager"), ("commune", "viewer")]),
    # Not signed in by the tests: the owner of the objects on the other side.
    "other": (False, [("commune", "manager")]),
}


def build_world(tree) -> World:
    """Accounts for every actor and, on each side, an API key, a target, a response with a comment
    and an audit event, so that every kind of id in a URL has a value inside and outside the P-W1
    scope. P-C1's objects carry LEAK_MARKER in their texts."""
    ids, names, scopes = {}, {}, {}
    for actor, (is_admin, grants) in ACTORS.items():
        username = actor.replace("+", "-") + "-account"
        account = create_account(
            username, PASSWORD, display_name=f"Test {actor}", is_administrator=is_admin
        )
        for unit_attribute, role in grants:
            scopes[actor, unit_attribute] = add_scope(account, getattr(tree, unit_attribute), role)
        ids[actor], names[actor] = account.id, username
    keys, secrets, targets, responses, events = {}, {}, {}, {}, {}
    counter_of = {"ward": tree.q1.code, "commune": "Q1"}
    for side in ("ward", "commune"):
        unit = getattr(tree, side)
        marker = LEAK_MARKER if side == "commune" else "P-W1 object"
        keys[side], secrets[side] = create_api_key(
            f"{marker} key", "read_figures", unit, created_by=None
        )
        targets[side] = create_target(
            metric="headline",
            threshold=0.9,
            comparison=">=",
            unit=unit,
            questionnaire_key=None,
            period_kind="year",
            start_year=None,
            end_year=None,
            source_document=f"{marker} target",
        )
        # A low quick rating with a comment: the cheapest response that has a comment.
        payload = quick_payload(
            unit=unit.code,
            counter=counter_of[side],
            answers={"rating": 1, "reason_text": f"{marker} comment"},
        )
        responses[side] = submit_response(
            payload, channel="web", policy=SubmissionPolicy()
        ).response_id
        events[side] = record_event("test.setup", actor="test", unit_id=unit.id)
    db.session.commit()
    settle_pending()  # settled now, so that a GET finds nothing to settle and changes no rows
    commune_counter = db.session.scalar(
        sa.select(Counter).where(Counter.unit_id == tree.commune.id)
    )
    comments = {
        side: db.session.scalar(
            sa.select(Answer.id).where(
                Answer.response_id == responses[side], Answer.text.is_not(None)
            )
        )
        for side in responses
    }
    return World(
        ward_id=tree.ward.id,
        commune_id=tree.commune.id,
        province_id=tree.province.id,
        ward_counter_id=tree.q1.id,
        commune_counter_id=commune_counter.id,
        accounts=ids,
        usernames=names,
        viewer_scope_id=scopes["viewer", "ward"].id,
        other_scope_id=scopes["other", "commune"].id,
        ward_key_id=keys["ward"].id,
        ward_key_secret=secrets["ward"],
        commune_key_id=keys["commune"].id,
        ward_target_id=targets["ward"].id,
        commune_target_id=targets["commune"].id,
        ward_response_id=str(responses["ward"]),
        commune_response_id=str(responses["commune"]),
        ward_comment_id=comments["ward"],
        commune_comment_id=comments["commune"],
        ward_event_id=events["ward"].id,
        commune_event_id=events["commune"].id,
    )


# --- sample values for URL arguments ------------------------------------------------------------

# URL argument name -> (value inside the P-W1 scope, value outside it). Both sides are the same
# for arguments that are not scoped (questionnaire keys, file names). Add new names here.
SAMPLE_VALUES: dict[str, tuple[Callable[[World], object], Callable[[World], object]]] = {
    "unit_id": (lambda w: w.ward_id, lambda w: w.commune_id),
    "parent_id": (lambda w: w.ward_id, lambda w: w.commune_id),
    "target_unit_id": (lambda w: w.ward_id, lambda w: w.commune_id),
    "counter_id": (lambda w: w.ward_counter_id, lambda w: w.commune_counter_id),
    "unit_code": (lambda w: "P-W1", lambda w: "P-C1"),
    "counter_code": (lambda w: "Q1", lambda w: "Q1"),
    # Accounts: the viewer (scoped to P-W1) and the manager of P-C1.
    "account_id": (lambda w: w.accounts["viewer"], lambda w: w.accounts["other"]),
    # Scopes belong to those accounts: the viewer's on P-W1, the other manager's on P-C1.
    "scope_id": (lambda w: w.viewer_scope_id, lambda w: w.other_scope_id),
    "key_id": (lambda w: w.ward_key_id, lambda w: w.commune_key_id),
    "target_id": (lambda w: w.ward_target_id, lambda w: w.commune_target_id),
    "response_id": (lambda w: w.ward_response_id, lambda w: w.commune_response_id),
    "event_id": (lambda w: w.ward_event_id, lambda w: w.commune_event_id),
    "answer_id": (lambda w: w.ward_comment_id, lambda w: w.commune_comment_id),
    "key": (lambda w: "sipas-counter", lambda w: "sipas-counter"),
    "questionnaire_key": (lambda w: "sipas-counter", lambda w: "sipas-counter"),
    "version": (lambda w: 1, lambda w: 1),
    "channel": (lambda w: "kiosk", lambda w: "kiosk"),
    "filename": (lambda w: "css/site.css", lambda w: "css/site.css"),
    "year": (lambda w: 2025, lambda w: 2025),  # exports: a report year, not scoped
    "fmt": (lambda w: "csv", lambda w: "csv"),  # raw exports: a text format
    "report_format": (lambda w: "json", lambda w: "json"),  # annual report: a text format
    # QR forms: a working poster code and dossier token of P-W1 (made, and committed, on first use).
    "poster_code": (lambda w: _poster(w.ward_id).code, lambda w: _poster(w.ward_id).code),
    "dossier_token": (lambda w: _dossier_token(w), lambda w: _dossier_token(w)),
    "poster_id": (lambda w: _poster(w.ward_id).id, lambda w: _poster(w.commune_id).id),
    # A kiosk enrolment token (unknown here: the page answers 410 Gone either way).
    "token": (lambda w: "no-such-token", lambda w: "no-such-token"),
    # Annual form links are public (one per unit and year); P-W1's is made on first use.
    "link_code": (lambda w: _annual_link_code(w), lambda w: _annual_link_code(w)),
    "page_number": (lambda w: 1, lambda w: 1),
}
SUPPORT_FILE = "tests/survey_app/web/authorisation_support.py"


def _annual_link_code(world: World) -> str:
    """P-W1's annual link (public, so the same value inside and outside the scope)."""
    from survey_app.models import AnnualLink

    code = "authz-pw1"
    if db.session.scalar(sa.select(AnnualLink.id).where(AnnualLink.code == code)) is None:
        db.session.add(AnnualLink(code=code, unit_id=world.ward_id, year=2025))
        db.session.commit()
    return code


# Where the object an argument names lives, so that one deleted by an earlier allowed request in
# the same test (a target, a scope) can be put back before the next role tries the same URL.
SAMPLE_TABLES = {
    "unit_id": "units",
    "parent_id": "units",
    "target_unit_id": "units",
    "counter_id": "counters",
    "account_id": "staff_accounts",
    "scope_id": "staff_scopes",
    "key_id": "api_keys",
    "target_id": "targets",
    "response_id": "responses",
    "event_id": "audit_events",
    "answer_id": "answers",
    "poster_id": "poster_codes",
}


def _poster(unit_id: int):
    """The unit's first poster code (created, and committed, when it has none)."""
    from survey_app.models import PosterCode
    from survey_app.services.qr_codes import create_poster_code

    poster = db.session.scalar(
        sa.select(PosterCode).where(PosterCode.unit_id == unit_id).order_by(PosterCode.id)
    )
    if poster is None:
        poster = create_poster_code(db.session.get(Unit, unit_id))
        db.session.commit()
    return poster


def _dossier_token(world: World) -> str:
    """An unused rating token of a P-W1 dossier (issued, and committed, on first use)."""
    from survey_app.services.qr_codes import issue_dossier_token

    issued = issue_dossier_token(
        "000.00.31.H01-250101-0001",
        db.session.get(Unit, world.ward_id),
        secret_key="testing-not-secret",
    )
    db.session.commit()
    return issued.token


def _new_ward_target(world: World) -> None:
    unit = db.session.get(Unit, world.ward_id)
    world.ward_target_id = create_target(
        metric="headline",
        threshold=0.9,
        comparison=">=",
        unit=unit,
        questionnaire_key=None,
        period_kind="year",
        start_year=None,
        end_year=None,
        source_document="P-W1 object target, again",
    ).id


def _new_viewer_scope(world: World) -> None:
    account = db.session.get(StaffAccount, world.accounts["viewer"])
    world.viewer_scope_id = add_scope(account, db.session.get(Unit, world.ward_id), "viewer").id


def _new_ward_key(world: World) -> None:
    unit = db.session.get(Unit, world.ward_id)
    key, world.ward_key_secret = create_api_key(
        "P-W1 object key, again", "read_figures", unit, created_by=None
    )
    world.ward_key_id = key.id


RECREATE: dict[str, Callable[[World], None]] = {
    "target_id": _new_ward_target,
    "scope_id": _new_viewer_scope,
    "key_id": _new_ward_key,
}


def restore_inside(route: "Route", world: World) -> None:
    """Put back any P-W1 object of the route's URL that an earlier request deleted."""
    _committed()
    for name in route.arguments:
        table = SAMPLE_TABLES.get(name)
        if table is None:
            continue
        value = SAMPLE_VALUES[name][0](world)
        columns = db.metadata.tables[table].primary_key.columns
        key = next(iter(columns))
        if isinstance(value, str) and key.type.python_type is not str:
            value = key.type.python_type(value)
        exists = db.session.scalar(sa.select(sa.func.count()).where(key == value))
        if exists:
            continue
        if name not in RECREATE:
            raise AssertionError(
                f"an earlier request in this test deleted the {name} {value} of {route.endpoint}: "
                f"add a way to recreate it to RECREATE in {SUPPORT_FILE}"
            )
        RECREATE[name](world)
        db.session.commit()


class MissingSampleValue(LookupError):
    pass


def url_values(route: Route, world: World, *, inside: bool) -> dict[str, object]:
    missing = [name for name in route.arguments if name not in SAMPLE_VALUES]
    if missing:
        raise MissingSampleValue(
            f"{route.endpoint} ({route.rule}) has URL argument(s) {missing} with no sample value: "
            f"add each to SAMPLE_VALUES in {SUPPORT_FILE} as (value inside the P-W1 scope, "
            f"value outside it in P-C1)"
        )
    return {name: SAMPLE_VALUES[name][0 if inside else 1](world) for name in route.arguments}


def build_url(app: Flask, route: Route, world: World, *, inside: bool) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(route.endpoint, **url_values(route, world, inside=inside))


# --- signing in -----------------------------------------------------------------------------


def sign_in(app: Flask, world: World, actor: str) -> FlaskClient:
    """A client for `actor`, signed in through POST /login ("api-key": P-W1's API key)."""
    if actor == "api-key":
        return KeyClient(app, app.response_class, secret=world.ward_key_secret)
    client = FreshContextClient(app, app.response_class, use_cookies=True)
    if actor == "anonymous":
        return client
    response = client.post(
        "/login", data={"username": world.usernames[actor], "password": PASSWORD}
    )
    assert response.status_code == 302, f"{actor} could not sign in: {response.status_code}"
    return client


def age_session(app: Flask, client: FlaskClient) -> None:
    """Make the client's session older than PERMANENT_SESSION_LIFETIME (signed in long ago): its
    row on the server, which is what counts (the cookie holds no time)."""
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    with app.app_context(), client.session_transaction() as session:
        token_hash = hashlib.sha256(session[SESSION_SECRET].encode()).hexdigest()
    with app.app_context():
        db.session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == token_hash)
            .values(started_at=utcnow() - lifetime - timedelta(minutes=1))
        )
        db.session.commit()


def redirects_to_login(response) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    return urlsplit(response.headers.get("Location", "")).path == "/login"


def refused_as_anonymous(response) -> bool:
    """The login redirect of an authorisation refusal carries ?next= (logout's does not)."""
    return redirects_to_login(response) and "next=" in response.headers.get("Location", "")


# --- proving that nothing changed ---------------------------------------------------------------

# A refused request may legitimately be written to the audit log.
NOT_COMPARED = {"audit_events"}


def _committed() -> None:
    db.session.rollback()  # see what requests committed, not what this session holds


def row_counts() -> dict[str, int]:
    """Rows per table, in one round trip."""
    _committed()
    tables = [t for t in db.metadata.sorted_tables if t.name not in NOT_COMPARED]
    counts = [sa.select(sa.func.count()).select_from(t).scalar_subquery() for t in tables]
    row = db.session.execute(sa.select(*counts)).one()
    return {table.name: count for table, count in zip(tables, row, strict=True)}


def _rows(statement) -> list[str]:
    return sorted(repr(tuple(row)) for row in db.session.execute(statement))


def commune_footprint(world: World) -> dict[str, list[str]]:
    """Every row of P-C1 and of whatever refers to it, transitively (its counters, children,
    targets, keys, scopes, responses → answers → hidden comments, counts, …), and the account
    of P-C1's manager."""
    _committed()
    units = Unit.__table__
    accounts = db.metadata.tables["staff_accounts"]
    snapshot = {
        "units:P-C1": _rows(sa.select(units).where(units.c.id == world.commune_id)),
        "staff_accounts:other": _rows(
            sa.select(accounts).where(accounts.c.id == world.accounts["other"])
        ),
    }
    seen: dict[str, set] = {"units": {world.commune_id}}
    frontier: dict[str, set] = {"units": {world.commune_id}}
    while frontier:
        found: dict[str, set] = {}
        for table in db.metadata.sorted_tables:
            if table.name in NOT_COMPARED:
                continue
            for column in table.columns:
                for foreign_key in column.foreign_keys:
                    ids = frontier.get(foreign_key.column.table.name)
                    if not ids:
                        continue
                    rows = db.session.execute(sa.select(table).where(column.in_(ids))).all()
                    name = f"{table.name}.{column.name}"
                    snapshot[name] = sorted([*snapshot.get(name, []), *map(repr, map(tuple, rows))])
                    keys = list(table.primary_key.columns)
                    if len(keys) == 1:
                        new = {row._mapping[keys[0]] for row in rows} - seen.get(table.name, set())
                        if new:
                            found.setdefault(table.name, set()).update(new)
                            seen.setdefault(table.name, set()).update(new)
        frontier = found
    return snapshot


def differences(before: dict, after: dict) -> list[str]:
    return [
        f"{name}: {before.get(name)!r} -> {after.get(name)!r}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


# --- forms: filled as the page offers them, then pointed at P-C1 ------------------------------


@dataclass
class Form:
    method: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("method", "get").lower(), a.get("action", "")))
            return
        if tag == "option" and self._select is not None:
            value = a.get("value", "")
            if value and (self._select_value is None or "selected" in a):
                self._select_value = value
            return
        if not self.forms or not a.get("name"):
            return
        fields = self.forms[-1].fields
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind == "radio" and any(name == a["name"] for name, _ in fields):
                return  # the first choice is plausible enough
            if kind in ("checkbox", "radio"):
                fields.append((a["name"], a.get("value") or "y"))
                return
            fields.append((a["name"], a.get("value") or _plausible(a["name"], kind, a)))
        elif tag == "select":
            self._select, self._select_value = a["name"], None
        elif tag == "textarea":
            self._textarea, self._text = a["name"], []

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None and self.forms:
            self.forms[-1].fields.append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self.forms:
            text = "".join(self._text) or "idor probe"
            self.forms[-1].fields.append((self._textarea, text))
            self._textarea = None


def _plausible(name: str, kind: str, attrs: dict[str, str]) -> str:
    if kind == "number":
        return attrs.get("min") or "1"
    if kind == "email":
        return "probe@example.org"
    if kind == "password":
        return PASSWORD
    if kind == "date":
        return "2025-01-01"
    if name == "confirm":  # two-step forms (merge): go straight to the second step
        return "yes"
    if "threshold" in name:
        return "90"
    if "year" in name:
        return "2025"
    if name in ("code", "username"):
        return "idor-probe"
    return "idor probe"


def forms_in(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_posting_to(html: str, page_path: str, target_path: str) -> list[tuple[str, str]] | None:
    for form in forms_in(html):
        action = urlsplit(form.action).path or page_path
        if form.method == "post" and action == target_path:
            return form.fields
    return None


def send(client, method: str, url: str, data=(), query=None):
    """`client`'s request, its body read and the response closed (static files hold an open file
    otherwise)."""
    response = client.open(url, method=method, data=MultiDict(list(data)), query_string=query)
    response.get_data()
    response.close()
    return response


def filled_form(client, url: str) -> list[tuple[str, str]] | None:
    """The fields of the form that posts to `url`, as the page showing it fills them: the page
    at `url` itself, else the nearest page up the path (/units/3/merge → /units/3)."""
    path = url
    while path.count("/") > 1:
        page = send(client, "GET", path)
        if page.status_code == 200 and "html" in (page.content_type or ""):
            fields = form_posting_to(page.get_data(as_text=True), path, url)
            if fields is not None:
                return fields
        path = path.rsplit("/", 1)[0]
    return None


def pointing_out(world: World, name: str) -> object | None:
    """The P-C1 value for a form field that names a unit or counter, else None."""
    if name.endswith("counter_id") or name == "counter":
        return world.commune_counter_id
    if name in ("unit", "parent", "merge_into", "merged_into", "into") or name.endswith("unit_id"):
        return world.commune_id
    if name in ("parent_id", "merged_into_id", "merge_into_id", "into_id", "scope_unit"):
        return world.commune_id
    if name in ("unit_code", "parent_code", "target_unit_code"):
        return "P-C1"
    return None


# Names tried even when the page shows no form (or no such field): what admin forms use.
ID_FIELDS = ("unit_id", "parent_id", "target_unit_id", "counter_id", "unit_code", "parent_code")


def pointed_form(world: World, fields: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    """`fields` with every unit/counter field pointed at P-C1, plus the usual id fields."""
    fields = list(fields or [])
    result = []
    for name, value in fields:
        out = pointing_out(world, name)
        result.append((name, str(out) if out is not None else value))
    present = {name for name, _ in fields}
    result += [(name, str(pointing_out(world, name))) for name in ID_FIELDS if name not in present]
    return result


def pointed_query_by_code() -> dict[str, str]:
    """Query parameters that name P-C1 by its code (the API's ?unit=CODE, exports' filters)."""
    return {"unit": "P-C1", "unit_code": "P-C1", "parent": "P-C1", "parent_code": "P-C1"}


def body_leaks(response) -> list[str]:
    text = response.get_data().decode("utf-8", "replace")  # binary bodies (PNG) too
    return [marker for marker in leak_markers() if marker in text]
