"""Accounts: modern password hashing, throttling, sessions ended by a password change; access."""

from datetime import UTC, datetime, timedelta

import pytest

from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.services import accounts
from survey_app.services.access import Access, get_unit_in_scope, list_unit_ids_in_scope
from survey_app.services.accounts import (
    LoginPolicy,
    add_scope,
    authenticate,
    create_account,
    load_account_for_session,
    set_account_active,
    set_password,
)

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


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


def test_sign_in_locks_after_repeated_failures_even_for_the_right_password(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    policy = LoginPolicy(max_failures=3, lock_for=timedelta(minutes=15))
    for _ in range(3):
        result = authenticate("canbo", "wrong password!", policy=policy, now=NOW)
        assert result.account is None
    assert result.locked_until == NOW + timedelta(minutes=15)
    assert (
        authenticate("canbo", PASSWORD, policy=policy, now=NOW + timedelta(minutes=1)).locked_until
        is not None
    )
    later = authenticate("canbo", PASSWORD, policy=policy, now=NOW + timedelta(minutes=16))
    assert later.account is account and account.failed_logins == 0


def test_unknown_and_inactive_accounts_fail_like_a_wrong_password(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    set_account_active(account, False)
    assert authenticate("canbo", PASSWORD).account is None
    assert authenticate("nobody", PASSWORD).account is None


def test_a_password_change_ends_every_session(app):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    db.session.commit()
    session_id = account.get_id()
    assert load_account_for_session(session_id) is account
    set_password(account, "another good password")
    assert load_account_for_session(session_id) is None
    assert load_account_for_session("garbage") is None


def test_access_covers_exactly_the_scoped_subtrees(app, tree):
    account = create_account("canbo", PASSWORD, display_name="Cán bộ")
    add_scope(account, tree.ward, "manager")
    add_scope(account, tree.commune, "viewer")
    access = Access.of(account)
    assert set(list_unit_ids_in_scope(access)) == {tree.ward.id, tree.commune.id}
    assert set(list_unit_ids_in_scope(access, manage=True)) == {tree.ward.id}
    assert get_unit_in_scope(access, tree.commune.id) is tree.commune
    with pytest.raises(NotFound):
        get_unit_in_scope(access, tree.commune.id, manage=True)
    with pytest.raises(NotFound):
        get_unit_in_scope(access, tree.province.id)
