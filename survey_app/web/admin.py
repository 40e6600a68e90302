"""Administration: units, counters, targets, questionnaires (managers within their subtrees);
staff accounts, API keys and the audit log (administrators)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")
