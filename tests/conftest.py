"""Fixtures shared by every test: an app on a real database, SQLite always and PostgreSQL when one
is reachable (REQUIRE_POSTGRES=1, as in CI, turns "unreachable" into a failure, not a skip).

Each database is created empty and migrated once per test session with `upgrade head` (so every
run also tests the migrations); each test then starts from empty tables with the shipped
questionnaires loaded.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from questionnaires import load_definitions
from survey_app import create_app
from survey_app.config import TestingConfig
from survey_app.extensions import db, dispose_engines

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _postgres_reachable() -> str | None:
    """None when reachable, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure to connect means "not reachable" here
        return f"{type(error).__name__}: {error}".splitlines()[0]


def _create_postgres_database() -> tuple[str, callable]:
    """A fresh database of our own, so that parallel runs never share tables."""
    name = f"survey_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


class FreshContextClient(FlaskClient):
    """Each request in its own application context, as in production: nothing cached in `g`
    (Flask-Login's user, the account's access) or in the database session carries over from the
    test body, or from another client's request, although the `app` fixture keeps a context open."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch):
    """scrypt costs ~0.1 s a call by design; tests create many accounts, so they use a cheap
    PBKDF2 (test_accounts checks that the real function uses scrypt)."""
    from werkzeug.security import generate_password_hash

    from survey_app.services import accounts

    monkeypatch.setattr(
        accounts,
        "hash_password",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"),
    )


def make_config(database_url: str, **overrides) -> type[TestingConfig]:
    return type(
        "TestConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": database_url, **overrides}
    )


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """An empty database of each kind, migrated to head once for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'survey.db'}"
        drop = None
    else:
        reason = _postgres_reachable()
        if reason is not None:
            if os.environ.get("REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PostgreSQL is required here but unreachable: {reason}")
            pytest.skip(f"PostgreSQL unreachable ({reason})")
        url, drop = _create_postgres_database()
    app = create_app(make_config(url))
    with app.app_context():
        upgrade()
        db.session.remove()
        dispose_engines()
    yield url
    if drop:
        drop()


def _empty_all_tables() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture(scope="session")
def shipped_definitions():
    """The shipped questionnaire definitions, read once (YAML parsing is the slow part)."""
    return load_definitions()


@pytest.fixture
def app(database_url, shipped_definitions) -> Iterator[Flask]:
    """The app on a database with empty tables and the shipped questionnaires loaded."""
    from survey_app.services.questionnaires import store_definition

    application = create_app(make_config(database_url))
    application.test_client_class = FreshContextClient
    with application.app_context():
        try:
            _empty_all_tables()
            for definition in shipped_definitions.values():
                store_definition(definition)
            db.session.commit()
            yield application
        finally:
            db.session.remove()
            dispose_engines()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def backend(database_url) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


FIXTURES = Path(__file__).parent / "fixtures"
