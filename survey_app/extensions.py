"""Flask extensions, created unbound so that `create_app` can bind them. Imports no models."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints make migrations reviewable and portable between SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
# render_as_batch lets Alembic alter tables on SQLite, which has no ALTER COLUMN.
migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
# Flask-Login's "strong" protection drops a session whose browser fingerprint changes.
login_manager.session_protection = "strong"
login_manager.login_view = "auth.login"

# PostgreSQL: the engine that stores API submissions (services/submissions.storing_connection),
# a Flask-SQLAlchemy bind with no models. Its statements commit by themselves and it does not
# ping a connection before each use: one round trip per submission instead of two. A connection
# the server dropped is found by using it, and the submission is stored again on a fresh one. With
# no transaction ever open on it, a connection going back to the pool has nothing to roll back.
STORING_BIND = "storing"
STORING_ENGINE_OPTIONS = {
    "pool_pre_ping": False,
    "isolation_level": "AUTOCOMMIT",
    "pool_reset_on_return": None,
}


def storing_engine() -> Engine:
    """The storing bind's engine; on SQLite the one engine, on which writers take turns
    (write_turns.py), and which keeps its usual transactions."""
    return db.engines.get(STORING_BIND, db.engine)


def dispose_engines() -> None:
    """Close every pooled connection of this app's engines (the storing bind's too)."""
    for engine in db.engines.values():
        engine.dispose()
