"""Accounts: modern password hashing, sign-in throttled by address and by name and address
(never a lock on the account), sessions ended on the server; access."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.services import accounts
from survey_app.services.access import Access, get_unit_in_scope, list_unit_ids_in_scope
from survey_app.services.accounts import (
    LoginPolicy,
    SessionPolicy,
    add_scope,
    authenticate,
    count_sign_in_attempt,
    create_account,
    end_session,
    find_session,
    read_session,
    session_needs_touch,
    set_account_active,
    set_password,
    start_session,
    touch_session,
)

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
POLICY = LoginPolicy(per_name_and_address=3, per_address=10, window=timedelta(minutes=15))
SESSIONS = SessionPolicy(lifetime=timedelta(hours=8), idle=timedelta(minutes=30))


def test_the_real_hash_function_uses_werkzeugs_scrypt_default(monkeypatch):
    monkeypatch.undo()
    assert accounts.hash_password("correct horse battery").startswith("scrypt:")


def test_usernames_and_passwords_are_checked(app):
    with pytest.raises(ValidationError) as caught:
        create_account("A B", "short", display_name=" ")
    assert set(caught.value.problems) == {"username", "password", "display_name"}
    create_account("xa.anlac", PASSWORD, display_name="Trần Thị Bình")
    with pytest.raises(ValidationError, match="taken"):
        create_account("XA.ANLAC", PASSWORD, display_name="Ai đó")


def attempt(username, password, address="203.0.113.7", now=NOW):
    """One sign-in as the view makes it: count, commit, check."""
    retry_after = count_sign_in_attempt(username, address, policy=POLICY, now=now)
    db.session.commit()
    result = authenticate(
        username, password, address=address, retry_after=retry_after, policy=POLICY, now=now
    )
    db.session.commit()
    return result


def test_attempts_for_one_name_from_one_address_are_throttled_and_others_are_not(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    for _ in range(3):
        assert attempt("canbo", "wrong password!").account is None
    refused = attempt("canbo", PASSWORD)
    assert refused.account is None and refused.retry_after is not None
    # The same account from another address, at the same moment: not locked.
    assert attempt("canbo", PASSWORD, address="198.51.100.2").account is account
    # From the first address once the window's attempts have slid out of the last 15 minutes.
    assert attempt("canbo", PASSWORD, now=refused.retry_after + timedelta(seconds=1)).account
    assert attempt("canbo", PASSWORD, now=NOW + timedelta(minutes=31)).account is account


def test_an_address_is_throttled_across_names_and_successes_do_not_count(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    for _ in range(20):  # an office signing everybody in from one address
        assert attempt("canbo", PASSWORD).account is account
    for number in range(10):
        assert attempt(f"guess{number}", "wrong password!").retry_after is None
    refused = attempt("canbo", PASSWORD)
    assert refused.account is None and refused.retry_after is not None


def test_unknown_names_are_throttled_exactly_like_existing_ones(app):
    create_account("canbo", PASSWORD, display_name="Cán bộ")
    for name in ("canbo", "nobody"):
        results = [attempt(name, "wrong password!") for _ in range(4)]
        assert [r.retry_after is not None for r in results] == [False, False, False, True]


def test_the_retry_time_is_when_an_attempt_passes_again(app):
    """The same failures from two addresses: one tries just before the time given, the other
    just after (each try counts, so each address tries once)."""
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    given = []
    for address in ("203.0.113.7", "198.51.100.2"):
        for minute in range(3):
            attempt("canbo", "wrong password!", address, NOW + timedelta(minutes=minute))
        given.append(attempt("canbo", PASSWORD, address, NOW + timedelta(minutes=3)).retry_after)
    assert given[0] == given[1] is not None
    assert attempt("canbo", PASSWORD, "203.0.113.7", given[0] - timedelta(seconds=5)).retry_after
    assert attempt("canbo", PASSWORD, "198.51.100.2", given[1] + timedelta(seconds=5)).account is (
        account
    )


def test_concurrent_attempts_never_check_more_passwords_than_the_limit(app):
    """Each attempt is counted by one atomic upsert before its password is checked: 12 threads
    at once check at most 3 passwords (the per-name limit), on SQLite and PostgreSQL alike."""
    create_account("canbo", PASSWORD, display_name="Cán bộ")
    db.session.commit()
    checked = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def one():
        with app.app_context():
            start.wait()
            retry_after = count_sign_in_attempt("canbo", "203.0.113.7", policy=POLICY, now=NOW)
            db.session.commit()
            if retry_after is None:
                with lock:
                    checked.append(1)
            db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == 3


def test_unknown_and_inactive_accounts_fail_like_a_wrong_password(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    set_account_active(account, False)
    for name in ("canbo", "nobody"):
        result = attempt(name, PASSWORD)
        assert result.account is None and result.retry_after is None


def test_every_path_checks_one_password_hash(app, monkeypatch):
    """Unknown, inactive, wrong and throttled attempts cost the same work as a right one."""
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    create_account("former", PASSWORD, display_name="Cũ")
    set_account_active(accounts.find_account("former"), False)
    calls = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda *a: calls.append(1) or real(*a))
    for name, password in [
        ("canbo", PASSWORD),
        ("canbo", "wrong password!"),
        ("nobody", PASSWORD),
        ("former", PASSWORD),
    ]:
        before = len(calls)
        attempt(name, password, address="198.51.100.9")
        assert len(calls) - before == 1, name
    for _ in range(4):
        before = len(calls)
        result = attempt("canbo", "wrong password!")
        assert len(calls) - before == 1
    assert result.retry_after is not None and account.active


def live(account_id, secret, now=NOW, activity=True):
    """The session as a request at `now` finds it; a person's request (`activity`) then notes
    its use, as the web layer does once the request is over."""
    found = find_session(str(account_id), secret, policy=SESSIONS, now=now)
    if found is not None and activity and session_needs_touch(found, now=now):
        touch_session(found.id, now=now)
        db.session.expire(found)
    return found


def test_a_session_ends_on_sign_out_password_change_and_deactivation(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    first, first_secret = start_session(account, now=NOW)
    second, second_secret = start_session(account, now=NOW)
    db.session.commit()
    assert live(account.id, first_secret) is first
    end_session(first, now=NOW)
    db.session.commit()
    assert live(account.id, first_secret) is None
    assert live(account.id, second_secret) is second
    set_password(account, "another good password", keep_session=second.id)
    db.session.commit()
    assert live(account.id, second_secret) is second
    set_password(account, "a third good password")
    db.session.commit()
    assert live(account.id, second_secret) is None
    _third, third_secret = start_session(account, now=NOW)
    set_account_active(account, False)
    db.session.commit()
    assert live(account.id, third_secret) is None
    assert live(account.id, "garbage") is None and live("x", third_secret) is None


def test_a_session_ends_after_its_lifetime_and_after_idle_time_unless_used(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    row, secret = start_session(account, now=NOW)
    db.session.commit()
    # Used every 20 minutes: alive until the 8 hours are over.
    moment = NOW
    while moment < NOW + timedelta(hours=7, minutes=50):
        moment += timedelta(minutes=20)
        assert live(account.id, secret, now=moment) is row
    assert live(account.id, secret, now=NOW + timedelta(hours=8, minutes=1)) is None
    assert read_session(secret, policy=SESSIONS, now=NOW + timedelta(hours=8, minutes=1)).ended == (
        "expired"
    )
    # A page refreshing itself does not keep a session from going idle.
    other, other_secret = start_session(account, now=NOW)
    db.session.commit()
    for minutes in (5, 10, 20, 29):
        assert live(account.id, other_secret, NOW + timedelta(minutes=minutes), False) is other
    assert live(account.id, other_secret, now=NOW + timedelta(minutes=31)) is None
    assert read_session(other_secret, policy=SESSIONS, now=NOW + timedelta(minutes=31)).ended == (
        "idle"
    )


def test_access_covers_exactly_the_scoped_subtrees(app, tree):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    add_scope(account, tree.ward, "manager")
    add_scope(account, tree.commune, "viewer")
    access = Access.of(account)
    assert set(list_unit_ids_in_scope(access)) == {tree.ward.id, tree.commune.id}
    assert set(list_unit_ids_in_scope(access, manage=True)) == {tree.ward.id}
    assert set(list_unit_ids_in_scope(access, serve=True)) == {tree.ward.id}
    assert get_unit_in_scope(access, tree.commune.id) is tree.commune
    with pytest.raises(NotFound):
        get_unit_in_scope(access, tree.commune.id, manage=True)
    with pytest.raises(NotFound):
        get_unit_in_scope(access, tree.province.id)


def test_officers_serve_and_see_but_do_not_manage(app, tree):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    add_scope(account, tree.ward, "officer")
    access = Access.of(account)
    assert access.may_serve_anywhere and not access.may_manage_anything
    assert set(list_unit_ids_in_scope(access, serve=True)) == {tree.ward.id}
    assert set(list_unit_ids_in_scope(access)) == {tree.ward.id}
    assert list_unit_ids_in_scope(access, manage=True) == []
    viewer = create_account("xem", PASSWORD, display_name="Xem")
    add_scope(viewer, tree.ward, "viewer")
    assert not Access.of(viewer).may_serve_anywhere


def test_finding_a_session_writes_nothing(app):
    """A request may already hold SQLite's write lock when its user is loaded: looking the
    session up must not write (its use is noted after the request, touch_session)."""
    from sqlalchemy import event

    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    row, secret = start_session(account, now=NOW)
    db.session.commit()
    statements = []

    def note(_connection, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        assert live(account.id, secret, now=NOW + timedelta(minutes=5), activity=False) is row
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert statements and set(statements) == {"SELECT"}
