"""The survey service. `create_app(config)` builds it; importing this package does nothing."""

import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_babel import get_locale
from sqlalchemy import event
from sqlalchemy.engine import Engine

from survey_app.config import Config, config_from_environment, instance_secret_key
from survey_app.extensions import (
    STORING_BIND,
    STORING_ENGINE_OPTIONS,
    babel,
    csrf,
    db,
    login_manager,
    migrate,
)


def create_app(config: type[Config] | Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    `config` is a config class, or a mapping of overrides applied on top of the class that
    SURVEY_ENV names (tests pass {"SQLALCHEMY_DATABASE_URI": ...}). Nothing here touches the
    database: creating tables is `flask db upgrade`'s job.
    """
    app = Flask(__name__, instance_relative_config=False)
    if config is None or isinstance(config, Mapping):
        app.config.from_object(config_from_environment())
        app.config.update(config or {})
    else:
        app.config.from_object(config)
    _use_instance_secret_key(app)
    _require_secret_key(app)
    _ensure_sqlite_directory(app.config["SQLALCHEMY_DATABASE_URI"])
    _add_storing_bind(app.config)

    from survey_app import (
        models,  # noqa: F401  (registers every table with the metadata)
        write_turns,
    )
    from survey_app.services.sql import install_binary_results
    from survey_app.web.request_guard import init_request_guard

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    # Before CSRF's check (which reads the form) and before any route is added (its converter).
    init_request_guard(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    login_manager.init_app(app)

    with app.app_context():
        _configure_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
        write_turns.install(db.engine)
        install_binary_results(db.engine)

    from survey_app import cli
    from survey_app.settler import init_settler
    from survey_app.web import register_blueprints, register_error_handlers
    from survey_app.web.security import init_security
    from survey_app.web.uploads import init_uploads

    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
    init_security(app)
    init_uploads(app)
    register_blueprints(app)
    register_error_handlers(app)
    cli.register(app)
    init_settler(app)
    return app


def freeze_startup_objects() -> None:
    """Put everything built so far (modules, the app, the models' mappers) beyond the garbage
    collector's full passes: it lives as long as the process anyway. A full pass otherwise walks
    all of it (~200,000 objects, ~100 ms on the benchmark machine) every few dozen dashboard
    requests, making one request in twenty five times slower (benchmarks/README.md, seventh
    session). For a serving process (wsgi.py), not for tests that build many apps."""
    gc.freeze()


def _use_instance_secret_key(app: Flask) -> None:
    """Development: with no SECRET_KEY given, the key kept in SECRET_KEY_FILE, made on the first
    start (config.instance_secret_key). The one file the factory may write, and only for a
    config that names one: like the SQLite file beside it, local state of a development
    instance. Production names none, and refuses to start without SECRET_KEY."""
    path = app.config.get("SECRET_KEY_FILE")
    if path and not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(Path(path))


def _require_secret_key(app: Flask) -> None:
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
            "value (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`), or run "
            "with SURVEY_ENV=development for a local, throwaway setup."
        )


def _ensure_sqlite_directory(url: str) -> None:
    """Like flaskr's `os.makedirs(app.instance_path)`: a fresh clone has no instance/ folder yet,
    and SQLite cannot create the folder its file goes in."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _add_storing_bind(config: dict[str, Any]) -> None:
    """PostgreSQL: the storing engine (extensions.STORING_BIND) on the same database."""
    from sqlalchemy.engine import make_url

    url = config["SQLALCHEMY_DATABASE_URI"]
    if make_url(url).get_backend_name() == "postgresql":
        binds = dict(config.get("SQLALCHEMY_BINDS") or {})
        binds.setdefault(STORING_BIND, {"url": url, **STORING_ENGINE_OPTIONS})
        config["SQLALCHEMY_BINDS"] = binds


def _migrations_dir():
    return Path(__file__).resolve().parent / "migrations"


def _select_locale() -> str:
    """Vietnamese first: ?lang= switches (and is remembered in the session), nothing else does."""
    from flask import current_app, session

    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in languages:
        if not request.path.startswith("/api/"):
            session["lang"] = asked
        return asked
    remembered = session.get("lang")
    return remembered if remembered in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def _configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    """SQLite: WAL (readers never block the writer), a busy timeout, and enforced foreign keys."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
