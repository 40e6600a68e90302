"""The staff dashboard: satisfaction per unit and counter within the account's scope."""

from flask import Blueprint, render_template

from survey_app.services.access import top_units_in_scope
from survey_app.web.auth import current_access, staff_required

bp = Blueprint("dashboard", __name__, url_prefix="/staff")


@bp.get("/")
@staff_required
def index():
    """The overview of the account's subtrees."""
    return render_template("dashboard/index.html", roots=top_units_in_scope(current_access()))
