"""Is the service able to serve? One database round trip says."""

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from survey_app.extensions import db


def database_is_reachable() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        db.session.rollback()
        return False
