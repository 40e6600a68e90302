"""Configuration and the app factory: safe defaults, clear start-up errors, SQLite set up right."""

import pytest
from sqlalchemy import text

from survey_app import create_app
from survey_app.config import Config, config_from_environment
from survey_app.extensions import db


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.setattr(Config, "SECRET_KEY", None)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app(Config)


def test_unknown_environment_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SURVEY_ENV", "staging")
    with pytest.raises(RuntimeError, match="SURVEY_ENV='staging'"):
        config_from_environment()


def test_production_defaults_are_safe():
    assert Config.SESSION_COOKIE_HTTPONLY is True
    assert Config.SESSION_COOKIE_SAMESITE == "Lax"
    assert Config.MAX_CONTENT_LENGTH == 64 * 1024
    assert not getattr(Config, "DEBUG", False)


def test_creating_the_app_does_not_touch_the_database(tmp_path):
    database = tmp_path / "never.db"
    app = create_app(
        type(
            "C", (Config,), {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"}
        )
    )
    assert app.name == "survey_app"
    assert not database.exists()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite settings")
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (
        db.session.execute(text("PRAGMA busy_timeout")).scalar()
        == app.config["SQLITE_BUSY_TIMEOUT_MS"]
    )
