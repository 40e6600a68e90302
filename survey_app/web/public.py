"""Pages for citizens and visitors that need no account."""

from flask import Blueprint, render_template

from survey_app.services.questionnaires import list_questionnaires

bp = Blueprint("public", __name__)


@bp.get("/")
def index():
    """The service's front page: what it is, and where each audience goes."""
    return render_template("public/index.html", questionnaires=list_questionnaires())
