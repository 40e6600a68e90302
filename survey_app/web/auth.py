"""Signing staff in and out, and the decorators every staff view uses."""

import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    appcontext_tearing_down,
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
from survey_app.services.accounts import (
    LoginPolicy,
    SessionPolicy,
    authenticate,
    count_sign_in_attempt,
    end_session,
    find_session,
    read_session,
    session_needs_touch,
    start_session,
    touch_session,
)
from survey_app.services.audit import record_event
from survey_app.timeutil import utcnow

bp = Blueprint("auth", __name__)


# The session cookie holds the account's id (Flask-Login's) and the secret of its StaffSession row.
SESSION_SECRET = "sid"


def _refreshing_itself() -> bool:
    """A page fetching its own update (dashboard.js sends this header): not a person's activity,
    so an unattended dashboard still goes idle."""
    return request.headers.get("X-Requested-With") == "fetch"


@login_manager.user_loader
def _load_user(account_id: str):
    found = find_session(
        account_id,
        session.get(SESSION_SECRET),
        policy=SessionPolicy.from_config(current_app.config),
    )
    if found is None:
        return None
    g.staff_session = found
    if not _refreshing_itself() and session_needs_touch(found):
        g.touch_session = found.id  # written once the request's own transaction is over
    return found.account


def _touch_used_session(app, **_extra) -> None:
    """After every teardown of the app context (the request's database session is closed by
    then): note a person's use of their staff session, if the request asked for it."""
    session_id = g.pop("touch_session", None)
    if session_id is None:
        return
    try:
        touch_session(session_id)
    except Exception:  # the request is answered already; the next one will try again
        logging.getLogger(__name__).exception("could not note the use of a staff session")


def init_auth(app) -> None:
    """Connect what signing in needs beyond the blueprint: noting a session's use last."""
    appcontext_tearing_down.connect(_touch_used_session, app)


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        abort(401, description="sign in, or send an API key")
    why = None
    if SESSION_SECRET in session:  # a session that ended: say why, and forget its cookie
        why = read_session(
            session[SESSION_SECRET], policy=SessionPolicy.from_config(current_app.config)
        ).ended
        session.clear()
    if why == "idle":
        minutes = current_app.config["SESSION_IDLE_MINUTES"]
        flash(
            _l(
                "You were signed out after %(minutes)s minutes without use; please sign in again.",
                minutes=minutes,
            ),
            "info",
        )
    elif why == "expired":
        flash(_l("Your session has expired; please sign in again."), "info")
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


# Each decorator marks the view with `required_role` ("staff", "officer", "manager",
# "administrator"), so that a test can walk the URL map and check every endpoint against what it
# declares.


def staff_required(view: Callable) -> Callable:
    """Signed in, with a live session (the user loader checks its lifetime and idle time)."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    wrapper.required_role = "staff"
    return wrapper


def _role_required(role: str, allowed: Callable[[], bool]) -> Callable[[Callable], Callable]:
    """A decorator for staff views that `allowed()` admits; everybody else signed in gets 404,
    as if the page did not exist. Per-unit checks still apply in the view."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @staff_required
        def wrapper(*args, **kwargs):
            if not allowed():
                abort(404)
            return view(*args, **kwargs)

        wrapper.required_role = role
        return wrapper

    return decorator


# Staff who manage at least one subtree (or administrators).
manager_required = _role_required("manager", lambda: current_access().may_manage_anything)
# Staff who serve at counters: officers, managers, administrators.
officer_required = _role_required("officer", lambda: current_access().may_serve_anywhere)
# Administrators only.
admin_required = _role_required("administrator", lambda: current_user.is_administrator)


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
        policy = LoginPolicy.from_config(current_app.config)
        address = client_address() or "unknown"
        now = utcnow()  # one moment: a success takes the attempt back from the same window
        retry_after = count_sign_in_attempt(form.username.data, address, policy=policy, now=now)
        db.session.commit()  # the attempt counts, whatever the password check finds
        result = authenticate(
            form.username.data,
            form.password.data,
            address=address,
            retry_after=retry_after,
            policy=policy,
            now=now,
        )
        if result.account is None:
            record_event(
                "login.failed",
                actor=form.username.data.strip().lower()[:64],
                client_address=client_address(),
                details={"throttled": result.retry_after is not None},
            )
            db.session.commit()
            if result.retry_after is not None:
                error = _l(
                    "Too many sign-in attempts from this address. Try again after %(time)s.",
                    time=format_datetime(result.retry_after, "short"),
                )
            else:
                error = _l("The username or password is not right.")
        else:
            staff_session, secret = start_session(result.account)
            record_event(
                "login",
                actor=result.account.username,
                account_id=result.account.id,
                client_address=client_address(),
                details={"session": staff_session.id},
            )
            db.session.commit()
            session.clear()
            session.permanent = True
            session[SESSION_SECRET] = secret
            login_user(result.account)
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out (a POST, so that another site cannot sign staff out with a link); the session
    ends on the server, so a copy of the cookie is refused too."""
    end_session(g.staff_session)
    record_event(
        "logout",
        actor=current_user.username,
        account_id=current_user.id,
        client_address=client_address(),
        details={"session": g.staff_session.id},
    )
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


logout.required_role = "staff"
