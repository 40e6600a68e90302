"""Signing staff in and out, and the decorators every staff view uses."""

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from survey_app.extensions import db, login_manager
from survey_app.services.access import Access
from survey_app.services.accounts import LoginPolicy, authenticate, load_account_for_session
from survey_app.services.audit import record_event
from survey_app.timeutil import utcnow

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(session_id: str):
    return load_account_for_session(session_id)


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        abort(401, description="sign in, or send an API key")
    return redirect(url_for("auth.login", next=request.full_path))


def client_address() -> str | None:
    return request.remote_addr


def audit(action: str, *, unit_id: int | None = None, **details) -> None:
    """Record `action` by the signed-in account (or anonymous) in the audit log."""
    account = current_user if current_user.is_authenticated else None
    record_event(
        action,
        actor=account.username if account else "anonymous",
        account_id=account.id if account else None,
        unit_id=unit_id,
        client_address=client_address(),
        details=details,
    )


def current_access() -> Access:
    """The signed-in account's access, computed once per request."""
    if "access" not in g:
        g.access = Access.of(current_user)
    return g.access


def session_is_fresh() -> bool:
    """Signed in less than PERMANENT_SESSION_LIFETIME ago (the cookie alone is not trusted for it)."""
    signed_in_at = session.get("signed_in_at", 0)
    lifetime: timedelta = current_app.config["PERMANENT_SESSION_LIFETIME"]
    return utcnow().timestamp() - signed_in_at <= lifetime.total_seconds()


# Each decorator marks the view with `required_role` ("staff", "manager", "administrator"), so
# that a test can walk the URL map and check every endpoint against what it declares.


def staff_required(view: Callable) -> Callable:
    """Signed in, with a session younger than PERMANENT_SESSION_LIFETIME."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not session_is_fresh():
            logout_user()
            session.clear()
            flash(_l("Your session has expired; please sign in again."), "info")
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    wrapper.required_role = "staff"
    return wrapper


def manager_required(view: Callable) -> Callable:
    """Staff who manage at least one subtree (or administrators); per-unit checks still apply."""

    @wraps(view)
    @staff_required
    def wrapper(*args, **kwargs):
        if not current_access().may_manage_anything:
            abort(404)
        return view(*args, **kwargs)

    wrapper.required_role = "manager"
    return wrapper


def admin_required(view: Callable) -> Callable:
    """Administrators only; others get 404, as if the page did not exist."""

    @wraps(view)
    @staff_required
    def wrapper(*args, **kwargs):
        if not current_user.is_administrator:
            abort(404)
        return view(*args, **kwargs)

    wrapper.required_role = "administrator"
    return wrapper


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with a username and password."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        policy = LoginPolicy(
            max_failures=current_app.config["LOGIN_MAX_FAILURES"],
            lock_for=timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"]),
        )
        result = authenticate(form.username.data, form.password.data, policy=policy)
        if result.account is None:
            record_event(
                "login.failed",
                actor=form.username.data.strip().lower()[:64],
                client_address=client_address(),
                details={"locked": result.locked_until is not None},
            )
            db.session.commit()
            if result.locked_until is not None:
                error = _l(
                    "Too many failed attempts. Try again after %(time)s.",
                    time=format_datetime(result.locked_until, "short"),
                )
            else:
                error = _l("The username or password is not right.")
        else:
            session.clear()
            session.permanent = True
            session["signed_in_at"] = utcnow().timestamp()
            login_user(result.account)
            record_event(
                "login",
                actor=result.account.username,
                account_id=result.account.id,
                client_address=client_address(),
            )
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out (a POST, so that another site cannot sign staff out with a link)."""
    record_event(
        "logout",
        actor=current_user.username,
        account_id=current_user.id,
        client_address=client_address(),
    )
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


logout.required_role = "staff"
