"""Liveness for load balancers and monitoring."""

from flask import Blueprint

from survey_app.services.health import database_is_reachable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 after a database round trip; 503 when the database cannot be reached."""
    if database_is_reachable():
        return {"status": "ok"}
    return {"status": "unavailable", "reason": "database unreachable"}, 503
