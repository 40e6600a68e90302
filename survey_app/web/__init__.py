"""The web layer: one blueprint per audience, and the one place domain errors become HTTP."""

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from survey_app.errors import Conflict, NotFound, RateLimited, ValidationError
from survey_app.extensions import db
from survey_app.web.uploads import describe_size

log = logging.getLogger(__name__)


def register_blueprints(app: Flask) -> None:
    from survey_app.web import (
        admin,
        annual,
        api,
        api_figures,
        auth,
        dashboard,
        exports,
        health,
        kiosk,
        kiosk_admin,
        paper_entry,
        public,
        qr,
        qr_admin,
    )
    from survey_app.web.helpers import is_citizen_page, local_time

    auth.init_auth(app)
    app.jinja_env.globals["current_access"] = auth.current_access
    app.jinja_env.globals["local_time"] = local_time
    app.jinja_env.globals["is_citizen_page"] = is_citizen_page
    app.register_blueprint(public.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_figures.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(kiosk.bp)
    app.register_blueprint(kiosk_admin.bp)
    app.register_blueprint(qr.bp)
    app.register_blueprint(qr_admin.bp)
    app.register_blueprint(annual.bp)
    app.register_blueprint(paper_entry.bp)
    app.register_blueprint(exports.bp)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_response(status: int, problems: dict[str, list[str]], title: str):
    if wants_json():
        return jsonify({"errors": problems}), status
    return render_template("error.html", status=status, title=title, problems=problems), status


def register_error_handlers(app: Flask) -> None:
    """Translate domain errors to HTTP in one place; every error rolls the transaction back."""

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError):
        db.session.rollback()
        return error_response(422, error.problems, _("Some answers need correcting"))

    @app.errorhandler(Conflict)
    def _conflict(error: Conflict):
        db.session.rollback()
        return error_response(409, {"id": [str(error)]}, _("Already stored differently"))

    @app.errorhandler(RateLimited)
    def _rate_limited(error: RateLimited):
        db.session.rollback()
        response, status = error_response(429, {"request": [str(error)]}, _("Too many requests"))
        response = app.make_response((response, status))
        response.headers["Retry-After"] = str(error.retry_after_seconds)
        return response

    @app.errorhandler(NotFound)
    def _not_found(error: NotFound):
        db.session.rollback()
        return error_response(404, {"request": [str(error)]}, _("Not found"))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge):
        db.session.rollback()
        # The limit of this request: 64 KiB, or 2 MiB for an upload (web/uploads.py).
        limit = describe_size(request.max_content_length or app.config["MAX_CONTENT_LENGTH"])
        if wants_json():
            message = f"the request is larger than the {limit} limit"
        else:
            message = _("The request is larger than the %(limit)s limit.", limit=limit)
        return error_response(413, {"request": [message]}, _("Too large"))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        db.session.rollback()
        body, status = error_response(
            error.code or 500, {"request": [error.description or error.name]}, error.name
        )
        # The exception's own headers stay (Allow on a 405, WWW-Authenticate, Retry-After);
        # only its Content-Type is replaced by the body's.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return body, status, headers

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        db.session.rollback()
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(
            500,
            {"request": ["something went wrong on our side; nothing was stored, please try again"]},
            _("Something went wrong"),
        )
