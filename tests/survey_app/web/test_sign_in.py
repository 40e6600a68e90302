"""Signing in and out over HTTP: sessions that end on the server, an idle timeout, and sign-in
throttling that tells nobody which names exist and lets nobody keep an account locked."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey_app.extensions import db
from survey_app.models import AuditEvent, StaffSession
from survey_app.services.accounts import add_scope, create_account
from survey_app.timeutil import utcnow
from tests.conftest import FreshContextClient

PASSWORD = "correct horse battery"


@pytest.fixture
def people(app, tree):
    admin = create_account("admin", PASSWORD, display_name="Quản trị", is_administrator=True)
    clerk = create_account("canbo", PASSWORD, display_name="Cán bộ")
    add_scope(clerk, tree.ward, "manager")
    db.session.commit()
    return admin, clerk


def browser(app, address="203.0.113.7") -> FreshContextClient:
    client = FreshContextClient(app, app.response_class, use_cookies=True)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def signed_in(app, username, address="203.0.113.7") -> FreshContextClient:
    client = browser(app, address)
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def copy_of_cookie(app, client, address="198.51.100.66") -> FreshContextClient:
    """Another browser, at another address, holding a copy of `client`'s session cookie."""
    thief = browser(app, address)
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def staff_page(client):
    return client.get("/staff/")


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, people):
    client = signed_in(app, "canbo")
    thief = copy_of_cookie(app, client)
    assert staff_page(thief).status_code == 200  # a copy works while the session lives…
    assert client.post("/logout").status_code == 302
    assert is_login_redirect(staff_page(thief))  # …and not after sign-out
    assert is_login_redirect(staff_page(client))


def test_a_new_password_ends_the_accounts_other_sessions_but_not_the_one_changing_it(app, people):
    admin, clerk = people
    clerk_session = signed_in(app, "canbo")
    admin_here = signed_in(app, "admin")
    admin_elsewhere = signed_in(app, "admin", address="198.51.100.2")
    assert (
        admin_here.post(
            f"/staff/admin/accounts/{admin.id}/password",
            data={"password": "a new good password", "password_again": "a new good password"},
        ).status_code
        == 302
    )
    assert staff_page(admin_here).status_code == 200
    assert is_login_redirect(staff_page(admin_elsewhere))
    new = "the clerk's new one"
    admin_here.post(
        f"/staff/admin/accounts/{clerk.id}/password",
        data={"password": new, "password_again": new},
    )
    assert is_login_redirect(staff_page(clerk_session))


def test_deactivation_ends_every_session_of_the_account(app, people):
    _admin, clerk = people
    clerk_session = signed_in(app, "canbo")
    admin = signed_in(app, "admin")
    assert admin.post(f"/staff/admin/accounts/{clerk.id}/deactivate").status_code == 302
    assert is_login_redirect(staff_page(clerk_session))
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(StaffSession)
            .where(StaffSession.account_id == clerk.id, StaffSession.ended_at.is_(None))
        )
        == 0
    )


def go_idle(minutes: float) -> None:
    db.session.execute(
        sa.update(StaffSession).values(last_seen_at=utcnow() - timedelta(minutes=minutes))
    )
    db.session.commit()


def test_a_session_ends_after_thirty_minutes_without_use_and_says_so(app, people):
    client = signed_in(app, "canbo")
    go_idle(29)
    assert staff_page(client).status_code == 200  # a person's request: the session goes on
    go_idle(31)
    refused = client.get("/staff/?lang=en")
    assert is_login_redirect(refused)
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "signed out after 30 minutes without use" in page
    # The idle time is configurable.
    app.config["SESSION_IDLE_MINUTES"] = 60
    client = signed_in(app, "canbo")
    go_idle(45)
    assert staff_page(client).status_code == 200


def test_a_dashboard_refreshing_itself_does_not_keep_the_session_alive(app, people, tree):
    client = signed_in(app, "canbo")
    go_idle(10)
    seen = db.session.scalar(sa.select(StaffSession.last_seen_at))
    refresh = client.get(
        f"/staff/units/{tree.ward.id}?partial=1", headers={"X-Requested-With": "fetch"}
    )
    assert refresh.status_code == 200
    db.session.rollback()
    assert db.session.scalar(sa.select(StaffSession.last_seen_at)) == seen
    assert staff_page(client).status_code == 200  # a person's request moves it
    db.session.rollback()
    assert db.session.scalar(sa.select(StaffSession.last_seen_at)) > seen


def try_password(client, username, password="wrong password!!"):
    return client.post("/login?lang=en", data={"username": username, "password": password})


def test_unknown_and_existing_names_get_the_same_answers_in_the_same_order(app, people):
    answers = {}
    for name in ("canbo", "nobody.here"):
        client = browser(app)
        answers[name] = [
            (r.status_code, "not right" in (t := r.get_data(as_text=True)), "Too many" in t)
            for r in (try_password(client, name) for _ in range(7))
        ]
    assert answers["canbo"] == answers["nobody.here"]
    assert answers["canbo"][0] == (401, True, False)
    assert answers["canbo"][-1] == (401, False, True)


def test_nobody_can_keep_an_account_locked(app, people):
    """An attacker at one address hammering `admin` is refused; the administrator at their own
    address signs in all the same (and the attacker's right guess would be refused too)."""
    attacker = browser(app, "198.51.100.99")
    for _ in range(10):
        try_password(attacker, "admin")
    assert "Too many" in try_password(attacker, "admin", PASSWORD).get_data(as_text=True)
    assert signed_in(app, "admin", address="203.0.113.7")


def test_an_address_is_throttled_across_names_and_the_failures_are_audited(app, people):
    app.config["LOGIN_ATTEMPTS_PER_ADDRESS"] = 6
    attacker = browser(app, "198.51.100.99")
    statuses = [
        "Too many" in try_password(attacker, f"user{n}").get_data(as_text=True) for n in range(8)
    ]
    assert statuses == [False] * 6 + [True] * 2
    failed = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "login.failed").order_by(AuditEvent.id)
    ).all()
    assert len(failed) == 8 and [e.details["throttled"] for e in failed][-2:] == [True, True]
    assert all(e.client_address == "198.51.100.99" for e in failed)
    # Successful sign-ins from an office's one address do not use its allowance up.
    for _ in range(8):
        signed_in(app, "canbo", address="203.0.113.50")


def test_addresses_of_one_ipv6_network_are_throttled_as_one(app, people):
    """Whoever has an IPv6 /64 has more addresses than a limit could count one by one: the
    limit counts the network."""
    for n in range(6):
        attacker = browser(app, f"2001:db8:7:1::{n + 1:x}")
        page = try_password(attacker, "canbo").get_data(as_text=True)
    assert "Too many" in page
    assert signed_in(app, "canbo", address="2001:db8:7:2::1")  # another network
